import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { maxAbsDiff, randomTensor, toTf, useCpuBackend } from '../test_util.js';
import { Dropout, dropout, type DropoutCallArgs } from './dropout.js';
import { input } from '../engine/input.js';
import { fn, ops, Tensor } from '../backend.js';
import { grad } from '../../frontend/grad.js';
import { trace } from '../../frontend/tracing.js';
import { tensorType } from '../../ir/types.js';
import { compiledProgramCount, useCompiledExecution } from '../../exec.js';
import * as tf from '@tensorflow/tfjs-core';
import { randomizeTfjs, tfjsSavedToKiln } from './recurrent_testkit.js';
import { embedding } from './embedding.js';
import { getMask } from '../engine/layer.js';
import { literal } from '../../ir/literal.js';

const step = (n: number): Tensor => ops.scalar(n, 'i32');
/** Training call args with a step counter (typed: `step` is Dropout's field of CallArgs). */
const training = (s: Tensor): DropoutCallArgs => ({ training: true, step: s });
const ones = (shape: number[]): Tensor => ops.ones(shape);

describe('Dropout', () => {
  it('is the identity at inference', () => {
    const x = randomTensor([3, 5], 1);
    const y = dropout({ rate: 0.5 }).apply(x);
    expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
    expect(Array.from(dropout({ rate: 0.5 }).apply(x, { training: false }).dataSync())).toEqual(Array.from(x.dataSync()));
    expect(dropout({ rate: 0.3 }).apply(input({ shape: [4] })).shape).toEqual([null, 4]);
  });

  it('training: drops about `rate` of the units and scales the rest by 1/(1-rate)', () => {
    const n = 100_000;
    const y = dropout({ rate: 0.3, seed: 11 }).call(ones([100, 1000]), { training: true, step: step(4) }).dataSync();
    let zeros = 0;
    for (let i = 0; i < n; i++) {
      if (y[i] === 0) zeros++;
      else expect(y[i]).toBeCloseTo(1 / 0.7, 6);
    }
    // Binomial(1e5, 0.3): standard deviation ~0.0014 of the fraction; 0.006 is > 4 sigma.
    expect(Math.abs(zeros / n - 0.3)).toBeLessThan(0.006);
  });

  it('the mask is a function of (seed, step): same pair same mask, another step or seed another mask', () => {
    const x = randomTensor([50, 40], 2, 0.5, 1.5); // no zeros in x: a zero output means dropped
    const run = (seed: number, s: number) => dropout({ rate: 0.5, seed }).call(x, { training: true, step: step(s) }).dataSync();
    const differing = (a: ArrayLike<number>, b: ArrayLike<number>) => {
      let d = 0;
      for (let i = 0; i < a.length; i++) if ((a[i] === 0) !== (b[i] === 0)) d++;
      return d / a.length;
    };
    expect(Array.from(run(7, 3))).toEqual(Array.from(run(7, 3)));
    // Independent masks at rate 0.5 differ at half of the positions.
    expect(differing(run(7, 3), run(7, 4))).toBeGreaterThan(0.4);
    expect(differing(run(7, 3), run(8, 3))).toBeGreaterThan(0.4);
  });

  it('a traced step with a symbolic step counter draws fresh masks per call, equal to eager ones', () => {
    const l = dropout({ rate: 0.4, seed: 5 });
    const x = randomTensor([8, 16], 3, 0.5, 1.5);
    const f = (xs: Tensor, s: Tensor) => l.apply(xs, training(s));
    const { func } = trace(f, [tensorType([8, 16], 'f32'), tensorType([], 'i32')]);
    expect(func.body.some((v) => v.op === 'rng_uniform')).toBe(true);
    useCompiledExecution();
    for (const execution of ['interpreter', 'compiled'] as const) {
      const compiledBefore = compiledProgramCount();
      const g = fn(f, { execution });
      const a = g(x, step(1)).dataSync(), b = g(x, step(2)).dataSync();
      expect(Array.from(a)).toEqual(Array.from(l.call(x, { training: true, step: step(1) }).dataSync()));
      expect(Array.from(b)).toEqual(Array.from(l.call(x, { training: true, step: step(2) }).dataSync()));
      expect(Array.from(a)).not.toEqual(Array.from(b));
      expect(g.traceCount).toBe(1);
      expect(compiledProgramCount() - compiledBefore).toBe(execution === 'compiled' ? 1 : 0);
    }
  });

  it('the gradient flows only through kept units, scaled by 1/(1-rate)', () => {
    const l = dropout({ rate: 0.25, seed: 9 });
    const x = randomTensor([6, 10], 4, 0.5, 1.5);
    const c = randomTensor([6, 10], 5);
    const y = l.call(x, { training: true, step: step(12) }).dataSync();
    const g = grad((xs: Tensor) => ops.sum(ops.mul(l.apply(xs, training(step(12))), c)))(x).dataSync();
    const cd = c.dataSync();
    let dropped = 0;
    for (let i = 0; i < y.length; i++) {
      if (y[i] === 0) dropped++;
      expect(g[i]).toBeCloseTo(y[i] === 0 ? 0 : cd[i]! / 0.75, 5);
    }
    expect(dropped).toBeGreaterThan(0);
  });

  it('noiseShape shares one mask along axes of size 1', () => {
    const y = dropout({ rate: 0.5, seed: 1, noiseShape: [1, null] }).call(ones([30, 64]), { training: true, step: step(0) }).dataSync();
    for (let r = 1; r < 30; r++) for (let c = 0; c < 64; c++) expect(y[r * 64 + c]).toBe(y[c]);
    const col = Array.from(y.subarray(0, 64));
    expect(col.some((v) => v === 0) && col.some((v) => v === 2)).toBe(true);
  });

  it('eagerly without a step, each training call draws a new mask', () => {
    const l = dropout({ rate: 0.5, seed: 3 });
    const a = l.apply(ones([20, 20]), { training: true }).dataSync();
    const b = l.apply(ones([20, 20]), { training: true }).dataSync();
    expect(Array.from(a)).not.toEqual(Array.from(b));
  });

  it('errors: traced without a step, bad step, bad noiseShape, bad rate; config', () => {
    const l = dropout({ rate: 0.5, name: 'dr' });
    expect(() => trace((x: Tensor) => l.apply(x, { training: true }), [tensorType([2, 2], 'f32')]))
      .toThrow("Dropout 'dr': training-mode dropout inside a traced function needs the step counter");
    expect(() => l.call(ones([2, 2]), { training: true, step: ops.scalar(1) }))
      .toThrow("Dropout 'dr': the 'step' call argument must be an i32 scalar tensor, got f32[]");
    expect(() => dropout({ rate: 0.5, name: 'dn', noiseShape: [3, 1] }).call(ones([2, 2]), { training: true, step: step(0) }))
      .toThrow("Dropout 'dn': noiseShape [3,1] does not broadcast to input f32[2,2]");
    expect(() => dropout({ rate: 1 })).toThrow(/rate must be in \[0, 1\)/);
    expect(() => dropout({ rate: 0.1, seed: 1.5 })).toThrow(/seed must be an integer/);
    const c = dropout({ rate: 0.25, seed: 3, noiseShape: [1, null] });
    expect(Dropout.fromConfig(c.getConfig()).getConfig()).toEqual(c.getConfig());
  });
});

