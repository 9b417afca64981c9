import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { grad } from '../frontend/grad.js';
import { fn, ops, type Tensor } from './backend.js';
import {
  binaryCrossentropy, categoricalCrossentropy, customLoss, getLoss, huber, meanAbsoluteError, meanSquaredError,
  serializeLoss, sparseCategoricalCrossentropy, type Loss,
} from './losses.js';
import { fromTf, randomTensor, toTf, useCpuBackend } from './test_util.js';

beforeAll(useCpuBackend);

function expectNear(actual: Tensor, expected: tf.Tensor, tol = 1e-5, label = ''): void {
  expect(actual.shape, `${label} shape`).toEqual(expected.shape);
  const a = actual.dataSync(), e = expected.dataSync();
  for (let i = 0; i < a.length; i++) {
    const err = Math.abs(a[i]! - e[i]!);
    if (!(err <= tol * Math.max(1, Math.abs(e[i]!)))) expect.fail(`${label} element ${i}: ${a[i]} vs ${e[i]} (|diff| ${err})`);
  }
}

/** The loss eagerly and traced through fn (so the trace path is exercised), both against `expected`. */
function checkLoss(loss: Loss, yTrue: Tensor, yPred: Tensor, expected: tf.Tensor, tol = 1e-5, label = loss.lossName): void {
  expectNear(loss(yTrue, yPred), expected, tol, `${label} eager`);
  const traced = fn((t: Tensor, p: Tensor) => loss(t, p), { name: label });
  expectNear(traced(yTrue, yPred), expected, tol, `${label} traced`);
}

/** Probabilities per row (softmax of random logits). */
const probs = (shape: number[], seed: number) => ops.softmax(randomTensor(shape, seed, -3, 3), -1);
const labels01 = (shape: number[], seed: number) => ops.cast(ops.greater(randomTensor(shape, seed), 0), 'f32');
const intLabels = (n: number, k: number, seed: number) => ops.cast(ops.floor(randomTensor([n], seed, 0, k - 1e-3)), 'i32');

describe('regression losses', () => {
  const yTrue = randomTensor([6, 5], 1, -2, 2), yPred = randomTensor([6, 5], 2, -2, 2);

  it('mse and mae match tf.losses and tfjs-layers per sample', () => {
    checkLoss(meanSquaredError(), yTrue, yPred, tf.losses.meanSquaredError(toTf(yTrue), toTf(yPred)));
    checkLoss(meanAbsoluteError(), yTrue, yPred, tf.losses.absoluteDifference(toTf(yTrue), toTf(yPred)));
    expectNear(meanSquaredError().perSample(yTrue, yPred), tfl.metrics.meanSquaredError(toTf(yTrue), toTf(yPred)), 1e-5, 'mse per sample');
    expectNear(meanAbsoluteError().perSample(yTrue, yPred), tfl.metrics.meanAbsoluteError(toTf(yTrue), toTf(yPred)), 1e-5, 'mae per sample');
  });

  it('huber matches tf.losses.huberLoss for several deltas', () => {
    for (const delta of [1, 0.5, 2.5]) {
      checkLoss(huber({ delta }), yTrue, yPred, tf.losses.huberLoss(toTf(yTrue), toTf(yPred), undefined, delta), 1e-5, `huber ${delta}`);
    }
  });

  it('aligns a trailing size-1 axis like Keras and names both shapes on mismatch', () => {
    const t = randomTensor([6], 3), p = randomTensor([6, 1], 4);
    checkLoss(meanSquaredError(), t, p, tf.losses.meanSquaredError(toTf(t), toTf(ops.reshape(p, [6]))));
    expect(() => meanSquaredError()(randomTensor([6, 4], 1), randomTensor([6, 5], 2)))
      .toThrow(/mean_squared_error: yTrue f32\[6,4\] and yPred f32\[6,5\] have different shapes/);
  });
});

