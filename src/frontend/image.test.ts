import { describe, expect, it } from 'vitest';
// tfjs-layers' bundle registers tfjs-core's gradient functions, which tf.grads needs.
import '@tensorflow/tfjs-layers';
import { mul } from './elementwise.js';
import { grad } from './grad.js';
import { depthToSpace, gatherNd, mirrorPad, resizeBilinear, resizeNearestNeighbor, spaceToDepth } from './image.js';
import * as kiln from './index.js';
import { sum } from './reduction.js';
import { Tensor } from './tensor.js';
import { checkBoth, expectClose, rand, tf, toTf, useCpu } from './test_util.js';

useCpu();

/** tfjs-core has no spaceToDepth op: its definition through reshape/transpose, written out. */
function tfSpaceToDepth(x: tf.Tensor4D, b: number): tf.Tensor {
  const [n, h, w, c] = x.shape;
  return tf.reshape(tf.transpose(tf.reshape(x, [n, h / b, b, w / b, b, c]), [0, 1, 3, 2, 4, 5]), [n, h / b, w / b, b * b * c]);
}

/**
 * d/dx sum(op(x) * w) by kiln's grad against central finite differences (tfjs is no oracle
 * here: it has no gradient for DepthToSpace/GatherNd, and its MirrorPad and resize gradients
 * are wrong for these shapes). Every op here is linear in x, so a large step is exact up to
 * f32 rounding.
 */
function checkGrad(op: (x: Tensor) => Tensor, x: Tensor, label: string): void {
  const w = rand(op(x).shape, 99);
  const f = (a: Tensor) => sum(mul(op(a), w)).item();
  const g = grad((a: Tensor) => sum(mul(op(a), w)))(x);
  const base = Array.from(x.dataSync());
  const fd = base.map((_, i) => {
    const at = (d: number) => f(kiln.tensor(base.map((v, j) => (j === i ? v + d : v)), x.shape));
    return (at(0.5) - at(-0.5)) / 1;
  });
  expectClose(g, kiln.tensor(fd, x.shape), 1e-4, `${label} grad`);
}

describe('depthToSpace / spaceToDepth agree with tfjs', () => {
  it('depthToSpace forward and gradient', () => {
    const x = rand([2, 3, 4, 8], 1);
    for (const b of [2]) {
      checkBoth((a) => depthToSpace(a!, b), [x], tf.depthToSpace(toTf(x) as tf.Tensor4D, b), 0, `d2s ${b}`);
    }
    const x9 = rand([1, 2, 2, 18], 2);
    checkBoth((a) => depthToSpace(a!, 3), [x9], tf.depthToSpace(toTf(x9) as tf.Tensor4D, 3), 0, 'd2s 3');
    checkGrad((a) => depthToSpace(a, 2), rand([1, 2, 2, 8], 11), 'd2s');
  });
  it('spaceToDepth forward and gradient', () => {
    const x = rand([2, 4, 6, 3], 3);
    checkBoth((a) => spaceToDepth(a!, 2), [x], tf.tidy(() => tfSpaceToDepth(toTf(x) as tf.Tensor4D, 2)), 0, 's2d');
    checkGrad((a) => spaceToDepth(a, 2), rand([1, 4, 2, 2], 12), 's2d');
    expectClose(depthToSpace(spaceToDepth(x, 2), 2), x, 0, 'round trip');
  });
  it('errors name the shape and block size', () => {
    expect(() => depthToSpace(rand([1, 2, 2, 6]), 2)).toThrow('depthToSpace: channels (6) of f32[1,2,2,6] must be divisible by blockSize^2 = 4');
    expect(() => spaceToDepth(rand([1, 3, 2, 1]), 2)).toThrow('spaceToDepth: height (3) and width (2) of f32[1,3,2,1] must be divisible by blockSize 2');
    expect(() => depthToSpace(rand([2, 2, 4]), 2)).toThrow('depthToSpace: x must be NHWC (rank 4), got f32[2,2,4]');
    expect(() => depthToSpace(rand([1, 2, 2, 4]), 1)).toThrow('depthToSpace: blockSize must be an integer >= 2, got 1');
    expect(() => depthToSpace(rand([1, 2, 2, 4]), 2, 'NCHW' as 'NHWC')).toThrow("depthToSpace: dataFormat must be 'NHWC', got 'NCHW'");
  });
});

const flagSets: [boolean, boolean][] = [[false, false], [true, false], [false, true]];
const sizes: [number, number][] = [[9, 7], [3, 2], [5, 5], [1, 1], [10, 16]];

