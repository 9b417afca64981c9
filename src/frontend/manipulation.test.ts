import { beforeAll, describe, expect, it } from 'vitest';
import { hasOp } from '../ir/registry.js';
import * as k from './index.js';
import { checkBoth, expectClose, rand, tf, toTf, useCpu } from './test_util.js';

beforeAll(useCpu);

describe('shape ops agree with tf', () => {
  const x = rand([2, 3, 4], 1);
  const tx = () => toTf(x);

  it('reshape, with -1', () => {
    checkBoth((t) => k.reshape(t, [4, -1]), [x], tf.reshape(tx(), [4, 6]), 0, 'reshape');
    checkBoth((t) => k.reshape(t, [24]), [x], tf.reshape(tx(), [24]), 0, 'reshape flat');
    expect(k.reshape(rand([0, 3]), [-1, 3]).shape).toEqual([0, 3]);
  });
  it('transpose, default and explicit perm', () => {
    checkBoth((t) => k.transpose(t), [x], tf.transpose(tx()), 0, 'transpose');
    checkBoth((t) => k.transpose(t, [1, 0, 2]), [x], tf.transpose(tx(), [1, 0, 2]), 0, 'transpose perm');
  });
  it('expandDims and squeeze', () => {
    checkBoth((t) => k.expandDims(t, -1), [x], tf.expandDims(tx(), -1), 0, 'expandDims');
    checkBoth((t) => k.expandDims(t, 1), [x], tf.expandDims(tx(), 1), 0, 'expandDims 1');
    const y = rand([1, 3, 1], 2);
    checkBoth((t) => k.squeeze(t), [y], tf.squeeze(toTf(y)), 0, 'squeeze');
    checkBoth((t) => k.squeeze(t, [2]), [y], tf.squeeze(toTf(y), [2]), 0, 'squeeze axis');
  });
  it('concat, stack, split, unstack', () => {
    const a = rand([2, 3], 3), b = rand([2, 5], 4), c = rand([2, 0], 5);
    checkBoth((p, q, r) => k.concat([p!, q!, r!], 1), [a, b, c], tf.concat([toTf(a), toTf(b), toTf(c)], 1), 0, 'concat');
    const d = rand([2, 3], 6);
    checkBoth((p, q) => k.stack([p!, q!], 1), [a, d], tf.stack([toTf(a), toTf(d)], 1), 0, 'stack');
    const parts = k.split(b, [2, -1, 1], 1);
    const ref = tf.split(toTf(b), [2, 2, 1], 1);
    parts.forEach((p, i) => expectClose(p, ref[i]!, 0));
    const eq = k.split(x, 2, 2);
    tf.split(tx(), 2, 2).forEach((r, i) => expectClose(eq[i]!, r, 0));
    k.unstack(x, 1).forEach((p, i) => expectClose(p, tf.unstack(tx(), 1)[i]!, 0));
  });
  it('slice with -1 sizes', () => {
    checkBoth((t) => k.slice(t, [1, 0, 1], [1, -1, 2]), [x], tf.slice(tx(), [1, 0, 1], [1, -1, 2]), 0, 'slice');
    checkBoth((t) => k.slice(t, [0, 1]), [x], tf.slice(tx(), [0, 1]), 0, 'slice begin only');
  });
  it('stridedSlice with negative indices, strides and masks', () => {
    checkBoth((t) => k.stridedSlice(t, [0, -2, 0], [2, 3, 4], [1, 1, 2]), [x], tf.stridedSlice(tx(), [0, -2, 0], [2, 3, 4], [1, 1, 2]), 0, 'ss');
    checkBoth((t) => k.stridedSlice(t, [1, 5, 1], [0, 0, 10], [1, 1, 3], 1, 2), [x],
      tf.stridedSlice(tx(), [1, 5, 1], [0, 0, 10], [1, 1, 3], 1, 2), 0, 'ss masks');
    checkBoth((t) => k.stridedSlice(t, [1, 0, 0], [2, 3, 4], [1, 1, 1], 0, 0, 0, 0, 1), [x],
      tf.stridedSlice(tx(), [1, 0, 0], [2, 3, 4], [1, 1, 1], 0, 0, 0, 0, 1), 0, 'ss shrink');
  });
  it('pad with a constant', () => {
    checkBoth((t) => k.pad(t, [[0, 1], [2, 0], [1, 1]], 7), [x], tf.pad(tx(), [[0, 1], [2, 0], [1, 1]], 7), 0, 'pad');
  });
  it('broadcastTo and tile', () => {
    const y = rand([3, 1], 7);
    checkBoth((t) => k.broadcastTo(t, [2, 3, 4]), [y], tf.broadcastTo(toTf(y), [2, 3, 4]), 0, 'broadcastTo');
    checkBoth((t) => k.tile(t, [2, 1, 3]), [x], tf.tile(tx(), [2, 1, 3]), 0, 'tile');
  });
  it.skipIf(!hasOp('gather'))('gather along an axis (needs the IR gather op)', () => {
    const idx = k.tensor([2, 0, 2, 1], [2, 2], 'i32');
    checkBoth((t, i) => k.gather(t, i!, 1), [x, idx], tf.gather(tx(), toTf(idx), 1), 0, 'gather');
    expectClose(k.gather(x, [1, 0]), tf.gather(tx(), [1, 0]), 0);
  });
  it.skipIf(!hasOp('gather'))('oneHot agrees with tf', () => {
    const idx = k.tensor([0, 3, 1, 5], [2, 2], 'i32');
    checkBoth((i) => k.oneHot(i, 4), [idx], tf.oneHot(toTf(idx), 4), 0, 'oneHot');
  });
});

