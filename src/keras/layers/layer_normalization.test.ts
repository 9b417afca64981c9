/**
 * LayerNormalization against tfjs-layers with the same gamma and beta: predictions and gradients
 * (input, gamma, beta) over one axis and several, without center or scale; a tfjs-saved model;
 * the compiled artifact; config round trip and errors.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { input } from '../engine/input.js';
import { randomTensor, useCpuBackend } from '../test_util.js';
import { ops } from '../backend.js';
import { getMask, setMask } from '../engine/layer.js';
import { elu } from './elu.js';
import { groupNormalization } from './group_normalization.js';
import { leakyReLU } from './leaky_relu.js';
import { prelu } from './prelu.js';
import { reLU } from './relu.js';
import { thresholdedReLU } from './thresholded_relu.js';
import { layerNormalization, type LayerNormalizationArgs } from './layer_normalization.js';
import { compiledDiff, cudaAssembles, expectConfigRoundTrip, fitParity, gradientDiffs, hasPtxas, predictionDiff, tfjsSavedModelDiff, type LayerCase } from './layer_testkit.js';
import { softmax } from './softmax.js';
import { sequential } from '../engine/sequential.js';
import * as layers from './index.js';

beforeAll(useCpuBackend);

const twin = (args: LayerNormalizationArgs) => () => tfl.layers.layerNormalization(args as never);

/** Keras's formula on tfjs-core, weights in getWeights order (gamma, then beta, where present); last axis only. */
const formula = (args: LayerNormalizationArgs) => (x: tf.Tensor, ws: tf.Tensor[]): tf.Tensor => {
  const { mean, variance } = tf.moments(x, -1, true);
  let y = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, args.epsilon ?? 1e-3)));
  let i = 0;
  if (args.scale !== false) y = tf.mul(y, ws[i++]!);
  if (args.center !== false) y = tf.add(y, ws[i]!);
  return y;
};

