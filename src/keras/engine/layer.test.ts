import { describe, expect, it } from 'vitest';
import { dense } from '../layers/dense.js';
import { batchNormalization } from '../layers/batch_normalization.js';
import { input, InputLayer } from './input.js';
import { toSnakeCase, uniqueLayerName } from './layer.js';
import { randomTensor } from '../test_util.js';

describe('Layer base', () => {
  it('snake-cases class names as Keras does', () => {
    expect(['Dense', 'Conv2D', 'MaxPooling2D', 'GlobalAveragePooling2D', 'ReLU', 'BatchNormalization', 'InputLayer', 'ZeroPadding2D', 'DepthwiseConv2D']
      .map(toSnakeCase)).toEqual(['dense', 'conv2d', 'max_pooling2d', 'global_average_pooling2d', 're_lu', 'batch_normalization', 'input_layer', 'zero_padding2d', 'depthwise_conv2d']);
    expect(uniqueLayerName('zz_test')).toBe('zz_test');
    expect(uniqueLayerName('zz_test')).toBe('zz_test_1');
  });

  it('builds lazily; countParams before build says why', () => {
    const l = dense({ units: 2, name: 'lazy' });
    expect(l.built).toBe(false);
    expect(() => l.countParams()).toThrow("Dense 'lazy': countParams() needs a built layer");
    l.apply(input({ shape: [3] }));
    expect(l.built).toBe(true);
    expect(l.countParams()).toBe(8);
    expect(l.inboundNodes.length).toBe(1);
  });

  it('trainable=false moves every weight to nonTrainableWeights', () => {
    const bn = batchNormalization({ trainable: false });
    bn.apply(randomTensor([2, 3], 1));
    expect(bn.trainableWeights.length).toBe(0);
    expect(bn.nonTrainableWeights.map((w) => w.name.split('/')[1])).toEqual(['gamma', 'beta', 'moving_mean', 'moving_variance']);
  });

  it('layer setWeights validates count and shapes', () => {
    const l = dense({ units: 2, name: 'dw' });
    l.apply(randomTensor([1, 3], 1));
    expect(() => l.setWeights([randomTensor([3, 2], 1)])).toThrow("setWeights: Dense 'dw' has 2 weights (dw/kernel, dw/bias), got 1");
    expect(() => l.setWeights([randomTensor([2, 3], 1), randomTensor([2], 1)])).toThrow("setWeights: weight 0 'dw/kernel' has shape [3,2], got [2,3]");
  });
});

describe('InputLayer / input()', () => {
  it('makes a symbolic tensor with a null batch dimension', () => {
    const x = input({ shape: [28, 28, 1], name: 'img' });
    expect(x.shape).toEqual([null, 28, 28, 1]);
    expect(x.sourceLayer).toBeInstanceOf(InputLayer);
    expect(x.sourceLayer.name).toBe('img');
    expect(input({ shape: [4], batchSize: 8 }).shape).toEqual([8, 4]);
    expect(input({ batchShape: [2, null] }).shape).toEqual([2, null]);
  });
  it('errors and config', () => {
    expect(() => input({})).toThrow(/give shape/);
    expect(() => new InputLayer({ inputShape: [2], batchInputShape: [null, 2] })).toThrow(/not both/);
    expect(() => new InputLayer({ inputShape: [-1] })).toThrow(/non-negative integers or null/);
    const l = new InputLayer({ inputShape: [5], name: 'in5' });
    expect(l.getConfig()).toMatchObject({ name: 'in5', batchInputShape: [null, 5], dtype: 'f32', sparse: false });
    expect(InputLayer.fromConfig(l.getConfig()).getConfig()).toEqual(l.getConfig());
  });
});
