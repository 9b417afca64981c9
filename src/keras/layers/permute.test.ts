/** Permute against tfjs-layers: predictions, input gradients, config, tfjs-saved model, compiled artifact, errors. */
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { input } from '../engine/input.js';
import { randomTensor, useCpuBackend } from '../test_util.js';
import { permute } from './permute.js';
import { compiledDiff, expectConfigRoundTrip, gradientDiffs, predictionDiff, tfjsSavedModelDiff, type LayerCase } from './layer_testkit.js';

beforeAll(useCpuBackend);

describe('Permute', () => {
  for (const [dims, shape] of [[[2, 1], [2, 3, 4]], [[3, 1, 2], [2, 3, 4, 5]], [[1, 3, 2], [1, 2, 3, 4]]] as [number[], number[]][]) {
    const c: LayerCase = { kiln: () => permute({ dims }), tfjs: () => tfl.layers.permute({ dims }), input: shape };
    it(`dims ${JSON.stringify(dims)}: predictions, input gradients, compiled artifact, tfjs-saved model`, async () => {
      expect(predictionDiff(c)).toBe(0);
      expect(gradientDiffs(c).input).toBeLessThanOrEqual(1e-6);
      expect(await compiledDiff(c)).toBe(0);
      expect(await tfjsSavedModelDiff(c)).toBe(0);
    });
  }

  it('output shape, config round trip, errors', () => {
    expect(permute({ dims: [3, 1, 2] }).apply(input({ shape: [4, 5, 6] })).shape).toEqual([null, 6, 4, 5]);
    expect(expectConfigRoundTrip(permute({ dims: [2, 1] }), tfl.layers.permute({ dims: [2, 1] }))).toMatchObject({ dims: [2, 1] });
    expect(() => permute({ dims: [0, 1], name: 'p' })).toThrow("Permute 'p': dims must be a permutation of 1..2 (the batch axis 0 stays first), got [0,1]");
    expect(() => permute({ dims: [1, 1], name: 'p' })).toThrow(/dims must be a permutation of 1\.\.2/);
    expect(() => permute({ dims: [2, 1], name: 'p' }).apply(randomTensor([2, 3, 4, 5], 1))).toThrow("Permute 'p': dims [2,1] permute 2 axes; expected an input of rank 3 (batch first), got f32[2,3,4,5]");
  });
});
