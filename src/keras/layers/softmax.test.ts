/**
 * Softmax layer against tfjs-layers (last axis; several axes jointly) and tf.softmax on the
 * transposed input for another single axis (tfjs-core's softmax takes the last axis only);
 * gradients; saved models; compiled artifact; config and errors.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { input } from '../engine/input.js';
import { useCpuBackend } from '../test_util.js';
import { softmax } from './softmax.js';
import { compiledDiff, expectConfigRoundTrip, gradientDiffs, predictionDiff, tfjsSavedModelDiff, type LayerCase } from './layer_testkit.js';

beforeAll(useCpuBackend);

describe('Softmax', () => {
  const cases: [string, LayerCase][] = [
    ['axis -1: tfjs-layers', { kiln: () => softmax(), tfjs: () => tfl.layers.softmax({ axis: -1 }), input: [3, 4, 5], range: 3 }],
    ['axes [1, 2] jointly: tfjs-layers', { kiln: () => softmax({ axis: [1, 2] }), tfjs: () => tfl.layers.softmax({ axis: [1, 2] as never }), input: [2, 3, 4, 2], range: 3 }],
    ['axis 1 of a rank-3 input: tf.softmax on the transposed input', {
      kiln: () => softmax({ axis: 1 }), oracle: (x) => tf.transpose(tf.softmax(tf.transpose(x, [0, 2, 1])), [0, 2, 1]), input: [2, 5, 3], range: 3,
    }],
  ];
  for (const [what, c] of cases) {
    it(`${what}: values and input gradient; compiled equals the interpreter`, async () => {
      expect(predictionDiff(c)).toBeLessThanOrEqual(1e-6);
      expect(gradientDiffs(c).input).toBeLessThanOrEqual(1e-6);
      expect(await compiledDiff(c)).toBeLessThanOrEqual(1e-6);
    });
  }

  it('a tfjs-saved model loads; config round trip and errors', async () => {
    expect(await tfjsSavedModelDiff({ kiln: () => softmax(), tfjs: () => tfl.layers.softmax({ axis: -1 }), input: [2, 7], range: 2 })).toBeLessThanOrEqual(1e-6);
    expectConfigRoundTrip(softmax({ axis: [1, -1] }), tfl.layers.softmax({ axis: 1 }));
    expect(softmax().getConfig().axis).toBe(-1);
    expect(() => softmax({ axis: 3, name: 's' }).apply(input({ shape: [4, 5] }))).toThrow("Softmax 's': axis 3 does not name distinct axes of input f32[?,4,5]");
    expect(() => softmax({ axis: [1, -2], name: 's2' }).apply(input({ shape: [4, 5] }))).toThrow("Softmax 's2': axis [1,-2] does not name distinct axes of input f32[?,4,5]");
    expect(() => softmax({ axis: 1.5, name: 's3' })).toThrow("Softmax 's3': axis must be an integer or a non-empty list of integers, got 1.5");
  });
});