describe('Dropout passes masks through (supportsMasking, as tfjs-layers and Keras 3)', () => {
  beforeAll(useCpuBackend);
  const ids = Tensor.concrete(literal([2, 5], 'f32', [1, 2, 0, 0, 0, 6, 5, 4, 3, 0]));

  it('Embedding(maskZero) -> Dropout keeps the mask on its output', () => {
    const y = dropout({ rate: 0.5 }).apply(embedding({ inputDim: 7, outputDim: 3, maskZero: true }).apply(ids));
    expect(Array.from(getMask(y)!.dataSync())).toEqual([1, 1, 0, 0, 0, 1, 1, 1, 1, 0]);
  });

  it('Embedding(maskZero) -> Dropout -> LSTM loaded from tfjs-layers skips the padded steps as tfjs-layers does', async () => {
    const t = tfl.sequential({ layers: [
      tfl.layers.embedding({ inputDim: 7, outputDim: 3, maskZero: true, inputLength: 5 }),
      tfl.layers.dropout({ rate: 0.5 }),
      tfl.layers.lstm({ units: 4, recurrentInitializer: 'zeros' }),
    ] });
    randomizeTfjs(t, 11);
    const { diff, model } = await tfjsSavedToKiln(t, ids);
    expect(diff).toBeLessThanOrEqual(1e-5);
    // The mask matters: the same ids with the padding read as tokens give other outputs.
    const unmasked = tfl.sequential({ layers: [
      tfl.layers.embedding({ inputDim: 7, outputDim: 3, inputLength: 5 }),
      tfl.layers.dropout({ rate: 0.5 }),
      tfl.layers.lstm({ units: 4, recurrentInitializer: 'zeros' }),
    ] });
    unmasked.setWeights(t.getWeights());
    const yk = model.predict(ids) as Tensor;
    expect(maxAbsDiff(yk, unmasked.predict(toTf(ids)) as tf.Tensor)).toBeGreaterThan(1e-3);
  });
});
