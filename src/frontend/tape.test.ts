/**
 * GradientTape and variableGrads: a tfjs custom training loop and its Kiln port, side by side on
 * the same weights and batches, give the same losses for 10 steps (tfjs-layers + tfjs-core
 * optimizers as the oracle); the tape's gradients equal tf.grads'; the tape's rules (targets,
 * persistence, unread variables, variable updates inside a recording, use inside a trace).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { sequential } from '../keras/engine/sequential.js';
import { dense } from '../keras/layers/dense.js';
import { meanSquaredError } from '../keras/losses.js';
import { adam } from '../keras/optimizers/adam.js';
import { sgd } from '../keras/optimizers/sgd.js';
import { copyWeights, randomTensor, toTf } from '../keras/test_util.js';
import * as ops from './ops.js';
import { GradientTape, variableGrads } from './tape.js';
import type { Tensor } from './tensor.js';
import { fn } from './tracing.js';
import { useCpu } from './test_util.js';
import { variable, type Variable } from './variable.js';

beforeAll(() => useCpu());

const STEPS = 10;

/** The same 4 -> 8 (relu) -> 3 MLP in Kiln and tfjs-layers, with Kiln's initial weights copied over. */
function twins(seed: number) {
  const model = sequential([dense({ units: 8, activation: 'relu', inputShape: [4] }), dense({ units: 3 })]);
  const tfModel = tfl.sequential({ layers: [tfl.layers.dense({ units: 8, activation: 'relu', inputShape: [4] }), tfl.layers.dense({ units: 3 })] });
  model.setWeights(model.weights.map((w, i) => randomTensor(w.shape, seed + i, -0.5, 0.5)));
  copyWeights(model, tfModel);
  const batches = Array.from({ length: STEPS }, (_, i) => ({ x: randomTensor([6, 4], 100 + i), y: randomTensor([6, 3], 200 + i) }));
  return { model, tfModel, batches };
}

/** The tfjs custom loop (the original): variableGrads + applyGradients. */
function tfjsLoop(tfModel: tfl.Sequential, batches: { x: Tensor; y: Tensor }[]): number[] {
  const opt = tf.train.adam(0.02);
  const losses = batches.map(({ x, y }) => {
    const xt = toTf(x), yt = toTf(y);
    const { value, grads } = tf.variableGrads(() => tf.losses.meanSquaredError(yt, tfModel.apply(xt) as tf.Tensor) as tf.Scalar);
    opt.applyGradients(grads as unknown as Parameters<typeof opt.applyGradients>[0]); // tfjs's own typing quirk: grads is a NamedTensorMap
    return value.dataSync()[0]!;
  });
  opt.dispose();
  return losses;
}

describe('a tfjs custom training loop ported to Kiln', () => {
  it('variableGrads + applyGradients: the same losses for 10 steps, then the same weights', () => {
    const { model, tfModel, batches } = twins(1);
    const expected = tfjsLoop(tfModel, batches);
    // The port, line by line: tf -> kiln, tf.train.adam -> kiln.optimizers.adam (tfjs's epsilon placement).
    const opt = adam({ learningRate: 0.02, epsilonMode: 'tfjs' });
    const mse = meanSquaredError();
    const losses = batches.map(({ x, y }) => {
      const { value, grads } = variableGrads(() => mse(y, model.apply(x)));
      opt.applyGradients(grads);
      return value.item();
    });
    losses.forEach((l, i) => expect(l, `step ${i}`).toBeCloseTo(expected[i]!, 5));
    const tfWeights = tfModel.getWeights();
    model.getWeights().forEach((w, i) => Array.from(w.dataSync()).forEach((v, k) => expect(v).toBeCloseTo(tfWeights[i]!.dataSync()[k]!, 5)));
  });

  it('GradientTape (Keras style) and optimizer.minimize give the same losses as the tfjs loop', () => {
    const { model, tfModel, batches } = twins(2);
    const expected = tfjsLoop(tfModel, batches);
    const { model: model2 } = twins(2);
    const opt = adam({ learningRate: 0.02, epsilonMode: 'tfjs' });
    const opt2 = adam({ learningRate: 0.02, epsilonMode: 'tfjs' });
    const mse = meanSquaredError();
    batches.forEach(({ x, y }, i) => {
      const tape = new GradientTape();
      const loss = tape.record(() => mse(y, model.apply(x, { training: true })));
      const grads = tape.gradient(loss, model.trainableWeights);
      opt.applyGradients(grads.map((g, k) => [g, model.trainableWeights[k]!] as const));
      expect(loss.item(), `tape step ${i}`).toBeCloseTo(expected[i]!, 5);
      const cost = opt2.minimize(() => mse(y, model2.apply(x)));
      expect(cost.item(), `minimize step ${i}`).toBeCloseTo(expected[i]!, 5);
    });
  });
});

