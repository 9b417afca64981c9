/**
 * UpSampling1D (tfjs-layers has none) against Keras's definition in tfjs-core (each step
 * repeated `size` times: a gather of step i // size), input gradients through it, config round
 * trip, a model saved and loaded in the tfjs LayersModel format, the compiled artifact.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { input } from '../engine/input.js';
import { maxAbsDiff, randomTensor, toTf, useCpuBackend } from '../test_util.js';
import { upSampling1d } from './up_sampling1d.js';
import { compiledDiff, expectConfigRoundTrip, gradientDiffs, kilnSavedModel, loadKeras3Sequential, predictionDiff, type LayerCase } from './layer_testkit.js';

beforeAll(useCpuBackend);

const reference = (size: number) => (x: tf.Tensor) => tf.gather(x, Array.from({ length: x.shape[1]! * size }, (_, i) => Math.floor(i / size)), 1);

describe('UpSampling1D', () => {
  for (const size of [2, 3]) {
    const c: LayerCase = { kiln: () => upSampling1d({ size }), oracle: reference(size), input: [2, 4, 3] };
    it(`size ${size}: predictions and input gradients match the repeat; compiled artifact equals the interpreter`, async () => {
      expect(predictionDiff(c)).toBe(0);
      expect(gradientDiffs(c).input).toBeLessThanOrEqual(1e-6);
      expect(await compiledDiff(c)).toBe(0);
    });
  }

  it('saves and loads in the tfjs LayersModel format (Keras field names)', async () => {
    const { diff, config } = await kilnSavedModel({ kiln: () => upSampling1d({ size: 3 }), input: [1, 5, 2] });
    expect(diff).toBe(0);
    expect(config).toMatchObject({ size: 3 });
  });

  it('loads from a Keras 3 model.json', async () => {
    const m = await loadKeras3Sequential([{ class_name: 'UpSampling1D', config: { size: 3 } }], [2, 4, 3]);
    const x = randomTensor([2, 4, 3], 6);
    expect(maxAbsDiff(m.predict(x) as never, reference(3)(toTf(x)))).toBe(0);
  });

  it('output shape, config round trip, errors', () => {
    expect(upSampling1d().apply(input({ shape: [5, 2] })).shape).toEqual([null, 10, 2]);
    expect(expectConfigRoundTrip(upSampling1d({ size: 4 }))).toMatchObject({ size: 4 });
    expect(() => upSampling1d({ size: 0, name: 'u' })).toThrow("UpSampling1D 'u': size must be a positive integer (or a list of one), got 0");
    expect(() => upSampling1d({ name: 'u' }).apply(randomTensor([2, 3, 4, 1], 1))).toThrow("UpSampling1D 'u': expected a 3-D input [batch, steps, channels], got f32[2,3,4,1]");
    expect(() => upSampling1d({ sise: 2, name: 'u' } as never)).toThrow("UpSampling1D 'u': unknown argument 'sise' (did you mean 'size'?)");
  });
});
