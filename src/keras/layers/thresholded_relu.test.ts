/** ThresholdedReLU against tfjs-layers (values, input gradient), NaN kept, saved models, compiled artifact, config. */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { literal } from '../../ir/literal.js';
import { Tensor } from '../backend.js';
import { useCpuBackend } from '../test_util.js';
import { thresholdedReLU } from './thresholded_relu.js';
import { compiledDiff, expectConfigRoundTrip, gradientDiffs, predictionDiff, tfjsSavedModelDiff, type LayerCase } from './layer_testkit.js';

beforeAll(useCpuBackend);

describe('ThresholdedReLU', () => {
  for (const theta of [undefined, 0.25, -0.5]) {
    const c: LayerCase = { kiln: () => thresholdedReLU({ theta }), tfjs: () => tfl.layers.thresholdedReLU({ theta }), input: [3, 4, 5], range: 2 };
    // tfjs-core cannot differentiate tfjs-layers' x * cast(x > theta): the gradient's oracle is x times the mask taken as a constant.
    const t = theta ?? 1;
    const g: LayerCase = { ...c, tfjs: undefined, oracle: (x) => tf.mul(x, tf.tensor(Array.from(x.dataSync(), (v) => (v > t ? 1 : 0)), x.shape)) };
    it(`theta ${theta ?? 'default (1)'}: values match tfjs-layers, the input gradient is the mask; compiled equals the interpreter`, async () => {
      expect(predictionDiff(c)).toBe(0);
      expect(gradientDiffs(g).input).toBe(0);
      expect(await compiledDiff(c)).toBe(0);
    });
  }

  it('NaN stays NaN (tfjs-layers: NaN * 0); a tfjs-saved model loads; config round trip', async () => {
    const y = thresholdedReLU().apply(Tensor.concrete(literal([4], 'f32', [NaN, 0.5, 1, 2]))).dataSync();
    expect(Array.from(y)).toEqual([NaN, 0, 0, 2]);
    expect(await tfjsSavedModelDiff({ kiln: () => thresholdedReLU(), tfjs: () => tfl.layers.thresholdedReLU({ theta: 0.3 }), input: [2, 7] })).toBe(0);
    expectConfigRoundTrip(thresholdedReLU({ theta: 0.7 }), tfl.layers.thresholdedReLU({ theta: 0.7 }));
  });
});
