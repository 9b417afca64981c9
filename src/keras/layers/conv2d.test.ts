import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { compareLayer, randomTensor, useCpuBackend } from '../test_util.js';
import { Conv2D, conv2d } from './conv2d.js';
import { input } from '../engine/input.js';

beforeAll(useCpuBackend);

describe('Conv2D', () => {
  const cases: [string, Parameters<typeof conv2d>[0], number[]][] = [
    ['valid 3x3', { filters: 4, kernelSize: 3 }, [2, 7, 6, 3]],
    ['same, stride 2, relu', { filters: 5, kernelSize: [3, 2], strides: 2, padding: 'same', activation: 'relu' }, [2, 9, 8, 2]],
    ['dilation 2, no bias', { filters: 3, kernelSize: 3, dilationRate: 2, useBias: false }, [1, 9, 9, 2]],
    ['same with even kernel', { filters: 2, kernelSize: 4, padding: 'same' }, [1, 6, 7, 3]],
  ];
  for (const [what, args, shape] of cases) {
    it(`matches tfjs-layers: ${what}`, () => {
      expect(compareLayer(conv2d(args), tfl.layers.conv2d(args as Parameters<typeof tfl.layers.conv2d>[0]), shape)).toBeLessThanOrEqual(1e-5);
    });
  }

  it('output shapes and params', () => {
    const l = conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same' });
    expect(l.apply(input({ shape: [15, 10, 3] })).shape).toEqual([null, 8, 5, 8]);
    expect(l.countParams()).toBe(3 * 3 * 3 * 8 + 8);
    expect(conv2d({ filters: 1, kernelSize: [3, 5] }).apply(input({ shape: [7, 7, 1] })).shape).toEqual([null, 5, 3, 1]);
  });

  it('errors name the layer and shapes', () => {
    const l = conv2d({ filters: 2, kernelSize: 3, name: 'c1' });
    expect(() => l.apply(randomTensor([2, 5, 5], 1))).toThrow("Conv2D 'c1': expected a 4-D NHWC input [batch, height, width, channels], got f32[2,5,5]");
    l.apply(randomTensor([1, 5, 5, 3], 1));
    expect(() => l.apply(randomTensor([1, 5, 5, 4], 1))).toThrow("Conv2D 'c1': expected input with 3 channels, got f32[1,5,5,4]");
    expect(() => conv2d({ filters: 2, kernelSize: 5 }).apply(randomTensor([1, 3, 3, 1], 1))).toThrow(/smaller than the 5x5 kernel/);
    expect(() => conv2d({ filters: 2, kernelSize: 0 })).toThrow(/kernelSize must be a positive integer/);
    expect(() => conv2d({ filters: 2, kernelSize: 3, padding: 'full' as 'same' })).toThrow(/padding must be 'same' or 'valid'/);
  });

  it('config round-trips', () => {
    const l = conv2d({ filters: 2, kernelSize: [1, 3], strides: [1, 2], padding: 'same', activation: 'relu6' });
    expect(Conv2D.fromConfig(l.getConfig()).getConfig()).toEqual(l.getConfig());
    expect(l.getConfig()).toMatchObject({ kernelSize: [1, 3], strides: [1, 2], dilationRate: [1, 1], padding: 'same' });
  });
});
