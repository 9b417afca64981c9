import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { compareLayer, randomTensor, useCpuBackend } from '../test_util.js';
import { MaxPooling2D, maxPooling2d } from './max_pooling2d.js';
import { input } from '../engine/input.js';

beforeAll(useCpuBackend);

type TfArgs = Parameters<typeof tfl.layers.maxPooling2d>[0];

describe('MaxPooling2D', () => {
  const cases: [string, Parameters<typeof maxPooling2d>[0], number[]][] = [
    ['default 2x2', {}, [2, 6, 7, 3]],
    ['3x3 stride 2 same', { poolSize: 3, strides: 2, padding: 'same' }, [1, 7, 8, 2]],
    ['[2,3] stride 1 valid', { poolSize: [2, 3], strides: 1 }, [1, 5, 6, 2]],
  ];
  for (const [what, args, shape] of cases) {
    it(`matches tfjs-layers: ${what}`, () => {
      expect(compareLayer(maxPooling2d(args), tfl.layers.maxPooling2d(args as TfArgs), shape)).toBe(0);
    });
  }

  it('strides default to poolSize; shapes; errors', () => {
    const l = maxPooling2d({ poolSize: 3 });
    expect(l.strides).toEqual([3, 3]);
    expect(l.apply(input({ shape: [10, 9, 4] })).shape).toEqual([null, 3, 3, 4]);
    expect(l.countParams()).toBe(0);
    expect(() => maxPooling2d({ name: 'mp' }).apply(randomTensor([2, 4, 4], 1))).toThrow("MaxPooling2D 'mp': expected a 4-D NHWC input");
    expect(() => maxPooling2d({ poolSize: 4 }).apply(randomTensor([1, 3, 3, 1], 1))).toThrow(/smaller than the 4x4 pool/);
  });

  it('config round-trips', () => {
    const l = maxPooling2d({ poolSize: [2, 3], padding: 'same' });
    expect(MaxPooling2D.fromConfig(l.getConfig()).getConfig()).toEqual(l.getConfig());
  });
});