describe('crossentropies', () => {
  it('binary crossentropy on probabilities and logits', () => {
    const yTrue = labels01([8, 3], 5);
    const p = ops.sigmoid(randomTensor([8, 3], 6, -4, 4));
    checkLoss(binaryCrossentropy(), yTrue, p, tf.mean(tfl.metrics.binaryCrossentropy(toTf(yTrue), toTf(p))), 1e-5, 'bce probs');
    const logits = randomTensor([8, 3], 7, -30, 30);
    checkLoss(binaryCrossentropy({ fromLogits: true }), yTrue, logits, tf.losses.sigmoidCrossEntropy(toTf(yTrue), toTf(logits)), 1e-5, 'bce logits');
    checkLoss(
      binaryCrossentropy({ fromLogits: true, labelSmoothing: 0.2 }), yTrue, logits,
      tf.losses.sigmoidCrossEntropy(toTf(yTrue), toTf(logits), undefined, 0.2), 1e-5, 'bce logits smoothed',
    );
  });

  it('binary crossentropy stays finite at saturated probabilities (clipped like Keras)', () => {
    const yTrue = ops.tensor([[1, 0], [0, 1]], [2, 2], 'f32');
    const p = ops.tensor([[0, 1], [1, 0]], [2, 2], 'f32');
    const v = binaryCrossentropy()(yTrue, p).item();
    // Each element is clipped to 1e-7 or 1 - 1e-7 (in f32): the loss is bounded instead of Infinity.
    const lo = Math.fround(1e-7), hi = Math.fround(1 - 1e-7);
    expect(v).toBeCloseTo(-(Math.log(lo) + Math.log(Math.fround(1 - hi))) / 2, 3);
  });

  it('categorical crossentropy on probabilities and logits, with label smoothing', () => {
    const yTrue = ops.oneHot(intLabels(7, 4, 8), 4, 1, 0, 'f32');
    const p = probs([7, 4], 9);
    checkLoss(categoricalCrossentropy(), yTrue, p, tf.mean(tfl.metrics.categoricalCrossentropy(toTf(yTrue), toTf(p))), 1e-5, 'cce probs');
    const logits = randomTensor([7, 4], 10, -20, 20);
    checkLoss(categoricalCrossentropy({ fromLogits: true }), yTrue, logits, tf.losses.softmaxCrossEntropy(toTf(yTrue), toTf(logits)), 1e-5, 'cce logits');
    checkLoss(
      categoricalCrossentropy({ fromLogits: true, labelSmoothing: 0.1 }), yTrue, logits,
      tf.losses.softmaxCrossEntropy(toTf(yTrue), toTf(logits), undefined, 0.1), 1e-5, 'cce logits smoothed',
    );
    const smoothed = tf.add(tf.mul(toTf(yTrue), 0.9), 0.1 / 4);
    checkLoss(
      categoricalCrossentropy({ labelSmoothing: 0.1 }), yTrue, p,
      tf.mean(tfl.metrics.categoricalCrossentropy(smoothed, toTf(p))), 1e-5, 'cce probs smoothed',
    );
  });

  it('sparse categorical crossentropy with i32, float and [n,1] labels', () => {
    const lab = intLabels(9, 5, 11);
    const onehot = tf.oneHot(tf.tensor1d(Array.from(lab.dataSync()), 'int32'), 5);
    const p = probs([9, 5], 12);
    const expectedProbs = tf.mean(tfl.metrics.categoricalCrossentropy(onehot, toTf(p)));
    checkLoss(sparseCategoricalCrossentropy(), lab, p, expectedProbs, 1e-5, 'sparse probs i32');
    checkLoss(sparseCategoricalCrossentropy(), ops.cast(lab, 'f32'), p, expectedProbs, 1e-5, 'sparse probs f32');
    checkLoss(sparseCategoricalCrossentropy(), ops.reshape(lab, [9, 1]), p, expectedProbs, 1e-5, 'sparse probs [n,1]');
    const logits = randomTensor([9, 5], 13, -10, 10);
    checkLoss(sparseCategoricalCrossentropy({ fromLogits: true }), lab, logits, tf.losses.softmaxCrossEntropy(onehot, toTf(logits)), 1e-5, 'sparse logits');
  });

  it('explains shape mistakes', () => {
    const p = probs([4, 3], 1);
    expect(() => categoricalCrossentropy()(fromTf(tf.tensor([0, 1, 2, 1])), p))
      .toThrow(/yTrue f32\[4\] and yPred f32\[4,3\] must have the same shape.*sparse_categorical_crossentropy/);
    expect(() => sparseCategoricalCrossentropy()(ops.tensor([0, 1], [2], 'i32'), p))
      .toThrow(/yTrue i32\[2\] must hold one integer label per sample, shape \[4\] or \[4,1\], for yPred f32\[4,3\]/);
  });
});