describe('resizeBilinear agrees with tf.image.resizeBilinear', () => {
  const x = rand([2, 5, 8, 3], 4);
  for (const [ac, hp] of flagSets) {
    for (const size of sizes) {
      it(`alignCorners=${ac} halfPixelCenters=${hp} to [${size.join(',')}]`, () => {
        const ref = tf.image.resizeBilinear(toTf(x) as tf.Tensor4D, size, ac, hp);
        checkBoth((a) => resizeBilinear(a!, size, ac, hp), [x], ref, 1e-5, 'bilinear');
      });
    }
    it(`gradient, alignCorners=${ac} halfPixelCenters=${hp}`, () => {
      checkGrad((a) => resizeBilinear(a, [5, 7], ac, hp), rand([1, 3, 4, 2], 13), 'bilinear');
    });
  }
  it('accepts HWC and refuses bad arguments', () => {
    const x3 = rand([4, 4, 2], 5);
    expectClose(resizeBilinear(x3, [6, 3]), tf.image.resizeBilinear(toTf(x3) as tf.Tensor3D, [6, 3]), 1e-5);
    expect(() => resizeBilinear(x, [0, 3])).toThrow('resizeBilinear: size must be [newHeight, newWidth] of positive integers, got [0,3] for f32[2,5,8,3]');
    expect(() => resizeBilinear(x, [2, 3], true, true)).toThrow(/alignCorners and halfPixelCenters cannot both be true/);
    expect(() => resizeBilinear(rand([4, 4]), [2, 2])).toThrow('resizeBilinear: x must be NHWC (rank 4) or HWC (rank 3), got f32[4,4]');
  });
});

describe('resizeNearestNeighbor agrees with tf.image.resizeNearestNeighbor', () => {
  const x = rand([2, 5, 8, 3], 6);
  for (const [ac, hp] of flagSets) {
    for (const size of sizes) {
      it(`alignCorners=${ac} halfPixelCenters=${hp} to [${size.join(',')}]`, () => {
        const ref = tf.image.resizeNearestNeighbor(toTf(x) as tf.Tensor4D, size, ac, hp);
        checkBoth((a) => resizeNearestNeighbor(a!, size, ac, hp), [x], ref, 0, 'nearest');
      });
    }
  }
  it('gradient', () => {
    checkGrad((a) => resizeNearestNeighbor(a, [5, 3]), rand([1, 3, 4, 2], 14), 'nearest');
  });
});

describe('mirrorPad agrees with tf.mirrorPad', () => {
  const x = rand([2, 4, 5, 3], 7);
  const pads: [number, number][][] = [[[0, 0], [3, 2], [1, 4], [0, 0]], [[1, 1], [0, 1], [2, 0], [1, 2]]];
  for (const mode of ['reflect', 'symmetric'] as const) {
    for (const p of pads) {
      it(`${mode} ${JSON.stringify(p)}`, () => {
        const ok = mode === 'symmetric' || p.every(([a, b], i) => a! < x.shape[i]! && b! < x.shape[i]!);
        if (!ok) return;
        checkBoth((a) => mirrorPad(a!, p, mode), [x], tf.mirrorPad(toTf(x), p, mode), 0, `mirror ${mode}`);
      });
    }
    it(`${mode} gradient`, () => {
      const p: [number, number][] = [[0, 0], [2, 1], [1, 3], [0, 0]];
      checkGrad((a) => mirrorPad(a, p, mode), rand([1, 4, 5, 2], 15), mode);
    });
  }
  it('refuses paddings larger than TF allows', () => {
    expect(() => mirrorPad(rand([3]), [[3, 0]], 'reflect')).toThrow('mirrorPad: padding [3, 0] of dimension 0 exceeds 2 (reflect mode, size 3) for f32[3]');
    expect(() => mirrorPad(rand([3]), [[1, 1]], 'edge' as 'reflect')).toThrow("mirrorPad: mode must be 'reflect' or 'symmetric', got 'edge'");
  });
});

describe('gatherNd agrees with tf.gatherND', () => {
  const x = rand([4, 3, 5], 8);
  const cases: number[][][] = [[[1, 2], [3, 0], [0, 4]].map(([a, b]) => [a!, b! % 3]), [[2], [0], [3]], [[1, 2, 4], [3, 0, 0]]];
  for (const idx of cases) {
    it(`static indices ${JSON.stringify(idx)}`, () => {
      const ref = tf.gatherND(toTf(x), tf.tensor(idx, undefined, 'int32'));
      checkBoth((a) => gatherNd(a!, idx), [x], ref, 0, 'gatherNd');
    });
  }
  it('traced indices with batch dims, and the gradient', () => {
    const idx = kiln.tensor([[[0, 1], [3, 2]], [[2, 2], [1, 0]]], undefined, 'i32');
    const ref = tf.gatherND(toTf(x), toTf(idx));
    checkBoth((a, i) => gatherNd(a!, i!), [x, idx], ref, 0, 'gatherNd traced');
    checkGrad((a) => gatherNd(a, idx), rand([4, 3, 2], 16), 'gatherNd');
  });
  it('errors name the index shape', () => {
    expect(() => gatherNd(x, [[1, 2, 3, 4]])).toThrow('gatherNd: the last dimension of indices i32[1,4] (4) must be between 1 and the rank of x f32[4,3,5] (3)');
    expect(() => gatherNd(x, kiln.tensor([[1]]))).toThrow(/gatherNd: indices must be i32, got f32\[1,1\]/);
  });
});
