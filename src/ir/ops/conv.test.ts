import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { Builder } from '../builder.js';
import type { DType } from '../dtype.js';
import { literalToTensor } from '../interpreter.js';
import type { Literal } from '../literal.js';
import { tensorType, type Shape } from '../types.js';
import './index.js';
import { kilnErrorMessage, maxAbsDiff, randomLiteral, runOp } from './testkit.js';

interface ConvCase {
  strides: [number, number]; pad_lo: [number, number]; pad_hi: [number, number];
  lhs_dilation?: [number, number]; rhs_dilation?: [number, number]; groups?: number;
}

/** Convolution straight from its definition: out[b,i,j,o] = sum x(dilated,padded) * w(dilated). */
function naiveConv(x: Literal, w: Literal, a: ConvCase, int: boolean): { shape: number[]; data: number[] } {
  const [n, h, wd, c] = x.type.shape as number[] as [number, number, number, number];
  const [kh, kw, ci, co] = w.type.shape as number[] as [number, number, number, number];
  const ld = a.lhs_dilation ?? [1, 1], rd = a.rhs_dilation ?? [1, 1], g = a.groups ?? 1;
  const outDim = (size: number, k: number, d: 0 | 1) => {
    const padded = a.pad_lo[d] + a.pad_hi[d] + (size > 0 ? (size - 1) * ld[d] + 1 : 0);
    const win = (k - 1) * rd[d] + 1;
    return padded < win ? 0 : Math.floor((padded - win) / a.strides[d]) + 1;
  };
  const oh = outDim(h, kh, 0), ow = outDim(wd, kw, 1);
  const data: number[] = [];
  const xAt = (b: number, p: number, q: number, ch: number): number => {
    if (p % ld[0] !== 0 || q % ld[1] !== 0) return 0;
    const pi = p / ld[0], qi = q / ld[1];
    if (pi < 0 || pi >= h || qi < 0 || qi >= wd) return 0;
    return x.data[((b * h + pi) * wd + qi) * c + ch]!;
  };
  for (let b = 0; b < n; b++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) for (let o = 0; o < co; o++) {
    const grp = Math.floor(o / (co / g));
    let acc = 0;
    for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) for (let k = 0; k < ci; k++) {
      const xv = xAt(b, i * a.strides[0] + u * rd[0] - a.pad_lo[0], j * a.strides[1] + v * rd[1] - a.pad_lo[1], grp * ci + k);
      const wv = w.data[((u * kw + v) * ci + k) * co + o]!;
      acc = int ? (acc + Math.imul(xv, wv)) | 0 : acc + xv * wv;
    }
    data.push(acc);
  }
  return { shape: [n, oh, ow, co], data };
}

