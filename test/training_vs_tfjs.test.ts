/**
 * Acceptance: Kiln's compiled `fit` follows tfjs-layers' loss curve. An MLP and a CNN (conv,
 * pooling, dense) start from identical weights and see identical batches for 20 steps: in Kiln
 * through model.fit (each step one compiled WebAssembly program with resident state, batch
 * losses from the callbacks), in tfjs-layers through model.trainOnBatch with tf.train.sgd /
 * tf.train.adam. The per-step losses must agree within a relative 1e-3 at every step, and the
 * final weights closely (Adam in tfjs's epsilon placement, see src/keras/optimizers/adam.ts).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { layers, sequential, type Model } from '../src/keras/index.js';
import { adam } from '../src/keras/optimizers/adam.js';
import { sgd } from '../src/keras/optimizers/sgd.js';
import type { Optimizer } from '../src/keras/optimizers/base.js';
import { ops, type Tensor } from '../src/keras/backend.js';
import { trainingProgram } from '../src/keras/engine/training.js';
import { randomTensor, toTf, useCpuBackend } from '../src/keras/test_util.js';

beforeAll(useCpuBackend);

const STEPS = 20;

interface Case {
  name: string;
  kiln: () => Model;
  tfjs: () => tfl.LayersModel;
  feature: number[];
  classes: number;
  batch: number;
}

const mlp: Case = {
  name: 'MLP',
  feature: [20],
  classes: 6,
  batch: 16,
  kiln: () => sequential({ layers: [
    layers.dense({ units: 24, activation: 'relu', inputShape: [20] }),
    layers.dense({ units: 6, activation: 'softmax' }),
  ] }),
  tfjs: () => tfl.sequential({ layers: [
    tfl.layers.dense({ units: 24, activation: 'relu', inputShape: [20] }),
    tfl.layers.dense({ units: 6, activation: 'softmax' }),
  ] }),
};

const cnn: Case = {
  name: 'CNN',
  feature: [10, 10, 2],
  classes: 5,
  batch: 8,
  kiln: () => sequential({ layers: [
    layers.conv2d({ filters: 6, kernelSize: 3, activation: 'relu', inputShape: [10, 10, 2] }),
    layers.maxPooling2d({ poolSize: 2 }),
    layers.flatten(),
    layers.dense({ units: 5, activation: 'softmax' }),
  ] }),
  tfjs: () => tfl.sequential({ layers: [
    tfl.layers.conv2d({ filters: 6, kernelSize: 3, activation: 'relu', inputShape: [10, 10, 2] }),
    tfl.layers.maxPooling2d({ poolSize: 2 }),
    tfl.layers.flatten(),
    tfl.layers.dense({ units: 5, activation: 'softmax' }),
  ] }),
};

interface Run {
  losses: number[];
  weights: Float32Array[];
}

function data(c: Case, seed: number): { x: Tensor; y: Tensor } {
  const n = STEPS * c.batch;
  const x = randomTensor([n, ...c.feature], seed, -1, 1);
  // A random linear teacher labels the data, so there is something to learn and the loss falls.
  const d = c.feature.reduce((a, b) => a * b, 1);
  const teacher = randomTensor([d, c.classes], seed + 1, -1, 1);
  const labels = ops.argMax(ops.matmul(ops.reshape(x, [n, d]), teacher), -1);
  return { x, y: ops.oneHot(labels, c.classes, 1, 0, 'f32') };
}

async function trainKiln(c: Case, opt: Optimizer, x: Tensor, y: Tensor, init: Tensor[]): Promise<Run> {
  const m = c.kiln();
  m.setWeights(init);
  m.compile({ optimizer: opt, loss: 'categoricalCrossentropy', metrics: ['acc'] });
  const losses: number[] = [];
  await m.fit(x, y, {
    epochs: 1, batchSize: c.batch, shuffle: false, verbose: 0,
    callbacks: [{ onBatchEnd: (_b, logs) => { losses.push(logs['loss']!); } }],
  });
  expect(trainingProgram(m)!.stats.runs).toBe(STEPS); // really the compiled program, once per step
  return { losses, weights: m.getWeights().map((w) => Float32Array.from(w.dataSync())) };
}

async function trainTfjs(c: Case, opt: tf.Optimizer, x: Tensor, y: Tensor, init: Tensor[]): Promise<Run> {
  const m = c.tfjs();
  m.setWeights(init.map(toTf));
  m.compile({ optimizer: opt, loss: 'categoricalCrossentropy' });
  const xt = toTf(x), yt = toTf(y);
  const losses: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    const xb = tf.slice(xt, s * c.batch, c.batch), yb = tf.slice(yt, s * c.batch, c.batch);
    losses.push((await m.trainOnBatch(xb, yb)) as number);
  }
  return { losses, weights: m.getWeights().map((w) => w.dataSync() as Float32Array) };
}

async function compare(c: Case, kilnOpt: () => Optimizer, tfOpt: () => tf.Optimizer, seed: number): Promise<void> {
  const { x, y } = data(c, seed);
  const init = c.kiln().weights.map((w, i) => randomTensor(w.shape, seed + 10 + i, -0.4, 0.4));
  const k = await trainKiln(c, kilnOpt(), x, y, init);
  const t = await trainTfjs(c, tfOpt(), x, y, init);
  expect(k.losses).toHaveLength(STEPS);
  // The curve must fall, or agreeing on it would prove little.
  const late = k.losses.slice(-5).reduce((a, b) => a + b, 0) / 5;
  expect(late).toBeLessThan(0.9 * k.losses[0]!);
  for (let s = 0; s < STEPS; s++) {
    const rel = Math.abs(k.losses[s]! - t.losses[s]!) / Math.abs(t.losses[s]!);
    expect(rel, `${c.name} step ${s}: kiln ${k.losses[s]} vs tfjs ${t.losses[s]}`).toBeLessThanOrEqual(1e-3);
  }
  k.weights.forEach((w, i) => {
    let d = 0;
    for (let j = 0; j < w.length; j++) d = Math.max(d, Math.abs(w[j]! - t.weights[i]![j]!));
    expect(d, `${c.name} weight ${i}`).toBeLessThanOrEqual(1e-3);
  });
}

describe('compiled fit follows tfjs-layers for 20 steps', () => {
  for (const c of [mlp, cnn]) {
    it(`${c.name}, SGD`, () => compare(c, () => sgd({ learningRate: 0.3 }), () => tf.train.sgd(0.3), 100));
    it(`${c.name}, Adam`, () => compare(c, () => adam({ learningRate: 0.02, epsilonMode: 'tfjs' }), () => tf.train.adam(0.02), 200));
  }
});
