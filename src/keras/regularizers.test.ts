/**
 * Regularizers: the penalty against tfjs-layers' L1L2 on the same tensor, the serialized form
 * against tfjs-layers' (className and config), resolution of every accepted spelling, and the
 * training semantics: the same models trained by Kiln's compiled step and by tfjs-layers' fit
 * (kernel/bias/depthwise/gamma/beta regularizers, SGD and Adam) give the same losses and
 * weights; the first loss includes the penalty (checked against a hand computation on
 * tfjs-core); activity regularizers against a tfjs-core training loop (tfjs-layers refuses them).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { KilnError } from '../ir/types.js';
import { sequential } from './engine/sequential.js';
import { batchNormalization } from './layers/batch_normalization.js';
import { conv2d } from './layers/conv2d.js';
import { dense } from './layers/dense.js';
import { depthwiseConv2d } from './layers/depthwise_conv2d.js';
import { flatten } from './layers/flatten.js';
import { adam } from './optimizers/adam.js';
import { sgd } from './optimizers/sgd.js';
import { getRegularizer, l1, l1l2, l2, serializeRegularizer, L1L2 } from './regularizers.js';
import { randomTensor, randomizeWeights, toTf, useCpuBackend } from './test_util.js';

beforeAll(useCpuBackend);

/** max |a - b| relative to the largest |b| of the tensor (a tensor's relative error). */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0, scale = 1e-6;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return m / scale;
}

describe('L1L2', () => {
  it('penalty matches tfjs-layers', () => {
    const x = randomTensor([3, 4], 7);
    for (const [k, t] of [
      [l1({ l1: 0.03 }), tfl.regularizers.l1({ l1: 0.03 })],
      [l2({ l2: 0.2 }), tfl.regularizers.l2({ l2: 0.2 })],
      [l1l2({ l1: 0.1, l2: 0.05 }), tfl.regularizers.l1l2({ l1: 0.1, l2: 0.05 })],
      [l1l2(), tfl.regularizers.l1l2()],
    ] as const) {
      const want = (t.apply(toTf(x)) as tf.Tensor).dataSync()[0]!;
      expect(want).not.toBe(0);
      expect(Math.abs(k.apply(x).dataSync()[0]! - want)).toBeLessThan(1e-6 * Math.abs(want));
      // tfjs-layers serializes {className: 'L1L2', config: {l1, l2}}.
      expect(serializeRegularizer(k)).toEqual({ className: t.getClassName(), config: t.getConfig() });
    }
  });

  it('resolves names, tfjs and Keras serialized forms; refuses unknown ones naming the field', () => {
    expect(getRegularizer('l1l2')!.getConfig()).toEqual({ l1: 0.01, l2: 0.01 });
    expect(getRegularizer('l2')!.getConfig()).toEqual({ l1: 0, l2: 0.01 });
    expect(getRegularizer({ className: 'L1L2', config: { l1: 0.5, l2: 0 } })!.getConfig()).toEqual({ l1: 0.5, l2: 0 });
    expect(getRegularizer({ className: 'L2', config: { l2: 0.3 } })!.getConfig()).toEqual({ l1: 0, l2: 0.3 });
    expect(getRegularizer(null)).toBeUndefined();
    expect(() => getRegularizer('l3' as never, "Dense 'd': kernelRegularizer")).toThrow(/Dense 'd': kernelRegularizer: unknown regularizer 'l3' \(did you mean 'l1'\?\)/);
    expect(() => new L1L2({ l1: -1 })).toThrow(/l1 must be a finite number >= 0, got -1/);
    expect(() => new L1L2({ l3: 1 } as never)).toThrow(/unknown argument 'l3'/);
    expect(() => getRegularizer({ className: 'OrthogonalRegularizer', config: {} }, "Dense 'd': kernelRegularizer")).toThrow(KilnError);
  });
});

const N = 8;

