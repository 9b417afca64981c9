import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { fn, ops, type Tensor } from './backend.js';
import { binaryCrossentropy } from './losses.js';
import {
  accuracy, binaryAccuracy, categoricalAccuracy, getMetric, inferAccuracyKind, Mean, meanAbsoluteError, meanSquaredError,
  sparseCategoricalAccuracy, type Metric,
} from './metrics.js';
import { randomTensor, toTf, useCpuBackend } from './test_util.js';

beforeAll(useCpuBackend);

interface Batch {
  yTrue: Tensor;
  yPred: Tensor;
}

/**
 * Run `metric` over the batches eagerly and with each update traced through fn (state passed as
 * parameters); both results must equal `expected` (the oracle on all samples at once).
 */
function checkRunning(metric: Metric, batches: Batch[], expected: number, label = metric.name): void {
  let eager = metric.init();
  let traced = metric.reset();
  const step = fn((s0: Tensor, s1: Tensor, t: Tensor, p: Tensor) => metric.update([s0, s1], t, p), { name: `${label}_update` });
  for (const b of batches) {
    eager = metric.update(eager, b.yTrue, b.yPred);
    traced = step(traced[0]!, traced[1]!, b.yTrue, b.yPred);
  }
  expect(metric.result(eager).item(), `${label} eager`).toBeCloseTo(expected, 5);
  expect(metric.result(traced).item(), `${label} traced`).toBeCloseTo(expected, 5);
  const n = batches.reduce((s, b) => s + b.yPred.shape[0]!, 0);
  expect(eager[1]!.item(), `${label} count`).toBe(n);
}

/** Mean of a per-sample tfjs oracle over the concatenation of the batches. */
function oracle(batches: Batch[], f: (t: tf.Tensor, p: tf.Tensor) => tf.Tensor, trueDtype: 'float32' | 'int32' = 'float32'): number {
  const t = tf.concat(batches.map((b) => tf.tensor(Array.from(b.yTrue.dataSync()), b.yTrue.shape, trueDtype)));
  const p = tf.concat(batches.map((b) => toTf(b.yPred)));
  return tf.mean(f(t, p)).dataSync()[0]!;
}

const sizes = [4, 7, 3];
const binaryBatches = (units: number) => sizes.map((n, i) => ({
  yTrue: ops.cast(ops.greater(randomTensor([n, units], 10 + i), 0), 'f32'),
  yPred: ops.sigmoid(randomTensor([n, units], 20 + i, -3, 3)),
}));
const labelsOf = (n: number, k: number, seed: number) => ops.cast(ops.floor(randomTensor([n], seed, 0, k - 1e-3)), 'i32');
const oneHotBatches = () => sizes.map((n, i) => ({
  yTrue: ops.oneHot(labelsOf(n, 4, 30 + i), 4, 1, 0, 'f32'),
  yPred: ops.softmax(randomTensor([n, 4], 40 + i, -2, 2)),
}));
const sparseBatches = () => sizes.map((n, i) => ({ yTrue: labelsOf(n, 4, 30 + i), yPred: ops.softmax(randomTensor([n, 4], 40 + i, -2, 2)) }));

