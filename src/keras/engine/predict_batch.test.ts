/**
 * model.predict without recompiles for any batch: one compiled program per model for every batch
 * size up to the largest seen (grown once when exceeded), counted with compileCount/onCompile;
 * every prediction checked against tfjs-layers with the same weights. Models that mix batch
 * items fall back to one program per batch size and say so once in the compile event. fit with a
 * remainder batch compiles one training program holding 2 step entries.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { compileCount, onCompile, useCompiledExecution, type CompileEvent } from '../../exec.js';
import { ops, type Tensor } from '../backend.js';
import { dense } from '../layers/dense.js';
import { conv2d } from '../layers/conv2d.js';
import { maxPooling2d } from '../layers/max_pooling2d.js';
import { flatten } from '../layers/flatten.js';
import { lstm } from '../layers/lstm.js';
import { gru } from '../layers/gru.js';
import { simpleRNN } from '../layers/simple_rnn.js';
import { recurrenceLoop } from '../layers/recurrent.js';
import { maxAbsDiff, randomTensor, toTf, useCpuBackend } from '../test_util.js';
import { sequential } from './sequential.js';
import { Model } from './model.js';
import { trainingProgram } from './training.js';
import { MIN_PREDICT_BATCH } from './predict_program.js';

beforeAll(async () => {
  await useCpuBackend();
  useCompiledExecution(true);
});

function cnn(): Model {
  return sequential({ layers: [
    conv2d({ filters: 6, kernelSize: 3, activation: 'relu', inputShape: [9, 9, 2] }),
    maxPooling2d({ poolSize: 2 }),
    flatten({}),
    dense({ units: 5, activation: 'softmax' }),
  ] });
}
function tfCnn(): tfl.LayersModel {
  return tfl.sequential({ layers: [
    tfl.layers.conv2d({ filters: 6, kernelSize: 3, activation: 'relu', inputShape: [9, 9, 2] }),
    tfl.layers.maxPooling2d({ poolSize: 2 }),
    tfl.layers.flatten({}),
    tfl.layers.dense({ units: 5, activation: 'softmax' }),
  ] });
}

/** Every weight seeded, so biases are not zero. */
function randomize(m: Model, seed: number): void {
  m.setWeights(m.weights.map((w, i) => randomTensor(w.value.shape, seed + i, -0.5, 0.5)));
}

function reference(t: tfl.LayersModel, m: Model, x: Tensor): tf.Tensor {
  t.setWeights(m.getWeights().map(toTf));
  return t.predict(toTf(x)) as tf.Tensor;
}

/** Compile events while `f` runs. */
function events(f: () => void): CompileEvent[] {
  const seen: CompileEvent[] = [];
  const off = onCompile((e) => seen.push(e));
  try { f(); } finally { off(); }
  return seen;
}