async function trainBoth(
  build: () => ReturnType<typeof sequential>, tfModel: tfl.Sequential, inShape: number[], outDim: number,
  opt: 'sgd' | 'adam', epochs: number, batchSize: number,
): Promise<{ kLoss: number[]; tLoss: number[]; kW: Float32Array[]; tW: Float32Array[] }> {
  const x = randomTensor([N, ...inShape], 11);
  const y = randomTensor([N, outDim], 12);
  const m = build();
  randomizeWeights(m, 40, -0.5, 0.5);
  // tfjs-layers' BN moving variance must stay positive; randomize it there too within (0.5, 1.5).
  m.layers.forEach((l) => {
    if (l.className === 'BatchNormalization') l.setWeights(l.getWeights().map((w, i) => (i === 3 ? randomTensor(w.shape, 90, 0.5, 1.5) : w)));
  });
  tfModel.setWeights(m.getWeights().map(toTf));
  m.compile({ optimizer: opt === 'sgd' ? sgd({ learningRate: 0.1 }) : adam({ learningRate: 0.01, epsilonMode: 'tfjs' }), loss: 'meanSquaredError' });
  tfModel.compile({ optimizer: opt === 'sgd' ? tf.train.sgd(0.1) : tf.train.adam(0.01), loss: 'meanSquaredError' });
  const h = await m.fit(x, y, { epochs, batchSize, shuffle: false, verbose: 0 });
  const th = await tfModel.fit(toTf(x), toTf(y), { epochs, batchSize, shuffle: false, verbose: 0 });
  return {
    kLoss: h.history.loss! as number[],
    tLoss: th.history.loss as number[],
    kW: m.getWeights().map((w) => Float32Array.from(w.dataSync())),
    tW: tfModel.getWeights().map((w) => w.dataSync() as Float32Array),
  };
}

describe('regularizers in training (against tfjs-layers fit)', () => {
  it('Dense kernel/bias regularizers, SGD; the first loss includes the penalty', async () => {
    const kArgs = (i: number) => ({ kernelRegularizer: i === 0 ? l2({ l2: 0.05 }) : l1l2({ l1: 0.02, l2: 0.03 }), biasRegularizer: l1({ l1: 0.04 }) });
    const build = () => sequential({ layers: [dense({ units: 4, activation: 'tanh', inputShape: [3], ...kArgs(0) }), dense({ units: 2, ...kArgs(1) })] });
    const tfModel = tfl.sequential({ layers: [
      tfl.layers.dense({ units: 4, activation: 'tanh', inputShape: [3], kernelRegularizer: tfl.regularizers.l2({ l2: 0.05 }), biasRegularizer: tfl.regularizers.l1({ l1: 0.04 }) }),
      tfl.layers.dense({ units: 2, kernelRegularizer: tfl.regularizers.l1l2({ l1: 0.02, l2: 0.03 }), biasRegularizer: tfl.regularizers.l1({ l1: 0.04 }) }),
    ] });
    // One full batch per epoch: each epoch's loss is the loss at that epoch's starting weights.
    const w0 = (() => {
      const m = build();
      randomizeWeights(m, 40, -0.5, 0.5);
      return m.getWeights().map(toTf);
    })();
    const r = await trainBoth(build, tfModel, [3], 2, 'sgd', 4, N);
    expect(relDiff(r.kLoss, r.tLoss)).toBeLessThan(1e-5);
    r.kW.forEach((w, i) => expect(relDiff(w, r.tW[i]!)).toBeLessThan(1e-5));
    // Oracle for the first loss: mse + penalties on the initial weights, written out on tfjs-core.
    const x = toTf(randomTensor([N, 3], 11)), y = toTf(randomTensor([N, 2], 12));
    const [k1, b1, k2, b2] = w0 as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const out = tf.add(tf.matMul(tf.tanh(tf.add(tf.matMul(x, k1), b1)), k2), b2);
    const mse = tf.mean(tf.square(tf.sub(out, y))).dataSync()[0]!;
    const pen = 0.05 * tf.sum(tf.square(k1)).dataSync()[0]! + 0.04 * tf.sum(tf.abs(b1)).dataSync()[0]!
      + 0.02 * tf.sum(tf.abs(k2)).dataSync()[0]! + 0.03 * tf.sum(tf.square(k2)).dataSync()[0]! + 0.04 * tf.sum(tf.abs(b2)).dataSync()[0]!;
    expect(pen).toBeGreaterThan(0.01);
    expect(Math.abs(r.kLoss[0]! - (mse + pen)) / (mse + pen)).toBeLessThan(1e-5);
  });

  it('Conv2D, DepthwiseConv2D and BatchNormalization regularizers, Adam, several batches', async () => {
    const build = () => sequential({ layers: [
      conv2d({ filters: 3, kernelSize: 3, padding: 'same', inputShape: [5, 5, 2], kernelRegularizer: l2({ l2: 0.02 }), biasRegularizer: l1({ l1: 0.01 }) }),
      depthwiseConv2d({ kernelSize: 2, depthwiseRegularizer: l1l2({ l1: 0.01, l2: 0.02 }), activation: 'relu' }),
      batchNormalization({ gammaRegularizer: l2({ l2: 0.1 }), betaRegularizer: l1({ l1: 0.05 }) }),
      flatten(),
      dense({ units: 2, kernelRegularizer: l1({ l1: 0.01 }) }),
    ] });
    const tfModel = tfl.sequential({ layers: [
      tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', inputShape: [5, 5, 2], kernelRegularizer: tfl.regularizers.l2({ l2: 0.02 }), biasRegularizer: tfl.regularizers.l1({ l1: 0.01 }) }),
      tfl.layers.depthwiseConv2d({ kernelSize: 2, depthwiseRegularizer: tfl.regularizers.l1l2({ l1: 0.01, l2: 0.02 }), activation: 'relu' }),
      tfl.layers.batchNormalization({ gammaRegularizer: tfl.regularizers.l2({ l2: 0.1 }), betaRegularizer: tfl.regularizers.l1({ l1: 0.05 }) }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 2, kernelRegularizer: tfl.regularizers.l1({ l1: 0.01 }) }),
    ] });
    const r = await trainBoth(build, tfModel, [5, 5, 2], 2, 'adam', 3, 4);
    expect(relDiff(r.kLoss, r.tLoss)).toBeLessThan(1e-5);
    r.kW.forEach((w, i) => expect(relDiff(w, r.tW[i]!)).toBeLessThan(1e-5));
  });
});