describe('shape op errors', () => {
  const x = rand([2, 3], 1);
  it('name the op and the shapes', () => {
    expect(() => k.reshape(x, [4, 2])).toThrow('reshape: f32[2,3] has 6 elements but shape [4,2] holds 8');
    expect(() => k.reshape(x, [-1, 4])).toThrow(/reshape: cannot infer the -1 in \[-1,4\] for f32\[2,3\]/);
    expect(() => k.transpose(x, [0, 0])).toThrow(/transpose: perm \[0,0\] is not a permutation of the 2 dims of f32\[2,3\]/);
    expect(() => k.squeeze(x, 0)).toThrow('squeeze: dimension 0 of f32[2,3] has size 2, not 1');
    expect(() => k.concat([x, rand([3, 3])], 1)).toThrow(/concat: shapes must agree except along axis 1: f32\[2,3\], f32\[3,3\]/);
    expect(() => k.slice(x, [1, 1], [2, 2])).toThrow(/slice: .* out of bounds for f32\[2,3\] \(dimension 0\)/);
    expect(() => k.expandDims(x, 3)).toThrow(/expandDims: axis 3 is out of range for f32\[2,3\]/);
    expect(() => k.broadcastTo(x, [3, 3])).toThrow('broadcastTo: cannot broadcast f32[2,3] to shape [3,3]');
    expect(() => k.gather(x, k.tensor([0]), 0)).toThrow(/gather: indices must be i32, got f32\[1\]/);
  });
});

