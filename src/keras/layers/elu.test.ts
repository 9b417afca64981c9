/**
 * ELU against tfjs-layers at alpha 1 (values, input gradient), against the formula per element
 * at other alphas (which tfjs-layers refuses); saved models, compiled artifact, config.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useCpuBackend } from '../test_util.js';
import { elu } from './elu.js';
import { compiledDiff, expectConfigRoundTrip, gradientDiffs, predictionDiff, tfjsSavedModelDiff, type LayerCase } from './layer_testkit.js';

beforeAll(useCpuBackend);

/** Keras's definition on tfjs-core, x > 0 ? x : alpha * (exp(x) - 1), as relu(x) + alpha * (exp(min(x, 0)) - 1) so tf.grads can differentiate it. */
const formula = (alpha: number) => (x: tf.Tensor) => tf.add(tf.relu(x), tf.mul(alpha, tf.sub(tf.exp(tf.minimum(x, 0)), 1)));

describe('ELU', () => {
  const cases: [string, LayerCase][] = [
    ['alpha 1: tfjs-layers', { kiln: () => elu(), tfjs: () => tfl.layers.elu(), input: [3, 4, 5], range: 3 }],
    ['alpha 0.5: the formula', { kiln: () => elu({ alpha: 0.5 }), oracle: formula(0.5), input: [3, 9], range: 3 }],
    ['alpha 2.5: the formula', { kiln: () => elu({ alpha: 2.5 }), oracle: formula(2.5), input: [2, 3, 7], range: 3 }],
  ];
  for (const [what, c] of cases) {
    it(`${what}: values and input gradient; compiled equals the interpreter`, async () => {
      expect(predictionDiff(c)).toBeLessThanOrEqual(1e-6);
      expect(gradientDiffs(c).input).toBeLessThanOrEqual(1e-5);
      expect(await compiledDiff(c)).toBeLessThanOrEqual(1e-5);
    });
  }

  it('a tfjs-saved model loads; config round trip and errors', async () => {
    expect(await tfjsSavedModelDiff({ kiln: () => elu(), tfjs: () => tfl.layers.elu(), input: [2, 7], range: 2 })).toBeLessThanOrEqual(1e-6);
    expectConfigRoundTrip(elu({ alpha: 0.3 }), tfl.layers.elu());
    expect(() => elu({ alpha: Infinity, name: 'e' })).toThrow("ELU 'e': alpha must be a finite number, got null");
  });
});
