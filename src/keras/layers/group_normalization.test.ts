/**
 * GroupNormalization (tfjs-layers has none) against a reference written with tfjs-core ops that
 * follows Keras 3's GroupNormalization.call step by step (reshape into groups, moments over all
 * but batch and group, inv * gamma, -mean * inv + beta), with the same weights: predictions and
 * gradients (input, gamma, beta); a Keras-format model file; the compiled artifact; config.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { input } from '../engine/input.js';
import { randomTensor, useCpuBackend } from '../test_util.js';
import { groupNormalization, type GroupNormalizationArgs } from './group_normalization.js';
import { compiledDiff, expectConfigRoundTrip, fitParity, gradientDiffs, predictionDiff, type LayerCase } from './layer_testkit.js';
import { sequential } from '../engine/sequential.js';
import * as layers from './index.js';
import { interpreted, maxDiff, tfjsArtifacts, tfjsPredict } from './parity_testkit.js';
import { loadLayersModel } from '../../index.js';
import type { ModelArtifacts } from '../../frontend/io/formats.js';

beforeAll(useCpuBackend);

/** Keras 3's GroupNormalization on tfjs-core; weights in getWeights order (gamma, beta where present). */
function keras(args: GroupNormalizationArgs) {
  return (x: tf.Tensor, ws: tf.Tensor[]): tf.Tensor => {
    const rank = x.rank;
    const axis = (args.axis ?? -1) < 0 ? (args.axis ?? -1) + rank : args.axis!;
    const channels = x.shape[axis]!;
    const groups = (args.groups ?? 32) === -1 ? channels : args.groups ?? 32;
    const groupShape = [...x.shape];
    groupShape[axis] = channels / groups;
    groupShape.splice(axis, 0, groups);
    const reshaped = tf.reshape(x, groupShape);
    const reductionAxes = Array.from({ length: rank }, (_, i) => i + 1).filter((a) => a !== axis);
    const broadcastShape = new Array<number>(rank).fill(1);
    broadcastShape[axis] = channels / groups;
    broadcastShape.splice(axis, 0, groups);
    const { mean, variance } = tf.moments(reshaped, reductionAxes, true);
    let inv = tf.rsqrt(tf.add(variance, args.epsilon ?? 1e-3));
    let i = 0;
    if (args.scale !== false) inv = tf.mul(inv, tf.reshape(ws[i++]!, broadcastShape));
    let res = tf.mul(tf.neg(mean), inv);
    if (args.center !== false) res = tf.add(res, tf.reshape(ws[i]!, broadcastShape));
    return tf.reshape(tf.add(tf.mul(reshaped, inv), res), x.shape);
  };
}

