/**
 * PReLU against tfjs-layers with the same alpha: predictions and gradients (input and alpha),
 * with and without sharedAxes; an SGD step with alpha's regularizer and constraint lands where
 * tfjs-layers' does; a tfjs-saved model; the compiled artifact; config round trip and errors.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { input } from '../engine/input.js';
import { sequential } from '../engine/sequential.js';
import { sgd } from '../optimizers/index.js';
import { tensorFromData } from '../backend.js';
import { randomData, randomTensor, useCpuBackend } from '../test_util.js';
import { dense } from './dense.js';
import { prelu, type PReLUArgs } from './prelu.js';
import { compiledDiff, expectConfigRoundTrip, gradientDiffs, predictionDiff, tfjsSavedModelDiff, type LayerCase } from './layer_testkit.js';

beforeAll(useCpuBackend);

const twin = (args: PReLUArgs) => () => tfl.layers.prelu(args as never);

describe('PReLU', () => {
  const cases: [string, PReLUArgs, number[]][] = [
    ['one slope per element', {}, [3, 4, 5]],
    ['sharedAxes [1, 2] (one slope per channel)', { sharedAxes: [1, 2] }, [2, 3, 4, 5]],
    ['sharedAxes 1', { sharedAxes: 1 }, [2, 6, 3]],
  ];
  for (const [what, args, shape] of cases) {
    const c: LayerCase = { kiln: () => prelu(args), tfjs: twin(args), input: shape, range: 2 };
    it(`${what}: predictions and gradients (input, alpha) match tfjs-layers; compiled equals the interpreter`, async () => {
      expect(predictionDiff(c)).toBeLessThanOrEqual(1e-6);
      const g = gradientDiffs(c);
      expect(g.input).toBeLessThanOrEqual(1e-5);
      expect(g.weights.length).toBe(1);
      expect(g.weights[0]).toBeLessThanOrEqual(1e-5);
      expect(await compiledDiff(c)).toBeLessThanOrEqual(1e-6);
    });
  }

  it('alpha has the input shape without batch, 1 on shared axes', () => {
    const l = prelu({ sharedAxes: [1, 2], name: 'pr' });
    l.apply(input({ shape: [7, 8, 3] }));
    expect(l.weights.map((w) => [w.name, w.value.shape])).toEqual([['pr/alpha', [1, 1, 3]]]);
    // Shared axes may be unknown; the others must be known.
    prelu({ sharedAxes: 1 }).apply(input({ shape: [null, 4] }));
    expect(() => prelu({ name: 'pr2' }).apply(input({ shape: [null, 4] }))).toThrow("PReLU 'pr2': dimension 1 must be known (or listed in sharedAxes), got input f32[?,?,4]");
  });

  it('a tfjs-layers-saved model loads with equal predictions', async () => {
    expect(await tfjsSavedModelDiff({ kiln: () => prelu(), tfjs: twin({ sharedAxes: [1, 2] }), input: [2, 4, 4, 3], range: 2 })).toBeLessThanOrEqual(1e-6);
  });

  it('an SGD step with alpha regularizer and constraint matches tfjs-layers', async () => {
    const args = { alphaRegularizer: 'l1l2', alphaConstraint: 'nonNeg' } as const;
    const tm = tfl.sequential({ layers: [tfl.layers.dense({ units: 4, inputShape: [6] }), tfl.layers.prelu(args as never)] });
    const km = sequential({ layers: [dense({ units: 4, inputShape: [6] }), prelu(args)] });
    // alpha starts >= 0: tfjs-layers' setWeights projects through the constraint, Kiln's (as Keras's) does not.
    const w0 = km.weights.map((w, i) => randomData(w.value.shape.reduce((a, b) => a * b, 1), 50 + i, i === 2 ? 0 : -0.8, i === 2 ? 0.1 : 0.8));
    km.setWeights(w0.map((d, i) => tensorFromData(d, km.weights[i]!.value.shape)));
    tm.setWeights(w0.map((d, i) => tf.tensor(d, km.weights[i]!.value.shape)));
    // High targets pull alpha down where the pre-activation is negative, so the constraint acts.
    const [x, y] = [randomData(48, 6, -2, 2), randomData(32, 7, 2, 4)];
    tm.compile({ optimizer: tf.train.sgd(0.5), loss: 'meanSquaredError' });
    km.compile({ optimizer: sgd({ learningRate: 0.5 }), loss: 'meanSquaredError' });
    const fitArgs = { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 } as const;
    await tm.fit(tf.tensor(x, [8, 6]), tf.tensor(y, [8, 4]), fitArgs);
    await km.fit(tensorFromData(x, [8, 6]), tensorFromData(y, [8, 4]), fitArgs);
    // tfjs-layers' fit adds the penalty but does not project (only LayerVariable.write does):
    // the oracle applies tfjs's own constraint after its step, Keras's semantics for one step.
    const tAlpha = tm.layers[1]!.getWeights()[0]!;
    const constraint = (tm.layers[1] as unknown as { alphaConstraint: { apply(w: tf.Tensor): tf.Tensor } }).alphaConstraint;
    const want = constraint.apply(tAlpha).dataSync();
    const got = km.layers[1]!.getWeights()[0]!.dataSync();
    want.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
    expect(Array.from(got).some((v, i) => Math.abs(v - w0[2]![i]!) > 1e-3), 'alpha moved').toBe(true);
    expect(Array.from(got).some((v) => v === 0) && Array.from(tAlpha.dataSync()).some((v) => v < 0), 'the constraint acted').toBe(true);
  });

  it('config round trip and errors', () => {
    const l = prelu({ sharedAxes: [1, 2], alphaInitializer: 'ones', alphaRegularizer: 'l2', alphaConstraint: 'nonNeg' });
    expectConfigRoundTrip(l, tfl.layers.prelu({ sharedAxes: [1, 2] }));
    expect(l.getConfig().sharedAxes).toEqual([1, 2]);
    expect(prelu({ sharedAxes: 2 }).getConfig().sharedAxes).toEqual([2]);
    expect(() => prelu({ sharedAxes: [0], name: 'p0' })).toThrow("PReLU 'p0': sharedAxes must be an axis or a list of axes >= 1 (axis 0 is the batch), got [0]");
    expect(() => prelu({ sharedAxes: [3], name: 'p3' }).apply(input({ shape: [4, 4] }))).toThrow("PReLU 'p3': sharedAxes [3]: axis 3 is out of range for input f32[?,4,4]");
    expect(() => prelu({ alphaInitialiser: 'ones', name: 'p4' } as never)).toThrow("PReLU 'p4': unknown argument 'alphaInitialiser' (did you mean 'alphaInitializer'?)");
    const built = prelu({ name: 'p5' });
    built.apply(randomTensor([2, 3], 1));
    expect(() => built.apply(randomTensor([2, 4], 1))).toThrow("PReLU 'p5': alpha has shape [3], which does not fit input f32[2,4]");
  });
});