describe('LayerNormalization', () => {
  const cases: [string, LayerNormalizationArgs, number[]][] = [
    ['last axis', {}, [3, 4, 6]],
    ['axes [1, 2], epsilon 1e-5', { axis: [1, 2], epsilon: 1e-5 }, [2, 3, 4, 5]],
    ['axis 1 of a rank-3 input', { axis: 1 }, [2, 5, 3]],
    ['no center', { center: false }, [4, 7]],
    ['no scale', { scale: false }, [4, 7]],
    ['neither', { center: false, scale: false }, [2, 3, 8]],
  ];
  for (const [what, args, shape] of cases) {
    const c: LayerCase = { kiln: () => layerNormalization(args), tfjs: twin(args), input: shape, range: 2 };
    // tfjs-layers 4.22 cannot differentiate the layer without gamma or beta (its batchNorm gradient
    // reads both): there the gradients' oracle is the formula on tfjs-core.
    const partial = args.center === false || args.scale === false;
    const g0: LayerCase = partial ? { ...c, tfjs: undefined, oracle: formula(args) } : c;
    it(`${what}: predictions${partial ? '' : ' and gradients (input, gamma, beta)'} match tfjs-layers${partial ? ', gradients the formula' : ''}; compiled equals the interpreter`, async () => {
      expect(predictionDiff(c)).toBeLessThanOrEqual(1e-5);
      const g = gradientDiffs(g0);
      expect(g.input).toBeLessThanOrEqual(1e-4);
      expect(g.weights.length).toBe((args.center === false ? 0 : 1) + (args.scale === false ? 0 : 1));
      for (const d of g.weights) expect(d).toBeLessThanOrEqual(1e-4);
      expect(await compiledDiff(c)).toBeLessThanOrEqual(1e-5);
    });
  }

  it('weights: gamma then beta, with the sizes of the normalized axes', () => {
    const l = layerNormalization({ axis: [-1, 1], name: 'ln' });
    l.apply(input({ shape: [3, 4, 5] }));
    expect(l.weights.map((w) => [w.name, w.value.shape])).toEqual([['ln/gamma', [5, 3]], ['ln/beta', [5, 3]]]);
  });

  it('a tfjs-layers-saved model loads with equal predictions', async () => {
    expect(await tfjsSavedModelDiff({ kiln: () => layerNormalization(), tfjs: twin({ axis: [1, 2], epsilon: 0.01 }), input: [2, 3, 4, 2], range: 2 })).toBeLessThanOrEqual(1e-5);
  });

  it('trains with fit (the compiled step) as tfjs-layers does, with PReLU, LeakyReLU, ELU and Softmax in the stack', async () => {
    const build = (L: typeof tfl.layers | typeof layers) => [
      L.dense({ units: 6, inputShape: [5] } as never),
      L.layerNormalization({ epsilon: 1e-5 } as never),
      L.prelu({} as never),
      L.dense({ units: 6 } as never),
      L.leakyReLU({ alpha: 0.2 } as never),
      L.layerNormalization({ center: true } as never),
      L.elu({} as never),
      L.dense({ units: 4 } as never),
      L.softmax({ axis: -1 } as never),
    ];
    const r = await fitParity(sequential({ layers: build(layers) as never }), tfl.sequential({ layers: build(tfl.layers) as never }), [8, 5]);
    expect(r.loss).toBeLessThanOrEqual(1e-4);
    expect(r.weights).toBeLessThanOrEqual(1e-4);
    expect(r.losses[2]!).toBeLessThan(r.losses[0]!);
  });

  it.skipIf(!hasPtxas)('LayerNormalization, GroupNormalization, PReLU and Softmax compile for the CUDA target (sm_80) to PTX that ptxas assembles', () => {
    const cases: LayerCase[] = [
      { kiln: () => layerNormalization({ axis: [1, 2] }), input: [2, 3, 8] },
      { kiln: () => groupNormalization({ groups: 4 }), input: [2, 5, 8] },
      { kiln: () => prelu({ sharedAxes: [1] }), input: [2, 5, 8] },
      { kiln: () => softmax({ axis: 1 }), input: [2, 5, 8] },
    ];
    for (const c of cases) {
      const r = cudaAssembles(c);
      expect(r.ok, r.log).toBe(true);
      expect(r.kernels).toBeGreaterThan(0);
    }
  });

  it('passes an input mask through (Keras: supports_masking); so do the activation layers', () => {
    const x = ops.add(randomTensor([2, 3, 4], 3), 0);
    const mask = ops.greater(randomTensor([2, 3], 4), 0);
    setMask(x, mask);
    expect(getMask(layerNormalization().apply(x))).toBe(mask);
    for (const l of [leakyReLU(), prelu(), elu(), thresholdedReLU(), reLU({ maxValue: 1 }), groupNormalization({ groups: 2 })]) expect(getMask(l.apply(x)), l.className).toBe(mask);
  });

  it('config round trip and errors', () => {
    const l = layerNormalization({ axis: [1, 2], epsilon: 1e-6, center: false, gammaInitializer: 'heNormal', gammaRegularizer: 'l2', gammaConstraint: 'nonNeg' });
    expectConfigRoundTrip(l, tfl.layers.layerNormalization({ axis: [1, 2] }));
    expect(() => layerNormalization({ rmsScaling: true, name: 'r' })).toThrow("LayerNormalization 'r': rmsScaling true is not supported (Kiln supports false)");
    expect(() => layerNormalization({ axis: [1, 1], name: 'a' }).apply(input({ shape: [3, 4] }))).toThrow("LayerNormalization 'a': axis [1,1] does not name distinct axes of input f32[?,3,4]");
    expect(() => layerNormalization({ axis: 1, name: 'b' }).apply(input({ shape: [null, 4] }))).toThrow("LayerNormalization 'b': dimension 1 (a normalized axis) must be known, got input f32[?,?,4]");
    expect(() => layerNormalization({ epsilon: 0, name: 'c' })).toThrow("LayerNormalization 'c': epsilon must be positive, got 0");
    const built = layerNormalization({ name: 'd' });
    built.apply(randomTensor([2, 3], 1));
    expect(() => built.apply(randomTensor([2, 4], 1))).toThrow("LayerNormalization 'd': expected sizes [3] on axis -1, got input f32[2,4]");
  });
});
