import { beforeAll, describe, expect, it } from 'vitest';
import { KilnError } from '../ir/types.js';
import * as k from './index.js';
import { checkBoth, expectClose, rand, tf, toTf, useCpu } from './test_util.js';

beforeAll(useCpu);

type Bin = (a: k.Tensor, b: k.Tensor) => k.Tensor;
type TfBin = (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

const binaries: [string, Bin, TfBin][] = [
  ['add', k.add, tf.add], ['sub', k.sub, tf.sub], ['mul', k.mul, tf.mul], ['div', k.div, tf.div],
  ['maximum', k.maximum, tf.maximum], ['minimum', k.minimum, tf.minimum],
  ['squaredDifference', k.squaredDifference, tf.squaredDifference],
];

const compares: [string, Bin, TfBin][] = [
  ['equal', k.equal, tf.equal], ['notEqual', k.notEqual, tf.notEqual], ['less', k.less, tf.less],
  ['lessEqual', k.lessEqual, tf.lessEqual], ['greater', k.greater, tf.greater], ['greaterEqual', k.greaterEqual, tf.greaterEqual],
];

// Pairs of shapes that broadcast: equal, scalar, size-1 dims on either side, rank differences,
// and zero-size dims (with 1 or 0 on the other side).
const shapePairs: [number[], number[]][] = [
  [[2, 3], [2, 3]], [[2, 3], []], [[2, 3], [3]], [[4, 1, 3], [2, 1]], [[1, 5], [3, 1]],
  [[2, 0, 3], [1, 3]], [[0], [1]], [[2, 1], [2, 0]],
];

describe('binary ops with broadcasting', () => {
  for (const [name, kf, tff] of binaries) {
    it(`${name} agrees with tf eagerly and traced`, () => {
      shapePairs.forEach(([sa, sb], i) => {
        const a = rand(sa, 10 + i), b = rand(sb, 20 + i, 0.5, 2);
        checkBoth(kf, [a, b], tff(toTf(a), toTf(b)), 1e-5, `${name} ${JSON.stringify([sa, sb])}`);
      });
    });
  }
  it('pow agrees with tf on positive bases', () => {
    const a = rand([3, 4], 1, 0.1, 3), b = rand([4], 2, -2, 2);
    checkBoth(k.pow, [a, b], tf.pow(toTf(a), toTf(b)), 1e-5, 'pow');
  });
  for (const [name, kf, tff] of compares) {
    it(`${name} agrees with tf (bool result, ties included)`, () => {
      const a = rand([3, 4], 3, -2, 2, 'i32'), b = rand([4], 4, -2, 2, 'i32');
      const ref = tff(toTf(a), toTf(b));
      checkBoth(kf, [a, b], ref, 0, name);
      expect(kf(a, b).dtype).toBe('bool');
    });
  }
  it('integer division truncates toward zero', () => {
    const a = k.tensor([7, -7, 7, -7], [4], 'i32'), b = k.tensor([2, 2, -2, -2], [4], 'i32');
    expect(Array.from(k.div(a, b).dataSync())).toEqual([3, -3, -3, 3]);
  });
  it('floorDiv and mod agree with tf for floats and ints of both signs', () => {
    const a = k.tensor([7, -7, 7, -7, 6, -6, 0], [7], 'i32'), b = k.tensor([2, 2, -2, -2, 3, 3, 5], [7], 'i32');
    checkBoth(k.floorDiv, [a, b], tf.floorDiv(toTf(a), toTf(b)), 0, 'floorDiv int');
    checkBoth(k.mod, [a, b], tf.mod(toTf(a), toTf(b)), 0, 'mod int');
    const x = rand([3, 4], 12, -5, 5), y = rand([4], 13, 0.5, 2);
    const yn = k.neg(y);
    checkBoth(k.floorDiv, [x, yn], tf.floorDiv(toTf(x), toTf(yn)), 1e-5, 'floorDiv f32');
    checkBoth(k.mod, [x, y], tf.mod(toTf(x), toTf(y)), 1e-5, 'mod f32');
  });
  it('numbers adopt the dtype of the tensor they meet', () => {
    const x = k.tensor([1, 2, 3], [3], 'i32');
    const y = k.add(x, 2);
    expect(y.dtype).toBe('i32');
    expect(Array.from(y.dataSync())).toEqual([3, 4, 5]);
    expect(k.sub(10, x).arraySync()).toEqual([9, 8, 7]);
    expect(k.mul(2, 3).item()).toBe(6);
  });
  it('logical ops agree with tf', () => {
    const a = rand([2, 3], 5, 0, 1, 'bool'), b = rand([3], 6, 0, 1, 'bool');
    checkBoth(k.logicalAnd, [a, b], tf.logicalAnd(toTf(a), toTf(b)), 0, 'and');
    checkBoth(k.logicalOr, [a, b], tf.logicalOr(toTf(a), toTf(b)), 0, 'or');
    checkBoth(k.logicalNot, [a], tf.logicalNot(toTf(a)), 0, 'not');
  });
});

describe('unary ops', () => {
  const unaries: [string, (x: k.Tensor) => k.Tensor, (x: tf.Tensor) => tf.Tensor, number, number][] = [
    ['neg', k.neg, tf.neg, -3, 3], ['abs', k.abs, tf.abs, -3, 3], ['exp', k.exp, tf.exp, -3, 3],
    ['log', k.log, tf.log, 0.01, 5], ['log1p', k.log1p, tf.log1p, -0.9, 5], ['sqrt', k.sqrt, tf.sqrt, 0, 5],
    ['rsqrt', k.rsqrt, tf.rsqrt, 0.1, 5], ['square', k.square, tf.square, -3, 3],
    ['reciprocal', k.reciprocal, tf.reciprocal, 0.2, 3], ['tanh', k.tanh, tf.tanh, -3, 3],
    ['sigmoid', k.sigmoid, tf.sigmoid, -6, 6], ['sin', k.sin, tf.sin, -4, 4], ['cos', k.cos, tf.cos, -4, 4],
    ['floor', k.floor, tf.floor, -3, 3], ['ceil', k.ceil, tf.ceil, -3, 3], ['round', k.round, tf.round, -3, 3],
    ['sign', k.sign, tf.sign, -3, 3], ['erf', k.erf, tf.erf, -3, 3],
  ];
  for (const [name, kf, tff, lo, hi] of unaries) {
    it(`${name} agrees with tf`, () => {
      for (const shape of [[2, 5], [], [0, 3]]) {
        const x = rand(shape, 7, lo, hi);
        checkBoth(kf, [x], tff(toTf(x)), 1e-5, `${name} [${shape}]`);
      }
    });
  }
  it('round is half to even like tf.round', () => {
    const x = k.tensor([0.5, 1.5, 2.5, -0.5, -1.5]);
    expectClose(k.round(x), tf.round(toTf(x)), 0);
  });
});

describe('where, cast, clipByValue', () => {
  it('where broadcasts condition and both branches', () => {
    const c = rand([3, 1], 8, 0, 1, 'bool'), a = rand([1, 4], 9), b = rand([4], 10);
    const ref = tf.where(tf.broadcastTo(toTf(c), [3, 4]), tf.broadcastTo(toTf(a), [3, 4]), tf.broadcastTo(toTf(b), [3, 4]));
    checkBoth(k.where, [c, a, b], ref, 0, 'where');
    expectClose(k.where(k.greater(a, 0), a, 0), tf.relu(toTf(a)), 0);
  });
  it('where needs a bool condition', () => {
    expect(() => k.where(rand([2]) as k.Tensor, 1, 2)).toThrow(/where: the condition must be a bool tensor, got f32\[2\]/);
  });
  it('cast truncates floats toward zero and maps nonzero to true', () => {
    const x = k.tensor([1.7, -1.7, 0, 2.5]);
    expect(Array.from(k.cast(x, 'i32').dataSync())).toEqual([1, -1, 0, 2]);
    expect(Array.from(k.cast(x, 'bool').dataSync())).toEqual([1, 1, 0, 1]);
    expect(k.cast(x, 'f32')).toBe(x);
    checkBoth((t) => k.cast(t, 'i32'), [x], tf.cast(toTf(x), 'int32'), 0, 'cast');
  });
  it('clipByValue agrees with tf', () => {
    const x = rand([3, 4], 11, -3, 3);
    checkBoth((t) => k.clipByValue(t, -1, 0.5), [x], tf.clipByValue(toTf(x), -1, 0.5), 0, 'clip');
    expect(() => k.clipByValue(x, 1, 0)).toThrow(/clipByValue: lo \(1\) is greater than hi \(0\)/);
  });
});

describe('errors name the op, shapes and dtypes', () => {
  it('shapes that do not broadcast', () => {
    expect(() => k.add(rand([2, 3]), rand([4]))).toThrow(KilnError);
    expect(() => k.add(rand([2, 3]), rand([4]))).toThrow('add: shapes do not broadcast: a f32[2,3] and b f32[4] (dimension -1: 3 vs 4)');
    expect(() => k.mul(rand([0]), rand([3]))).toThrow(/mul: shapes do not broadcast: a f32\[0\] and b f32\[3\]/);
  });
  it('dtype mismatch names both operands', () => {
    expect(() => k.sub(rand([2]), k.tensor([1, 2], [2], 'i32'))).toThrow('sub: dtypes differ: a f32[2] and b i32[2]; cast one with kiln.cast(x, dtype)');
  });
  it('float-only op on ints', () => {
    expect(() => k.exp(k.tensor([1], [1], 'i32'))).toThrow(/exp\(i32\[1\]\): needs a floating-point operand/);
  });
});
