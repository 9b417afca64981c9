import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { compareLayer, randomTensor, useCpuBackend } from '../test_util.js';
import { Flatten, flatten } from './flatten.js';
import { input } from '../engine/input.js';

beforeAll(useCpuBackend);

describe('Flatten', () => {
  it('matches tfjs-layers (channels-last order kept)', () => {
    expect(compareLayer(flatten(), tfl.layers.flatten(), [2, 3, 4, 5])).toBe(0);
  });
  it('shapes, errors, config', () => {
    expect(flatten().apply(input({ shape: [3, 4, 5] })).shape).toEqual([null, 60]);
    expect(() => flatten({ name: 'f' }).apply(input({ shape: [null, 4] }))).toThrow("Flatten 'f': all non-batch dimensions must be known to flatten, got f32[?,?,4]");
    expect(flatten().apply(randomTensor([3, 2, 2], 1)).shape).toEqual([3, 4]);
    const l = flatten({ name: 'flat' });
    expect(Flatten.fromConfig(l.getConfig()).getConfig()).toEqual(l.getConfig());
  });
});
