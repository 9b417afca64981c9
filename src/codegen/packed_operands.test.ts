import { describe, expect, it } from 'vitest';
import { parseFunc } from '../ir/parse.js';
import { randomInputs } from '../ir/random.js';
import { compile } from '../compile.js';
import { compareCompiled } from './wasm/test_util.js';
import '../ir/ops/index.js';

// A runtime GEMM operand read by several GEMMs (an unrolled recurrence's weight: h·W every step
// forward, g·Wᵀ every step backward) is packed once per panel layout, and every GEMM reads the
// shared panels; the results equal the interpreter's.

const DOT = (l: number, r: number) => `{lhs_batch=[], rhs_batch=[], lhs_contract=[${l}], rhs_contract=[${r}]}`;

describe('GEMM operands packed once', () => {
  it('a weight used by a chain of steps forward (x·W) and backward (g·Wᵀ) is packed once per layout', async () => {
    const fn = parseFunc(`func @f(%h: f32[6,16], %w: f32[16,16], %g: f32[6,16]) -> (y: f32[6,16], d: f32[6,16]) {
  %0 = dot_general(%h, %w) ${DOT(1, 0)} : f32[6,16]
  %1 = tanh(%0) : f32[6,16]
  %2 = dot_general(%1, %w) ${DOT(1, 0)} : f32[6,16]
  %3 = tanh(%2) : f32[6,16]
  %4 = dot_general(%3, %w) ${DOT(1, 0)} : f32[6,16]
  %5 = dot_general(%g, %w) ${DOT(1, 1)} : f32[6,16]
  %6 = mul(%5, %1) : f32[6,16]
  %7 = dot_general(%6, %w) ${DOT(1, 1)} : f32[6,16]
  return %4, %7
}`);
    const art = compile(fn);
    const notes = art.program.kernels.map((k) => k.note);
    expect(notes.filter((n) => n.startsWith('gemm'))).toHaveLength(5);
    // One pack of W as [K=16 rows, N=16], one of Wᵀ: not one per GEMM.
    expect(notes.filter((n) => n === 'pack rhs'), notes.join('; ')).toHaveLength(2);
    for (const threads of [1, 2]) {
      expect(await compareCompiled(fn, randomInputs(fn, 11), { load: { threads } })).toBeUndefined();
    }
  });

  it('different operands and different layouts of one operand are packed separately', async () => {
    const fn = parseFunc(`func @f(%a: f32[5,12], %w: f32[12,12], %v: f32[12,12]) -> (y: f32[5,12]) {
  %0 = dot_general(%a, %w) ${DOT(1, 0)} : f32[5,12]
  %1 = dot_general(%0, %v) ${DOT(1, 0)} : f32[5,12]
  %2 = dot_general(%1, %w) ${DOT(1, 1)} : f32[5,12]
  %3 = dot_general(%2, %w) ${DOT(1, 0)} : f32[5,12]
  return %3
}`);
    const art = compile(fn);
    expect(art.program.kernels.filter((k) => k.note === 'pack rhs')).toHaveLength(3);
    expect(await compareCompiled(fn, randomInputs(fn, 4), { load: { threads: 1 } })).toBeUndefined();
  });
});
