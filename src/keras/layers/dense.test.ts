import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { compareLayer, maxAbsDiff, randomTensor, toTf, useCpuBackend } from '../test_util.js';
import { Dense, dense } from './dense.js';
import { input } from '../engine/input.js';
import { deserializeLayer, getMask } from '../engine/layer.js';
import { KilnError } from '../../ir/types.js';
import * as tf from '@tensorflow/tfjs-core';
import { randomizeTfjs, tfjsSavedToKiln } from './recurrent_testkit.js';
import { embedding } from './embedding.js';
import { literal } from '../../ir/literal.js';
import { Tensor } from '../backend.js';

beforeAll(useCpuBackend);

describe('Dense', () => {
  it('matches tfjs-layers on the same weights (relu, 2-D input)', () => {
    const d = compareLayer(dense({ units: 5, activation: 'relu' }), tfl.layers.dense({ units: 5, activation: 'relu' }), [4, 7]);
    expect(d).toBeLessThanOrEqual(1e-5);
  });

  it('matches tfjs-layers without bias, softmax, and on 3-D input', () => {
    expect(compareLayer(dense({ units: 3, useBias: false, activation: 'softmax' }),
      tfl.layers.dense({ units: 3, useBias: false, activation: 'softmax' }), [2, 6])).toBeLessThanOrEqual(1e-6);
    expect(compareLayer(dense({ units: 4, activation: 'tanh' }), tfl.layers.dense({ units: 4, activation: 'tanh' }), [2, 3, 5]))
      .toBeLessThanOrEqual(1e-6);
  });

  it('creates kernel [in, units] and bias [units] named after the layer', () => {
    const l = new Dense({ units: 3, name: 'my_dense' });
    l.apply(randomTensor([2, 4], 1));
    expect(l.weights.map((w) => [w.name, w.value.shape])).toEqual([['my_dense/kernel', [4, 3]], ['my_dense/bias', [3]]]);
    expect(l.countParams()).toBe(15);
  });

  it('seeded initializers give reproducible weights; default bias is zero', () => {
    const a = dense({ units: 3, kernelInitializer: { className: 'GlorotUniform', config: { seed: 7 } } });
    const b = dense({ units: 3, kernelInitializer: { className: 'GlorotUniform', config: { seed: 7 } } });
    a.apply(randomTensor([1, 5], 1));
    b.apply(randomTensor([1, 5], 2));
    expect(Array.from(a.getWeights()[0]!.dataSync())).toEqual(Array.from(b.getWeights()[0]!.dataSync()));
    expect(Array.from(a.getWeights()[1]!.dataSync())).toEqual([0, 0, 0]);
  });

  it('symbolic application gives the output shape', () => {
    const x = input({ shape: [3, 8] });
    const y = dense({ units: 2 }).apply(x);
    expect(y.shape).toEqual([null, 3, 2]);
  });

  it('rejects a wrong input size naming the layer', () => {
    const l = dense({ units: 2, name: 'dense_x' });
    l.apply(randomTensor([1, 784], 1));
    expect(() => l.apply(randomTensor([1, 10], 1))).toThrow(KilnError);
    expect(() => l.apply(randomTensor([1, 10], 1))).toThrow("Dense 'dense_x': expected input with last dimension 784, got f32[1,10]");
    expect(() => dense({ units: 2 }).apply(randomTensor([5], 1))).toThrow(/rank >= 2, got f32\[5\]/);
    expect(() => dense({ units: 0 })).toThrow(/units must be a positive integer/);
    expect(() => dense({ units: 2, activation: 'nope' as 'relu' })).toThrow(/unknown activation 'nope' \(valid: linear, relu/);
  });

  it('config round-trips', () => {
    const l = dense({ units: 4, activation: 'gelu', useBias: false, inputShape: [6], kernelInitializer: 'heNormal' });
    const c = l.getConfig();
    expect(c).toMatchObject({ units: 4, activation: 'gelu', useBias: false, batchInputShape: [null, 6], kernelInitializer: { className: 'VarianceScaling', config: { scale: 2, mode: 'fanIn', distribution: 'normal' } } });
    expect(Dense.fromConfig(c).getConfig()).toEqual(c);
    expect(deserializeLayer(l.serialize()).getConfig()).toEqual(c);
  });
});

describe('Dense passes masks through (supportsMasking, as tfjs-layers and Keras 3)', () => {
  beforeAll(useCpuBackend);
  const ids = Tensor.concrete(literal([2, 5], 'f32', [1, 2, 0, 0, 0, 6, 5, 4, 3, 0]));

  it('Embedding(maskZero) -> Dense keeps the mask on its output', () => {
    const y = dense({ units: 5, activation: 'tanh' }).apply(embedding({ inputDim: 7, outputDim: 3, maskZero: true }).apply(ids));
    expect(Array.from(getMask(y)!.dataSync())).toEqual([1, 1, 0, 0, 0, 1, 1, 1, 1, 0]);
  });

  it('Embedding(maskZero) -> Dense -> LSTM loaded from tfjs-layers skips the padded steps as tfjs-layers does', async () => {
    const t = tfl.sequential({ layers: [
      tfl.layers.embedding({ inputDim: 7, outputDim: 3, maskZero: true, inputLength: 5 }),
      tfl.layers.dense({ units: 5, activation: 'tanh' }),
      tfl.layers.lstm({ units: 4, recurrentInitializer: 'zeros' }),
    ] });
    randomizeTfjs(t, 11);
    const { diff, model } = await tfjsSavedToKiln(t, ids);
    expect(diff).toBeLessThanOrEqual(1e-5);
    // The mask matters: the same ids with the padding read as tokens give other outputs.
    const unmasked = tfl.sequential({ layers: [
      tfl.layers.embedding({ inputDim: 7, outputDim: 3, inputLength: 5 }),
      tfl.layers.dense({ units: 5, activation: 'tanh' }),
      tfl.layers.lstm({ units: 4, recurrentInitializer: 'zeros' }),
    ] });
    unmasked.setWeights(t.getWeights());
    const yk = model.predict(ids) as Tensor;
    expect(maxAbsDiff(yk, unmasked.predict(toTf(ids)) as tf.Tensor)).toBeGreaterThan(1e-3);
  });
});
