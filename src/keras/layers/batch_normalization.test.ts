import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { randomTensor, randomizeWeights, useCpuBackend } from '../test_util.js';
import { BatchNormalization, batchNormalization } from './batch_normalization.js';
import { input } from '../engine/input.js';

beforeAll(useCpuBackend);

describe('BatchNormalization', () => {
  it('matches tfjs-layers at inference (channels, NHWC)', () => {
    // compareLayer randomizes weights in [-1, 1]; make the moving variance positive afterwards.
    const k = batchNormalization({ epsilon: 1e-3 });
    const t = tfl.layers.batchNormalization({ epsilon: 1e-3 });
    const x = randomTensor([2, 3, 3, 4], 1);
    k.apply(x);
    randomizeWeights(k, 50);
    const [g, b, m, v] = k.getWeights();
    k.setWeights([g!, b!, m!, randomTensor(v!.shape, 77, 0.1, 2)]);
    expect(compareLayerKeepWeights(k, t, x)).toBeLessThanOrEqual(1e-5);
  });

  it('matches tfjs-layers without center/scale', () => {
    const plain = batchNormalization({ center: false, scale: false });
    const xp = randomTensor([3, 5], 2);
    plain.apply(xp);
    expect(plain.weights.map((w) => w.name.split('/')[1])).toEqual(['moving_mean', 'moving_variance']);
    plain.setWeights([randomTensor([5], 4), randomTensor([5], 5, 0.2, 1.5)]);
    expect(compareLayerKeepWeights(plain, tfl.layers.batchNormalization({ center: false, scale: false }), xp)).toBeLessThanOrEqual(1e-5);
  });

  // tfjs-layers 4.22 normalizes axis 1 of a rank-3 input with the wrong per-feature values
  // (checked by hand), so the oracle for a non-last axis is the formula per element.
  it('axis 1 matches the formula per element', () => {
    const k = batchNormalization({ axis: 1 });
    const x = randomTensor([2, 3, 4], 3);
    k.apply(x);
    k.setWeights(k.weights.map((w, i) => randomTensor(w.value.shape, 10 + i, 0.2, 1.5)));
    const [g, b, m, v] = k.getWeights().map((t) => t.dataSync());
    const got = k.apply(x).dataSync();
    x.dataSync().forEach((val, i) => {
      const c = Math.floor(i / 4) % 3;
      expect(got[i]).toBeCloseTo((val - m![c]!) * g![c]! / Math.sqrt(v![c]! + 1e-3) + b![c]!, 5);
    });
  });

  it('weights are gamma, beta, moving_mean, moving_variance; 2 trainable', () => {
    const l = batchNormalization({ name: 'bn' });
    l.apply(input({ shape: [4, 4, 6] }));
    expect(l.weights.map((w) => w.name)).toEqual(['bn/gamma', 'bn/beta', 'bn/moving_mean', 'bn/moving_variance']);
    expect(l.trainableWeights.length).toBe(2);
    expect(l.countParams()).toBe(24);
  });

  it('errors and config', () => {
    const l = batchNormalization({ name: 'bn2' });
    l.apply(randomTensor([2, 4], 1));
    expect(() => l.apply(randomTensor([2, 5], 1))).toThrow("BatchNormalization 'bn2': expected input with 4 features on axis -1, got f32[2,5]");
    // A symbolic moving-statistics update needs the variables bound in the trace.
    expect(() => trace((x: Tensor) => l.apply(x, { training: true }), [tensorType([2, 4], 'f32')]))
      .toThrow("variable 'bn2/moving_mean'.assign: got symbolic f32[4] (traced in 'main'), but this trace captured the variable as a constant; bind it");
    const c = batchNormalization({ momentum: 0.9, epsilon: 1e-5, center: false });
    expect(BatchNormalization.fromConfig(c.getConfig()).getConfig()).toEqual(c.getConfig());
  });
});

