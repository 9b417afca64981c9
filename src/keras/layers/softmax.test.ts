/**
 * Softmax layer against tfjs-layers (last axis; several axes jointly) and tf.softmax on the
 * transposed input for another single axis (tfjs-core's softmax takes the last axis only);
 * gradients; saved models; compiled artifact; config and errors.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { input } from '../engine/input.js';
import { literal } from '../../ir/literal.js';
import { ops, Tensor } from '../backend.js';
import { getMask, setMask } from '../engine/layer.js';
import { maxAbsDiff, randomTensor, toTf, useCpuBackend } from '../test_util.js';
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

  it("a mask (the call's or the input's) adds -1e9 where false, as tfjs-layers' Softmax", () => {
    const x = randomTensor([2, 3, 5], 4, -3, 3);
    const maskData = Array.from({ length: 30 }, (_, i) => (i % 4 === 1 ? 0 : 1));
    const mask = ops.greater(Tensor.concrete(literal([2, 3, 5], 'f32', maskData)), 0);
    const want = tfl.layers.softmax({ axis: -1 }).apply(toTf(x), { mask: tf.tensor(maskData, [2, 3, 5]) }) as tf.Tensor;
    expect(maxAbsDiff(softmax().apply(x, { mask }), want)).toBeLessThanOrEqual(1e-6);
    // A time-step mask [batch, time] covers the leading axes; it rides on the input, and passes through.
    const steps = ops.greater(Tensor.concrete(literal([2, 3], 'f32', [1, 0, 1, 1, 1, 0])), 0);
    const xm = ops.add(x, 0);
    setMask(xm, steps);
    const y = softmax({ axis: 1 }).apply(xm);
    const full = tf.tensor(Array.from({ length: 30 }, (_, i) => [1, 0, 1, 1, 1, 0][Math.floor(i / 5)]!), [2, 3, 5]);
    const wantSteps = tf.softmax(tf.transpose(tf.add(toTf(x), tf.mul(tf.sub(1, full), -1e9)), [0, 2, 1]));
    expect(maxAbsDiff(y, tf.transpose(wantSteps, [0, 2, 1]))).toBeLessThanOrEqual(1e-6);
    expect(getMask(y)).toBe(steps);
  });

  it('a tfjs-saved model loads; config round trip and errors', async () => {
    expect(await tfjsSavedModelDiff({ kiln: () => softmax(), tfjs: () => tfl.layers.softmax({ axis: -1 }), input: [2, 7], range: 2 })).toBeLessThanOrEqual(1e-6);
    expectConfigRoundTrip(softmax({ axis: [1, -1] }), tfl.layers.softmax({ axis: 1 }));
    expect(softmax().getConfig().axis).toBe(-1);
    expect(() => softmax({ axis: 3, name: 's' }).apply(input({ shape: [4, 5] }))).toThrow("Softmax 's': axis 3 does not name distinct axes of input f32[?,4,5]");
    expect(() => softmax({ axis: [1, -2], name: 's2' }).apply(input({ shape: [4, 5] }))).toThrow("Softmax 's2': axis [1,-2] does not name distinct axes of input f32[?,4,5]");
    expect(() => softmax({ axis: 1.5, name: 's3' })).toThrow("Softmax 's3': axis must be an integer or a non-empty list of integers, got 1.5");
  });
});
