/**
 * Constraints: each projection against tfjs-layers' constraint on the same tensor (and axis),
 * the serialized form against tfjs-layers', resolution and refusals, and training semantics:
 * Kiln's compiled step projects constrained variables right after the optimizer update, checked
 * against a tfjs-core loop that minimizes with tf.train.sgd/adam and then applies tfjs-layers'
 * constraints (tfjs-layers' own fit does not apply constraints, so it cannot be the oracle).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { getConstraint, maxNorm, minMaxNorm, nonNeg, serializeConstraint, unitNorm, type Constraint } from './constraints.js';
import { sequential } from './engine/sequential.js';
import { conv2d } from './layers/conv2d.js';
import { dense } from './layers/dense.js';
import { flatten } from './layers/flatten.js';
import { adam } from './optimizers/adam.js';
import { sgd } from './optimizers/sgd.js';
import { randomTensor, randomizeWeights, toTf, useCpuBackend } from './test_util.js';

beforeAll(useCpuBackend);

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0, scale = 1e-6;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return m / scale;
}

describe('constraints against tfjs-layers', () => {
  const pairs: [string, Constraint, { apply(w: tf.Tensor): tf.Tensor; getClassName(): string; getConfig(): object }][] = [
    ['maxNorm axis 0', maxNorm({ maxValue: 0.8 }), tfl.constraints.maxNorm({ maxValue: 0.8 })],
    ['maxNorm axis 1', maxNorm({ maxValue: 0.5, axis: 1 }), tfl.constraints.maxNorm({ maxValue: 0.5, axis: 1 })],
    ['unitNorm', unitNorm({ axis: 1 }), tfl.constraints.unitNorm({ axis: 1 })],
    ['nonNeg', nonNeg(), tfl.constraints.nonNeg()],
    ['minMaxNorm', minMaxNorm({ minValue: 0.9, maxValue: 1.1, rate: 0.7 }), tfl.constraints.minMaxNorm({ minValue: 0.9, maxValue: 1.1, rate: 0.7 })],
  ];
  it.each(pairs)('%s: projection and serialized form', (_, k, t) => {
    const w = randomTensor([4, 3], 5);
    const want = t.apply(toTf(w)).dataSync();
    const got = k.apply(w).dataSync();
    expect(relDiff(got, want)).toBeLessThan(1e-6);
    expect(relDiff(got, w.dataSync())).toBeGreaterThan(1e-3); // the projection did something
    expect(serializeConstraint(k)).toEqual({ className: t.getClassName(), config: t.getConfig() });
  });

  it('resolves names and serialized forms; refuses unknown names and arguments', () => {
    expect(getConstraint('nonNeg')!.className).toBe('NonNeg');
    expect(getConstraint('max_norm')!.getConfig()).toEqual({ maxValue: 2, axis: 0 });
    expect(getConstraint({ className: 'MaxNorm', config: { maxValue: 3, axis: [0, 1, 2] } })!.getConfig()).toEqual({ maxValue: 3, axis: [0, 1, 2] });
    expect(getConstraint(undefined)).toBeUndefined();
    expect(() => getConstraint('maxNrom' as never, "Dense 'd': kernelConstraint")).toThrow(/Dense 'd': kernelConstraint: unknown constraint 'maxNrom' \(did you mean 'maxNorm'\?\)/);
    expect(() => maxNorm({ maxValu: 2 } as never)).toThrow(/MaxNorm: unknown argument 'maxValu' \(did you mean 'maxValue'\?\)/);
    expect(() => minMaxNorm({ minValue: 2, maxValue: 1 })).toThrow(/minValue \(2\) is greater than maxValue \(1\)/);
    expect(() => unitNorm({ axis: 0.5 })).toThrow(/axis must be an integer or a list of integers, got 0.5/);
  });
});

describe('constraints in training (tfjs-core loop + tfjs-layers constraints as oracle)', () => {
  it.each(['sgd', 'adam'] as const)('Dense and Conv2D kernel/bias constraints applied after each %s update', async (optName) => {
    const N = 6;
    const x = randomTensor([N, 4, 4, 2], 31), y = randomTensor([N, 2], 32);
    const m = sequential({ layers: [
      conv2d({ filters: 3, kernelSize: 2, inputShape: [4, 4, 2], kernelConstraint: maxNorm({ maxValue: 0.6, axis: [0, 1, 2] }), biasConstraint: nonNeg() }),
      flatten(),
      dense({ units: 2, kernelConstraint: unitNorm({ axis: 0 }), biasConstraint: minMaxNorm({ minValue: 0.2, maxValue: 0.3, rate: 0.5 }) }),
    ] });
    randomizeWeights(m, 60, -0.8, 0.8);
    const vars = m.getWeights().map((w) => tf.variable(toTf(w)));
    const cons = [
      tfl.constraints.maxNorm({ maxValue: 0.6, axis: [0, 1, 2] as unknown as number }), tfl.constraints.nonNeg(),
      tfl.constraints.unitNorm({ axis: 0 }), tfl.constraints.minMaxNorm({ minValue: 0.2, maxValue: 0.3, rate: 0.5 }),
    ];
    m.compile({ optimizer: optName === 'sgd' ? sgd({ learningRate: 0.2 }) : adam({ learningRate: 0.05, epsilonMode: 'tfjs' }), loss: 'meanSquaredError' });
    const h = await m.fit(x, y, { epochs: 3, batchSize: 3, shuffle: false, verbose: 0 });
    const opt = optName === 'sgd' ? tf.train.sgd(0.2) : tf.train.adam(0.05);
    const xt = toTf(x), yt = toTf(y);
    const losses: number[] = [];
    for (let e = 0; e < 3; e++) {
      let total = 0;
      for (let s = 0; s < N; s += 3) {
        const xb = tf.slice(xt, s, 3), yb = tf.slice(yt, s, 3);
        const cost = opt.minimize(() => {
          const c = tf.add(tf.conv2d(xb as tf.Tensor4D, vars[0] as tf.Tensor4D, 1, 'valid'), vars[1]!);
          const out = tf.add(tf.matMul(tf.reshape(c, [3, -1]), vars[2]!), vars[3]!);
          return tf.mean(tf.square(tf.sub(out, yb))) as tf.Scalar;
        }, true, vars)!;
        total += cost.dataSync()[0]!;
        vars.forEach((v, i) => v.assign(cons[i]!.apply(v)));
      }
      losses.push(total / 2);
    }
    expect(relDiff(h.history.loss as number[], losses)).toBeLessThan(1e-5);
    m.getWeights().forEach((w, i) => expect(relDiff(w.dataSync(), vars[i]!.dataSync())).toBeLessThan(1e-5));
    // The constraints hold on Kiln's trained weights: bias >= 0, unit columns.
    expect(Math.min(...Array.from(m.getWeights()[1]!.dataSync()))).toBeGreaterThanOrEqual(0);
  });
});
