import { beforeAll, describe, expect, it } from 'vitest';
import * as k from './index.js';
import { checkBoth, expectClose, rand, tf, toTf, useCpu } from './test_util.js';

beforeAll(useCpu);

describe('reductions agree with tf', () => {
  const x = rand([2, 3, 4], 1);
  const tx = () => toTf(x);
  const cases: [string, (t: k.Tensor, a?: number | number[], kd?: boolean) => k.Tensor, (t: tf.Tensor, a?: number | number[], kd?: boolean) => tf.Tensor][] = [
    ['sum', k.sum, tf.sum], ['mean', k.mean, tf.mean], ['max', k.max, tf.max], ['min', k.min, tf.min], ['prod', k.prod, tf.prod],
  ];
  for (const [name, kf, tff] of cases) {
    it(`${name} over all, one axis, several axes, keepDims`, () => {
      checkBoth((t) => kf(t), [x], tff(tx()), 1e-5, `${name} all`);
      checkBoth((t) => kf(t, -1), [x], tff(tx(), -1), 1e-5, `${name} -1`);
      checkBoth((t) => kf(t, [0, 2], true), [x], tff(tx(), [0, 2], true), 1e-5, `${name} [0,2] keep`);
    });
  }
  it('sum over a zero-size axis is 0; sum of bools counts', () => {
    expectClose(k.sum(rand([2, 0]), 1), tf.zeros([2]), 0);
    const b = k.tensor([true, false, true]);
    const s = k.sum(b);
    expect(s.dtype).toBe('i32');
    expect(s.item()).toBe(2);
  });
  it('mean of ints is f32', () => {
    const m = k.mean(k.tensor([1, 2], [2], 'i32'));
    expect(m.dtype).toBe('f32');
    expect(m.item()).toBe(1.5);
  });
  it('variance and moments agree with tf.moments', () => {
    const ref = tf.moments(tx(), [0, 2], true);
    checkBoth((t) => k.variance(t, [0, 2], true), [x], ref.variance, 1e-5, 'variance');
    const m = k.moments(x, [0, 2], true);
    expectClose(m.mean, ref.mean);
    expectClose(m.variance, ref.variance);
    const flat = k.moments(x, -1);
    const refFlat = tf.moments(tx(), -1);
    expectClose(flat.mean, refFlat.mean);
    expectClose(flat.variance, refFlat.variance);
  });
  it('batchNorm agrees with tf.batchNorm (per-channel statistics)', () => {
    const m = rand([4], 3), v = rand([4], 4, 0.1, 2), off = rand([4], 5), sc = rand([4], 6);
    checkBoth((t, a, b, c, d) => k.batchNorm(t, a!, b!, c!, d!, 1e-3), [x, m, v, off, sc],
      tf.batchNorm(tx(), toTf(m), toTf(v), toTf(off), toTf(sc), 1e-3), 1e-5, 'batchNorm');
    expectClose(k.batchNorm(x, m, v), tf.batchNorm(tx(), toTf(m), toTf(v)), 1e-5);
  });
  it('logSumExp agrees with tf', () => {
    checkBoth((t) => k.logSumExp(t, 1), [x], tf.logSumExp(tx(), 1), 1e-5, 'lse');
  });
  it('max over an empty axis is an error', () => {
    expect(() => k.max(rand([2, 0]), 1)).toThrow(/max: cannot reduce over an empty axis of f32\[2,0\]/);
  });
});

describe('argMax / argMin', () => {
  it('agree with tf on random data along each axis', () => {
    const x = rand([3, 4, 5], 2);
    for (const axis of [0, 1, 2, -1]) {
      checkBoth((t) => k.argMax(t, axis), [x], tf.argMax(toTf(x), axis), 0, `argMax ${axis}`);
      checkBoth((t) => k.argMin(t, axis), [x], tf.argMin(toTf(x), axis), 0, `argMin ${axis}`);
    }
  });
  it('return the first index on ties, as i32', () => {
    const x = k.tensor([[1, 3, 3, 0], [2, 2, 2, 2], [0, -1, 5, 5]]);
    const am = k.argMax(x, 1);
    expect(am.dtype).toBe('i32');
    expect(am.arraySync()).toEqual([1, 0, 2]);
    expectClose(am, tf.argMax(toTf(x), 1), 0);
    expect(k.argMin(x, 1).arraySync()).toEqual([3, 0, 1]);
    const ints = k.tensor([4, 9, 9], [3], 'i32');
    expect(k.argMax(ints).item()).toBe(1);
  });
});

describe('matmul', () => {
  it('agrees with tf for all transpose combinations', () => {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const a = rand(ta ? [3, 2] : [2, 3], 1), b = rand(tb ? [4, 3] : [3, 4], 2);
      checkBoth((p, q) => k.matmul(p!, q!, ta, tb), [a, b], tf.matMul(toTf(a), toTf(b), ta, tb), 1e-5, `matmul ${ta} ${tb}`);
    }
  });
  it('broadcasts batch dims', () => {
    const a = rand([2, 1, 3, 4], 3), b = rand([5, 4, 2], 4);
    const ref = tf.matMul(tf.broadcastTo(toTf(a), [2, 5, 3, 4]), tf.broadcastTo(toTf(b), [2, 5, 4, 2]));
    checkBoth((p, q) => k.matmul(p!, q!), [a, b], ref, 1e-5, 'batched');
    const c = rand([3, 4, 2], 5), d = rand([3, 2, 6], 6);
    checkBoth((p, q) => k.matmul(p!, q!, false, false), [c, d], tf.matMul(toTf(c), toTf(d)), 1e-5, 'batch 3');
  });
  it('handles zero-size dims', () => {
    const a = rand([2, 0], 1), b = rand([0, 3], 2);
    expectClose(k.matmul(a, b), tf.zeros([2, 3]), 0);
  });
  it('reports shapes, dtypes and transposes in errors', () => {
    expect(() => k.matmul(rand([2, 3]), rand([4, 5]))).toThrow(
      'matmul: inner dimensions differ: a f32[2,3] (transposeA=false) and b f32[4,5] (transposeB=false)');
    expect(() => k.matmul(rand([3]), rand([3, 2]))).toThrow(/matmul: both operands need rank >= 2/);
    expect(() => k.matmul(rand([2, 2, 3]), rand([3, 3, 2]))).toThrow(/matmul: shapes do not broadcast: batch dims of a f32\[2,2,3\]/);
    expect(() => k.matmul(rand([2, 2]), k.tensor([1, 2, 3, 4], [2, 2], 'i32'))).toThrow(/matmul: dtypes differ: a f32\[2,2\].* and b i32\[2,2\]/);
  });
});
