/**
 * Cropping1D (tfjs-layers has none) against tf.slice, input gradients through it, config round
 * trip, a model saved and loaded in the tfjs LayersModel format, the compiled artifact.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { input } from '../engine/input.js';
import { maxAbsDiff, randomTensor, toTf, useCpuBackend } from '../test_util.js';
import { cropping1D, type Cropping1DArgs } from './cropping1d.js';
import { compiledDiff, expectConfigRoundTrip, gradientDiffs, kilnSavedModel, loadKeras3Sequential, predictionDiff, type LayerCase } from './layer_testkit.js';

beforeAll(useCpuBackend);

const reference = (a: number, b: number) => (x: tf.Tensor) => tf.slice(x, [0, a, 0], [x.shape[0]!, x.shape[1]! - a - b, x.shape[2]!]);

describe('Cropping1D', () => {
  for (const [args, a, b] of [[{}, 1, 1], [{ cropping: [2, 0] }, 2, 0], [{ cropping: 3 }, 3, 3]] as [Cropping1DArgs, number, number][]) {
    const c: LayerCase = { kiln: () => cropping1D(args), oracle: reference(a, b), input: [2, 8, 3] };
    it(`cropping ${JSON.stringify(args.cropping ?? 'default')}: predictions, input gradients, compiled artifact`, async () => {
      expect(predictionDiff(c)).toBe(0);
      expect(gradientDiffs(c).input).toBeLessThanOrEqual(1e-6);
      expect(await compiledDiff(c)).toBe(0);
    });
  }

  it('saves and loads in the tfjs LayersModel format (Keras field names)', async () => {
    const { diff, config } = await kilnSavedModel({ kiln: () => cropping1D({ cropping: [1, 2] }), input: [1, 6, 2] });
    expect(diff).toBe(0);
    expect(config).toMatchObject({ cropping: [1, 2] });
  });

  it('loads from a Keras 3 model.json', async () => {
    const m = await loadKeras3Sequential([{ class_name: 'Cropping1D', config: { cropping: [2, 1] } }], [2, 8, 3]);
    const x = randomTensor([2, 8, 3], 6);
    expect(maxAbsDiff(m.predict(x) as never, reference(2, 1)(toTf(x)))).toBe(0);
  });

  it('output shape, config round trip, errors', () => {
    expect(cropping1D({ cropping: [1, 2] }).apply(input({ shape: [7, 2] })).shape).toEqual([null, 4, 2]);
    expect(expectConfigRoundTrip(cropping1D({ cropping: 2 }))).toMatchObject({ cropping: [2, 2] });
    expect(() => cropping1D({ cropping: [1, -1] as never, name: 'c' })).toThrow("Cropping1D 'c': cropping must be a non-negative integer or [start, end] of them, got [1,-1]");
    expect(() => cropping1D({ cropping: 2, name: 'c' }).apply(randomTensor([1, 4, 2], 1))).toThrow("Cropping1D 'c': cropping [2,2] removes all 4 steps of f32[1,4,2]");
    expect(() => cropping1D({ name: 'c' }).apply(randomTensor([1, 4], 1))).toThrow("Cropping1D 'c': expected a 3-D input [batch, steps, channels], got f32[1,4]");
  });
});
