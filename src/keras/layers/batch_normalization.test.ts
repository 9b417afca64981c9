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
    expect(() => l.apply(randomTensor([2, 4], 1), { training: true })).toThrow(/training-mode batch normalization is not implemented yet/);
    const c = batchNormalization({ momentum: 0.9, epsilon: 1e-5, center: false });
    expect(BatchNormalization.fromConfig(c.getConfig()).getConfig()).toEqual(c.getConfig());
  });
});

import type * as tf from '@tensorflow/tfjs-core';
import { copyWeights, maxAbsDiff, toTf } from '../test_util.js';
import type { Layer } from '../engine/layer.js';
import type { Tensor } from '../backend.js';

function compareLayerKeepWeights(k: Layer, t: tfl.layers.Layer, x: Tensor): number {
  const xt = toTf(x);
  t.apply(xt);
  copyWeights(k, t);
  return maxAbsDiff(k.apply(x), t.apply(xt) as tf.Tensor);
}
