/**
 * Models and helpers shared by the int8 quantization tests: a MobileNet-style model built in code
 * (depthwise separable blocks with batch norm and ReLU6, a residual add, max pooling, a dense
 * head) with sensibly scaled random weights and non-trivial batch-norm statistics, and output
 * agreement measures.
 */
import { input, layers, model, type KerasTensor, type Model } from '../keras/index.js';
import { BatchNormalization } from '../keras/layers/batch_normalization.js';
import * as initializers from '../keras/initializers.js';
import { Tensor } from '../frontend/tensor.js';
import { literal, type Literal } from '../ir/literal.js';

/** Deterministic uniform values in [lo, hi). */
export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

/** Give every batch norm layer of `m` non-trivial statistics (gamma, beta, moving mean, variance). */
export function randomizeBatchNorms(m: Model, seed: number): void {
  let k = 0;
  for (const l of m.layers) {
    if (!(l instanceof BatchNormalization)) continue;
    const ws = l.getWeights();
    const c = ws[0]!.shape[0]!;
    const t = (lo: number, hi: number) => Tensor.concrete(literal([c], 'f32', uniform(c, seed + 97 * k++, lo, hi)));
    l.setWeights([t(0.6, 1.4), t(-0.2, 0.3), t(-0.3, 0.3), t(0.5, 1.5)]);
  }
}

/**
 * MobileNet-style: 3x3 stem conv (stride 2) + BN + ReLU6, two depthwise separable blocks (the
 * second with a residual add), max pooling, global average pooling, dense softmax over `classes`.
 */
export function mobilenetStyle(size = 32, classes = 10, seed = 1): Model {
  let i = 0;
  const init = () => initializers.heNormal({ seed: seed * 100 + i++ });
  const x = input({ shape: [size, size, 3] });
  let h = layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: init() }).apply(x);
  h = layers.batchNormalization({}).apply(h);
  h = layers.reLU({ maxValue: 6 }).apply(h);
  // Block 1: depthwise 3x3 + BN + ReLU6, pointwise 1x1 -> 24 + BN + ReLU6.
  h = layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false, depthwiseInitializer: init() }).apply(h);
  h = layers.batchNormalization({}).apply(h);
  h = layers.reLU({ maxValue: 6 }).apply(h);
  h = layers.conv2d({ filters: 24, kernelSize: 1, useBias: false, kernelInitializer: init() }).apply(h);
  h = layers.batchNormalization({}).apply(h);
  const b1 = layers.reLU({ maxValue: 6 }).apply(h);
  // Block 2 (residual): depthwise + BN + ReLU6, pointwise linear bottleneck + BN, add.
  h = layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false, depthwiseInitializer: init() }).apply(b1);
  h = layers.batchNormalization({}).apply(h);
  h = layers.reLU({ maxValue: 6 }).apply(h);
  h = layers.conv2d({ filters: 24, kernelSize: 1, useBias: false, kernelInitializer: init() }).apply(h);
  h = layers.batchNormalization({}).apply(h);
  h = layers.add({}).apply([b1, h]) as KerasTensor;
  h = layers.maxPooling2d({ poolSize: 2 }).apply(h);
  h = layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(), biasInitializer: initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: seed * 100 + i++ }) }).apply(h);
  h = layers.globalAveragePooling2d({}).apply(h);
  const out = layers.dense({ units: classes, activation: 'softmax', kernelInitializer: initializers.glorotUniform({ seed: seed * 100 + i++ }), biasInitializer: initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: seed * 100 + i++ }) }).apply(h);
  const m = model({ inputs: x, outputs: out as never });
  randomizeBatchNorms(m, seed);
  return m;
}

/** `n` images in [0, 1) of shape [n, size, size, c] as a literal, with smooth structure (not pure noise). */
export function images(n: number, size: number, c: number, seed: number): Literal {
  const noise = uniform(n * size * size * c, seed, 0, 1);
  const phase = uniform(n * 4, seed + 1, 0, 6.28);
  const data = new Float32Array(n * size * size * c);
  for (let b = 0; b < n; b++) for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) for (let k = 0; k < c; k++) {
    const i = ((b * size + y) * size + x) * c + k;
    const wave = 0.5 + 0.25 * Math.sin(x * 0.4 + phase[b * 4 + k % 4]!) * Math.cos(y * 0.3 + phase[b * 4 + 3]!);
    data[i] = Math.min(0.999, Math.max(0, 0.7 * wave + 0.3 * noise[i]!));
  }
  return literal([n, size, size, c], 'f32', data);
}

/** Rows [from, to) of a batch-major literal. */
export function rows(l: Literal, from: number, to: number): Literal {
  const per = l.data.length / l.type.shape[0]!;
  return literal([to - from, ...l.type.shape.slice(1)], l.type.dtype, l.data.subarray(from * per, to * per) as Float32Array);
}

export function argmaxRows(data: ArrayLike<number>, classes: number): number[] {
  const out: number[] = [];
  for (let r = 0; r * classes < data.length; r++) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (data[r * classes + k]! > data[r * classes + best]!) best = k;
    out.push(best);
  }
  return out;
}

/** Cosine similarity of two flat vectors. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i]! * b[i]!; aa += a[i]! * a[i]!; bb += b[i]! * b[i]!; }
  return ab / Math.sqrt(aa * bb);
}
