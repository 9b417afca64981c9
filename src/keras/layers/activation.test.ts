import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tf from '@tensorflow/tfjs-core';
import { compareLayer, maxAbsDiff, randomTensor, toTf, useCpuBackend } from '../test_util.js';
import { Activation, activation } from './activation.js';
import type { ActivationIdentifier } from '../activations.js';
import { randomizeTfjs, tfjsSavedToKiln } from './recurrent_testkit.js';
import { embedding } from './embedding.js';
import { getMask } from '../engine/layer.js';
import { literal } from '../../ir/literal.js';
import { Tensor } from '../backend.js';

beforeAll(useCpuBackend);

describe('Activation', () => {
  const names: [ActivationIdentifier, string, number][] = [
    ['relu', 'relu', 0], ['relu6', 'relu6', 0], ['sigmoid', 'sigmoid', 1e-6], ['tanh', 'tanh', 1e-6],
    ['softmax', 'softmax', 1e-6], ['elu', 'elu', 1e-6], ['selu', 'selu', 1e-5], ['softplus', 'softplus', 1e-5],
    ['linear', 'linear', 0], ['gelu', 'gelu', 1e-5], ['geluNew', 'gelu_new', 1e-5], ['swish', 'swish', 1e-6],
    ['gelu_new', 'gelu_new', 1e-5], ['hardSigmoid', 'hardSigmoid', 1e-6], ['hard_sigmoid', 'hardSigmoid', 1e-6],
    ['softsign', 'softsign', 1e-6], ['mish', 'mish', 1e-5], ['logSoftmax', 'logSoftmax', 1e-5], ['log_softmax', 'logSoftmax', 1e-5],
    ['silu', 'swish', 1e-6],
  ];
  for (const [kiln, tfName, tol] of names) {
    it(`${kiln} matches tfjs-layers '${tfName}'`, () => {
      // Inputs in [-4, 4] reach both saturated and linear regions.
      const d = compareLayer(activation({ activation: kiln }), tfl.layers.activation({ activation: tfName as 'relu' }), [3, 17], 1, 4);
      expect(d).toBeLessThanOrEqual(tol);
    });
  }
  it('exponential matches tf.exp; Keras spellings are stored in tfjs spelling', () => {
    const x = randomTensor([2, 5], 3, -3, 3);
    expect(maxAbsDiff(activation({ activation: 'exponential' }).apply(x), tf.exp(toTf(x)))).toBeLessThan(1e-5);
    expect(activation({ activation: 'hard_sigmoid' }).getConfig().activation).toBe('hardSigmoid');
    expect(activation({ activation: 'geluNew' }).getConfig().activation).toBe('gelu_new');
    expect(activation({ activation: 'silu' }).getConfig().activation).toBe('swish');
  });

  it('unknown names list the valid ones; config round-trips', () => {
    expect(() => activation({ activation: 'bogus' as 'relu', name: 'act' })).toThrow("Activation 'act': unknown activation 'bogus' (valid: linear, relu, relu6");
    const l = activation({ activation: 'selu' });
    expect(Activation.fromConfig(l.getConfig()).getConfig()).toEqual(l.getConfig());
  });
});

describe('Activation passes masks through (supportsMasking, as tfjs-layers and Keras 3)', () => {
  beforeAll(useCpuBackend);
  const ids = Tensor.concrete(literal([2, 5], 'f32', [1, 2, 0, 0, 0, 6, 5, 4, 3, 0]));

  it('Embedding(maskZero) -> Activation keeps the mask on its output', () => {
    const y = activation({ activation: 'tanh' }).apply(embedding({ inputDim: 7, outputDim: 3, maskZero: true }).apply(ids));
    expect(Array.from(getMask(y)!.dataSync())).toEqual([1, 1, 0, 0, 0, 1, 1, 1, 1, 0]);
  });

  it('Embedding(maskZero) -> Activation -> LSTM loaded from tfjs-layers skips the padded steps as tfjs-layers does', async () => {
    const t = tfl.sequential({ layers: [
      tfl.layers.embedding({ inputDim: 7, outputDim: 3, maskZero: true, inputLength: 5 }),
      tfl.layers.activation({ activation: 'tanh' }),
      tfl.layers.lstm({ units: 4, recurrentInitializer: 'zeros' }),
    ] });
    randomizeTfjs(t, 11);
    const { diff, model } = await tfjsSavedToKiln(t, ids);
    expect(diff).toBeLessThanOrEqual(1e-5);
    // The mask matters: the same ids with the padding read as tokens give other outputs.
    const unmasked = tfl.sequential({ layers: [
      tfl.layers.embedding({ inputDim: 7, outputDim: 3, inputLength: 5 }),
      tfl.layers.activation({ activation: 'tanh' }),
      tfl.layers.lstm({ units: 4, recurrentInitializer: 'zeros' }),
    ] });
    unmasked.setWeights(t.getWeights());
    const yk = model.predict(ids) as Tensor;
    expect(maxAbsDiff(yk, unmasked.predict(toTf(ids)) as tf.Tensor)).toBeGreaterThan(1e-3);
  });
});
