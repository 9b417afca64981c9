import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tf from '@tensorflow/tfjs-core';
import { compareLayer, maxAbsDiff, randomTensor, toTf, useCpuBackend } from '../test_util.js';
import { Activation, activation } from './activation.js';
import type { ActivationIdentifier } from '../activations.js';

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