describe('GroupNormalization', () => {
  const cases: [string, GroupNormalizationArgs, number[]][] = [
    ['2 groups, NHWC', { groups: 2 }, [2, 4, 3, 6]],
    ['groups -1 (instance normalization)', { groups: -1 }, [2, 5, 4]],
    ['1 group', { groups: 1, epsilon: 1e-5 }, [3, 8]],
    ['axis 1, 3 groups', { groups: 3, axis: 1 }, [2, 6, 5]],
    ['no center', { groups: 2, center: false }, [2, 3, 4]],
    ['no scale', { groups: 2, scale: false }, [2, 3, 4]],
  ];
  for (const [what, args, shape] of cases) {
    const c: LayerCase = { kiln: () => groupNormalization(args), oracle: keras(args), input: shape, range: 2 };
    it(`${what}: predictions and gradients (input, gamma, beta) match Keras's formula; compiled equals the interpreter`, async () => {
      expect(predictionDiff(c)).toBeLessThanOrEqual(1e-5);
      const g = gradientDiffs(c);
      expect(g.input).toBeLessThanOrEqual(1e-4);
      expect(g.weights.length).toBe((args.center === false ? 0 : 1) + (args.scale === false ? 0 : 1));
      for (const d of g.weights) expect(d).toBeLessThanOrEqual(1e-4);
      expect(await compiledDiff(c)).toBeLessThanOrEqual(1e-5);
    });
  }

  it('loads from a Keras-format model file (a tfjs-saved file whose LayerNormalization is renamed GroupNormalization, groups 2)', async () => {
    // gamma and beta of a last-axis LayerNormalization have GroupNormalization's shapes, so the weights load as they are.
    const tm = tfl.sequential({ layers: [tfl.layers.dense({ units: 6, inputShape: [4] }), tfl.layers.layerNormalization({ epsilon: 0.01 })] });
    tm.setWeights(tm.weights.map((w, i) => randomTensor(w.shape as number[], 60 + i, -0.8, 0.8)).map((t) => tf.tensor(t.dataSync(), t.shape)));
    const artifacts = await tfjsArtifacts(tm);
    const topo = JSON.stringify(artifacts.modelTopology).replace('"class_name":"LayerNormalization","config":{', '"class_name":"GroupNormalization","config":{"groups":2,');
    artifacts.modelTopology = JSON.parse(topo) as object;
    const km = await loadLayersModel(artifacts as unknown as ModelArtifacts);
    expect(km.layers[1]!.className).toBe('GroupNormalization');
    const x = randomTensor([3, 4], 70);
    const h = tfl.model({ inputs: tm.inputs, outputs: tm.layers[0]!.output as tfl.SymbolicTensor });
    const [gamma, beta] = tm.layers[1]!.getWeights();
    const want = keras({ groups: 2, epsilon: 0.01 })(tf.tensor(tfjsPredict(h, [x])[0]!, [3, 6]), [gamma!, beta!]);
    expect(maxDiff(interpreted(km, [x]), [want.dataSync() as Float32Array])).toBeLessThanOrEqual(1e-5);
  });

  it('trains with fit (the compiled step): one group over features is LayerNormalization, so tfjs-layers with that is the twin', async () => {
    const build = (norm: (a: object) => unknown, L: typeof tfl.layers | typeof layers) => [
      L.dense({ units: 6, inputShape: [5] } as never), norm({ epsilon: 1e-4 }), L.dense({ units: 3, activation: 'tanh' } as never),
    ];
    const km = sequential({ layers: build((a) => groupNormalization({ ...a, groups: 1 }), layers) as never });
    const tm = tfl.sequential({ layers: build((a) => tfl.layers.layerNormalization(a), tfl.layers) as never });
    const r = await fitParity(km, tm, [8, 5]);
    expect(r.loss).toBeLessThanOrEqual(1e-4);
    expect(r.weights).toBeLessThanOrEqual(1e-4);
    expect(r.losses[2]!).toBeLessThan(r.losses[0]!);
  });

  it('config round trip and errors', () => {
    expectConfigRoundTrip(groupNormalization({ groups: 4, axis: 1, epsilon: 1e-5, center: false, gammaRegularizer: 'l2', betaConstraint: 'nonNeg' }));
    expect(groupNormalization().getConfig().groups).toBe(32);
    expect(() => groupNormalization({ groups: 4, name: 'g1' }).apply(input({ shape: [6] }))).toThrow("GroupNormalization 'g1': groups 4 must divide the 6 channels of input f32[?,6]");
    expect(() => groupNormalization({ name: 'g2' }).apply(input({ shape: [6] }))).toThrow("GroupNormalization 'g2': groups 32 is more than the 6 channels of input f32[?,6]");
    expect(() => groupNormalization({ groups: 0, name: 'g3' })).toThrow("GroupNormalization 'g3': groups must be a positive integer or -1 (one per channel), got 0");
    expect(() => groupNormalization({ groups: 2, axis: 0, name: 'g4' }).apply(input({ shape: [6] }))).toThrow("GroupNormalization 'g4': axis 0 is out of range for input f32[?,6] (the batch axis cannot be normalized)");
    expect(() => groupNormalization({ groups: 2, group: 3, name: 'g5' } as never)).toThrow("GroupNormalization 'g5': unknown argument 'group' (did you mean 'groups'?)");
  });
});
