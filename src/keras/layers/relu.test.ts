/**
 * ReLU against tfjs-layers (plain and maxValue: all tfjs-layers has), against Keras's
 * backend.relu transcribed in tfjs-core ops for negativeSlope and threshold (values and
 * gradients), and against Keras's documented formula per element where code and formula agree;
 * saved models, the compiled artifact, config.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { literal } from '../../ir/literal.js';
import { Tensor } from '../backend.js';
import { compareLayer, maxAbsDiff, randomTensor, toTf, useCpuBackend } from '../test_util.js';
import { ReLU, reLU } from './relu.js';
import { ELU } from './elu.js';
import { LeakyReLU } from './leaky_relu.js';
import { Softmax } from './softmax.js';
import { compiledDiff, expectConfigRoundTrip, gradientDiffs, loadKeras3Sequential, predictionDiff, tfjsSavedModelDiff, type LayerCase } from './layer_testkit.js';

beforeAll(useCpuBackend);

/** Keras's documented definition, written out per element. */
function naive(x: number, maxValue: number | null, negativeSlope: number, threshold: number): number {
  if (maxValue !== null && x >= maxValue) return maxValue;
  if (x >= threshold) return x;
  return negativeSlope * (x - threshold);
}

/** Keras 2's backend.relu (= Keras 3's ReLU.static_call), line for line, on tfjs-core. */
function keras(maxValue: number | null, slope: number, threshold: number) {
  return (x: tf.Tensor): tf.Tensor => {
    if (slope !== 0 && maxValue === null && threshold === 0) return tf.leakyRelu(x, slope);
    const negativePart = slope !== 0 ? tf.relu(threshold !== 0 ? tf.add(tf.neg(x), threshold) : tf.neg(x)) : null;
    let clipMax = maxValue !== null;
    let y: tf.Tensor;
    // x * (x > threshold), with the mask a constant (tf.grads cannot differentiate tf.greater).
    if (threshold !== 0) y = tf.mul(x, tf.tensor(Array.from(x.dataSync(), (v) => (v > threshold ? 1 : 0)), x.shape));
    else if (maxValue === 6) {
      y = tf.relu6(x);
      clipMax = false;
    } else y = tf.relu(x);
    if (clipMax) y = tf.clipByValue(y, 0, maxValue!);
    return negativePart ? tf.sub(y, tf.mul(slope, negativePart)) : y;
  };
}

describe('ReLU', () => {
  it('matches tfjs-layers (plain and maxValue)', () => {
    expect(compareLayer(reLU(), tfl.layers.reLU(), [4, 9])).toBe(0);
    expect(compareLayer(reLU({ maxValue: 0.5 }), tfl.layers.reLU({ maxValue: 0.5 }), [4, 9])).toBe(0);
  });

  const cases: [number | null, number, number][] = [[null, 0.1, 0], [null, 0, 0.3], [2, 0.2, -0.5], [1, 0.3, 0.25], [6, 0, 0], [6, 0.1, 0], [null, 0.2, -1]];
  for (const [maxValue, negativeSlope, threshold] of cases) {
    const c: LayerCase = { kiln: () => reLU({ maxValue, negativeSlope, threshold }), oracle: keras(maxValue, negativeSlope, threshold), input: [4, 25], range: 3 };
    it(`maxValue=${maxValue} negativeSlope=${negativeSlope} threshold=${threshold}: Keras's code (values, gradient); compiled equals the interpreter`, async () => {
      expect(predictionDiff(c)).toBeLessThanOrEqual(1e-6);
      expect(gradientDiffs(c).input).toBeLessThanOrEqual(1e-6);
      expect(await compiledDiff(c)).toBeLessThanOrEqual(1e-6);
    });
  }

  it("Keras's documented formula per element, where Keras's code agrees with it", () => {
    for (const [maxValue, negativeSlope, threshold] of [[null, 0.1, 0], [null, 0, 0.3], [1, 0.3, 0.25], [null, 0.2, -1]] as const) {
      const x = randomTensor([50], 3, -3, 3);
      const y = reLU({ maxValue, negativeSlope, threshold }).apply(x).dataSync();
      x.dataSync().forEach((v, i) => expect(y[i]).toBeCloseTo(naive(v, maxValue, negativeSlope, threshold), 6));
    }
    // Where they differ Kiln computes what Keras's code does: 0 at the threshold itself, and with a
    // maxValue, 0 between a negative threshold and 0 (the clip to [0, maxValue] comes first).
    const at = (v: number, maxValue: number | null, slope: number, t: number) => reLU({ maxValue, negativeSlope: slope, threshold: t }).apply(Tensor.concrete(literal([1], 'f32', [v]))).dataSync()[0];
    expect(at(0.5, null, 0, 0.5)).toBe(0);
    expect(at(-0.25, 2, 0.2, -0.5)).toBe(0);
    expect(at(-0.25, null, 0.2, -0.5)).toBe(-0.25);
  });

  it('a Keras 3 model file with ReLU, LeakyReLU (negative_slope), ELU and Softmax loads and computes Keras\'s formulas', async () => {
    const m = await loadKeras3Sequential([
      { class_name: 'ReLU', config: { max_value: 2, negative_slope: 0.1, threshold: 0.2 } },
      { class_name: 'LeakyReLU', config: { negative_slope: 0.5 } },
      { class_name: 'ELU', config: { alpha: 0.7 } },
      { class_name: 'Softmax', config: { axis: -1 } },
    ], [3, 6]);
    [ReLU, LeakyReLU, ELU, Softmax].forEach((cls, i) => expect(m.layers[i]).toBeInstanceOf(cls));
    const x = randomTensor([3, 6], 12, -3, 3);
    let want = keras(2, 0.1, 0.2)(toTf(x));
    want = tf.leakyRelu(want, 0.5);
    want = tf.add(tf.relu(want), tf.mul(0.7, tf.sub(tf.exp(tf.minimum(want, 0)), 1)));
    expect(maxAbsDiff(m.predict(x) as Tensor, tf.softmax(want))).toBeLessThanOrEqual(1e-6);
  });

  it('a tfjs-saved model loads; errors and config', async () => {
    expect(await tfjsSavedModelDiff({ kiln: () => reLU(), tfjs: () => tfl.layers.reLU({ maxValue: 0.7 }), input: [2, 9], range: 2 })).toBe(0);
    expect(() => reLU({ maxValue: -1, name: 'rl' })).toThrow("ReLU 'rl': maxValue must be >= 0, got -1");
    const l = reLU({ maxValue: 6, negativeSlope: 0.1, threshold: 0.5 });
    expect(ReLU.fromConfig(l.getConfig()).getConfig()).toEqual(l.getConfig());
    expectConfigRoundTrip(l, tfl.layers.reLU({ maxValue: 6 }));
  });
});