describe('creation', () => {
  it('tensor infers shapes and dtypes; rejects ragged arrays', () => {
    expect(k.tensor([[1, 2], [3, 4]]).shape).toEqual([2, 2]);
    expect(k.tensor(new Int32Array([1, 2])).dtype).toBe('i32');
    expect(k.tensor([true, false]).dtype).toBe('bool');
    expect(k.tensor([[]]).shape).toEqual([1, 0]);
    expect(k.tensor(5).shape).toEqual([]);
    expect(k.tensor([1, 2, 3, 4], [2, 2]).arraySync()).toEqual([[1, 2], [3, 4]]);
    expect(() => k.tensor([[1, 2], [3]])).toThrow(/ragged/);
    expect(() => k.tensor([1, 2, 3], [2, 2])).toThrow('tensor: 3 values (shape [3]) do not fill shape [2,2] (4 elements)');
  });
  it('fill helpers, range and iota agree with tf', () => {
    expectClose(k.zeros([2, 3]), tf.zeros([2, 3]), 0);
    expectClose(k.ones([2], 'i32'), tf.ones([2], 'int32'), 0);
    expectClose(k.fill([3], 2.5), tf.fill([3], 2.5), 0);
    const x = rand([2, 2], 3);
    expect(k.zerosLike(x).shape).toEqual([2, 2]);
    expect(k.onesLike(k.tensor([1], [1], 'i32')).dtype).toBe('i32');
    expectClose(k.range(2, 9, 3), tf.range(2, 9, 3), 0);
    expectClose(k.range(5), tf.range(0, 5), 0);
    expectClose(k.range(3, 0, -1), tf.range(3, 0, -1), 0);
    expect(k.iota([2, 3], 1).arraySync()).toEqual([[0, 1, 2], [0, 1, 2]]);
    expect(k.iota([2, 3], 0).arraySync()).toEqual([[0, 0, 0], [1, 1, 1]]);
  });
  it('eye and linspace agree with tf', () => {
    expectClose(k.eye(3), tf.eye(3), 0);
    expectClose(k.eye(2, 4), tf.eye(2, 4), 0);
    expectClose(k.linspace(-1, 2, 7), tf.linspace(-1, 2, 7), 1e-6);
  });
  it.skipIf(!hasOp('rng_uniform'))('a tensor seed passed to fn gives per-call numbers without retracing', () => {
    const noisy = k.fn((x: k.Tensor, seed: k.Tensor) => k.add(x, k.randomNormal([4], { seed })));
    const x = k.zeros([4]);
    const a = noisy(x, k.scalar(1, 'i32')), b = noisy(x, k.scalar(2, 'i32'));
    expect(noisy.traceCount).toBe(1);
    expect(Array.from(a.dataSync())).toEqual(Array.from(k.randomNormal([4], { seed: 1 }).dataSync()));
    expect(Array.from(b.dataSync())).toEqual(Array.from(k.randomNormal([4], { seed: 2 }).dataSync()));
    expect(Array.from(a.dataSync())).not.toEqual(Array.from(b.dataSync()));
    const key = k.tensor([5, 0], [2], 'i32');
    expect(Array.from(k.randomUniform([3], { seed: key }).dataSync())).toEqual(Array.from(k.randomUniform([3], { seed: 5 }).dataSync()));
    expect(() => k.randomUniform([3], { seed: k.scalar(1) })).toThrow(/random: a tensor seed must be an i32 scalar or an i32\[2\] key, got f32\[\]/);
  });
  it('toString prints the type and nested values', () => {
    expect(k.tensor([[1, 2], [3, 4]]).toString()).toBe('Tensor f32[2,2]\n[[1, 2],\n [3, 4]]');
    expect(k.scalar(3).item()).toBe(3);
    expect(() => k.tensor([1, 2]).item()).toThrow(/item\(\): needs a tensor with exactly one element, got f32\[2\]/);
  });
  it.skipIf(!hasOp('rng_uniform'))('seeded random numbers repeat and have the right moments', () => {
    const a = k.randomUniform([1000], { seed: 7, minval: -1, maxval: 3 });
    const b = k.randomUniform([1000], { seed: 7, minval: -1, maxval: 3 });
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    const d = a.dataSync();
    expect(Math.min(...d)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...d)).toBeLessThan(3);
    expect(Math.abs(k.mean(a).item() - 1)).toBeLessThan(0.15);
    const c = k.randomUniform([1000], { seed: 8 });
    expect(Array.from(c.dataSync())).not.toEqual(Array.from(k.randomUniform([1000], { seed: 9 }).dataSync()));
    const n = k.randomNormal([4000], { seed: 3, mean: 2, stddev: 0.5 });
    expect(Math.abs(k.mean(n).item() - 2)).toBeLessThan(0.05);
    expect(Math.abs(Math.sqrt(k.variance(n).item()) - 0.5)).toBeLessThan(0.05);
  });
});