describe('GradientTape', () => {
  it("gradients equal tf.grads' and an unread variable gets zeros", () => {
    const a = variable(randomTensor([3, 2], 5), { name: 'tape_a' });
    const b = variable(randomTensor([2], 6), { name: 'tape_b' });
    const unused = variable(randomTensor([4], 7), { name: 'tape_unused' });
    const x = randomTensor([5, 3], 8);
    const tape = new GradientTape({ persistent: true });
    const out = tape.record(() => ({ loss: ops.sum(ops.tanh(ops.add(ops.matmul(x, a.read()), b.read()))), other: ops.sum(b.read()) }));
    const [ga, gb, gu] = tape.gradient(out.loss, [a, b, unused]);
    const [ta, tb] = tf.grads((av: tf.Tensor, bv: tf.Tensor) => tf.sum(tf.tanh(tf.add(tf.matMul(toTf(x), av), bv))))([toTf(a.value), toTf(b.value)]);
    Array.from(ga!.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(ta!.dataSync()[i]!, 5));
    Array.from(gb!.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(tb!.dataSync()[i]!, 5));
    expect(Array.from(gu!.dataSync())).toEqual([0, 0, 0, 0]);
    expect(out.loss.isSymbolic).toBe(false);
    // A persistent tape answers again, for another of the recorded results.
    expect(Array.from(tape.gradient(out.other, b).dataSync())).toEqual([1, 1]);
    expect(tape.watchedVariables).toEqual([a, b]);
  });

  it('assignments inside the recording take effect (e.g. moving statistics) and differentiate through the read value', () => {
    const v = variable(ops.tensor([2, 3]), { name: 'tape_stat' });
    const tape = new GradientTape();
    const loss = tape.record(() => {
      const r = v.read();
      v.assign(ops.mul(r, 0.5));
      return ops.sum(ops.square(r));
    });
    expect(Array.from(v.value.dataSync())).toEqual([1, 1.5]);
    expect(loss.item()).toBe(13);
    expect(Array.from(tape.gradient(loss, v).dataSync())).toEqual([4, 6]); // d/dr sum(r^2) at the value read
  });

  it('refuses a target it did not record, a second gradient of a non-persistent tape, and non-variable sources', () => {
    const v = variable(ops.tensor([1, 2]), { name: 'tape_err' });
    const tape = new GradientTape();
    const loss = tape.record(() => ops.sum(v.read()));
    expect(() => tape.gradient(ops.sum(v.value), [v])).toThrow('was not returned by this tape');
    expect(() => tape.gradient(loss, [v.value as unknown as Variable])).toThrow('sources[0] must be a kiln Variable');
    tape.gradient(loss, [v]);
    expect(() => tape.gradient(loss, [v])).toThrow('a non-persistent tape gives one set');
    expect(() => new GradientTape({ persitent: true } as never)).toThrow("unknown option 'persitent'");
    expect(() => variableGrads(() => ops.tensor([1, 2]))).toThrow('the result of f() must be a scalar, got f32[2]');
    expect(() => variableGrads(() => ops.sum(ops.tensor([1, 2])))).toThrow('f() does not read any trainable variable');
  });

  it('inside kiln.fn a tape-based SGD step is one traced program that matches the eager steps', () => {
    const init = [randomTensor([3, 2], 11), randomTensor([2], 12)];
    const data = Array.from({ length: 4 }, (_, i) => randomTensor([4, 3], 20 + i));
    const loss = (x: Tensor, w: Variable[]) => ops.mean(ops.square(ops.add(ops.matmul(x, w[0]!.read()), w[1]!.read())));
    const eagerVars = init.map((t, i) => variable(t, { name: `tape_e${i}` }));
    const eagerOpt = sgd({ learningRate: 0.3 });
    const eager = data.map((x) => {
      const tape = new GradientTape();
      const l = tape.record(() => loss(x, eagerVars));
      eagerOpt.applyGradients({ grads: tape.gradient(l, eagerVars), vars: eagerVars });
      return l.item();
    });
    const vars = init.map((t, i) => variable(t, { name: `tape_t${i}` }));
    const opt = sgd({ learningRate: 0.3 });
    opt.build(vars);
    const step = fn((x: Tensor) => {
      const tape = new GradientTape();
      const l = tape.record(() => loss(x, vars));
      opt.applyGradients({ grads: tape.gradient(l, vars), vars });
      return l;
    }, { variables: [...vars, ...opt.variables] });
    const traced = data.map((x) => step(x).item());
    expect(step.traceCount).toBe(1);
    traced.forEach((l, i) => expect(l).toBeCloseTo(eager[i]!, 5));
    vars.forEach((v, i) => Array.from(v.value.dataSync()).forEach((x, k) => expect(x).toBeCloseTo(eagerVars[i]!.value.dataSync()[k]!, 5)));
  });
});
