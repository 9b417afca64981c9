/**
 * GlobalMaxPooling1D, GlobalMaxPooling2D and GlobalAveragePooling1D against tfjs-layers
 * (predictions, input gradients), keepDims against tf.max/tf.mean with keepDims, the masked
 * mean of GlobalAveragePooling1D against Keras's formula in tfjs-core ops, config round trips,
 * tfjs-layers-saved models loaded by kiln.loadLayersModel, compiled artifacts.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { input } from '../engine/input.js';
import { Tensor } from '../backend.js';
import { literal } from '../../ir/literal.js';
import { maxAbsDiff, randomTensor, toTf, useCpuBackend } from '../test_util.js';
import { globalAveragePooling1d } from './global_average_pooling1d.js';
import { globalMaxPooling1d } from './global_max_pooling1d.js';
import { globalMaxPooling2d } from './global_max_pooling2d.js';
import type { GlobalPoolingArgs } from './global_pooling.js';
import { compiledDiff, expectConfigRoundTrip, gradientDiffs, predictionDiff, tfjsSavedModelDiff, type LayerCase } from './layer_testkit.js';

beforeAll(useCpuBackend);

const KINDS = [
  ['GlobalMaxPooling1D', globalMaxPooling1d, () => tfl.layers.globalMaxPooling1d({}), [2, 7, 3], (x: tf.Tensor) => tf.max(x, [1], true)],
  ['GlobalMaxPooling2D', globalMaxPooling2d, () => tfl.layers.globalMaxPooling2d({}), [2, 5, 4, 3], (x: tf.Tensor) => tf.max(x, [1, 2], true)],
  ['GlobalAveragePooling1D', globalAveragePooling1d, () => tfl.layers.globalAveragePooling1d({}), [2, 7, 3], (x: tf.Tensor) => tf.mean(x, [1], true)],
] as const;

describe.each(KINDS)('%s', (name, kiln, tfjs, shape, keepDimsRef) => {
  const c: LayerCase = { kiln: () => kiln(), tfjs, input: [...shape] };

  it('predictions and input gradients match tfjs-layers; keepDims matches the keepDims reduction', () => {
    expect(predictionDiff(c)).toBeLessThanOrEqual(1e-6);
    expect(gradientDiffs(c).input).toBeLessThanOrEqual(1e-6);
    const k: LayerCase = { kiln: () => kiln({ keepdims: true }), oracle: keepDimsRef, input: [...shape] };
    expect(predictionDiff(k)).toBeLessThanOrEqual(1e-6);
    expect(gradientDiffs(k).input).toBeLessThanOrEqual(1e-6);
  });

  it('compiled artifact equals the interpreter; a tfjs-layers-saved model loads', async () => {
    expect(await compiledDiff(c)).toBeLessThanOrEqual(1e-6);
    expect(await tfjsSavedModelDiff(c)).toBeLessThanOrEqual(1e-6);
  });

  it('output shapes, config round trip, errors', () => {
    const inner = shape.slice(1, -1);
    expect(kiln().apply(input({ shape: [...shape.slice(1)] })).shape).toEqual([null, 3]);
    expect(kiln({ keepDims: true }).apply(input({ shape: [...shape.slice(1)] })).shape).toEqual([null, ...inner.map(() => 1), 3]);
    const l = kiln({ keepdims: true, name: 'g' } as GlobalPoolingArgs);
    expect(expectConfigRoundTrip(l, tfjs())).toMatchObject({ keepDims: true, dataFormat: 'channelsLast' });
    expect(() => l.apply(randomTensor([2, 3], 1))).toThrow(new RegExp(`^${name} 'g': expected a ${shape.length}-D .*input.*, got f32\\[2,3\\]$`));
    expect(() => kiln({ dataFormat: 'channelsFirst' as never, name: 'h' })).toThrow(`${name} 'h': dataFormat "channelsFirst" is not supported`);
  });
});

describe('GlobalAveragePooling1D with a mask', () => {
  it("averages the unmasked steps only (Keras's formula); the output carries no mask", () => {
    const x = randomTensor([3, 5, 2], 4);
    const m = [1, 1, 0, 1, 0, /**/ 1, 1, 1, 1, 1, /**/ 0, 1, 0, 0, 0];
    const mask = Tensor.concrete(literal([3, 5], 'bool', Uint8Array.from(m)));
    const l = globalAveragePooling1d();
    const y = l.apply(x, { mask });
    const mt = tf.tensor(m, [3, 5, 1]);
    const ref = (xt: tf.Tensor) => tf.div(tf.sum(tf.mul(xt, mt), 1), tf.sum(mt, 1));
    expect(maxAbsDiff(y, ref(toTf(x)))).toBeLessThanOrEqual(1e-6);
    expect(maxAbsDiff(y, tf.mean(toTf(x), 1))).toBeGreaterThan(1e-2);
    expect(l.computeMask()).toBeNull();
  });
});
