import { beforeAll, describe, expect, it } from 'vitest';
import * as k from './index.js';
import { checkBoth, expectClose, rand, tf, toTf, useCpu } from './test_util.js';

beforeAll(useCpu);

describe('activations agree with tf', () => {
  const x = rand([3, 7], 1, -8, 8);
  const cases: [string, (t: k.Tensor) => k.Tensor, (t: tf.Tensor) => tf.Tensor][] = [
    ['relu', k.relu, tf.relu], ['relu6', k.relu6, tf.relu6], ['elu', k.elu, tf.elu], ['selu', k.selu, tf.selu],
    ['softplus', k.softplus, tf.softplus], ['leakyRelu', (t) => k.leakyRelu(t), (t) => tf.leakyRelu(t, 0.2)],
    ['leakyRelu 0.01', (t) => k.leakyRelu(t, 0.01), (t) => tf.leakyRelu(t, 0.01)],
    ['softsign', k.softsign, (t) => tf.div(t, tf.add(tf.abs(t), 1))],
  ];
  for (const [name, kf, tff] of cases) {
    it(name, () => checkBoth(kf, [x], tff(toTf(x)), 1e-5, name));
  }
  it('prelu with a per-channel alpha', () => {
    const alpha = rand([7], 3, 0, 0.5);
    checkBoth((t, a) => k.prelu(t, a!), [x, alpha], tf.prelu(toTf(x), toTf(alpha)), 1e-6, 'prelu');
  });
  it('softplus stays finite for large inputs', () => {
    const big = k.tensor([-100, 100]);
    expectClose(k.softplus(big), tf.tensor([0, 100]), 1e-6);
  });
});

describe('gelu', () => {
  const xs = [-4, -1.5, -0.3, 0, 0.3, 1, 2.5, 5];
  const x = k.tensor(xs);
  it('exact form matches x/2 (1 + erf(x / sqrt 2))', () => {
    // Oracle: an erf series evaluated in double precision, independent of the IR's erf kernel.
    const erf = (z: number): number => {
      let sum = 0, term = z;
      for (let n = 0; n < 80; n++) {
        sum += term / (2 * n + 1);
        term *= (-z * z) / (n + 1);
      }
      return (2 / Math.sqrt(Math.PI)) * sum;
    };
    checkBoth((t) => k.gelu(t), [x], tf.tensor(xs.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2)))), 2e-6, 'gelu');
  });
  it('approximate form matches the tanh formula', () => {
    const ref = xs.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
    checkBoth((t) => k.gelu(t, true), [x], tf.tensor(ref), 2e-6, 'gelu tanh');
  });
  it('needs a float tensor', () => {
    expect(() => k.gelu(k.tensor([1], [1], 'i32'))).toThrow('gelu: needs a floating-point tensor (f32, f16, bf16), got i32[1]; cast it first');
  });
});

describe('softmax / logSoftmax', () => {
  it('agree with tf on the last axis and other axes', () => {
    const x = rand([2, 3, 5], 2, -5, 5);
    checkBoth((t) => k.softmax(t), [x], tf.softmax(toTf(x)), 1e-6, 'softmax');
    checkBoth((t) => k.logSoftmax(t), [x], tf.logSoftmax(toTf(x)), 1e-5, 'logSoftmax');
    const moved = tf.transpose(tf.softmax(tf.transpose(toTf(x), [0, 2, 1])), [0, 2, 1]);
    checkBoth((t) => k.softmax(t, 1), [x], moved, 1e-6, 'softmax axis 1');
  });
  it('are numerically stable for large logits', () => {
    const x = k.tensor([[1000, 1001, 1002], [-1000, -1000, -1000]]);
    expectClose(k.softmax(x), tf.softmax(tf.tensor([[0, 1, 2], [0, 0, 0]])), 1e-6);
    expectClose(k.logSoftmax(x), tf.logSoftmax(tf.tensor([[0, 1, 2], [0, 0, 0]])), 1e-5);
  });
  it('reject a bad axis', () => {
    expect(() => k.softmax(rand([2, 3]), 2)).toThrow('softmax: axis 2 is out of range for f32[2,3] (rank 2)');
  });
});