describe('BatchNormalization in training mode', () => {
  /** A built Kiln layer and its tfjs-layers twin with the same random weights (positive variance). */
  function twins(x: Tensor, args: { momentum?: number; epsilon?: number; center?: boolean; scale?: boolean } = {}) {
    const k = batchNormalization(args);
    const t = tfl.layers.batchNormalization(args);
    k.apply(x);
    k.setWeights(k.weights.map((w, i) => randomTensor(w.value.shape, 30 + i, w.name.endsWith('variance') ? 0.2 : -1, 1.5)));
    t.apply(toTf(x));
    copyWeights(k, t);
    return { k, t };
  }

  // (tfjs-layers 4.22 cannot train a layer without center or scale: it reads gamma and beta
  // unconditionally; such layers are covered by the formula test below.)
  for (const [what, shape, args] of [
    ['NHWC, default momentum', [4, 3, 3, 5], {}],
    ['dense features, momentum 0.9, epsilon 1e-5', [16, 6], { momentum: 0.9, epsilon: 1e-5 }],
    ['rank 3, momentum 0.5', [8, 2, 7], { momentum: 0.5 }],
  ] as const) {
    it(`matches tfjs-layers: output and updated moving statistics (${what})`, () => {
      const x = randomTensor(shape, 3, -2, 3);
      const { k, t } = twins(x, args);
      const xt = toTf(x);
      const before = Array.from(k.movingMean!.value.dataSync());
      for (let s = 0; s < 2; s++) { // twice: the second step starts from updated statistics
        const y = k.apply(x, { training: true });
        const yt = t.apply(xt, { training: true }) as tf.Tensor;
        expect(maxAbsDiff(y, yt)).toBeLessThanOrEqual(2e-5);
        const kw = k.getWeights(), tw = t.getWeights();
        expect(kw.length).toBe(tw.length);
        kw.forEach((w, i) => expect(maxAbsDiff(w, tw[i]!)).toBeLessThanOrEqual(1e-6));
      }
      // The moving statistics really moved (so the comparison above compared updates).
      expect(Array.from(k.movingMean!.value.dataSync())).not.toEqual(before);
    });
  }

  it('uses the batch statistics of every axis but the channel axis (axis 1), by the formula per element', () => {
    const k = batchNormalization({ axis: 1, momentum: 0.5 });
    const x = randomTensor([3, 4, 5], 8, -1, 2);
    k.apply(x);
    k.setWeights(k.weights.map((w, i) => randomTensor(w.value.shape, 40 + i, 0.2, 1.5)));
    const [g, b, m0, v0] = k.getWeights().map((w) => w.dataSync());
    const got = k.apply(x, { training: true }).dataSync();
    const xs = x.dataSync();
    for (let c = 0; c < 4; c++) {
      const vals: number[] = [];
      for (let n = 0; n < 3; n++) for (let j = 0; j < 5; j++) vals.push(xs[n * 20 + c * 5 + j]!);
      const mean = vals.reduce((a, v) => a + v, 0) / vals.length;
      const variance = vals.reduce((a, v) => a + (v - mean) ** 2, 0) / vals.length; // biased, like tf.moments
      for (let n = 0; n < 3; n++) for (let j = 0; j < 5; j++) {
        const i = n * 20 + c * 5 + j;
        expect(got[i]).toBeCloseTo((xs[i]! - mean) * g![c]! / Math.sqrt(variance + 1e-3) + b![c]!, 4);
      }
      expect(k.movingMean!.value.dataSync()[c]).toBeCloseTo(m0![c]! * 0.5 + mean * 0.5, 5);
      expect(k.movingVariance!.value.dataSync()[c]).toBeCloseTo(v0![c]! * 0.5 + variance * 0.5, 5);
    }
  });

  it('without center and scale: (x - batch mean) / sqrt(batch variance + eps)', () => {
    const k = batchNormalization({ center: false, scale: false, momentum: 0 });
    const x = randomTensor([10, 3], 12, -1, 2);
    const got = k.apply(x, { training: true }).dataSync();
    const xs = x.dataSync();
    for (let c = 0; c < 3; c++) {
      const vals = Array.from({ length: 10 }, (_, n) => xs[n * 3 + c]!);
      const mean = vals.reduce((a, v) => a + v, 0) / 10;
      const variance = vals.reduce((a, v) => a + (v - mean) ** 2, 0) / 10;
      for (let n = 0; n < 10; n++) expect(got[n * 3 + c]).toBeCloseTo((vals[n]! - mean) / Math.sqrt(variance + 1e-3), 5);
      // momentum 0: the moving statistics become the batch statistics.
      expect(k.movingMean!.value.dataSync()[c]).toBeCloseTo(mean, 6);
      expect(k.movingVariance!.value.dataSync()[c]).toBeCloseTo(variance, 6);
    }
  });

  it('a frozen layer (trainable false) stays in inference mode, as in Keras 3', () => {
    const x = randomTensor([6, 3], 9);
    const k = batchNormalization();
    k.apply(x);
    k.trainable = false;
    expect(Array.from(k.apply(x, { training: true }).dataSync())).toEqual(Array.from(k.apply(x).dataSync()));
    expect(Array.from(k.movingMean!.value.dataSync())).toEqual([0, 0, 0]);
  });

  it('traced with the variables bound: the moving statistics become aliased state outputs; gradients match tf.grads', () => {
    const x = randomTensor([8, 5], 10, -1, 2);
    const c = randomTensor([8, 5], 11);
    const { k, t } = twins(x, { momentum: 0.8 });
    const { func, updatedVariables } = trace((xs: Tensor) => k.apply(xs, { training: true }), [tensorType([8, 5], 'f32')], { variables: k.weights });
    expect(updatedVariables.map((v) => v.name)).toEqual([k.movingMean!.name, k.movingVariance!.name]);
    expect(func.aliases).toEqual([{ result: 1, param: 3 }, { result: 2, param: 4 }]);
    const [y, mm, mv] = interpret(func, [x.literal!, ...k.weights.map((w) => w.value.literal!)]);
    const yt = t.apply(toTf(x), { training: true }) as tf.Tensor;
    const tw = t.getWeights();
    expect(maxAbsDiff(Tensor.concrete(y!), yt)).toBeLessThanOrEqual(2e-5);
    expect(maxAbsDiff(Tensor.concrete(mm!), tw[2]!)).toBeLessThanOrEqual(1e-6);
    expect(maxAbsDiff(Tensor.concrete(mv!), tw[3]!)).toBeLessThanOrEqual(1e-6);
    // Gradients of sum(y * c) with respect to x, gamma and beta, as a training step takes them.
    const gk = valueAndGrad((xs: Tensor) => ops.sum(ops.mul(k.apply(xs, { training: true }), c)), { argnums: [0], variables: k.weights })(x);
    const [gamma, beta] = [toTf(k.gamma!.value), toTf(k.beta!.value)];
    const ref = tfc.grads((xt: tf.Tensor, gt: tf.Tensor, bt: tf.Tensor) => {
      const { mean, variance } = tfc.moments(xt, [0]);
      return tfc.sum(tfc.mul(tfc.batchNorm(xt, mean, variance, bt, gt, 1e-3), toTf(c)));
    })([toTf(x), gamma, beta]);
    expect(maxAbsDiff(gk.grads[0]!, ref[0]!)).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(gk.variableGrads[0]!, ref[1]!)).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(gk.variableGrads[1]!, ref[2]!)).toBeLessThanOrEqual(1e-4);
  });
});

import * as tfc from '@tensorflow/tfjs-core';
import type * as tf from '@tensorflow/tfjs-core';
import { copyWeights, maxAbsDiff, toTf } from '../test_util.js';
import type { Layer } from '../engine/layer.js';
import { ops, Tensor } from '../backend.js';
import { trace } from '../../frontend/tracing.js';
import { valueAndGrad } from '../../frontend/grad.js';
import { interpret } from '../../ir/interpreter.js';
import { tensorType } from '../../ir/types.js';

function compareLayerKeepWeights(k: Layer, t: tfl.layers.Layer, x: Tensor): number {
  const xt = toTf(x);
  t.apply(xt);
  copyWeights(k, t);
  return maxAbsDiff(k.apply(x), t.apply(xt) as tf.Tensor);
}