describe('metrics with running state', () => {
  it('binaryAccuracy matches tfjs-layers over batches of different sizes', () => {
    const b = binaryBatches(3);
    checkRunning(binaryAccuracy(), b, oracle(b, tfl.metrics.binaryAccuracy));
    // A non-default threshold against a direct count.
    const th = 0.7;
    const direct = oracle(b, (t, p) => tf.mean(tf.cast(tf.equal(t, tf.cast(tf.greater(p, th), 'float32')), 'float32'), -1));
    checkRunning(binaryAccuracy({ threshold: th }), b, direct, 'binary 0.7');
  });

  it('categorical and sparse categorical accuracy match tfjs-layers', () => {
    const oh = oneHotBatches();
    const expected = oracle(oh, tfl.metrics.categoricalAccuracy);
    checkRunning(categoricalAccuracy(), oh, expected);
    const sp = sparseBatches();
    checkRunning(sparseCategoricalAccuracy(), sp, oracle(sp, tfl.metrics.sparseCategoricalAccuracy, 'int32'));
    // Same data, one-hot or sparse: same accuracy.
    expect(oracle(sp, tfl.metrics.sparseCategoricalAccuracy, 'int32')).toBeCloseTo(expected, 6);
    const spF = sp.map((b) => ({ yTrue: ops.reshape(ops.cast(b.yTrue, 'f32'), [b.yTrue.shape[0]!, 1]), yPred: b.yPred }));
    checkRunning(sparseCategoricalAccuracy(), spF, expected, 'sparse [n,1] float labels');
  });

  it('mse and mae match tfjs-layers', () => {
    const b = sizes.map((n, i) => ({ yTrue: randomTensor([n, 5], 50 + i), yPred: randomTensor([n, 5], 60 + i) }));
    checkRunning(meanSquaredError(), b, oracle(b, tfl.metrics.meanSquaredError));
    checkRunning(meanAbsoluteError(), b, oracle(b, tfl.metrics.meanAbsoluteError));
  });

  it('result is 0 before any update and reset starts over', () => {
    const m = binaryAccuracy();
    expect(m.result(m.init()).item()).toBe(0);
    let s = m.update(m.init(), ops.ones([2, 1]), ops.ones([2, 1]));
    expect(m.result(s).item()).toBe(1);
    s = m.reset();
    expect(m.result(s).item()).toBe(0);
    expect(m.stateNames()).toEqual(['binary_accuracy/total', 'binary_accuracy/count']);
  });

  it('Mean tracks a running mean of scalars or per-sample values (for the loss)', () => {
    const mean = new Mean('loss');
    let s = mean.init();
    s = mean.accumulate(s, ops.scalar(2, 'f32'));
    s = mean.accumulate(s, ops.scalar(4, 'f32'));
    expect(mean.result(s).item()).toBeCloseTo(3, 6);
    s = mean.accumulate(mean.init(), ops.tensor([[1, 3], [5, 7]], [2, 2], 'f32'));
    expect(mean.result(s).item()).toBeCloseTo(4, 6);
    expect(() => mean.result([ops.scalar(1, 'f32')])).toThrow(/state must be \[total, count\] scalars/);
  });
});

describe("'accuracy'", () => {
  it('infers the kind from the loss, else from the shapes (Keras 3 rule)', () => {
    const p2 = ops.zeros([4, 3]), p1 = ops.zeros([4, 1]);
    expect(inferAccuracyKind(ops.zeros([4, 1]), p1)).toBe('binary');
    expect(inferAccuracyKind(ops.zeros([4], 'i32'), p2)).toBe('sparse');
    expect(inferAccuracyKind(ops.zeros([4, 1]), p2)).toBe('sparse');
    expect(inferAccuracyKind(ops.zeros([4, 3]), p2)).toBe('categorical');
    // Multi-label sigmoid outputs: only the loss says these are binary.
    expect(inferAccuracyKind(ops.zeros([4, 3]), p2, 'binaryCrossentropy')).toBe('binary');
    expect(inferAccuracyKind(ops.zeros([4, 3]), p2, binaryCrossentropy())).toBe('binary');
    expect(inferAccuracyKind(ops.zeros([4, 1]), p2, 'sparse_categorical_crossentropy')).toBe('sparse');
  });

  it('computes the inferred accuracy over batches', () => {
    const oh = oneHotBatches();
    checkRunning(accuracy(), oh, oracle(oh, tfl.metrics.categoricalAccuracy), 'accuracy categorical');
    const sp = sparseBatches();
    checkRunning(accuracy(), sp, oracle(sp, tfl.metrics.sparseCategoricalAccuracy, 'int32'), 'accuracy sparse');
    const bin = binaryBatches(3);
    checkRunning(accuracy({ loss: 'binary_crossentropy' }), bin, oracle(bin, tfl.metrics.binaryAccuracy), 'accuracy multi-label');
    const bin1 = binaryBatches(1);
    checkRunning(getMetric('acc'), bin1, oracle(bin1, tfl.metrics.binaryAccuracy), 'acc binary');
  });

  it('getMetric resolves names, keeps the spelling as the name, and rejects unknown ones', () => {
    expect(getMetric('acc').name).toBe('acc');
    expect(getMetric('mse').className).toBe('MeanSquaredError');
    expect(getMetric('categoricalAccuracy').className).toBe('CategoricalAccuracy');
    const m = binaryAccuracy({ threshold: 0.3 });
    expect(getMetric(m)).toBe(m);
    expect(m.getConfig()).toMatchObject({ name: 'binary_accuracy', threshold: 0.3 });
    expect(() => getMetric('auc')).toThrow(/unknown metric 'auc'; valid: accuracy, binary_accuracy/);
    expect(() => categoricalAccuracy().update(categoricalAccuracy().init(), ops.zeros([4], 'i32'), ops.zeros([4, 3])))
      .toThrow(/yTrue i32\[4\] must be one-hot.*sparse_categorical_accuracy/);
  });
});
