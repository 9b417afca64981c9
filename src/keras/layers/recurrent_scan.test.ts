/**
 * The scan form of the recurrence (recurrent.ts's `recurrenceLoop.mode = 'scan'`: one
 * `kiln.scan` region instead of the unrolled steps) against the tfjs-layers twins and the
 * unrolled form: traced predictions (compiled), gradients, masks, goBackwards, and a compiled
 * training step.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { maxAbsDiff, randomTensor, randomizeWeights, toTf, useCpuBackend } from '../test_util.js';
import { recurrenceLoop } from './recurrent.js';
import { lstm } from './lstm.js';
import { gru } from './gru.js';
import { embedding } from './embedding.js';
import { dense } from './dense.js';
import { sequential } from '../engine/sequential.js';
import { valueAndGrad } from '../../frontend/grad.js';
import { toFunc } from '../../compile.js';
import { literal } from '../../ir/literal.js';
import { printFunc } from '../../ir/print.js';
import { ops, Tensor } from '../backend.js';
import { sgd } from '../optimizers/sgd.js';

beforeAll(async () => {
  await useCpuBackend();
  recurrenceLoop.mode = 'scan';
});
afterAll(() => {
  recurrenceLoop.mode = 'unroll';
});
const TF = { recurrentInitializer: 'zeros' } as const;

describe('recurrence as kiln.scan', () => {
  it('a model with LSTM (masked, Embedding maskZero) and backward GRU: compiled predictions and gradients match tfjs-layers', () => {
    const m = sequential({ layers: [
      embedding({ inputDim: 6, outputDim: 3, maskZero: true, inputShape: [5] }),
      lstm({ units: 4, returnSequences: true }),
      gru({ units: 3, goBackwards: true, returnSequences: true }),
    ] });
    randomizeWeights(m, 3, -0.6, 0.6);
    const t = tfl.sequential({ layers: [
      tfl.layers.embedding({ inputDim: 6, outputDim: 3, maskZero: true, inputShape: [5] }),
      tfl.layers.lstm({ units: 4, returnSequences: true, ...TF }),
      tfl.layers.gru({ units: 3, goBackwards: true, returnSequences: true, ...TF }),
    ] });
    t.setWeights(m.getWeights().map(toTf));
    const x = Tensor.concrete(literal([2, 5], 'f32', [1, 2, 3, 0, 0, 5, 4, 3, 2, 1]));
    expect(printFunc(toFunc((xs: Tensor) => m.apply(xs) as Tensor, { inputShapes: [[2, 5]] }))).toMatch(/scan/);
    expect(maxAbsDiff(m.predict(x) as Tensor, t.predict(toTf(x)) as tf.Tensor)).toBeLessThanOrEqual(1e-5);
    const r = randomTensor([2, 5, 3], 4);
    const g = valueAndGrad((xs: Tensor) => ops.sum(ops.mul(m.apply(xs) as Tensor, r)), { argnums: [], variables: m.trainableWeights })(x);
    const vars = t.trainableWeights.map((w) => w.read() as tf.Variable);
    const tg = tf.variableGrads(() => tf.sum(tf.mul(t.apply(toTf(x)) as tf.Tensor, toTf(r))) as tf.Scalar, vars);
    vars.forEach((v, i) => expect(maxAbsDiff(g.variableGrads[i]!, tg.grads[v.name]!), v.name).toBeLessThanOrEqual(1e-4));
  });

  it('a compiled fit step with the scan follows tfjs-layers', async () => {
    const build = () => sequential({ layers: [lstm({ units: 4, returnSequences: true, inputShape: [6, 2] }), dense({ units: 1 })] });
    const m = build();
    randomizeWeights(m, 8, -0.5, 0.5);
    const t = tfl.sequential({ layers: [tfl.layers.lstm({ units: 4, returnSequences: true, inputShape: [6, 2], ...TF }), tfl.layers.dense({ units: 1 })] });
    t.setWeights(m.getWeights().map(toTf));
    const x = randomTensor([8, 6, 2], 9), y = randomTensor([8, 6, 1], 10);
    m.compile({ optimizer: sgd({ learningRate: 0.5 }), loss: 'meanSquaredError' });
    t.compile({ optimizer: tf.train.sgd(0.5), loss: 'meanSquaredError' });
    const losses: number[] = [];
    await m.fit(x, y, { epochs: 3, batchSize: 8, shuffle: false, verbose: 0, callbacks: [{ onBatchEnd: (_b, l) => { losses.push(l['loss']!); } }] });
    for (let s = 0; s < 3; s++) {
      const ref = (await t.trainOnBatch(toTf(x), toTf(y))) as number;
      expect(Math.abs(losses[s]! - ref) / ref).toBeLessThanOrEqual(1e-4);
    }
  });
});