describe('activity regularizer (against a tfjs-core training loop)', () => {
  it('adds the penalty of the layer output (Keras 3: not divided by the batch) to the loss, SGD', async () => {
    const x = randomTensor([N, 3], 21), y = randomTensor([N, 1], 22);
    const m = sequential({ layers: [dense({ units: 4, inputShape: [3], activityRegularizer: l2({ l2: 0.05 }) }), dense({ units: 1 })] });
    randomizeWeights(m, 50, -0.5, 0.5);
    const vars = m.getWeights().map((w) => tf.variable(toTf(w)));
    m.compile({ optimizer: sgd({ learningRate: 0.1 }), loss: 'meanSquaredError' });
    const h = await m.fit(x, y, { epochs: 3, batchSize: N, shuffle: false, verbose: 0 });
    const xt = toTf(x), yt = toTf(y);
    const opt = tf.train.sgd(0.1);
    const losses: number[] = [];
    for (let e = 0; e < 3; e++) {
      const cost = opt.minimize(() => {
        const hdn = tf.add(tf.matMul(xt, vars[0]!), vars[1]!);
        const out = tf.add(tf.matMul(hdn, vars[2]!), vars[3]!);
        return tf.add(tf.mean(tf.square(tf.sub(out, yt))), tf.mul(0.05, tf.sum(tf.square(hdn)))) as tf.Scalar;
      }, true, vars)!;
      losses.push(cost.dataSync()[0]!);
    }
    expect(relDiff(h.history.loss as number[], losses)).toBeLessThan(1e-5);
    m.getWeights().forEach((w, i) => expect(relDiff(w.dataSync(), vars[i]!.dataSync())).toBeLessThan(1e-5));
  });
});
