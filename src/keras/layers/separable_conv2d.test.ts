/**
 * SeparableConv2D against tfjs-layers' SeparableConv2D with the same weights (depthMultiplier,
 * strides, same/valid), gradients of input and all three weights against tf.variableGrads;
 * dilation against tf.separableConv2d with zero-dilated depthwise kernels (tfjs-core cannot
 * differentiate dilated convs); config round trip; a tfjs-layers-saved model loaded by
 * kiln.loadLayersModel; the compiled artifact against the interpreter.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { input } from '../engine/input.js';
import { randomTensor, useCpuBackend } from '../test_util.js';
import { deserializeLayer } from '../engine/layer.js';
import { SeparableConv2D, separableConv2d, type SeparableConv2DArgs } from './separable_conv2d.js';
import { compiledDiff, cudaAssembles, dilateKernel, hasPtxas, expectConfigRoundTrip, gradientDiffs, predictionDiff, tfjsSavedModelDiff, type LayerCase } from './layer_testkit.js';

beforeAll(useCpuBackend);

const twin = (args: SeparableConv2DArgs): LayerCase['tfjs'] => () => tfl.layers.separableConv2d(args as never);

describe('SeparableConv2D', () => {
  const cases: [string, SeparableConv2DArgs, number[]][] = [
    ['valid, depthMultiplier 1', { filters: 3, kernelSize: 3 }, [2, 6, 5, 2]],
    ['same, stride 2, depthMultiplier 2, relu', { filters: 4, kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2, activation: 'relu' }, [2, 7, 6, 3]],
    ['3x2 kernel, depthMultiplier 3, no bias', { filters: 2, kernelSize: [3, 2], depthMultiplier: 3, useBias: false }, [1, 5, 5, 2]],
  ];
  for (const [what, args, shape] of cases) {
    const c: LayerCase = { kiln: () => separableConv2d(args), tfjs: twin(args), input: shape };
    it(`${what}: predictions and gradients match tfjs-layers`, () => {
      expect(predictionDiff(c)).toBeLessThanOrEqual(1e-5);
      const g = gradientDiffs(c);
      expect(g.input).toBeLessThanOrEqual(1e-4);
      expect(g.weights.length).toBe(args.useBias === false ? 2 : 3);
      for (const d of g.weights) expect(d).toBeLessThanOrEqual(1e-4);
    });
  }

  it('dilation 2: predictions match tfjs-layers, gradients match tf.separableConv2d with the dilated depthwise kernel', () => {
    const args: SeparableConv2DArgs = { filters: 3, kernelSize: 3, dilationRate: 2, depthMultiplier: 2, padding: 'same' };
    const oracle = (x: tf.Tensor, [dk, pk, b]: tf.Tensor[]) =>
      tf.add(tf.separableConv2d(x as tf.Tensor4D, dilateKernel(dilateKernel(dk!, 2, 0), 2, 1) as tf.Tensor4D, pk as tf.Tensor4D, 1, 'same'), b!);
    const c: LayerCase = { kiln: () => separableConv2d(args), tfjs: twin(args), oracle, input: [2, 7, 6, 2] };
    expect(predictionDiff(c)).toBeLessThanOrEqual(1e-5);
    const g = gradientDiffs(c);
    expect(g.input).toBeLessThanOrEqual(1e-4);
    for (const d of g.weights) expect(d).toBeLessThanOrEqual(1e-4);
  });

  it('compiled artifact equals the interpreter', async () => {
    expect(await compiledDiff({ kiln: () => separableConv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2, activation: 'relu' }), input: [2, 7, 6, 3] })).toBeLessThanOrEqual(1e-5);
  });

  it('a tfjs-layers-saved model loads with equal predictions', async () => {
    // depthMultiplier 1: tfjs-layers 4.22's getConfig omits depth_multiplier, so a file it saves
    // with another multiplier does not reload in tfjs-layers either (weight shape mismatch).
    expect(await tfjsSavedModelDiff({ kiln: () => separableConv2d({ filters: 1, kernelSize: 1 }), tfjs: twin({ filters: 3, kernelSize: 3, strides: 2, padding: 'same', activation: 'elu' }), input: [2, 5, 4, 2] })).toBeLessThanOrEqual(1e-5);
  });

  it.skipIf(!hasPtxas)('SeparableConv2D compiles for the CUDA target (sm_80) to PTX that ptxas assembles', () => {
    const r = cudaAssembles({ kiln: () => separableConv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2 }), input: [2, 7, 6, 3] });
    expect(r.ok, r.log).toBe(true);
    expect(r.kernels).toBeGreaterThan(0);
  });

  it("reads a Keras 2 config (its Conv base's unused kernel_* fields and groups included)", () => {
    const keras2 = {
      name: 'sep', trainable: true, dtype: 'float32', filters: 2, kernelSize: [3, 3], strides: [1, 1], padding: 'same', dataFormat: 'channels_last',
      dilationRate: [1, 1], groups: 1, activation: 'linear', useBias: true, kernelInitializer: { className: 'GlorotUniform', config: { seed: null } },
      biasInitializer: { className: 'Zeros', config: {} }, kernelRegularizer: null, biasRegularizer: null, activityRegularizer: null,
      kernelConstraint: null, biasConstraint: null, depthMultiplier: 2, depthwiseInitializer: { className: 'GlorotUniform', config: { seed: null } },
      pointwiseInitializer: { className: 'GlorotUniform', config: { seed: null } }, depthwiseRegularizer: null, pointwiseRegularizer: null,
      depthwiseConstraint: null, pointwiseConstraint: null,
    };
    const l = deserializeLayer({ className: 'SeparableConv2D', config: keras2 }) as SeparableConv2D;
    l.apply(randomTensor([1, 4, 4, 3], 2));
    expect(l.weights.map((w) => w.value.shape)).toEqual([[3, 3, 3, 2], [1, 1, 6, 2], [2]]);
    expect(() => deserializeLayer({ className: 'SeparableConv2D', config: { ...keras2, kernelRegularizer: { className: 'L2', config: { l2: 0.1 } } } }))
      .toThrow(`SeparableConv2D 'sep': kernelRegularizer {"className":"L2","config":{"l2":0.1}} is not supported (Kiln supports null)`);
  });

  it('output shapes, config round trip, errors', () => {
    const l = separableConv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2 });
    expect(l.apply(input({ shape: [15, 10, 3] })).shape).toEqual([null, 8, 5, 8]);
    expect(l.countParams()).toBe(3 * 3 * 3 * 2 + 6 * 8 + 8);
    l.apply(randomTensor([1, 4, 4, 3], 1));
    const cfg = expectConfigRoundTrip(l, tfl.layers.separableConv2d({ filters: 2, kernelSize: 3 }));
    expect(cfg).toMatchObject({ depthMultiplier: 2, kernelSize: [3, 3], strides: [2, 2] });
    expect(() => separableConv2d({ filters: 2, kernelSize: 3, depthMultiplier: 0, name: 's' })).toThrow("SeparableConv2D 's': depthMultiplier must be a positive integer, got 0");
    expect(() => l.apply(randomTensor([1, 4, 4, 2], 1))).toThrow(/expected input with 3 channels, got f32\[1,4,4,2\]/);
    expect(() => separableConv2d({ filters: 2, kernelSize: 3, depthMultipler: 2, name: 's' } as never)).toThrow("SeparableConv2D 's': unknown argument 'depthMultipler' (did you mean 'depthMultiplier'?)");
  });
});