describe('loss names and configs', () => {
  it('resolves Keras and tfjs-layers spellings', () => {
    for (const [n, canon] of [
      ['mse', 'mean_squared_error'], ['MAE', 'mean_absolute_error'], ['meanSquaredError', 'mean_squared_error'],
      ['categorical_crossentropy', 'categorical_crossentropy'], ['categoricalCrossentropy', 'categorical_crossentropy'],
      ['sparseCategoricalCrossentropy', 'sparse_categorical_crossentropy'], ['binary_crossentropy', 'binary_crossentropy'], ['huber', 'huber'],
    ] as const) {
      expect(getLoss(n).lossName, n).toBe(canon);
    }
    expect(() => getLoss('msee')).toThrow(/unknown loss 'msee'; valid: mean_squared_error, .*sparse_categorical_crossentropy/);
  });

  it('round-trips configs', () => {
    const loss = categoricalCrossentropy({ fromLogits: true, labelSmoothing: 0.2 });
    const back = getLoss(serializeLoss(loss));
    expect(back.getConfig()).toEqual(loss.getConfig());
    expect(back.className).toBe('CategoricalCrossentropy');
    expect(getLoss(serializeLoss(huber({ delta: 0.3 }))).getConfig()['delta']).toBe(0.3);
  });

  it('wraps custom per-sample losses', () => {
    const l1 = customLoss('l1_sum', (t, p) => ops.sum(ops.abs(ops.sub(p, t)), -1));
    const t = randomTensor([3, 2], 1), p = randomTensor([3, 2], 2);
    expectNear(l1(t, p), tf.mean(tf.sum(tf.abs(tf.sub(toTf(p), toTf(t))), -1)));
    expect(getLoss(l1)).toBe(l1);
  });
});

describe('loss gradients (what training differentiates)', () => {
  /** d loss / d yPred through Kiln's autodiff vs tf.grad of the tfjs oracle. */
  function checkGrad(loss: Loss, yTrue: Tensor, yPred: Tensor, oracle: (t: tf.Tensor, p: tf.Tensor) => tf.Tensor, label: string): void {
    const g = grad((p: Tensor, t: Tensor) => loss(t, p))(yPred, yTrue);
    const yt = toTf(yTrue);
    const expected = tf.grad((p: tf.Tensor) => oracle(yt, p))(toTf(yPred));
    expectNear(g, expected, 1e-4, label);
  }

  it('matches tf.grad for every loss', () => {
    const t = randomTensor([5, 3], 1, -1, 1), p = randomTensor([5, 3], 2, -1, 1);
    checkGrad(meanSquaredError(), t, p, (a, b) => tf.losses.meanSquaredError(a, b), 'mse');
    checkGrad(meanAbsoluteError(), t, p, (a, b) => tf.losses.absoluteDifference(a, b), 'mae');
    checkGrad(huber({ delta: 0.5 }), t, p, (a, b) => tf.losses.huberLoss(a, b, undefined, 0.5), 'huber');
    const y01 = labels01([5, 3], 3), logits = randomTensor([5, 3], 4, -5, 5);
    checkGrad(binaryCrossentropy({ fromLogits: true }), y01, logits, (a, b) => tf.losses.sigmoidCrossEntropy(a, b), 'bce logits');
    checkGrad(binaryCrossentropy(), y01, ops.sigmoid(logits), (a, b) => tf.mean(tfl.metrics.binaryCrossentropy(a, b)), 'bce probs');
    const oh = ops.oneHot(intLabels(5, 3, 5), 3, 1, 0, 'f32');
    checkGrad(categoricalCrossentropy({ fromLogits: true, labelSmoothing: 0.1 }), oh, logits,
      (a, b) => tf.losses.softmaxCrossEntropy(a, b, undefined, 0.1), 'cce logits');
    checkGrad(categoricalCrossentropy(), oh, ops.softmax(logits), (a, b) => tf.mean(tfl.metrics.categoricalCrossentropy(a, b)), 'cce probs');
    const sparse = intLabels(5, 3, 5);
    const g = grad((q: Tensor, l: Tensor) => sparseCategoricalCrossentropy({ fromLogits: true })(l, q))(logits, sparse);
    expectNear(g, tf.grad((q: tf.Tensor) => tf.losses.softmaxCrossEntropy(toTf(oh), q))(toTf(logits)), 1e-4, 'sparse logits');
  });
});
