import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { maxAbsDiff, randomTensor, randomizeWeights, toTf, useCpuBackend } from '../test_util.js';
import { compareRnn, randomizeTfjs, tfjsSavedToKiln } from './recurrent_testkit.js';
import { RNN, rnn, StackedRNNCells } from './rnn.js';
import { lstm, lstmCell } from './lstm.js';
import { gru, gruCell } from './gru.js';
import { simpleRNN, simpleRNNCell } from './simple_rnn.js';
import { embedding } from './embedding.js';
import { deserializeLayer, getMask } from '../engine/layer.js';
import { input } from '../engine/input.js';
import { model } from '../engine/functional.js';
import { literal } from '../../ir/literal.js';
import { Tensor } from '../backend.js';
import { sequential } from '../engine/sequential.js';
import { sgd } from '../optimizers/sgd.js';
import { trainingProgram } from '../engine/training.js';

beforeAll(useCpuBackend);
const TF = { recurrentInitializer: 'zeros' } as const;

const ids = (rows: number[][]) => Tensor.concrete(literal([rows.length, rows[0]!.length], 'f32', rows.flat()));

describe('RNN wrapper', () => {
  it('stacked cells (LSTM then GRU then SimpleRNN) match tfjs-layers, with gradients', () => {
    const x = randomTensor([2, 5, 3], 31);
    const k = rnn({ cell: [lstmCell({ units: 4 }), gruCell({ units: 3 }), simpleRNNCell({ units: 2 })], returnSequences: true, returnState: true });
    const t = tfl.layers.rnn({ cell: [tfl.layers.lstmCell({ units: 4, ...TF }), tfl.layers.gruCell({ units: 3, ...TF }), tfl.layers.simpleRNNCell({ units: 2, ...TF })], returnSequences: true, returnState: true });
    const d = compareRnn(k, t, [x], { grads: true });
    expect(d.forward).toBeLessThanOrEqual(1e-5);
    expect(d.gradX!).toBeLessThanOrEqual(1e-4);
    for (const g of d.gradW!) expect(g).toBeLessThanOrEqual(1e-4);
    expect((k.cell as StackedRNNCells).stateSize).toEqual([2, 3, 4, 4]);
  });

  it('initial states as extra inputs (tfjs initialState), with gradients', () => {
    const x = randomTensor([2, 3, 4], 32), h = randomTensor([2, 5], 33), c = randomTensor([2, 5], 34);
    const d = compareRnn(lstm({ units: 5, returnSequences: true }), tfl.layers.lstm({ units: 5, returnSequences: true, ...TF }), [x, h, c], {
      grads: true, tfCall: (l, a) => l.apply(a[0]!, { initialState: a.slice(1) }) as tf.Tensor,
    });
    expect(d.forward).toBeLessThanOrEqual(1e-5);
    expect(d.gradX!).toBeLessThanOrEqual(1e-4);
    // Symbolic: a functional model whose LSTM starts from input states.
    const xi = input({ shape: [3, 4] }), hi = input({ shape: [5] }), ci = input({ shape: [5] });
    const m = model({ inputs: [xi, hi, ci], outputs: lstm({ units: 5 }).apply([xi, hi, ci]) });
    expect((m.predict([x, h, c]) as Tensor).shape).toEqual([2, 5]);
    expect(() => lstm({ units: 5 }).apply([x, h])).toThrow(/has 2 state\(s\) \[5, 5\] but got 1 initial state/);
  });

  it('masks: explicit {mask} and Embedding(maskZero) in a model match tfjs-layers', () => {
    const x = randomTensor([3, 5, 2], 35);
    const mask = tf.tensor2d([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1], [0, 1, 1, 0, 0]], [3, 5], 'bool');
    const km = Tensor.concrete(literal([3, 5], 'bool', Array.from(mask.dataSync())));
    for (const goBackwards of [false, true]) {
      const k = gru({ units: 3, returnSequences: true, goBackwards });
      k.apply(x);
      randomizeWeights(k, 7, -0.6, 0.6);
      const t = tfl.layers.gru({ units: 3, returnSequences: true, goBackwards, ...TF });
      t.apply(toTf(x));
      t.setWeights(k.getWeights().map(toTf));
      expect(maxAbsDiff(k.apply(x, { mask: km }) as Tensor, t.apply(toTf(x), { mask }) as tf.Tensor)).toBeLessThanOrEqual(1e-5);
    }
    // Padding id 0 through Embedding(maskZero) -> LSTM -> LSTM (the mask follows returnSequences).
    const xs = ids([[3, 1, 0, 0], [2, 2, 4, 0], [0, 1, 2, 3]]);
    const build = (L: typeof tfl.layers | null) => L
      ? tfl.sequential({ layers: [L.embedding({ inputDim: 5, outputDim: 3, maskZero: true, inputShape: [4] }), L.lstm({ units: 4, returnSequences: true, ...TF }), L.simpleRNN({ units: 2, ...TF })] })
      : null;
    const t = build(tfl.layers)!;
    const emb = embedding({ inputDim: 5, outputDim: 3, maskZero: true, inputShape: [4] });
    const l1 = lstm({ units: 4, returnSequences: true }), l2 = simpleRNN({ units: 2 });
    const xi = input({ shape: [4] });
    const k = model({ inputs: xi, outputs: l2.apply(l1.apply(emb.apply(xi))) });
    randomizeWeights(k, 9, -0.6, 0.6);
    t.setWeights(k.getWeights().map(toTf));
    expect(maxAbsDiff(k.predict(xs) as Tensor, t.predict(toTf(xs)) as tf.Tensor)).toBeLessThanOrEqual(1e-5);
    // Eager layer calls carry the mask on the tensors.
    const e = emb.apply(xs);
    expect(Array.from(getMask(e)!.dataSync())).toEqual([1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1]);
    expect(getMask(l1.apply(e) as Tensor)).toBe(getMask(e));
  });

  it('stateful: states carry over between calls and resetStates clears them, as tfjs-layers', async () => {
    const x1 = randomTensor([2, 3, 2], 36), x2 = randomTensor([2, 3, 2], 37);
    const k = lstm({ units: 3, stateful: true });
    k.apply(x1);
    randomizeWeights(k, 11, -0.6, 0.6);
    k.resetStates();
    const t = tfl.layers.lstm({ units: 3, stateful: true, batchInputShape: [2, 3, 2], ...TF });
    t.apply(toTf(x1));
    t.setWeights(k.getWeights().map(toTf));
    t.resetStates();
    for (const x of [x1, x2, x1]) expect(maxAbsDiff(k.apply(x) as Tensor, t.apply(toTf(x)) as tf.Tensor)).toBeLessThanOrEqual(1e-5);
    k.resetStates();
    t.resetStates();
    expect(maxAbsDiff(k.apply(x2) as Tensor, t.apply(toTf(x2)) as tf.Tensor)).toBeLessThanOrEqual(1e-5);
    expect(k.weights).toHaveLength(3); // states are not weights
    expect(() => k.apply(randomTensor([3, 3, 2], 1))).toThrow(/stateful: built for batch size 2, got an input of batch 3/);
    expect(() => lstm({ units: 2 }).resetStates()).toThrow(/needs a stateful RNN/);
    // fit carries the states (rnn_stateful_fit.test.ts); every batch must have the fixed size.
    const m = sequential({ layers: [lstm({ units: 3, stateful: true, batchInputShape: [2, 3, 2] })] });
    m.compile({ optimizer: sgd({ learningRate: 0.1 }), loss: 'meanSquaredError' });
    const x4 = randomTensor([4, 3, 2], 6), y4 = randomTensor([4, 3], 5);
    await expect(m.fit(x4, y4, { epochs: 1, batchSize: 4, verbose: 0 })).rejects.toThrow(/has a fixed batch size 2 \(batchInputShape\), so every batch must have 2 samples: pass batchSize: 2, got batchSize 4 for 4 samples/);
    await expect(m.fit(randomTensor([3, 3, 2], 7), randomTensor([3, 3], 8), { epochs: 1, batchSize: 2, verbose: 0 })).rejects.toThrow(/input 0 must be \[2,3,2\] f32, got x f32\[3,3,2\]/);
    // A traced function that does not bind the states (predict's compiled program) still refuses, saying where they are carried.
    expect(() => m.predict(x1)).toThrow(/stateful: the carried states cannot be updated inside this traced function.*carry their states in fit and in eager calls/);
  });

  it('config round trip of the generic RNN (stacked cells) through the registry', () => {
    const l = rnn({ cell: [lstmCell({ units: 2 }), gruCell({ units: 3, resetAfter: true })], returnSequences: true, goBackwards: true, name: 'r' });
    l.apply(randomTensor([1, 2, 2], 1));
    const c = l.getConfig();
    expect(c.cell).toMatchObject({ className: 'StackedRNNCells' });
    const back = deserializeLayer(l.serialize()) as RNN;
    expect(back.getConfig()).toEqual(c);
    expect(RNN.fromConfig(c).getConfig()).toEqual(c);
    expect(() => rnn({} as never)).toThrow(/cell is required/);
  });

  it('a tfjs-saved generic RNN over stacked cells loads with equal predictions', async () => {
    const t = tfl.sequential({ layers: [tfl.layers.rnn({ cell: [tfl.layers.lstmCell({ units: 3, ...TF }), tfl.layers.simpleRNNCell({ units: 2, ...TF })], returnSequences: true, inputShape: [4, 2] })] });
    randomizeTfjs(t, 27);
    expect((await tfjsSavedToKiln(t, randomTensor([2, 4, 2], 28))).diff).toBeLessThanOrEqual(1e-5);
  });

  it('a compiled fit step (GRU + LSTM over Embedding) gives the interpreter\'s losses (runEagerly)', async () => {
    const build = () => sequential({ layers: [
      embedding({ inputDim: 7, outputDim: 3, inputShape: [5] }),
      gru({ units: 4, returnSequences: true, resetAfter: true }),
      lstm({ units: 3 }),
    ] });
    const x = ids([[1, 2, 3, 4, 5], [6, 5, 4, 3, 2], [1, 1, 2, 2, 3], [0, 6, 0, 6, 0]]);
    const y = randomTensor([4, 3], 40);
    const losses: number[][] = [];
    let init: Tensor[] | undefined;
    for (const runEagerly of [false, true]) {
      const m = build();
      if (!init) {
        randomizeWeights(m, 41, -0.5, 0.5);
        init = m.getWeights();
      } else m.setWeights(init);
      m.compile({ optimizer: sgd({ learningRate: 0.3 }), loss: 'meanSquaredError', runEagerly });
      const l: number[] = [];
      await m.fit(x, y, { epochs: 3, batchSize: 2, shuffle: false, verbose: 0, callbacks: [{ onBatchEnd: (_b, logs) => { l.push(logs['loss']!); } }] });
      losses.push(l);
      expect(trainingProgram(m) === undefined).toBe(runEagerly); // compiled, or the reference interpreter
    }
    expect(losses[0]).toHaveLength(6);
    losses[0]!.forEach((v, i) => expect(Math.abs(v - losses[1]![i]!) / losses[1]![i]!).toBeLessThanOrEqual(1e-5));
  });
});
