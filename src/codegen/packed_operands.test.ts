import { describe, expect, it } from 'vitest';
import type { Value } from '../ir/function.js';
import { parseFunc } from '../ir/parse.js';
import { randomInputs } from '../ir/random.js';
import { compile } from '../compile.js';
import { compareCompiled } from './wasm/test_util.js';
import { packedBefore, rememberPacked, withPackRollback } from './packed_operands.js';
import { Builder } from '../ir/builder.js';
import { literal } from '../ir/literal.js';
import { tensorType } from '../ir/types.js';
import type { ScheduleEntry } from '../runtime/manifest.js';
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

  it('in a compiled scan, a weight the body passes through unchanged is packed once before the loop, not every step', async () => {
    // h_t = tanh(x_t W + h_{t-1} U), W and U carried unchanged (captured weights), as a scanned RNN.
    const T = 7, B = 3, I = 5, H = 12;
    const f32 = (...s: number[]) => tensorType(s, 'f32');
    const rb = new Builder('cell');
    const [h, w, u, xt] = [f32(B, H), f32(I, H), f32(H, H), f32(B, I)].map((t, i) => rb.param(t, `p${i}`)) as [Value, Value, Value, Value];
    const dot = (a: Value, m: Value) => rb.op('dot_general', [a, m], { lhs_batch: [], rhs_batch: [], lhs_contract: [1], rhs_contract: [0] });
    const nh = rb.op('tanh', [rb.op('add', [dot(xt, w), dot(h, u)])]);
    const body = rb.build([nh, w, u, nh]);
    const b = new Builder('rnn');
    const ps = [b.param(f32(B, H), 'h0'), b.param(f32(I, H), 'w'), b.param(f32(H, H), 'u'), b.param(f32(T, B, I), 'x')];
    const sc = b.op('scan', ps, { carries: 3, length: T }, [body]);
    const fn = b.build([b.op('get_result', [sc], { index: 0 }), b.op('get_result', [sc], { index: 3 })], ['h', 'hs']);
    const art = compile(fn);
    const notes = art.manifest.kernels.map((k) => k.note ?? k.name);
    const inLoop = (es: readonly ScheduleEntry[], loop: boolean): string[] => es.flatMap((e) =>
      typeof e === 'number' ? (loop ? [notes[e]!] : []) : 'loop' in e ? inLoop([...(e.loop.head ?? []), ...e.loop.body], true) : []);
    const outside = (es: readonly ScheduleEntry[]): string[] => es.flatMap((e) => (typeof e === 'number' ? [notes[e]!] : []));
    expect(inLoop(art.manifest.schedule, false).filter((n) => n === 'pack rhs')).toEqual([]);
    expect(outside(art.manifest.schedule).filter((n) => n === 'pack rhs')).toHaveLength(2);
    expect(inLoop(art.manifest.schedule, false).filter((n) => n.startsWith('gemm'))).toHaveLength(2);
    const inputs = [literal([B, H], 'f32', Array.from({ length: B * H }, (_, i) => Math.cos(i) * 0.2)), ...randomInputs(fn, 6).slice(1)];
    for (const threads of [1, 2]) expect(await compareCompiled(fn, inputs, { load: { threads } })).toBeUndefined();
  });

  it('a group that fails to lower forgets its packs, including those of groups lowered inside it', () => {
    const ctx = {};
    const b = new Builder('f');
    const [w, v] = [b.param(tensorType([4, 8], 'f32'), 'w'), b.param(tensorType([4, 8], 'f32'), 'v')];
    const view = { kDims: [4], kAxes: [0], jDims: [8], jAxes: [1] };
    withPackRollback(ctx, () => rememberPacked(ctx, w, view, 1));
    expect(() => withPackRollback(ctx, () => {
      withPackRollback(ctx, () => rememberPacked(ctx, v, view, 2)); // nested success
      throw new Error('lowering failed');
    })).toThrow('lowering failed');
    expect(packedBefore(ctx, w, view)).toBe(1);
    expect(packedBefore(ctx, v, view)).toBeUndefined();
    expect(packedBefore(ctx, w, { ...view, kAxes: [1], jAxes: [0], kDims: [8], jDims: [4] })).toBeUndefined();
  });
});
