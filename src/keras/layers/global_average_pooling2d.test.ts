import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { compareLayer, randomTensor, useCpuBackend } from '../test_util.js';
import { GlobalAveragePooling2D, globalAveragePooling2d } from './global_average_pooling2d.js';
import { input } from '../engine/input.js';

beforeAll(useCpuBackend);

describe('GlobalAveragePooling2D', () => {
  it('matches tfjs-layers', () => {
    expect(compareLayer(globalAveragePooling2d(), tfl.layers.globalAveragePooling2d({}), [2, 5, 6, 3])).toBeLessThanOrEqual(1e-6);
  });

  it('keepDims keeps [1, 1] spatial dims with the same values (naive mean as oracle)', () => {
    const x = randomTensor([2, 3, 4, 2], 5);
    const y = globalAveragePooling2d({ keepDims: true }).apply(x);
    expect(y.shape).toEqual([2, 1, 1, 2]);
    const d = x.dataSync();
    const got = y.dataSync();
    for (let b = 0; b < 2; b++) for (let c = 0; c < 2; c++) {
      let s = 0;
      for (let i = 0; i < 12; i++) s += d[b * 24 + i * 2 + c]!;
      expect(got[b * 2 + c]).toBeCloseTo(s / 12, 5);
    }
  });

  it('shapes, errors, config', () => {
    expect(globalAveragePooling2d().apply(input({ shape: [7, 7, 16] })).shape).toEqual([null, 16]);
    expect(globalAveragePooling2d({ keepDims: true }).apply(input({ shape: [7, 7, 16] })).shape).toEqual([null, 1, 1, 16]);
    expect(() => globalAveragePooling2d({ name: 'g' }).apply(randomTensor([2, 3], 1))).toThrow("GlobalAveragePooling2D 'g': expected a 4-D NHWC input");
    const l = globalAveragePooling2d({ keepDims: true });
    expect(GlobalAveragePooling2D.fromConfig(l.getConfig()).getConfig()).toEqual(l.getConfig());
  });
});
