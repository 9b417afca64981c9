import { describe, expect, it } from 'vitest';
import { Builder } from '../builder.js';
import { literal } from '../literal.js';
import { normalFromBits, normalValues, threefry2x32, uniformFromBits, uniformValues } from '../rng.js';
import { tensorType } from '../types.js';
import './index.js';
import { kilnErrorMessage, runOp } from './testkit.js';

function moments(xs: ArrayLike<number>): { mean: number; variance: number } {
  let s = 0, s2 = 0;
  for (let i = 0; i < xs.length; i++) { s += xs[i]!; s2 += xs[i]! * xs[i]!; }
  const mean = s / xs.length;
  return { mean, variance: s2 / xs.length - mean * mean };
}

const key = (a: number, b: number) => literal([2], 'i32', [a, b]);

describe('threefry2x32', () => {
  it('matches the Random123 known-answer vectors (20 rounds)', () => {
    expect(threefry2x32(0, 0, 0, 0)).toEqual([0x6b200159, 0x99ba4efe]);
    expect(threefry2x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff)).toEqual([0x1cb996fc, 0xbb002be7]);
    expect(threefry2x32(0x13198a2e, 0x03707344, 0x243f6a88, 0x85a308d3)).toEqual([0xc4923a9c, 0x483df7a0]);
  });
  it('maps bits to floats at the ends of the range', () => {
    expect(uniformFromBits(0)).toBe(0);
    expect(uniformFromBits(0xffffffff)).toBe(1 - 2 ** -23);
    expect(Math.abs(normalFromBits(0xffffffff, 0))).toBe(0); // u1 = 1: radius 0
    expect(Number.isFinite(normalFromBits(0, 0))).toBe(true); // u1 = 2^-23, never 0
  });
});

describe('rng_uniform and rng_normal', () => {
  it('the interpreter equals src/ir/rng.ts bit for bit, with negative key words as uint32', () => {
    const u = runOp('rng_uniform', [key(42, -7)], { shape: [3, 5, 7], dtype: 'f32' });
    expect(u.type).toEqual(tensorType([3, 5, 7], 'f32'));
    expect(Array.from(u.data)).toEqual(Array.from(uniformValues(42, (-7) >>> 0, 105)));
    const n = runOp('rng_normal', [key(-1, 3)], { shape: [4, 9], dtype: 'f32' });
    expect(Array.from(n.data)).toEqual(Array.from(normalValues(0xffffffff, 3, 36)));
    // Element i uses counter (i, 0).
    expect(u.data[17]).toBe(Math.fround(uniformFromBits(threefry2x32(42, (-7) >>> 0, 17, 0)[0])));
  });
  it('same key gives the same values, a different key different values', () => {
    for (const op of ['rng_uniform', 'rng_normal']) {
      const a = Array.from(runOp(op, [key(1, 2)], { shape: [64] }).data);
      expect(Array.from(runOp(op, [key(1, 2)], { shape: [64] }).data)).toEqual(a);
      const b = Array.from(runOp(op, [key(1, 3)], { shape: [64] }).data);
      const c = Array.from(runOp(op, [key(2, 2)], { shape: [64] }).data);
      expect(b.filter((v, i) => v === a[i]).length).toBeLessThan(3);
      expect(c.filter((v, i) => v === a[i]).length).toBeLessThan(3);
    }
  });
  it('has the right moments on 10^5 samples', () => {
    const u = runOp('rng_uniform', [key(123, 456)], { shape: [100, 1000] }).data;
    const mu = moments(u);
    expect(Math.abs(mu.mean - 0.5)).toBeLessThan(0.005);
    expect(Math.abs(mu.variance - 1 / 12)).toBeLessThan(0.002);
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    const n = runOp('rng_normal', [key(789, 1011)], { shape: [100000] }).data;
    const mn = moments(n);
    expect(Math.abs(mn.mean)).toBeLessThan(0.015);
    expect(Math.abs(mn.variance - 1)).toBeLessThan(0.02);
    // Tails: about 4.55% of a standard normal lies beyond 2 sigma.
    const tail = Array.from(n).filter((v) => Math.abs(v) > 2).length / n.length;
    expect(Math.abs(tail - 0.0455)).toBeLessThan(0.004);
  });
  it('rounds to f16/bf16 and handles empty shapes', () => {
    const h = runOp('rng_uniform', [key(5, 6)], { shape: [8], dtype: 'bf16' });
    expect(h.type.dtype).toBe('bf16');
    const f = uniformValues(5, 6, 8);
    h.data.forEach((v, i) => expect(Math.abs(v - f[i]!)).toBeLessThan(2 ** -8));
    expect(runOp('rng_normal', [key(5, 6)], { shape: [3, 0] }).type.shape).toEqual([3, 0]);
  });
  it('rejects bad keys and dtypes', () => {
    const b = new Builder();
    expect(kilnErrorMessage(() => b.op('rng_uniform', [b.param(tensorType([3], 'i32'))], { shape: [2] }))).toBe('rng_uniform(i32[3]): key must be i32[2]');
    expect(kilnErrorMessage(() => b.op('rng_normal', [b.param(tensorType([2], 'f32'))], { shape: [2] }))).toBe('rng_normal(f32[2]): key must be i32[2]');
    expect(kilnErrorMessage(() => b.op('rng_normal', [b.param(tensorType([2], 'i32'))], { shape: [2], dtype: 'i32' }))).toContain("attribute 'dtype' must be a float dtype");
    expect(kilnErrorMessage(() => b.op('rng_normal', [b.param(tensorType([2], 'i32'))], { shape: [-2] }))).toContain("attribute 'shape' = [-2] has negative dimension");
  });
});
