/**
 * MaxPooling1D and AveragePooling1D against tfjs-layers (pool sizes, strides, same/valid),
 * gradients with respect to the input against tf.variableGrads through the twin, config round
 * trips, tfjs-layers-saved models loaded by kiln.loadLayersModel, compiled artifacts.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { input } from '../engine/input.js';
import { randomTensor, useCpuBackend } from '../test_util.js';
import { averagePooling1d } from './average_pooling1d.js';
import { maxPooling1d } from './max_pooling1d.js';
import type { Pooling1DArgs } from './pooling1d.js';
import { compiledDiff, cudaAssembles, expectConfigRoundTrip, hasPtxas, gradientDiffs, predictionDiff, tfjsSavedModelDiff, type LayerCase } from './layer_testkit.js';

beforeAll(useCpuBackend);

/**
 * Average pooling with 'same' padding as TensorFlow defines it (the mean of the real cells of
 * each window), written as a 'valid' sum over the explicitly zero-padded input divided by the
 * count of real cells. The gradient reference: tfjs-core's avgPool gradient divides by the full
 * window size at the padded edges, which TensorFlow does not.
 */
const avgSame = (pool: number, stride: number) => (x: tf.Tensor): tf.Tensor => {
  const [n, steps, c] = x.shape as [number, number, number];
  const out = Math.ceil(steps / stride);
  const total = Math.max((out - 1) * stride + pool - steps, 0);
  const pads: [number, number] = [Math.floor(total / 2), total - Math.floor(total / 2)];
  const sumPool = (t: tf.Tensor) => tf.mul(tf.avgPool(tf.pad(t, [[0, 0], [0, 0], pads, [0, 0]]) as tf.Tensor4D, [1, pool], [1, stride], 'valid'), pool);
  const y = tf.div(sumPool(tf.reshape(x, [n, 1, steps, c])), sumPool(tf.ones([1, 1, steps, 1])));
  return tf.reshape(y, [n, out, c]);
};

const KINDS = [
  ['MaxPooling1D', maxPooling1d, (a: Pooling1DArgs) => tfl.layers.maxPooling1d(a as never)],
  ['AveragePooling1D', averagePooling1d, (a: Pooling1DArgs) => tfl.layers.averagePooling1d(a as never)],
] as const;

describe.each(KINDS)('%s', (name, kiln, tfjs) => {
  const cases: [string, Pooling1DArgs, number[]][] = [
    ['default pool 2', {}, [2, 8, 3]],
    ['pool 3, stride 2, same', { poolSize: 3, strides: 2, padding: 'same' }, [2, 9, 2]],
    ['pool [3], stride 1, valid', { poolSize: [3], strides: 1 }, [1, 7, 4]],
    ['pool 4, stride 3, same (padded edges)', { poolSize: 4, strides: 3, padding: 'same' }, [2, 10, 2]],
  ];
  for (const [what, args, shape] of cases) {
    const avgSamePadding = name === 'AveragePooling1D' && args.padding === 'same';
    const c: LayerCase = { kiln: () => kiln(args), tfjs: () => tfjs(args), input: shape, ...(avgSamePadding ? { oracle: avgSame(args.poolSize as number, args.strides as number) } : {}) };
    it(`${what}: predictions match tfjs-layers, input gradients ${avgSamePadding ? "TensorFlow's 'same' average" : 'tfjs-layers'}`, () => {
      expect(predictionDiff(c)).toBeLessThanOrEqual(1e-6);
      expect(gradientDiffs(c).input).toBeLessThanOrEqual(1e-5);
    });
  }

  it('compiled artifact equals the interpreter; a tfjs-layers-saved model loads', async () => {
    const c: LayerCase = { kiln: () => kiln({ poolSize: 3, strides: 2, padding: 'same' }), tfjs: () => tfjs({ poolSize: 3, strides: 2, padding: 'same' }), input: [2, 9, 3] };
    expect(await compiledDiff(c)).toBeLessThanOrEqual(1e-6);
    expect(await tfjsSavedModelDiff(c)).toBeLessThanOrEqual(1e-6);
  });

  it.skipIf(!hasPtxas)('the pooling compiles for the CUDA target (sm_80) to PTX that ptxas assembles', () => {
    const r = cudaAssembles({ kiln: () => kiln({ poolSize: 3, strides: 2, padding: 'same' }), input: [2, 9, 3] });
    expect(r.ok, r.log).toBe(true);
    expect(r.kernels).toBeGreaterThan(0);
  });

  it('output shapes, config round trip, errors', () => {
    expect(kiln({ poolSize: 3, strides: 2 }).apply(input({ shape: [10, 4] })).shape).toEqual([null, 4, 4]);
    expect(kiln({ poolSize: 3, strides: 2, padding: 'same' }).apply(input({ shape: [10, 4] })).shape).toEqual([null, 5, 4]);
    const l = kiln({ poolSize: 3, padding: 'same', name: 'p' });
    const cfg = expectConfigRoundTrip(l, tfjs({ poolSize: 3 }));
    expect(cfg).toMatchObject({ poolSize: [3], strides: [3], padding: 'same' });
    expect(() => l.apply(randomTensor([2, 5, 5, 1], 1))).toThrow(`${name} 'p': expected a 3-D input [batch, steps, channels], got f32[2,5,5,1]`);
    expect(() => kiln({ poolSize: 4, name: 'q' }).apply(randomTensor([1, 3, 1], 1))).toThrow(`${name} 'q': input f32[1,3,1] is shorter than the pool of 4 with 'valid' padding`);
    expect(() => kiln({ poolSize: [2, 2], name: 'r' })).toThrow(`${name} 'r': poolSize must be a positive integer (or a list of one), got [2,2]`);
  });
});
