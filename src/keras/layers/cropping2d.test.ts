/** Cropping2D against tfjs-layers (all cropping spellings, channelsFirst): predictions, input gradients, config, tfjs-saved model, compiled artifact, errors. */
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { input } from '../engine/input.js';
import { randomTensor, useCpuBackend } from '../test_util.js';
import { cropping2D, type Cropping2DArgs } from './cropping2d.js';
import { compiledDiff, expectConfigRoundTrip, gradientDiffs, predictionDiff, tfjsSavedModelDiff, type LayerCase } from './layer_testkit.js';

beforeAll(useCpuBackend);

describe('Cropping2D', () => {
  const cases: Cropping2DArgs[] = [
    { cropping: 1 },
    { cropping: [1, 2] },
    { cropping: [[0, 2], [1, 0]] },
    { cropping: [[1, 1], [0, 2]], dataFormat: 'channelsFirst' },
  ];
  for (const args of cases) {
    const c: LayerCase = { kiln: () => cropping2D(args), tfjs: () => tfl.layers.cropping2D(args as never), input: [2, 5, 6, 3] };
    it(`${JSON.stringify(args)}: predictions, input gradients, compiled artifact, tfjs-saved model`, async () => {
      expect(predictionDiff(c)).toBe(0);
      expect(gradientDiffs(c).input).toBeLessThanOrEqual(1e-6);
      expect(await compiledDiff(c)).toBe(0);
      expect(await tfjsSavedModelDiff(c)).toBe(0);
    });
  }

  it('output shape, config round trip, errors', () => {
    expect(cropping2D({ cropping: [[1, 2], [0, 3]] }).apply(input({ shape: [8, 9, 2] })).shape).toEqual([null, 5, 6, 2]);
    const l = cropping2D({ cropping: [1, 2], dataFormat: 'channels_first' });
    expect(expectConfigRoundTrip(l, tfl.layers.cropping2D({ cropping: [1, 2] }))).toMatchObject({ cropping: [[1, 1], [2, 2]], dataFormat: 'channelsFirst' });
    expect(() => cropping2D({ cropping: [1, 2, 3] as never, name: 'c' })).toThrow("Cropping2D 'c': cropping must be a number, [h, w] or [[top, bottom], [left, right]] of non-negative integers, got [1,2,3]");
    expect(() => cropping2D({ cropping: 2, name: 'c' }).apply(randomTensor([1, 4, 6, 1], 1))).toThrow("Cropping2D 'c': cropping [[2,2],[2,2]] removes all 4 rows of f32[1,4,6,1]");
    expect(() => cropping2D({ name: 'c' }).apply(randomTensor([1, 4, 4], 1))).toThrow("Cropping2D 'c': expected a 4-D NHWC [batch, height, width, channels] input, got f32[1,4,4]");
  });
});
