/**
 * evaluate on one program for every batch size (eval_program.ts): after fit, evaluate on three
 * batch sizes compiles at most one program more than fit did and leaves the training program as
 * it was; loss and metrics equal tfjs-layers' evaluate on the same weights and batch sizes (a
 * dense classifier with sparse labels, an LSTM regressor); a weight change compiles nothing. A
 * metric of one value per batch, and a loss of one value per batch, still follow Keras's
 * accumulation (checked against sums written out here from predict). And predict right after a
 * weight change on a recurrent model (whose derive/repack entries use the arena the inputs sit in).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { literal } from '../../ir/literal.js';
import { compileCount, onCompile, useCompiledExecution, type CompileEvent } from '../../exec.js';
import { ops, Tensor } from '../backend.js';
import { customLoss } from '../losses.js';
import { MeanMetricWrapper } from '../metrics.js';
import { dense } from '../layers/dense.js';
import { dropout } from '../layers/dropout.js';
import { lstm } from '../layers/lstm.js';
import { maxAbsDiff, randomTensor, toTf, useCpuBackend } from '../test_util.js';
import type { Model } from './model.js';
import { sequential } from './sequential.js';
import { trainingProgram } from './training.js';

beforeAll(async () => {
  await useCpuBackend();
  useCompiledExecution(true);
});

function randomize(m: Model, seed: number): void {
  m.setWeights(m.weights.map((w, i) => randomTensor(w.value.shape, seed + i, -0.5, 0.5)));
}

/** tfjs-layers' evaluate as [loss, ...metrics]. */
function tfEvaluate(t: tfl.LayersModel, x: Tensor, y: Tensor, batchSize: number): number[] {
  const r = t.evaluate(toTf(x), toTf(y), { batchSize });
  return (Array.isArray(r) ? r : [r]).map((s) => s.dataSync()[0]!);
}

async function withEvents<T>(f: () => Promise<T>): Promise<[T, CompileEvent[]]> {
  const seen: CompileEvent[] = [];
  const off = onCompile((e) => seen.push(e));
  try {
    return [await f(), seen];
  } finally {
    off();
  }
}

const N = 50;

