/** Rescaling against tfjs-layers: predictions, input gradients, config, tfjs-saved model, compiled artifact; integer inputs cast to f32; errors. */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { input } from '../engine/input.js';
import { Tensor } from '../backend.js';
import { literal } from '../../ir/literal.js';
import { maxAbsDiff, useCpuBackend } from '../test_util.js';
import { rescaling } from './rescaling.js';
import { compiledDiff, expectConfigRoundTrip, gradientDiffs, predictionDiff, tfjsSavedModelDiff, type LayerCase } from './layer_testkit.js';

beforeAll(useCpuBackend);

describe('Rescaling', () => {
  for (const args of [{ scale: 1 / 255 }, { scale: 1 / 127.5, offset: -1 }, { scale: -2, offset: 0.5 }]) {
    const c: LayerCase = { kiln: () => rescaling(args), tfjs: () => tfl.layers.rescaling(args), input: [2, 3, 4], range: 255 };
    it(`${JSON.stringify(args)}: predictions, input gradients, compiled artifact, tfjs-saved model`, async () => {
      expect(predictionDiff(c)).toBeLessThanOrEqual(1e-6);
      expect(gradientDiffs(c).input).toBeLessThanOrEqual(1e-6);
      expect(await compiledDiff(c)).toBeLessThanOrEqual(1e-6);
      expect(await tfjsSavedModelDiff(c)).toBeLessThanOrEqual(1e-6);
    });
  }

  it('casts integer inputs to f32 (uint8 pixels)', () => {
    const px = Uint8Array.from([0, 51, 255, 128]);
    const y = rescaling({ scale: 1 / 255 }).apply(Tensor.concrete(literal([1, 4], 'u8', px)));
    expect(y.dtype).toBe('f32');
    expect(maxAbsDiff(y, tf.mul(tf.tensor(Array.from(px), [1, 4]), 1 / 255))).toBeLessThanOrEqual(1e-7);
    expect(rescaling({ scale: 2 }).apply(input({ shape: [3], dtype: 'i32' })).dtype).toBe('f32');
  });

  it('config round trip, errors', () => {
    expect(expectConfigRoundTrip(rescaling({ scale: 0.5 }), tfl.layers.rescaling({ scale: 0.5 }))).toMatchObject({ scale: 0.5, offset: 0 });
    expect(() => rescaling({ name: 'r' } as never)).toThrow("Rescaling 'r': scale is required");
    expect(() => rescaling({ scale: [1, 2] as never, name: 'r' })).toThrow("Rescaling 'r': scale must be a finite number, got [1,2] (per-channel lists are not supported)");
    expect(() => rescaling({ scale: 1, ofset: 2, name: 'r' } as never)).toThrow("Rescaling 'r': unknown argument 'ofset' (did you mean 'offset'?)");
  });
});
