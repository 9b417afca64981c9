import { describe, expect, it } from 'vitest';
import { parseFunc } from '../ir/parse.js';
import { printFunc } from '../ir/print.js';
import { verify } from '../ir/verify.js';
import { interpret } from '../ir/interpreter.js';
import { literal, type Literal } from '../ir/literal.js';
import type { Func } from '../ir/function.js';
import { gradFunc } from './autodiff.js';
import { makeMixedPrecision, mixedPrecision } from './mixed_precision.js';
import '../ir/ops/index.js';

/** Round to f16 (round-to-nearest-even on the 11-bit significand; values here are normal). */
function toF16(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const e = Math.max(Math.floor(Math.log2(Math.abs(x))), -14);
  const q = 2 ** (e - 10);
  const r = x / q, f = Math.floor(r);
  const d = r - f;
  return (d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f) * q;
}
/** Round to bf16 (nearest-even on the top 16 bits of the f32). */
function toBf16(x: number): number {
  const b = new Float32Array([x]);
  const u = new Uint32Array(b.buffer);
  u[0] = ((u[0]! + 0x7fff + ((u[0]! >>> 16) & 1)) >>> 16) << 16;
  return b[0]!;
}

function rand(shape: number[], seed: number, lo = -1, hi = 1): Literal {
  let s = seed >>> 0;
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    v[i] = lo + ((s >>> 8) / 2 ** 24) * (hi - lo);
  }
  return literal(shape, 'f32', v);
}

const mlp = `func @mlp(%x: f32[16,24], %w: f32[24,12], %b: f32[12]) -> (y: f32[16,12], s: f32[16]) {
  %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]} : f32[16,12]
  %1 = broadcast_in_dim(%b) {shape=[16,12], dims=[1]} : f32[16,12]
  %2 = add(%0, %1) : f32[16,12]
  %3 = tanh(%2) : f32[16,12]
  %4 = reduce(%3) {op="sum", axes=[1]} : f32[16]
  return %3, %4
}`;

const cnn = `func @cnn(%x: f32[2,9,9,3], %k: f32[3,3,3,8], %w: f32[8,5]) -> (y: f32[2,4,4,8], z: f32[2,5]) {
  %0 = conv(%x, %k) {strides=[2,2], pad_lo=[1,1], pad_hi=[1,1]} : f32[2,5,5,8]
  %1 = reduce_window(%0) {op="max", window=[1,2,2,1], strides=[1,1,1,1], pad_lo=[0,0,0,0], pad_hi=[0,0,0,0]} : f32[2,4,4,8]
  %2 = reduce(%1) {op="max", axes=[1,2]} : f32[2,8]
  %3 = dot_general(%2, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]} : f32[2,5]
  return %1, %3
}`;

const ops = (f: Func) => f.body.map((v) => v.op);
const maxRel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0, scale = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m / Math.max(scale, 1e-30);
};

