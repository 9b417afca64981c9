/**
 * Test helpers for src/keras: moving tensors between Kiln and tfjs-core, seeded random data,
 * and comparing a Kiln layer with its tfjs-layers twin on the same weights. Tests only.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type * as tfl from '@tensorflow/tfjs-layers';
import { literal } from '../ir/literal.js';
import { Tensor } from '../frontend/tensor.js';
import { SeededRandom } from './initializers.js';
import type { Layer } from './engine/layer.js';

/** Kiln and tfjs-layers in one process: tfjs-core must run on the cpu backend. */
export async function useCpuBackend(): Promise<void> {
  await tf.setBackend('cpu');
}

export function randomData(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const rng = new SeededRandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rng.next();
  return out;
}

/** A concrete Kiln tensor of seeded uniform values. */
export function randomTensor(shape: readonly number[], seed: number, lo = -1, hi = 1): Tensor {
  return Tensor.concrete(literal(shape, 'f32', randomData(shape.reduce((a, b) => a * b, 1), seed, lo, hi)));
}

export function toTf(t: Tensor): tf.Tensor {
  return tf.tensor(Float32Array.from(t.dataSync()), t.shape, 'float32');
}

export function fromTf(t: tf.Tensor): Tensor {
  return Tensor.concrete(literal(t.shape, 'f32', t.dataSync() as Float32Array));
}

export function maxAbsDiff(a: Tensor, b: tf.Tensor): number {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`shape mismatch: kiln [${a.shape}] vs tfjs [${b.shape}]`);
  }
  const x = a.dataSync();
  const y = b.dataSync();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - (y[i] as number)));
  return m;
}

/** Copy Kiln weights into the tfjs-layers layer or model (same order). */
export function copyWeights(from: Layer, to: tfl.layers.Layer | tfl.LayersModel): void {
  to.setWeights(from.getWeights().map(toTf));
}

/** Replace every weight of `layer` by seeded random values (so biases and BN stats are not trivial). */
export function randomizeWeights(layer: Layer, seed: number, lo = -1, hi = 1): void {
  layer.setWeights(layer.weights.map((w, i) => randomTensor(w.value.shape, seed + i, lo, hi)));
}

/**
 * Apply `kiln` and `tfLayer` to the same random input after copying kiln's weights (randomized
 * first) into tfjs-layers; returns the max abs difference of the outputs.
 */
export function compareLayer(kiln: Layer, tfLayer: tfl.layers.Layer, inputShape: readonly number[], seed = 1, inputRange = 1): number {
  const x = randomTensor(inputShape, seed, -inputRange, inputRange);
  const y = kiln.apply(x);
  randomizeWeights(kiln, seed + 100);
  const yk = kiln.apply(x);
  const xt = toTf(x);
  tfLayer.apply(xt); // builds
  copyWeights(kiln, tfLayer);
  const yt = tfLayer.apply(xt) as tf.Tensor;
  void y;
  // A comparison of two all-zero outputs would prove nothing.
  if (Math.max(...Array.from((yk as Tensor).dataSync(), Math.abs)) < 1e-3) throw new Error(`compareLayer: ${kiln.name} produced an all-zero output; pick another input`);
  return maxAbsDiff(yk as Tensor, yt);
}
