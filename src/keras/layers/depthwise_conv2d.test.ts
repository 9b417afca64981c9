import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tf from '@tensorflow/tfjs-core';
import { compareLayer, maxAbsDiff, randomTensor, randomizeWeights, toTf, useCpuBackend } from '../test_util.js';
import { DepthwiseConv2D, depthwiseConv2d } from './depthwise_conv2d.js';
import { input } from '../engine/input.js';

beforeAll(useCpuBackend);

type TfArgs = Parameters<typeof tfl.layers.depthwiseConv2d>[0];

describe('DepthwiseConv2D', () => {
  const cases: [string, Parameters<typeof depthwiseConv2d>[0], number[]][] = [
    ['valid 3x3', { kernelSize: 3 }, [2, 6, 7, 3]],
    ['multiplier 2, same, stride 2, relu', { kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same', activation: 'relu' }, [1, 8, 7, 3]],
  ];
  for (const [what, args, shape] of cases) {
    it(`matches tfjs-layers: ${what}`, () => {
      expect(compareLayer(depthwiseConv2d(args), tfl.layers.depthwiseConv2d(args as TfArgs), shape)).toBeLessThanOrEqual(1e-5);
    });
  }

  // tfjs-layers' DepthwiseConv2D drops dilationRate, so the oracle here is tfjs-core's op.
  it('dilation matches tf.depthwiseConv2d with dilations', () => {
    const l = depthwiseConv2d({ kernelSize: [3, 2], dilationRate: 2, depthMultiplier: 2 });
    const x = randomTensor([1, 8, 8, 2], 3);
    l.apply(x);
    randomizeWeights(l, 9);
    const [k, b] = l.getWeights();
    const want = tf.add(tf.depthwiseConv2d(toTf(x) as tf.Tensor4D, toTf(k!) as tf.Tensor4D, 1, 'valid', 'NHWC', 2), toTf(b!));
    const got = l.apply(x);
    expect(got.shape).toEqual([1, 4, 6, 4]);
    expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-5);
  });

  it('weights, output shape and params', () => {
    const l = depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, name: 'dw' });
    expect(l.apply(input({ shape: [10, 10, 4] })).shape).toEqual([null, 8, 8, 8]);
    expect(l.weights.map((w) => [w.name, w.value.shape])).toEqual([['dw/depthwise_kernel', [3, 3, 4, 2]], ['dw/bias', [8]]]);
    expect(l.countParams()).toBe(3 * 3 * 4 * 2 + 8);
  });

  it('errors name the layer', () => {
    const l = depthwiseConv2d({ kernelSize: 3, name: 'dw2' });
    l.apply(randomTensor([1, 5, 5, 3], 1));
    expect(() => l.apply(randomTensor([1, 5, 5, 2], 1))).toThrow("DepthwiseConv2D 'dw2': expected input with 3 channels, got f32[1,5,5,2]");
    expect(() => depthwiseConv2d({ kernelSize: 3, depthMultiplier: 0 })).toThrow(/depthMultiplier must be a positive integer/);
  });

  it('config round-trips', () => {
    const l = depthwiseConv2d({ kernelSize: 3, depthMultiplier: 3, padding: 'same' });
    expect(DepthwiseConv2D.fromConfig(l.getConfig()).getConfig()).toEqual(l.getConfig());
  });
});