describe('conv', () => {
  const cases: [string, Shape, Shape, ConvCase][] = [
    ['3x3 same', [2, 7, 9, 3], [3, 3, 3, 5], { strides: [1, 1], pad_lo: [1, 1], pad_hi: [1, 1] }],
    ['stride 2 + rhs dilation + asymmetric pad', [1, 11, 10, 3], [3, 2, 3, 4], { strides: [2, 3], pad_lo: [0, 1], pad_hi: [1, 2], rhs_dilation: [2, 3] }],
    ['groups 2', [1, 6, 5, 4], [3, 2, 2, 6], { strides: [1, 2], pad_lo: [1, 0], pad_hi: [1, 1], groups: 2 }],
    ['groups 3 of 2 channels, dilated, strided', [2, 9, 9, 6], [2, 2, 2, 3], { strides: [2, 2], pad_lo: [1, 1], pad_hi: [0, 1], rhs_dilation: [2, 2], groups: 3 }],
    ['depthwise multiplier 2', [1, 7, 6, 3], [3, 3, 1, 6], { strides: [2, 1], pad_lo: [1, 2], pad_hi: [1, 0], groups: 3 }],
    ['depthwise with rhs dilation', [1, 8, 8, 5], [3, 3, 1, 5], { strides: [1, 1], pad_lo: [2, 2], pad_hi: [2, 2], rhs_dilation: [2, 2], groups: 5 }],
    ['transposed (lhs dilation)', [1, 4, 5, 3], [3, 3, 3, 2], { strides: [1, 1], pad_lo: [2, 1], pad_hi: [2, 2], lhs_dilation: [2, 3] }],
    ['lhs dilation + groups + stride', [1, 5, 4, 4], [2, 3, 2, 4], { strides: [2, 1], pad_lo: [1, 1], pad_hi: [1, 1], lhs_dilation: [2, 2], groups: 2 }],
    ['negative padding crops', [1, 8, 7, 2], [2, 2, 2, 3], { strides: [1, 1], pad_lo: [-1, 0], pad_hi: [0, -2] }],
    ['1x1 kernel, size-1 dims', [1, 1, 1, 1], [1, 1, 1, 1], { strides: [1, 1], pad_lo: [0, 0], pad_hi: [0, 0] }],
    ['window larger than input', [1, 2, 2, 1], [3, 3, 1, 2], { strides: [1, 1], pad_lo: [0, 0], pad_hi: [0, 0] }],
    ['empty batch', [0, 4, 4, 2], [3, 3, 2, 2], { strides: [1, 1], pad_lo: [1, 1], pad_hi: [1, 1] }],
    ['zero input channels', [1, 4, 4, 0], [3, 3, 0, 2], { strides: [1, 1], pad_lo: [1, 1], pad_hi: [1, 1] }],
    ['zero output channels', [1, 4, 4, 2], [3, 3, 2, 0], { strides: [1, 1], pad_lo: [1, 1], pad_hi: [1, 1] }],
  ];
  for (const [name, xs, ws, a] of cases) {
    for (const dtype of ['f32', 'i32'] as DType[]) {
      it(`${name} ${dtype} x[${xs}] w[${ws}]`, () => {
        const x = randomLiteral(xs, dtype, 31, -5, 5), w = randomLiteral(ws, dtype, 32, -5, 5);
        const out = runOp('conv', [x, w], { ...a });
        const want = naiveConv(x, w, a, dtype === 'i32');
        expect(out.type).toEqual(tensorType(want.shape, dtype));
        if (dtype === 'i32') expect(Array.from(out.data)).toEqual(want.data);
        else expect(maxAbsDiff(out.data, want.data)).toBeLessThan(1e-3);
      });
    }
  }

  it('agrees with tf.conv2d called with explicit pads', () => {
    const x = randomLiteral([2, 13, 10, 5], 'f32', 41), w = randomLiteral([3, 5, 5, 7], 'f32', 42);
    const out = runOp('conv', [x, w], { strides: [2, 1], pad_lo: [1, 2], pad_hi: [0, 2] });
    const ref = tf.conv2d(literalToTensor(x) as tf.Tensor4D, literalToTensor(w) as tf.Tensor4D, [2, 1], [[0, 0], [1, 0], [2, 2], [0, 0]]);
    expect(out.type.shape).toEqual(ref.shape);
    expect(maxAbsDiff(out.data, ref.dataSync())).toBeLessThan(1e-4);
  });

  it('agrees with tf.depthwiseConv2d for groups == C', () => {
    const x = randomLiteral([1, 9, 9, 4], 'f32', 43), w = randomLiteral([3, 3, 1, 8], 'f32', 44);
    const out = runOp('conv', [x, w], { strides: [1, 1], pad_lo: [0, 0], pad_hi: [0, 0], rhs_dilation: [2, 2], groups: 4 });
    const ref = tf.depthwiseConv2d(literalToTensor(x) as tf.Tensor4D, tf.reshape(literalToTensor(w), [3, 3, 4, 2]) as tf.Tensor4D, 1, 'valid', 'NHWC', 2);
    expect(maxAbsDiff(out.data, ref.dataSync())).toBeLessThan(1e-4);
  });

  it('i8 x i8 -> i32 through the dtype attribute', () => {
    const x = randomLiteral([1, 5, 5, 16], 'i8', 45, -128, 128), w = randomLiteral([3, 3, 16, 3], 'i8', 46, -128, 128);
    const a: ConvCase = { strides: [1, 1], pad_lo: [1, 1], pad_hi: [1, 1] };
    const out = runOp('conv', [x, w], { ...a, dtype: 'i32' });
    expect(out.type).toEqual(tensorType([1, 5, 5, 3], 'i32'));
    expect(Array.from(out.data)).toEqual(naiveConv(x, w, a, true).data);
  });

  it('rejects bad shapes and attributes', () => {
    const b = new Builder();
    const p = (s: Shape, dt: DType = 'f32') => b.param(tensorType(s, dt));
    const base = { strides: [1, 1], pad_lo: [0, 0], pad_hi: [0, 0] };
    expect(kilnErrorMessage(() => b.op('conv', [p([1, 8, 8, 3]), p([3, 3, 4, 8])], base)))
      .toBe("conv(f32[1,8,8,3], f32[3,3,4,8]): kernel input channels 4 must equal input channels 3 / groups 1 (attribute 'groups')");
    expect(kilnErrorMessage(() => b.op('conv', [p([1, 8, 8, 6]), p([3, 3, 2, 8])], { ...base, groups: 4 })))
      .toContain("input channels 6 are not divisible by groups 4 (attribute 'groups')");
    expect(kilnErrorMessage(() => b.op('conv', [p([1, 8, 8, 6]), p([3, 3, 2, 4])], { ...base, groups: 3 })))
      .toContain("kernel output channels 4 are not divisible by groups 3 (attribute 'groups')");
    expect(kilnErrorMessage(() => b.op('conv', [p([8, 8, 3]), p([3, 3, 3, 8])], base))).toContain('conv(f32[8,8,3], f32[3,3,3,8]): input must be rank 4 (NHWC)');
    expect(kilnErrorMessage(() => b.op('conv', [p([1, 8, 8, 3]), p([3, 3, 3])], base))).toContain('kernel must be rank 4 (HWIO)');
    expect(kilnErrorMessage(() => b.op('conv', [p([1, 8, 8, 3]), p([3, 3, 3, 8])], { ...base, strides: [1] }))).toContain("attribute 'strides' has 1 entries");
    expect(kilnErrorMessage(() => b.op('conv', [p([1, 8, 8, 3]), p([3, 3, 3, 8])], { ...base, strides: [0, 1] }))).toContain("attribute 'strides' entry 0 is 0");
    expect(kilnErrorMessage(() => b.op('conv', [p([1, 8, 8, 3]), p([3, 3, 3, 8])], { ...base, rhs_dilation: [1, 0] }))).toContain("'rhs_dilation' entry 1 is 0");
    expect(kilnErrorMessage(() => b.op('conv', [p([1, 8, 8, 3]), p([3, 3, 3, 8])], { ...base, pad_lo: [-5, 0], pad_hi: [-4, 0] }))).toContain("crops more than the height 8 (attributes 'pad_lo', 'pad_hi')");
    expect(kilnErrorMessage(() => b.op('conv', [p([1, 8, 8, 3]), p([3, 3, 3, 8], 'i32')], base))).toContain('input and kernel dtypes differ (f32 vs i32)');
    expect(kilnErrorMessage(() => b.op('conv', [p([1, 8, 8, 3]), p([0, 3, 3, 8])], base))).toContain('kernel spatial size 0x3');
    expect(kilnErrorMessage(() => b.op('conv', [p([1, 8, 8, 3]), p([3, 3, 3, 8])], { ...base, groups: 0 }))).toContain("'groups' = 0 must be >= 1");
  });
});