describe('evaluate: one program for every batch size', () => {
  it('after fit, batch sizes 8, 20 and 64 compile one program (maxBatch) and equal tfjs-layers; the training program stays', async () => {
    // Dropout trains with fit and is off in evaluate, as in tfjs-layers.
    const m = sequential({ layers: [dense({ units: 8, activation: 'relu', inputShape: [5] }), dropout({ rate: 0.5 }), dense({ units: 3, activation: 'softmax' })] });
    m.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy', metrics: ['acc'] });
    const x = randomTensor([N, 5], 1);
    const y = Tensor.concrete(literal([N, 1], 'f32', Array.from({ length: N }, (_, i) => (i * 7) % 3)));
    const before = compileCount();
    await m.fit(x, y, { epochs: 1, batchSize: 16, verbose: 0, shuffle: false });
    const fitCompiles = compileCount() - before;
    const prog = trainingProgram(m);
    const t = tfl.sequential({ layers: [tfl.layers.dense({ units: 8, activation: 'relu', inputShape: [5] }), tfl.layers.dropout({ rate: 0.5 }), tfl.layers.dense({ units: 3, activation: 'softmax' })] });
    t.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy', metrics: ['acc'] });
    t.setWeights(m.getWeights().map(toTf));
    const [, seen] = await withEvents(async () => {
      for (const b of [8, 20, 64]) {
        const r = await m.evaluate(x, y, { batchSize: b });
        const [loss, acc] = tfEvaluate(t, x, y, b);
        expect(r['loss']).toBeCloseTo(loss!, 5);
        expect(r['acc']).toBeCloseTo(acc!, 6);
      }
    });
    expect(compileCount() - before).toBeLessThanOrEqual(fitCompiles + 1);
    expect(seen.map((e) => [e.kind, e.name, e.maxBatch])).toEqual([['function', `${m.name}_evaluate`, 32]]);
    expect(trainingProgram(m)).toBe(prog);
    // More training, then evaluate: the weights move into the program; nothing compiles.
    await m.fit(x, y, { epochs: 1, batchSize: 16, verbose: 0, shuffle: false });
    const [r, again] = await withEvents(() => m.evaluate(x, y, { batchSize: 13 }));
    t.setWeights(m.getWeights().map(toTf));
    expect(r['loss']).toBeCloseTo(tfEvaluate(t, x, y, 13)[0]!, 5);
    expect(again).toEqual([]);
  });

  it('an LSTM regressor (mse, mae): batch sizes 1, 7 and 50 and setWeights between them compile once, equal to tfjs-layers', async () => {
    const m = sequential({ layers: [lstm({ units: 6, inputShape: [4, 3] }), dense({ units: 2 })] });
    m.compile({ optimizer: 'adam', loss: 'mse', metrics: ['mae'] });
    const t = tfl.sequential({ layers: [tfl.layers.lstm({ units: 6, inputShape: [4, 3], recurrentInitializer: 'zeros' }), tfl.layers.dense({ units: 2 })] });
    t.compile({ optimizer: 'adam', loss: 'meanSquaredError', metrics: ['mae'] });
    const x = randomTensor([N, 4, 3], 2), y = randomTensor([N, 2], 3);
    const [, seen] = await withEvents(async () => {
      for (const [b, seed] of [[1, 10], [7, 20], [50, 30]] as const) {
        randomize(m, seed);
        t.setWeights(m.getWeights().map(toTf));
        const r = await m.evaluate(x, y, { batchSize: b });
        const [loss, mae] = tfEvaluate(t, x, y, b);
        expect(r['loss']).toBeCloseTo(loss!, 5);
        expect(r['mae']).toBeCloseTo(mae!, 5);
      }
    });
    expect(seen.map((e) => [e.name, e.maxBatch])).toEqual([[`${m.name}_evaluate`, 32]]);
  });

  it('a metric or a loss of one value per batch: evaluate runs on the training program, a metric counted once per batch (Keras Mean), a loss weighted by the batch size', async () => {
    const m = sequential({ layers: [dense({ units: 2, inputShape: [3] })] });
    randomize(m, 40);
    const batchMean = new MeanMetricWrapper('batch_mean', 'BatchMean', (_y, p) => ops.mean(p));
    const batchLoss = customLoss('batch_mse', (yt, yp) => ops.mean(ops.square(ops.sub(yt, yp))));
    m.compile({ optimizer: 'sgd', loss: batchLoss, metrics: [batchMean] });
    const x = randomTensor([10, 3], 41), y = randomTensor([10, 2], 42);
    const r = await m.evaluate(x, y, { batchSize: 4 });
    // By hand from predict: batches of 4, 4, 2.
    const p = (m.predict(x) as Tensor).dataSync(), yv = y.dataSync();
    let lossSum = 0, metricSum = 0;
    for (const [start, size] of [[0, 4], [4, 4], [8, 2]] as const) {
      let se = 0, sp = 0;
      for (let i = start * 2; i < (start + size) * 2; i++) {
        se += (p[i]! - yv[i]!) ** 2;
        sp += p[i]!;
      }
      lossSum += (se / (size * 2)) * size;
      metricSum += sp / (size * 2);
    }
    expect(r['loss']).toBeCloseTo(lossSum / 10, 5);
    expect(r['batch_mean']).toBeCloseTo(metricSum / 3, 5);
    // The same loss with per-sample metrics: the loss's rows would be the batch's, so evaluate runs on the training program.
    const m2 = sequential({ layers: [dense({ units: 2, inputShape: [3] })] });
    m2.setWeights(m.getWeights());
    m2.compile({ optimizer: 'sgd', loss: batchLoss, metrics: ['mse'] });
    const [r2, seen] = await withEvents(() => m2.evaluate(x, y, { batchSize: 4 }));
    expect(r2['loss']).toBeCloseTo(lossSum / 10, 5);
    expect(seen.map((e) => e.kind)).toEqual(['training']);
    expect(trainingProgram(m2)).toBeDefined();
    expect(tf.getBackend()).toBe('cpu');
  });
});