describe('mixed_precision pass', () => {
  it('casts dot operands to f16 with an f32 result and leaves everything else alone', () => {
    const f = parseFunc(mlp);
    const before = ops(f);
    expect(mixedPrecision('f16').run(f)).toBe(true);
    verify(f);
    expect(ops(f)).toEqual(['cast', 'cast', 'dot_general', ...before.slice(1)]);
    const [cx, cw, dot] = f.body as [typeof f.body[0], typeof f.body[0], typeof f.body[0]];
    expect([cx!.dtype, cw!.dtype, dot!.dtype]).toEqual(['f16', 'f16', 'f32']);
    expect(cx!.inputs[0]).toBe(f.params[0]);
    expect(cw!.inputs[0]).toBe(f.params[1]);
    expect(dot!.attrs['dtype']).toBe('f32');
    // add/tanh/reduce and the parameters keep f32
    expect(f.body.slice(3).every((v) => v.dtype === 'f32')).toBe(true);
    expect(f.params.every((p) => p.dtype === 'f32')).toBe(true);
    expect(printFunc(f)).toBe(`func @mlp(%x: f32[16,24], %w: f32[24,12], %b: f32[12]) -> (y: f32[16,12], s: f32[16]) {
  %0 = cast(%x) {dtype=f16} : f16[16,24]
  %1 = cast(%w) {dtype=f16} : f16[24,12]
  %2 = dot_general(%0, %1) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0], dtype=f32} : f32[16,12]
  %3 = broadcast_in_dim(%b) {shape=[16, 12], dims=[1]} : f32[16,12]
  %4 = add(%2, %3) : f32[16,12]
  %5 = tanh(%4) : f32[16,12]
  %6 = reduce(%5) {op=sum, axes=[1]} : f32[16]
  return %5, %6
}
`);
    // Idempotent: the converted dot is no longer an f32 op.
    expect(mixedPrecision('f16').run(f)).toBe(false);
  });

  for (const [dtype, round, tol] of [['f16', toF16, 2e-3], ['bf16', toBf16, 1.6e-2]] as const) {
    it(`${dtype}: interpreter results equal f32 math on ${dtype}-rounded operands, and f32 within ${dtype} tolerance`, () => {
      const f = parseFunc(mlp);
      const inputs = [rand([16, 24], 1), rand([24, 12], 2), rand([12], 3)];
      const ref = interpret(f, inputs);
      const g = parseFunc(mlp);
      makeMixedPrecision({ dtype }).run(g);
      verify(g);
      const got = interpret(g, inputs);
      // Oracle: naive loops over rounded x, w with f64 accumulation, then bias + tanh in f64.
      const x = inputs[0]!.data, w = inputs[1]!.data, b = inputs[2]!.data;
      const want = new Float64Array(16 * 12);
      for (let i = 0; i < 16; i++) {
        for (let j = 0; j < 12; j++) {
          let acc = 0;
          for (let k = 0; k < 24; k++) acc += round(x[i * 24 + k]!) * round(w[k * 12 + j]!);
          want[i * 12 + j] = Math.tanh(acc + b[j]!);
        }
      }
      expect(got[0]!.type.dtype).toBe('f32');
      expect(maxRel(got[0]!.data, want)).toBeLessThan(2e-6);
      expect(maxRel(got[0]!.data, ref[0]!.data)).toBeLessThan(tol);
      expect(maxRel(got[1]!.data, ref[1]!.data)).toBeLessThan(tol);
      expect(maxRel(got[0]!.data, ref[0]!.data)).toBeGreaterThan(0); // it did compute in low precision
    });
  }

  it('converts conv and dot, not pooling or reductions; conv matches f32 conv of rounded operands', () => {
    const f = parseFunc(cnn);
    const g = parseFunc(cnn);
    expect(mixedPrecision('f16').run(g)).toBe(true);
    verify(g);
    const converted = g.body.filter((v) => v.inputs.some((x) => x.op === 'cast'));
    expect(converted.map((v) => v.op)).toEqual(['conv', 'dot_general']);
    expect(g.body.filter((v) => v.op === 'reduce_window' || v.op === 'reduce').every((v) => v.dtype === 'f32' && v.inputs.every((x) => x.dtype === 'f32'))).toBe(true);
    const inputs = [rand([2, 9, 9, 3], 4), rand([3, 3, 3, 8], 5), rand([8, 5], 6)];
    const got = interpret(g, inputs);
    // Oracle for the conv output: the f32 function on pre-rounded x and k (the dot input stays f32
    // there, so compare only y, which has no dot).
    const rounded = [inputs[0]!, inputs[1]!].map((l) => literal(l.type.shape, 'f32', Array.from(l.data, toF16)));
    const want = interpret(f, [rounded[0]!, rounded[1]!, inputs[2]!]);
    expect(maxRel(got[0]!.data, want[0]!.data)).toBeLessThan(1e-6);
    const ref = interpret(f, inputs);
    expect(maxRel(got[1]!.data, ref[1]!.data)).toBeLessThan(3e-3);
  });

  it('shares one cast per value among several dots and only touches f32 ones', () => {
    const f = parseFunc(`func @f(%x: f32[4,8], %w: f32[8,8], %h: f16[8,8]) -> (a: f32[4,8], b: f32[4,8], c: f16[4,8]) {
  %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]} : f32[4,8]
  %1 = dot_general(%0, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]} : f32[4,8]
  %2 = cast(%x) {dtype="f16"} : f16[4,8]
  %3 = dot_general(%2, %h) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]} : f16[4,8]
  return %0, %1, %3
}`);
    makeMixedPrecision({ dtype: 'bf16', ops: ['dot_general'] }).run(f);
    verify(f);
    const castsOfW = f.body.filter((v) => v.op === 'cast' && v.inputs[0] === f.params[1]);
    expect(castsOfW.length).toBe(1);
    const dots = f.body.filter((v) => v.op === 'dot_general');
    expect(dots.map((d) => d.dtype)).toEqual(['f32', 'f32', 'f16']);
    expect(dots[0]!.inputs.map((x) => x.dtype)).toEqual(['bf16', 'bf16']);
    // the second dot reads the first (converted) dot's result through a cast
    expect(dots[1]!.inputs[0]!.inputs[0]).toBe(dots[0]);
    expect(f.results[0]).toBe(dots[0]);
    // the f16 dot was already low precision
    expect(dots[2]!.inputs.map((x) => x.dtype)).toEqual(['f16', 'f16']);
  });

  it('after autodiff, backward dots are converted too and gradients stay within f16 tolerance', () => {
    const loss = parseFunc(`func @loss(%x: f32[8,16], %w: f32[16,4]) -> (l: f32[]) {
  %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]} : f32[8,4]
  %1 = tanh(%0) : f32[8,4]
  %2 = mul(%1, %1) : f32[8,4]
  %3 = reduce(%2) {op="sum", axes=[0,1]} : f32[]
  return %3
}`);
    const step = gradFunc(loss, { wrt: [1] });
    const nDots = step.body.filter((v) => v.op === 'dot_general').length;
    expect(nDots).toBeGreaterThanOrEqual(2);
    const mp = step.clone();
    mixedPrecision('f16').run(mp);
    verify(mp);
    const dots = mp.body.filter((v) => v.op === 'dot_general');
    expect(dots.length).toBe(nDots);
    expect(dots.every((d) => d.dtype === 'f32' && d.inputs.every((x) => x.dtype === 'f16'))).toBe(true);
    const inputs = [rand([8, 16], 7), rand([16, 4], 8, -0.5, 0.5)];
    const ref = interpret(step, inputs), got = interpret(mp, inputs);
    expect(maxRel(got[0]!.data, ref[0]!.data)).toBeLessThan(3e-3);
    expect(maxRel(got[1]!.data, ref[1]!.data)).toBeLessThan(5e-3);
  });

  it('rejects a dtype that is not f16/bf16 or an op it cannot convert', () => {
    expect(() => makeMixedPrecision({ dtype: 'i8' as 'f16' })).toThrow(/mixed_precision: dtype must be 'f16' or 'bf16', got 'i8'/);
    expect(() => makeMixedPrecision({ dtype: 'f16', ops: ['add' as 'conv'] })).toThrow(/ops may name 'dot_general' and 'conv', got 'add'/);
  });
});
