import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { Builder } from '../builder.js';
import type { DType } from '../dtype.js';
import { literalToTensor } from '../interpreter.js';
import type { Literal } from '../literal.js';
import { numel, tensorType, type Shape } from '../types.js';
import './index.js';
import { kilnErrorMessage, maxAbsDiff, randomLiteral, ravel, runOp, unravel } from './testkit.js';

interface Win { window: number[]; strides: number[]; pad_lo: number[]; pad_hi: number[] }

function naiveWindow(x: Literal, op: 'max' | 'sum', a: Win): { shape: number[]; data: number[] } {
  const xs = x.type.shape;
  const int = x.type.dtype === 'i32';
  const shape = xs.map((n, i) => {
    const padded = n + a.pad_lo[i]! + a.pad_hi[i]!;
    return padded < a.window[i]! ? 0 : Math.floor((padded - a.window[i]!) / a.strides[i]!) + 1;
  });
  const data: number[] = [];
  for (let f = 0; f < numel(shape); f++) {
    const o = unravel(f, shape);
    let acc = op === 'sum' ? 0 : int ? -2147483648 : -Infinity;
    for (let k = 0; k < numel(a.window); k++) {
      const idx = unravel(k, a.window).map((w, d) => o[d]! * a.strides[d]! + w - a.pad_lo[d]!);
      if (!idx.every((v, d) => v >= 0 && v < xs[d]!)) continue;
      const v = x.data[ravel(idx, xs)]!;
      acc = op === 'max' ? Math.max(acc, v) : int ? (acc + v) | 0 : acc + v;
    }
    data.push(acc);
  }
  return { shape, data };
}

describe('reduce_window', () => {
  const cases: [string, Shape, Win][] = [
    ['2x2 pool stride 2', [2, 8, 6, 3], { window: [1, 2, 2, 1], strides: [1, 2, 2, 1], pad_lo: [0, 0, 0, 0], pad_hi: [0, 0, 0, 0] }],
    ['3x3 stride 2 same-padding, odd sizes', [1, 7, 9, 5], { window: [1, 3, 3, 1], strides: [1, 2, 2, 1], pad_lo: [0, 1, 1, 0], pad_hi: [0, 1, 1, 0] }],
    ['asymmetric pads, overlapping 1-D', [13], { window: [4], strides: [3], pad_lo: [2], pad_hi: [1] }],
    ['window over batch and channels too', [3, 5, 4], { window: [2, 3, 2], strides: [1, 2, 2], pad_lo: [0, 1, 0], pad_hi: [1, 0, 1] }],
    ['global pool', [2, 5, 7, 3], { window: [1, 5, 7, 1], strides: [1, 1, 1, 1], pad_lo: [0, 0, 0, 0], pad_hi: [0, 0, 0, 0] }],
    ['size-1 dims', [1, 1, 1], { window: [1, 1, 1], strides: [1, 1, 1], pad_lo: [0, 0, 0], pad_hi: [0, 0, 0] }],
    ['window larger than input', [1, 2, 3, 1], { window: [1, 3, 3, 1], strides: [1, 1, 1, 1], pad_lo: [0, 0, 0, 0], pad_hi: [0, 0, 0, 0] }],
    ['empty input, padding only', [0, 2], { window: [1, 2], strides: [1, 1], pad_lo: [1, 0], pad_hi: [0, 0] }],
    ['empty batch', [0, 4, 4, 2], { window: [1, 2, 2, 1], strides: [1, 2, 2, 1], pad_lo: [0, 0, 0, 0], pad_hi: [0, 0, 0, 0] }],
  ];
  for (const [name, xs, a] of cases) {
    for (const op of ['max', 'sum'] as const) {
      for (const dtype of ['f32', 'i32'] as DType[]) {
        it(`${op} ${name} ${dtype}[${xs}]`, () => {
          const x = randomLiteral(xs, dtype, 51, -50, 50);
          const out = runOp('reduce_window', [x], { op, ...a });
          const want = naiveWindow(x, op, a);
          expect(out.type).toEqual(tensorType(want.shape, dtype));
          if (dtype === 'i32') expect(Array.from(out.data)).toEqual(want.data);
          else expect(maxAbsDiff(out.data, want.data)).toBeLessThan(1e-3);
        });
      }
    }
  }

  it('agrees with tf.maxPool and tf.avgPool (valid)', () => {
    const x = randomLiteral([2, 11, 10, 3], 'f32', 52);
    const a = { window: [1, 3, 2, 1], strides: [1, 2, 3, 1], pad_lo: [0, 0, 0, 0], pad_hi: [0, 0, 0, 0] };
    const xt = literalToTensor(x) as tf.Tensor4D;
    const mx = runOp('reduce_window', [x], { op: 'max', ...a });
    const ref = tf.maxPool(xt, [3, 2], [2, 3], 'valid');
    expect(mx.type.shape).toEqual(ref.shape);
    expect(maxAbsDiff(mx.data, ref.dataSync())).toBe(0);
    const sm = runOp('reduce_window', [x], { op: 'sum', ...a });
    expect(maxAbsDiff(sm.data, tf.mul(tf.avgPool(xt, [3, 2], [2, 3], 'valid'), 6).dataSync())).toBeLessThan(1e-4);
  });

  it('max never picks padding, even when every value is negative', () => {
    const x = randomLiteral([1, 4, 4, 1], 'f32', 53, -9, -1);
    const out = runOp('reduce_window', [x], { op: 'max', window: [1, 3, 3, 1], strides: [1, 1, 1, 1], pad_lo: [0, 1, 1, 0], pad_hi: [0, 1, 1, 0] });
    expect(Array.from(out.data).every((v) => v < 0 && Number.isFinite(v))).toBe(true);
  });

  it('rejects bad attributes', () => {
    const b = new Builder();
    const x = b.param(tensorType([1, 4, 4, 2], 'f32'));
    const ok = { op: 'max', window: [1, 2, 2, 1], strides: [1, 2, 2, 1], pad_lo: [0, 0, 0, 0], pad_hi: [0, 0, 0, 0] };
    expect(kilnErrorMessage(() => b.op('reduce_window', [x], { ...ok, window: [2, 2] })))
      .toBe("reduce_window(f32[1,4,4,2]): attribute 'window' has 2 entries [2,2] but needs 4 (full rank: one entry per operand dim)");
    expect(kilnErrorMessage(() => b.op('reduce_window', [x], { ...ok, strides: [1, 0, 1, 1] }))).toContain("'strides' entry 1 is 0");
    expect(kilnErrorMessage(() => b.op('reduce_window', [x], { ...ok, window: [1, 0, 1, 1] }))).toContain("'window' entry 1 is 0");
    expect(kilnErrorMessage(() => b.op('reduce_window', [x], { ...ok, pad_lo: [0, -1, 0, 0] }))).toContain("'pad_lo' entry 1 is -1");
    expect(kilnErrorMessage(() => b.op('reduce_window', [x], { ...ok, op: 'min' }))).toContain("attribute 'op' must be one of 'max', 'sum'");
    expect(kilnErrorMessage(() => b.op('reduce_window', [b.param(tensorType([4], 'bool'))], { ...ok, window: [2], strides: [1], pad_lo: [0], pad_hi: [0] }))).toContain('got bool');
  });
});