describe('predict: one program for every batch size', () => {
  it('batch sizes 1, 7, 32, 5 compile once and equal tfjs-layers; 100 rows grow it once (to 128); 64 and 3 compile nothing', () => {
    const m = cnn();
    randomize(m, 1);
    const t = tfCnn();
    const before = compileCount();
    const seen = events(() => {
      for (const n of [1, 7, 32, 5]) {
        const x = randomTensor([n, 9, 9, 2], 10 + n);
        const p = m.predict(x) as Tensor;
        expect(p.shape).toEqual([n, 5]);
        expect(maxAbsDiff(p, reference(t, m, x))).toBeLessThanOrEqual(1e-5);
      }
    });
    expect(compileCount() - before).toBe(1);
    expect(seen.map((e) => [e.kind, e.name, e.maxBatch, e.note])).toEqual([['function', m.name, MIN_PREDICT_BATCH, undefined]]);
    expect(m.predictMaxBatch(randomTensor([1, 9, 9, 2], 0))).toBe(MIN_PREDICT_BATCH);
    // Growth: 100 rows recompile once at the next power of two; smaller batches reuse it.
    const grown = events(() => {
      for (const n of [100, 64, 3]) {
        const x = randomTensor([n, 9, 9, 2], 20 + n);
        expect(maxAbsDiff(m.predict(x) as Tensor, reference(t, m, x))).toBeLessThanOrEqual(1e-5);
      }
    });
    expect(grown.map((e) => e.maxBatch)).toEqual([128]);
    expect(m.predictTraceCount).toBe(2);
  });

  it("predict's batchSize chunks share the program: 70 rows in chunks of 16 (and a remainder of 6) compile once", () => {
    const m = cnn();
    randomize(m, 2);
    const x = randomTensor([70, 9, 9, 2], 30);
    const before = compileCount();
    const p = m.predict(x, { batchSize: 16 }) as Tensor;
    expect(compileCount() - before).toBe(1);
    expect(maxAbsDiff(p, reference(tfCnn(), m, x))).toBeLessThanOrEqual(1e-5);
  });

  it('weights change (setWeights) between batch sizes: nothing recompiles, predictions follow the weights', () => {
    const m = cnn();
    randomize(m, 3);
    const t = tfCnn();
    m.predict(randomTensor([4, 9, 9, 2], 40));
    const before = compileCount();
    for (const [seed, n] of [[50, 9], [60, 1], [70, 17]] as const) {
      randomize(m, seed);
      const x = randomTensor([n, 9, 9, 2], seed + 1);
      expect(maxAbsDiff(m.predict(x) as Tensor, reference(t, m, x))).toBeLessThanOrEqual(1e-5);
    }
    expect(compileCount()).toBe(before);
  });

  for (const [kind, steps] of [['lstm', 3], ['lstm', 8], ['gru', 8], ['simpleRNN', 3]] as const) {
    it(`a ${kind} model over ${steps} time steps (unrolled: time-major steps, the batch on axis 1): one program for batches 1, 4, 2, equal to tfjs-layers`, () => {
      const rec = { lstm, gru, simpleRNN }[kind];
      const tfRec = { lstm: tfl.layers.lstm, gru: tfl.layers.gru, simpleRNN: tfl.layers.simpleRNN }[kind];
      const m = sequential({ layers: [rec({ units: 6, returnSequences: true, inputShape: [steps, 3] }), rec({ units: 4 }), dense({ units: 2 })] });
      randomize(m, 4);
      const t = tfl.sequential({ layers: [
        tfRec({ units: 6, returnSequences: true, inputShape: [steps, 3], recurrentInitializer: 'zeros' }), tfRec({ units: 4, recurrentInitializer: 'zeros' }), tfl.layers.dense({ units: 2 }),
      ] });
      const seen = events(() => {
        for (const n of [1, 4, 2]) {
          const x = randomTensor([n, steps, 3], 80 + n);
          expect(maxAbsDiff(m.predict(x) as Tensor, reference(t, m, x))).toBeLessThanOrEqual(1e-5);
        }
      });
      expect(seen.map((e) => [e.maxBatch, e.note])).toEqual([[MIN_PREDICT_BATCH, undefined]]);
    });
  }

  it("an LSTM as one kiln.scan (recurrenceLoop.mode 'scan', 8 steps: a loop entry): one program per batch size, the reason said once", () => {
    recurrenceLoop.mode = 'scan';
    try {
      const m = sequential({ layers: [lstm({ units: 5, inputShape: [8, 3] }), dense({ units: 2 })] });
      randomize(m, 5);
      const t = tfl.sequential({ layers: [tfl.layers.lstm({ units: 5, inputShape: [8, 3], recurrentInitializer: 'zeros' }), tfl.layers.dense({ units: 2 })] });
      const seen = events(() => {
        for (const n of [1, 4, 1]) {
          const x = randomTensor([n, 8, 3], 85 + n);
          expect(maxAbsDiff(m.predict(x) as Tensor, reference(t, m, x))).toBeLessThanOrEqual(1e-5);
        }
      });
      expect(seen.length).toBe(2);
      expect(seen[0]!.note).toMatch(/compiles one program per batch size: maxBatch 32: .* scan %\d+ .*is control flow over batch-carrying values/);
      expect(seen[1]!.note).toBeUndefined();
    } finally {
      recurrenceLoop.mode = 'unroll';
    }
  });

  it('a model that mixes batch items (centering over the batch) falls back to one program per batch size and says why once', () => {
    class Centered extends Model {
      head = dense({ units: 3 });
      override call(x: Tensor | Tensor[]): Tensor {
        const t = x as Tensor;
        return this.head.apply(ops.sub(t, ops.mean(t, 0, true))) as Tensor;
      }
    }
    const m = new Centered();
    const x2 = randomTensor([2, 4], 90), x3 = randomTensor([3, 4], 91);
    const seen = events(() => {
      for (const x of [x2, x3, x2]) {
        const p = m.predict(x) as Tensor;
        const [k, b] = m.head.getWeights().map(toTf) as [tf.Tensor, tf.Tensor];
        const tx = toTf(x);
        const want = tf.add(tf.matMul(tf.sub(tx, tf.mean(tx, 0, true)), k), b);
        expect(maxAbsDiff(p, want)).toBeLessThanOrEqual(1e-5);
      }
    });
    expect(seen.length).toBe(2);
    expect(seen[0]!.note).toMatch(/predict: model '.*' compiles one program per batch size: maxBatch 32: .*reduc/);
    expect(seen[1]!.note).toBeUndefined();
    expect(seen.every((e) => e.maxBatch === undefined)).toBe(true);
  });
});

describe('fit: one training program, 2 step entries for the full and the remainder batch', () => {
  it('fit on 20 samples with batchSize 8 compiles one program with train_8 and train_4; a second fit compiles nothing', async () => {
    const m = sequential({ layers: [dense({ units: 8, activation: 'relu', inputShape: [4] }), dense({ units: 2 })] });
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    const x = randomTensor([20, 4], 100), y = randomTensor([20, 2], 101);
    const before = compileCount('training');
    await m.fit(x, y, { epochs: 2, batchSize: 8, verbose: 0, shuffle: false });
    await m.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 });
    expect(compileCount('training') - before).toBe(1);
    const prog = trainingProgram(m)!;
    const names = [prog.manifest.defaultEntry, ...Object.keys(prog.manifest.entries ?? {})].filter((e) => e?.startsWith('train'));
    expect(names.sort()).toEqual(['train_4', 'train_8']);
  });
});
