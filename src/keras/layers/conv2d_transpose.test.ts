/**
 * Conv2DTranspose against tfjs-layers' Conv2DTranspose with the same weights (strides, padding
 * same/valid, kernels larger and smaller than the stride), gradients of input and weights against
 * tf.variableGrads; dilation (which tfjs-layers 4.22 ignores) against tf.conv2dTranspose with the
 * zero-dilated kernel; config round trip; a tfjs-layers-saved model loaded by
 * kiln.loadLayersModel; the compiled artifact against the interpreter.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { input } from '../engine/input.js';
import { sequential } from '../engine/sequential.js';
import * as layers from './index.js';
import { randomTensor, useCpuBackend } from '../test_util.js';
import { conv2dTranspose, type Conv2DTransposeArgs } from './conv2d_transpose.js';
import { compiledDiff, cudaAssembles, fitParity, dilateKernel, hasPtxas, expectConfigRoundTrip, gradientDiffs, predictionDiff, tfjsSavedModelDiff, type LayerCase } from './layer_testkit.js';

beforeAll(useCpuBackend);

const twin = (args: Conv2DTransposeArgs): LayerCase['tfjs'] => () => tfl.layers.conv2dTranspose(args as never);

/** Keras's dilated transposed conv: tf.conv2dTranspose with the kernel dilated by zeros. */
const dilatedReference = (args: Conv2DTransposeArgs, outHW: [number, number]) => (x: tf.Tensor, [k, b]: tf.Tensor[]) => {
  const d = args.dilationRate as number;
  const kd = dilateKernel(dilateKernel(k!, d, 0), d, 1) as tf.Tensor4D;
  const y = tf.conv2dTranspose(x as tf.Tensor4D, kd, [x.shape[0]!, ...outHW, k!.shape[2]!], 1, args.padding === 'same' ? 'same' : 'valid');
  return b ? tf.add(y, b) : y;
};

