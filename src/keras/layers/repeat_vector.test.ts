/** RepeatVector against tfjs-layers: predictions, input gradients, config, tfjs-saved model, compiled artifact, errors. */
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { input } from '../engine/input.js';
import { randomTensor, useCpuBackend } from '../test_util.js';
import { repeatVector } from './repeat_vector.js';
import { compiledDiff, expectConfigRoundTrip, gradientDiffs, predictionDiff, tfjsSavedModelDiff, type LayerCase } from './layer_testkit.js';

beforeAll(useCpuBackend);

describe('RepeatVector', () => {
  const c: LayerCase = { kiln: () => repeatVector({ n: 3 }), tfjs: () => tfl.layers.repeatVector({ n: 3 }), input: [2, 5] };

  it('predictions and input gradients match tfjs-layers', () => {
    expect(predictionDiff(c)).toBe(0);
    expect(gradientDiffs(c).input).toBeLessThanOrEqual(1e-6);
  });

  it('compiled artifact equals the interpreter; a tfjs-layers-saved model loads', async () => {
    expect(await compiledDiff(c)).toBe(0);
    expect(await tfjsSavedModelDiff(c)).toBe(0);
  });

  it('output shape, config round trip, errors', () => {
    expect(repeatVector({ n: 4 }).apply(input({ shape: [6] })).shape).toEqual([null, 4, 6]);
    expect(expectConfigRoundTrip(repeatVector({ n: 4 }), tfl.layers.repeatVector({ n: 4 }))).toMatchObject({ n: 4 });
    expect(() => repeatVector({ n: 2, name: 'r' }).apply(randomTensor([2, 3, 4], 1))).toThrow("RepeatVector 'r': expected a 2-D input [batch, features], got f32[2,3,4]");
    expect(() => repeatVector({ n: 0, name: 'r' })).toThrow("RepeatVector 'r': n must be a positive integer, got 0");
    expect(() => repeatVector({ name: 'r' } as never)).toThrow("RepeatVector 'r': n is required");
  });
});
