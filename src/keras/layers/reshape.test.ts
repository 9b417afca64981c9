import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { compareLayer, randomTensor, useCpuBackend } from '../test_util.js';
import { Reshape, reshape } from './reshape.js';
import { input } from '../engine/input.js';

beforeAll(useCpuBackend);

describe('Reshape', () => {
  it('matches tfjs-layers, with and without -1', () => {
    expect(compareLayer(reshape({ targetShape: [4, 6] }), tfl.layers.reshape({ targetShape: [4, 6] }), [2, 2, 3, 4])).toBe(0);
    expect(compareLayer(reshape({ targetShape: [-1, 3] }), tfl.layers.reshape({ targetShape: [-1, 3] }), [2, 12])).toBe(0);
  });
  it('shapes, errors, config', () => {
    expect(reshape({ targetShape: [2, -1] }).apply(input({ shape: [3, 4] })).shape).toEqual([null, 2, 6]);
    expect(() => reshape({ targetShape: [5], name: 'r' }).apply(randomTensor([2, 6], 1))).toThrow("Reshape 'r': cannot reshape f32[2,6] (6 elements per example) to [5]");
    expect(() => reshape({ targetShape: [-1, -1] })).toThrow(/at most one -1/);
    const l = reshape({ targetShape: [3, -1] });
    expect(Reshape.fromConfig(l.getConfig()).getConfig()).toEqual(l.getConfig());
  });
});
