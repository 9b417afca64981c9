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
  const feats = layers.globalAveragePooling2d({}).apply(h) as KerasTensor;
  const head = layers.dense({ units: classes, activation: 'softmax' });
  const out = head.apply(feats);
  const m = model({ inputs: x, outputs: out as never });
  randomizeBatchNorms(m, seed);
  // A sensibly initialised head, as training on separable data would leave it: a nearest-class-mean
  // classifier over the pooled features of `classes` prototype images (diagonal LDA: features
  // centred on the prototypes' mean and scaled by their spread). Inputs mixing two prototypes
  // (mixtures below) then come with margins from clear to ambiguous.
  const protos = prototypes(classes, size, seed);
  const f = model({ inputs: x, outputs: feats }).predict(Tensor.concrete(protos)) as Tensor;
  const fd = f.dataSync(), k = f.shape[1]!;
  const mean = new Float64Array(k), v = new Float64Array(k);
  for (let r = 0; r < classes; r++) for (let j = 0; j < k; j++) mean[j] += fd[r * k + j]! / classes;
  for (let r = 0; r < classes; r++) for (let j = 0; j < k; j++) v[j] += (fd[r * k + j]! - mean[j]!) ** 2 / classes;
  // Only the features that vary most across prototypes carry the decision (as weight decay leaves
  // a trained head): w = (F_c - mean) / sd on the top half of features by sd, 0 elsewhere;
  // logit_c = w_c . (f - mean) - |w_c|^2 sd / 2, a nearest-centre rule in those standardized features.
  const sds = Array.from(v, (x) => Math.sqrt(x));
  const cut = [...sds].sort((p, q) => q - p)[Math.floor(k / 2) - 1]!;
  const w = new Float32Array(k * classes), b = new Float32Array(classes);
  const temperature = 8 / k;
  for (let c = 0; c < classes; c++) {
    let bc = 0;
    for (let j = 0; j < k; j++) {
      if (sds[j]! < cut || sds[j]! === 0) continue;
      const d = (fd[c * k + j]! - mean[j]!) / sds[j]!; // standardized centre
      w[j * classes + c] = temperature * d / sds[j]!;
      bc += temperature * (-mean[j]! * d / sds[j]! - 0.5 * d * d);
    }
    b[c] = bc;
  }
  head.setWeights([Tensor.concrete(literal([k, classes], 'f32', w)), Tensor.concrete(literal([classes], 'f32', b))]);
  return m;
}

/**
 * `n` images in [0, 1) of shape [n, size, size, c] as a literal: per image a random mix of
 * oriented gratings of random frequency, a base color, a color cast, contrast and noise (structure, not pure noise).
 */
export function images(n: number, size: number, c: number, seed: number): Literal {
  const noise = uniform(n * size * size * c, seed, 0, 1);
  const p = uniform(n * 16, seed + 1, 0, 1);
  const data = new Float32Array(n * size * size * c);
  for (let b = 0; b < n; b++) {
    const q = (j: number) => p[b * 16 + j]!;
    const f1 = 0.1 + 1.2 * q(0), f2 = 0.1 + 1.2 * q(1), a1 = 6.28 * q(2), a2 = 6.28 * q(3), contrast = 0.1 + 0.4 * q(4), amt = 0.05 + 0.3 * q(5);
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
      const g1 = Math.sin(f1 * (x * Math.cos(a1) + y * Math.sin(a1)) + 6.28 * q(6));
      const g2 = Math.sin(f2 * (x * Math.cos(a2) + y * Math.sin(a2)) + 6.28 * q(7));
      for (let k = 0; k < c; k++) {
        const i = ((b * size + y) * size + x) * c + k;
        const cast = q(8 + (k % 4));
        const v = 0.2 + 0.6 * q(12 + (k % 4)) + contrast * (cast * g1 + (1 - cast) * g2) + amt * (noise[i]! - 0.5);
        data[i] = Math.min(0.999, Math.max(0, v));
      }
    }
  }
  return literal([n, size, size, c], 'f32', data);
}

/** `classes` prototype images (the head's class centres). */
export function prototypes(classes: number, size: number, seed: number): Literal {
  return images(classes, size, 3, seed * 31 + 3);
}

/**
 * `n` inputs mixing two different prototypes, a*P_i + (1-a)*P_j + noise, a uniform in
 * [minWeight, 1]: with the default 0.6 each input is mostly one prototype (up to 40% of another
 * mixed in); 0 makes half of them ambiguous mixtures (a near 0.5).
 */
export function mixtures(n: number, classes: number, size: number, seed: number, minWeight = 0.6): Literal {
  const protos = prototypes(classes, size, seed);
  const per = size * size * 3;
  const r = uniform(n * 3, seed * 7 + 1, 0, 1), noise = uniform(n * per, seed * 7 + 2, -0.05, 0.05);
  const data = new Float32Array(n * per);
  for (let s = 0; s < n; s++) {
    const i = Math.floor(r[s * 3]! * classes), j = (i + 1 + Math.floor(r[s * 3 + 1]! * (classes - 1))) % classes, a = minWeight + (1 - minWeight) * r[s * 3 + 2]!;
    for (let e = 0; e < per; e++) data[s * per + e] = Math.min(0.999, Math.max(0, a * protos.data[i * per + e]! + (1 - a) * protos.data[j * per + e]! + noise[s * per + e]!));
  }
  return literal([n, size, size, 3], 'f32', data);
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