describe('fit: validation on the evaluate program', () => {
  it('validationData runs on the program evaluate uses: the training program holds no eval entries, and evaluate afterwards on 3 batch sizes compiles nothing', async () => {
    const m = sequential({ layers: [dense({ units: 6, activation: 'tanh', inputShape: [4] }), dense({ units: 2 })] });
    m.compile({ optimizer: 'sgd', loss: 'mse', metrics: ['mae'] });
    const x = randomTensor([N, 4], 60), y = randomTensor([N, 2], 61);
    const vx = randomTensor([23, 4], 62), vy = randomTensor([23, 2], 63);
    const [h, seen] = await withEvents(() => m.fit(x, y, { epochs: 2, batchSize: 16, validationData: [vx, vy], verbose: 0, shuffle: false }));
    expect(seen.map((e) => e.kind).sort()).toEqual(['function', 'training']);
    const prog = trainingProgram(m)!;
    expect([prog.manifest.defaultEntry, ...Object.keys(prog.manifest.entries ?? {})].filter((e) => e?.startsWith('eval'))).toEqual([]);
    const t = tfl.sequential({ layers: [tfl.layers.dense({ units: 6, activation: 'tanh', inputShape: [4] }), tfl.layers.dense({ units: 2 })] });
    t.compile({ optimizer: 'sgd', loss: 'meanSquaredError', metrics: ['mae'] });
    t.setWeights(m.getWeights().map(toTf));
    const [want] = tfEvaluate(t, vx, vy, 16);
    expect(h.history['val_loss']![1]).toBeCloseTo(want!, 5);
    const [, after] = await withEvents(async () => {
      for (const b of [5, 16, 23]) expect((await m.evaluate(vx, vy, { batchSize: b }))['loss']).toBeCloseTo(want!, 5);
    });
    expect(after).toEqual([]);
  });
});

describe('evaluate: sparse labels checked on the host', () => {
  it('a label out of range or not an integer names the sample, the value and the batch as the caller cut them', async () => {
    const m = sequential({ layers: [dense({ units: 3, activation: 'softmax', inputShape: [5] })] });
    m.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy', metrics: ['acc'] });
    const x = randomTensor([N, 5], 5);
    const labels = (bad: number, at: number) => Tensor.concrete(literal([N], 'f32', Array.from({ length: N }, (_, i) => (i === at ? bad : i % 3))));
    await expect(m.evaluate(x, labels(3, 5), { batchSize: 4 })).rejects.toThrow(/^evaluate: sparse label y\[5\] = 3 is out of range \[0, 3\) \(batch 1,/);
    // batchSize 64 runs in pieces of the program's maxBatch (32); the batch named is still the caller's.
    await expect(m.evaluate(x, labels(1.5, 40), { batchSize: 64 })).rejects.toThrow(/y\[40\] = 1.5 is not an integer \(batch 0,/);
    const ok = await m.evaluate(x, labels(0, 0), { batchSize: 64 });
    expect(Number.isFinite(ok['loss'])).toBe(true);
  });
});

describe('predict right after a weight change', () => {
  it('an LSTM: the first prediction after setWeights uses the new weights (the repack runs before the inputs are written)', () => {
    const m = sequential({ layers: [lstm({ units: 6, inputShape: [4, 3] }), dense({ units: 2 })] });
    const t = tfl.sequential({ layers: [tfl.layers.lstm({ units: 6, inputShape: [4, 3], recurrentInitializer: 'zeros' }), tfl.layers.dense({ units: 2 })] });
    const x = randomTensor([5, 4, 3], 50);
    for (const seed of [60, 70, 60]) {
      randomize(m, seed);
      t.setWeights(m.getWeights().map(toTf));
      expect(maxAbsDiff(m.predict(x) as Tensor, t.predict(toTf(x)) as tf.Tensor)).toBeLessThanOrEqual(1e-5);
    }
  });
});
