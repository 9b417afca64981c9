/**
 * Conv1D against tfjs-layers' Conv1D with the same weights (valid/same, strides, dilation),
 * 'causal' (which tfjs-layers 4.22 refuses) against tf.conv1d on the left-padded input;
 * gradients of input and weights against tf.variableGrads / tf.grads; config round trip; a
 * tfjs-layers-saved model loaded by kiln.loadLayersModel; the compiled artifact.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { input } from '../engine/input.js';
import { sequential } from '../engine/sequential.js';
import * as layers from './index.js';
import { randomTensor, useCpuBackend } from '../test_util.js';
import { conv1d, type Conv1DArgs } from './conv1d.js';
import { compiledDiff, cudaAssembles, fitParity, dilateKernel, hasPtxas, expectConfigRoundTrip, gradientDiffs, predictionDiff, tfjsSavedModelDiff, type LayerCase } from './layer_testkit.js';

beforeAll(useCpuBackend);

const twin = (args: Conv1DArgs): LayerCase['tfjs'] => () => tfl.layers.conv1d(args as never);

/**
 * The reference: tf.conv1d with the zero-dilated kernel, on the input padded by (k - 1) * dilation
 * on the left for 'causal'.
 */
const reference = (args: Conv1DArgs) => (x: tf.Tensor, [k, b]: tf.Tensor[]) => {
  const d = (args.dilationRate as number | undefined) ?? 1;
  const left = args.padding === 'causal' ? ((k!.shape[0] as number) - 1) * d : 0;
  const pad = args.padding === 'same' ? 'same' : 'valid';
  const y = tf.conv1d(tf.pad(x, [[0, 0], [left, 0], [0, 0]]) as tf.Tensor3D, dilateKernel(k!, d, 0) as tf.Tensor3D, (args.strides as number | undefined) ?? 1, pad, 'NWC', 1);
  return b ? tf.add(y, b) : y;
};

describe('Conv1D', () => {
  const cases: [string, Conv1DArgs, number[], boolean][] = [
    ['valid', { filters: 4, kernelSize: 3 }, [2, 9, 3], false],
    ['same, stride 2, relu', { filters: 3, kernelSize: 4, strides: 2, padding: 'same', activation: 'tanh' }, [2, 11, 2], false],
    ['dilation 2, no bias', { filters: 2, kernelSize: 3, dilationRate: 2, useBias: false }, [1, 12, 3], false],
    ['causal, dilation 2', { filters: 3, kernelSize: 3, padding: 'causal', dilationRate: 2 }, [2, 10, 2], true],
    ['causal, stride 2', { filters: 2, kernelSize: 2, padding: 'causal', strides: 2 }, [1, 9, 3], true],
  ];
  for (const [what, args, shape, isCausal] of cases) {
    // tfjs-layers refuses 'causal', and tfjs-core cannot differentiate dilated convs: there the reference is tf.conv1d with the zero-dilated kernel.
    const c: LayerCase = { kiln: () => conv1d(args), input: shape, ...(isCausal ? {} : { tfjs: twin(args) }), ...(isCausal || args.dilationRate ? { oracle: reference(args) } : {}) };
    it(`${what}: predictions and gradients match ${isCausal ? 'tf.conv1d on the left-padded input' : 'tfjs-layers'}`, () => {
      expect(predictionDiff(c)).toBeLessThanOrEqual(1e-5);
      const g = gradientDiffs(c);
      expect(g.input).toBeLessThanOrEqual(1e-4);
      for (const d of g.weights) expect(d).toBeLessThanOrEqual(1e-4);
    });
    it(`${what}: compiled artifact equals the interpreter`, async () => {
      expect(await compiledDiff(c)).toBeLessThanOrEqual(1e-5);
    });
  }

  it('a tfjs-layers-saved model loads with equal predictions', async () => {
    expect(await tfjsSavedModelDiff({ kiln: () => conv1d({ filters: 1, kernelSize: 1 }), tfjs: twin({ filters: 3, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }), input: [2, 9, 4] })).toBeLessThanOrEqual(1e-5);
  });

  it.skipIf(!hasPtxas)('causal dilated Conv1D compiles for the CUDA target (sm_80) to PTX that ptxas assembles', () => {
    const r = cudaAssembles({ kiln: () => conv1d({ filters: 3, kernelSize: 3, padding: 'causal', dilationRate: 2, activation: 'relu' }), input: [2, 10, 2] });
    expect(r.ok, r.log).toBe(true);
    expect(r.kernels).toBeGreaterThan(0);
  });

  it('trains with fit (the compiled step) as tfjs-layers does: Conv1D, pooling 1D, global pooling 1D', async () => {
    const build = (L: typeof tfl.layers | typeof layers) => [
      L.conv1d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [12, 3] } as never),
      L.maxPooling1d({ poolSize: 2 } as never),
      L.conv1d({ filters: 3, kernelSize: 2, strides: 2, activation: 'tanh' } as never),
      L.averagePooling1d({ poolSize: 2, strides: 1 } as never),
      L.globalAveragePooling1d({}),
    ];
    const r = await fitParity(sequential({ layers: build(layers) as never }), tfl.sequential({ layers: build(tfl.layers) as never }), [4, 12, 3]);
    expect(r.loss).toBeLessThanOrEqual(1e-4);
    expect(r.weights).toBeLessThanOrEqual(1e-4);
    expect(r.losses[2]!).toBeLessThan(r.losses[0]!);
  });

  it('output shapes, config round trip, errors', () => {
    expect(conv1d({ filters: 5, kernelSize: 3, padding: 'causal', dilationRate: 2 }).apply(input({ shape: [10, 4] })).shape).toEqual([null, 10, 5]);
    expect(conv1d({ filters: 5, kernelSize: 3, strides: 2 }).apply(input({ shape: [10, 4] })).shape).toEqual([null, 4, 5]);
    const l = conv1d({ filters: 2, kernelSize: [3], strides: 2, padding: 'same', activation: 'relu' });
    l.apply(randomTensor([1, 6, 2], 1));
    const cfg = expectConfigRoundTrip(l, tfl.layers.conv1d({ filters: 2, kernelSize: 3 }));
    expect(cfg).toMatchObject({ kernelSize: [3], strides: [2], dilationRate: [1], padding: 'same' });
    expect(() => conv1d({ filters: 2, kernelSize: 3, name: 'c' }).apply(randomTensor([2, 5, 5, 1], 1))).toThrow("Conv1D 'c': expected a 3-D input [batch, steps, channels], got f32[2,5,5,1]");
    expect(() => conv1d({ filters: 2, kernelSize: 5, name: 'c' }).apply(randomTensor([1, 3, 1], 1))).toThrow("Conv1D 'c': input f32[1,3,1] is shorter than the kernel of 5 (dilation 1) with 'valid' padding");
    expect(() => conv1d({ filters: 2, kernelSize: 3, padding: 'full' as 'same', name: 'c' })).toThrow(`Conv1D 'c': padding must be 'same', 'valid' or 'causal', got "full"`);
    expect(() => conv1d({ filters: 2, kernelSize: 3, strides: 2, dilationRate: 2, name: 'c' })).toThrow("Conv1D 'c': strides 2 and dilationRate 2 cannot both exceed 1");
    expect(() => conv1d({ filters: 2, kernelSise: 3, name: 'c' } as never)).toThrow("Conv1D 'c': unknown argument 'kernelSise' (did you mean 'kernelSize'?)");
  });
});
