import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { compareLayer, useCpuBackend } from '../test_util.js';
import { AveragePooling2D, averagePooling2d } from './average_pooling2d.js';
import { input } from '../engine/input.js';

beforeAll(useCpuBackend);

type TfArgs = Parameters<typeof tfl.layers.averagePooling2d>[0];

describe('AveragePooling2D', () => {
  const cases: [string, Parameters<typeof averagePooling2d>[0], number[]][] = [
    ['default 2x2', {}, [2, 6, 7, 3]],
    ['3x3 stride 2 same (edge windows average only real cells)', { poolSize: 3, strides: 2, padding: 'same' }, [1, 7, 8, 2]],
    ['[3,2] stride 1 valid', { poolSize: [3, 2], strides: 1 }, [1, 5, 6, 2]],
  ];
  for (const [what, args, shape] of cases) {
    it(`matches tfjs-layers: ${what}`, () => {
      expect(compareLayer(averagePooling2d(args), tfl.layers.averagePooling2d(args as TfArgs), shape)).toBeLessThanOrEqual(1e-6);
    });
  }

  it('output shape and config round-trip', () => {
    const l = averagePooling2d({ poolSize: 2, strides: 1, padding: 'same' });
    expect(l.apply(input({ shape: [5, 4, 2] })).shape).toEqual([null, 5, 4, 2]);
    expect(AveragePooling2D.fromConfig(l.getConfig()).getConfig()).toEqual(l.getConfig());
  });
});