describe('Conv2DTranspose', () => {
  const cases: [string, Conv2DTransposeArgs, number[]][] = [
    ['valid, stride 1', { filters: 3, kernelSize: 3 }, [2, 4, 5, 2]],
    ['same, stride 2', { filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }, [2, 3, 4, 3]],
    ['valid, stride 2, 3x2 kernel', { filters: 2, kernelSize: [3, 2], strides: 2 }, [1, 4, 3, 2]],
    ['valid, stride 3 over a 2x2 kernel (gaps), no bias', { filters: 2, kernelSize: 2, strides: [3, 2], useBias: false }, [1, 3, 3, 2]],
    ['same, even kernel, stride 2', { filters: 2, kernelSize: 4, strides: 2, padding: 'same' }, [1, 3, 3, 3]],
  ];
  for (const [what, args, shape] of cases) {
    const c: LayerCase = { kiln: () => conv2dTranspose(args), tfjs: twin(args), input: shape };
    it(`${what}: predictions and gradients match tfjs-layers`, () => {
      expect(predictionDiff(c)).toBeLessThanOrEqual(1e-5);
      const g = gradientDiffs(c);
      expect(g.input).toBeLessThanOrEqual(1e-4);
      for (const d of g.weights) expect(d).toBeLessThanOrEqual(1e-4);
    });
  }

  it.each([['valid', [8, 9]], ['same', [4, 5]]] as const)('dilation 2, %s: predictions and gradients match tf.conv2dTranspose with the dilated kernel', (padding, outHW) => {
    const args: Conv2DTransposeArgs = { filters: 3, kernelSize: 3, dilationRate: 2, padding };
    const c: LayerCase = { kiln: () => conv2dTranspose(args), oracle: dilatedReference(args, [...outHW]), input: [2, 4, 5, 2] };
    expect(predictionDiff(c)).toBeLessThanOrEqual(1e-5);
    const g = gradientDiffs(c);
    expect(g.input).toBeLessThanOrEqual(1e-4);
    for (const d of g.weights) expect(d).toBeLessThanOrEqual(1e-4);
  });

  it.each([
    ['same', [1, 0], [2, 3]],
    ['valid', [0, 2], [2, 3]],
    ['same', [1, 1], [2, 2]],
  ] as const)("Keras's outputPadding, %s %j (strides %j): predictions and gradients match tf.conv2dTranspose to that output size", (padding, op, strides) => {
    const args: Conv2DTransposeArgs = { filters: 3, kernelSize: 3, strides: [...strides], padding, outputPadding: [...op] };
    const outHW = [0, 1].map((i) => (4 - 1) * strides[i]! + 3 - 2 * (padding === 'same' ? 1 : 0) + op[i]!) as [number, number];
    const oracle = (x: tf.Tensor, [k, b]: tf.Tensor[]) =>
      tf.add(tf.conv2dTranspose(x as tf.Tensor4D, k as tf.Tensor4D, [x.shape[0]!, ...outHW, 3], [...strides], padding), b!);
    const c: LayerCase = { kiln: () => conv2dTranspose(args), oracle, input: [2, 4, 4, 2] };
    expect(predictionDiff(c)).toBeLessThanOrEqual(1e-5);
    const g = gradientDiffs(c);
    expect(g.input).toBeLessThanOrEqual(1e-4);
    for (const d of g.weights) expect(d).toBeLessThanOrEqual(1e-4);
  });

  it.each([
    ['same, stride 2', { filters: 4, kernelSize: 3, strides: 2, padding: 'same' }, [2, 3, 4, 3]],
    ['valid, stride 2', { filters: 2, kernelSize: [3, 2], strides: 2 }, [1, 4, 3, 2]],
    ['dilation 2', { filters: 3, kernelSize: 3, dilationRate: 2 }, [1, 4, 5, 2]],
    ['outputPadding', { filters: 3, kernelSize: 3, strides: 2, padding: 'same', outputPadding: 1 }, [1, 4, 5, 2]],
  ] as [string, Conv2DTransposeArgs, number[]][])('%s: compiled artifact equals the interpreter', async (_, args, shape) => {
    expect(await compiledDiff({ kiln: () => conv2dTranspose(args), input: shape })).toBeLessThanOrEqual(1e-5);
  });

  it('a tfjs-layers-saved model loads with equal predictions', async () => {
    expect(await tfjsSavedModelDiff({ kiln: () => conv2dTranspose({ filters: 1, kernelSize: 1 }), tfjs: twin({ filters: 3, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh' }), input: [2, 3, 4, 2] })).toBeLessThanOrEqual(1e-5);
  });

  it.skipIf(!hasPtxas)('strided Conv2DTranspose compiles for the CUDA target (sm_80) to PTX that ptxas assembles', () => {
    const r = cudaAssembles({ kiln: () => conv2dTranspose({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }), input: [2, 3, 4, 3] });
    expect(r.ok, r.log).toBe(true);
    expect(r.kernels).toBeGreaterThan(0);
  });

  it('trains with fit (the compiled step) as tfjs-layers does: Conv2DTranspose, SeparableConv2D, GlobalMaxPooling2D', async () => {
    const build = (L: typeof tfl.layers | typeof layers) => [
      L.conv2dTranspose({ filters: 3, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh', inputShape: [3, 4, 2] } as never),
      L.separableConv2d({ filters: 4, kernelSize: 3, depthMultiplier: 2, activation: 'relu' } as never),
      L.conv2dTranspose({ filters: 2, kernelSize: 2, strides: 3 } as never),
      L.globalMaxPooling2d({}),
    ];
    const r = await fitParity(sequential({ layers: build(layers) as never }), tfl.sequential({ layers: build(tfl.layers) as never }), [4, 3, 4, 2]);
    expect(r.loss).toBeLessThanOrEqual(1e-4);
    expect(r.weights).toBeLessThanOrEqual(1e-4);
    expect(r.losses[2]!).toBeLessThan(r.losses[0]!);
  });

  it('output shapes, config round trip, errors', () => {
    expect(conv2dTranspose({ filters: 5, kernelSize: 3, strides: 2 }).apply(input({ shape: [4, 6, 3] })).shape).toEqual([null, 9, 13, 5]);
    expect(conv2dTranspose({ filters: 5, kernelSize: 2, strides: 3 }).apply(input({ shape: [4, 6, 3] })).shape).toEqual([null, 12, 18, 5]);
    expect(conv2dTranspose({ filters: 5, kernelSize: 3, strides: 2, padding: 'same' }).apply(input({ shape: [4, 6, 3] })).shape).toEqual([null, 8, 12, 5]);
    const l = conv2dTranspose({ filters: 2, kernelSize: [3, 2], strides: 2, padding: 'same', activation: 'relu' });
    l.apply(randomTensor([1, 3, 3, 2], 1));
    expect(l.kernel!.value.shape).toEqual([3, 2, 2, 2]);
    const cfg = expectConfigRoundTrip(l, tfl.layers.conv2dTranspose({ filters: 2, kernelSize: 3 }));
    expect(cfg).toMatchObject({ kernelSize: [3, 2], strides: [2, 2], dilationRate: [1, 1], padding: 'same' });
    expect(() => conv2dTranspose({ filters: 2, kernelSize: 3, name: 't' }).apply(randomTensor([2, 5, 5], 1))).toThrow("Conv2DTranspose 't': expected a 4-D NHWC input [batch, height, width, channels], got f32[2,5,5]");
    expect(() => conv2dTranspose({ filters: 2, kernelSize: 3, strides: 2, dilationRate: 2, name: 't' })).toThrow(/Conv2DTranspose 't': strides \[2,2\] and dilationRate \[2,2\] cannot both exceed 1/);
    expect(() => conv2dTranspose({ filters: 2, kernelSize: 3, strides: [2, 1], outputPadding: [1, 1], name: 't' })).toThrow("Conv2DTranspose 't': outputPadding must be a non-negative integer or a pair of them, each below its stride [2,1], got [1,1]");
    expect(conv2dTranspose({ filters: 5, kernelSize: 3, strides: 2, padding: 'same', outputPadding: [0, 1] }).apply(input({ shape: [4, 6, 3] })).shape).toEqual([null, 7, 12, 5]);
  });
});
