/**
 * Test helpers for one layer at a time, against independent oracles (tests only): predictions
 * against the tfjs-layers twin (or a tfjs-core reference where tfjs-layers lacks the layer or
 * departs from Keras) with the same weights; gradients of sum(y * r) with respect to the input
 * and every trainable weight against tf.variableGrads / tf.grads; config round trips through
 * fromConfig and the registry; a model saved by tfjs-layers (in-memory IOHandler) loaded by
 * kiln.loadLayersModel (or a Keras 3 model.json, for layers tfjs-layers lacks); the compiled
 * artifact (kiln.compile + runtime, 1 and 2 threads) against the interpreter; the CUDA target's
 * PTX through ptxas; and `fit` (the compiled training step) against tfjs-layers' fit.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { expect } from 'vitest';
import { loadLayersModel } from '../saving/load.js';
import { sgd as sgdOptimizer } from '../optimizers/sgd.js';
import { compile } from '../../compile.js';
import { load, readArtifact } from '../../runtime/index.js';
import { assemblePtx, findPtxas } from '../../codegen/cuda/ptxas.js';
import { valueAndGrad } from '../../frontend/grad.js';
import { ops, tensorFromData, Tensor } from '../backend.js';
import { input } from '../engine/input.js';
import { model } from '../engine/functional.js';
import { Sequential } from '../engine/sequential.js';
import { deserializeLayer, type Layer, type LayerConfig } from '../engine/layer.js';
import type { Model } from '../engine/model.js';
import { copyWeights, maxAbsDiff, randomData, randomTensor, randomizeWeights, toTf } from '../test_util.js';

export interface LayerCase {
  /** A fresh Kiln layer. */
  kiln: () => Layer;
  /** Its tfjs-layers twin, where tfjs-layers has the layer with Keras's semantics. */
  tfjs?: () => tfl.layers.Layer;
  /**
   * The reference in tfjs-core ops, on the input and Kiln's weights (in getWeights order): for
   * predictions where there is no twin, and for gradients whenever given (tf.grads through it;
   * e.g. where tfjs-core cannot differentiate the twin's op).
   */
  oracle?: (x: tf.Tensor, weights: tf.Tensor[]) => tf.Tensor;
  /** Input shape, batch included. */
  input: number[];
  /** Inputs are uniform in [-range, range]. */
  range?: number;
}

/**
 * A kernel dilated by `d` along `axis` (d - 1 zeros between taps), in differentiable tfjs-core ops:
 * the reference for dilated convolutions, which tfjs-core cannot differentiate.
 */
export function dilateKernel(k: tf.Tensor, d: number, axis: number): tf.Tensor {
  if (d === 1) return k;
  const K = k.shape[axis]!;
  const spread = tf.stack([k, ...Array.from({ length: d - 1 }, () => tf.zerosLike(k))], axis + 1);
  const merged = tf.reshape(spread, [...k.shape.slice(0, axis), K * d, ...k.shape.slice(axis + 1)]);
  return tf.slice(merged, k.shape.map(() => 0), k.shape.map((n, i) => (i === axis ? (K - 1) * d + 1 : n)));
}

const seedOf = (c: LayerCase) => c.input.reduce((a, b) => a * 31 + b, 7) % 997;

/** A built Kiln layer with seeded random weights, and the input it was built on. */
function builtKiln(c: LayerCase): { layer: Layer; x: Tensor } {
  const x = randomTensor(c.input, seedOf(c), -(c.range ?? 1), c.range ?? 1);
  const layer = c.kiln();
  layer.apply(x);
  randomizeWeights(layer, seedOf(c) + 100, -0.8, 0.8);
  return { layer, x };
}

function reference(c: LayerCase, layer: Layer, xt: tf.Tensor): tf.Tensor {
  if (!c.tfjs) return c.oracle!(xt, layer.getWeights().map(toTf));
  const t = c.tfjs!();
  t.apply(xt);
  copyWeights(layer, t);
  return t.apply(xt) as tf.Tensor;
}

function requireNonTrivial(y: Tensor, who: string): void {
  // Two all-zero outputs would prove nothing.
  if (Math.max(...Array.from(y.dataSync(), Math.abs)) < 1e-3) throw new Error(`${who}: all-zero output; pick another input`);
}

/** Max abs difference between the Kiln layer and its reference (the twin, else the oracle) on the same input and weights. */
export function predictionDiff(c: LayerCase): number {
  const { layer, x } = builtKiln(c);
  const y = layer.apply(x) as Tensor;
  requireNonTrivial(y, layer.label);
  return maxAbsDiff(y, reference(c, layer, toTf(x)));
}

/**
 * Max abs differences of the gradients of sum(y * r) with respect to the input and to each
 * trainable weight: Kiln's valueAndGrad against tf.variableGrads through the tfjs twin (or
 * tf.grads through the oracle).
 */
export function gradientDiffs(c: LayerCase): { input: number; weights: number[] } {
  const { layer, x } = builtKiln(c);
  const y = layer.apply(x) as Tensor;
  const r = randomTensor(y.shape, seedOf(c) + 7);
  const k = valueAndGrad((xs: Tensor) => ops.sum(ops.mul(layer.apply(xs) as Tensor, r)), { argnums: [0], variables: layer.trainableWeights })(x);
  const rt = toTf(r);
  let want: tf.Tensor[];
  if (c.oracle) {
    const trainable = new Set(layer.trainableWeights);
    const all = layer.weights;
    const idx = all.map((w, i) => (trainable.has(w) ? i : -1)).filter((i) => i >= 0);
    want = tf.grads((xt: tf.Tensor, ...ws: tf.Tensor[]) => {
      const full = all.map((w, i) => (idx.includes(i) ? ws[idx.indexOf(i)]! : toTf(w.value)));
      return tf.sum(tf.mul(c.oracle!(xt, full), rt));
    })([toTf(x), ...idx.map((i) => toTf(all[i]!.value))]);
  } else {
    const t = c.tfjs!();
    const xv = tf.variable(toTf(x));
    t.apply(xv);
    copyWeights(layer, t);
    const vars = [xv, ...t.trainableWeights.map((w) => w.read() as tf.Variable)];
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(t.apply(xv) as tf.Tensor, rt)) as tf.Scalar, vars);
    want = vars.map((v) => grads[v.name]!);
  }
  expect(k.variableGrads.length).toBe(want.length - 1);
  return { input: maxAbsDiff(k.grads[0]!, want[0]!), weights: k.variableGrads.map((g, i) => maxAbsDiff(g, want[i + 1]!)) };
}

/**
 * getConfig -> fromConfig (through the registry, by class name) -> getConfig is the identity,
 * and the config carries every key tfjs-layers' twin writes.
 */
export function expectConfigRoundTrip(layer: Layer, twin?: tfl.layers.Layer): LayerConfig {
  const cfg = layer.getConfig();
  const again = deserializeLayer({ className: layer.className, config: JSON.parse(JSON.stringify(cfg)) as object });
  expect(again.className).toBe(layer.className);
  expect(again.getConfig()).toEqual(cfg);
  if (twin) for (const key of Object.keys(twin.getConfig())) expect(Object.keys(cfg), `config key '${key}' written by tfjs-layers`).toContain(key);
  return cfg;
}

export async function captureArtifacts(save: (h: tf.io.IOHandler) => Promise<unknown>): Promise<tf.io.ModelArtifacts> {
  let got: tf.io.ModelArtifacts | undefined;
  await save(tf.io.withSaveHandler(async (a) => {
    got = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  return got!;
}

function predictData(m: Model, x: Float32Array, shape: number[]): Float32Array {
  m.runEagerly = true;
  return Float32Array.from((m.predict(tensorFromData(x, shape)) as Tensor).dataSync());
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

/**
 * A tfjs-layers model (input -> the twin) with seeded weights, saved through an in-memory
 * IOHandler and loaded by kiln.loadLayersModel: max abs difference of the two predictions.
 */
export async function tfjsSavedModelDiff(c: LayerCase): Promise<number> {
  const inp = tfl.input({ shape: c.input.slice(1) });
  const tm = tfl.model({ inputs: inp, outputs: c.tfjs!().apply(inp) as tfl.SymbolicTensor });
  tm.setWeights(tm.weights.map((w, i) => tf.tensor(randomData(w.shape.reduce((a, b) => a! * b!, 1)!, 300 + i, -0.8, 0.8), w.shape as number[])));
  const artifacts = await captureArtifacts((h) => tm.save(h));
  const km = await loadLayersModel(artifacts as never);
  const x = randomData(c.input.reduce((a, b) => a * b, 1), 77, -(c.range ?? 1), c.range ?? 1);
  const want = (tm.predict(tf.tensor(x, c.input)) as tf.Tensor).dataSync();
  return maxDiff(predictData(km, x, c.input), want);
}

/** A Kiln model (input -> layer) saved in the tfjs format and loaded back: the topology and the predictions. */
export async function kilnSavedModel(c: LayerCase): Promise<{ diff: number; config: Record<string, unknown> }> {
  const { layer, x } = builtKiln(c);
  const inp = input({ shape: c.input.slice(1) });
  const km = model({ inputs: inp, outputs: layer.apply(inp) as never });
  const artifacts = await captureArtifacts((h) => km.save(h as never));
  const back = await loadLayersModel(artifacts as never);
  const data = Float32Array.from(x.dataSync());
  const layers = (artifacts.modelTopology as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } }).config.layers;
  return { diff: maxDiff(predictData(back, data, c.input), predictData(km, data, c.input)), config: layers[layers.length - 1]!.config };
}

/** Whether ptxas is installed (CUDA checks are skipped, with this reason printed by vitest, without it). */
export const hasPtxas = findPtxas() !== null;

/** The layer inside a model compiled for the CUDA target (sm_80): ptxas's verdict on the PTX and the kernel count. */
export function cudaAssembles(c: LayerCase): { ok: boolean; log: string; kernels: number } {
  const { layer } = builtKiln(c);
  const inp = input({ shape: c.input.slice(1) });
  const km = model({ inputs: inp, outputs: layer.apply(inp) as never });
  const art = compile(km, { target: 'cuda', sm: 80, inputShapes: [c.input] });
  const { manifest, sections } = readArtifact(art.bytes);
  return { ...assemblePtx(new TextDecoder().decode(sections['ptx']), 80), kernels: manifest.kernels.length };
}

/** The layer inside a model compiled by kiln.compile, run by the runtime (1 and 2 threads), against the interpreter. */
export async function compiledDiff(c: LayerCase): Promise<number> {
  const { layer, x } = builtKiln(c);
  const inp = input({ shape: c.input.slice(1) });
  const km = model({ inputs: inp, outputs: layer.apply(inp) as never });
  const data = Float32Array.from(x.dataSync());
  const want = predictData(km, data, c.input);
  const artifact = compile(km, { inputShapes: [c.input] });
  let worst = 0;
  for (const threads of [1, 2]) {
    const prog = await load(artifact.bytes, { threads });
    try {
      const out = prog.runSync({ [prog.inputs[0]!.name]: data });
      worst = Math.max(worst, maxDiff(out[prog.outputs[0]!.name] as Float32Array, want));
    } finally {
      prog.dispose();
    }
  }
  return worst;
}

/** TensorFlow's resize along one axis as an [out, in] matrix: linear weights, or one-hot rows for nearest (alignCorners off). */
function interpolationMatrix(inSize: number, outSize: number, nearest: boolean, halfPixelCenters: boolean): tf.Tensor2D {
  const a = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    if (nearest) {
      a[o * inSize + Math.min(Math.floor((halfPixelCenters ? o + 0.5 : o) * scale), inSize - 1)] = 1;
      continue;
    }
    const src = halfPixelCenters ? (o + 0.5) * scale - 0.5 : o * scale;
    const lo = Math.max(Math.floor(src), 0), hi = Math.min(Math.ceil(src), inSize - 1), frac = src - Math.floor(src);
    a[o * inSize + lo] += 1 - frac;
    a[o * inSize + hi] += frac;
  }
  return tf.tensor2d(a, [outSize, inSize]);
}

/**
 * An NHWC resize (tf.image.resizeBilinear / resizeNearestNeighbor semantics, alignCorners off)
 * as two matrix products, which tfjs-core differentiates correctly: the gradient reference for
 * resizes (tfjs-core 4.22's resize gradients are wrong for non-square images).
 */
export function resizeByMatrices(x: tf.Tensor, size: [number, number], opts: { nearest: boolean; halfPixelCenters: boolean }): tf.Tensor {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const [oh, ow] = size;
  const rows = tf.matMul(interpolationMatrix(h, oh, opts.nearest, opts.halfPixelCenters), tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [h, n * w * c]));
  const t = tf.transpose(tf.reshape(rows, [oh, n, w, c]), [2, 1, 0, 3]);
  const cols = tf.matMul(interpolationMatrix(w, ow, opts.nearest, opts.halfPixelCenters), tf.reshape(t, [w, n * oh * c]));
  return tf.transpose(tf.reshape(cols, [ow, n, oh, c]), [1, 2, 0, 3]);
}

/**
 * Two models of the same architecture (Kiln and tfjs-layers) from identical seeded weights,
 * trained by `fit` (Kiln: the compiled training step) with SGD on MSE for a few full-batch
 * epochs: the largest relative loss difference over the epochs, and the largest weight
 * difference at the end.
 */
export async function fitParity(km: Model, tm: tfl.LayersModel, inputShape: number[], epochs = 3): Promise<{ loss: number; weights: number; losses: number[] }> {
  tm.setWeights(tm.weights.map((w, i) => tf.tensor(randomData(w.shape.reduce((a, b) => a! * b!, 1)!, 500 + i, -0.5, 0.5), w.shape as number[])));
  km.setWeights(tm.getWeights().map((t) => tensorFromData(Float32Array.from(t.dataSync()), t.shape)));
  const n = inputShape.reduce((a, b) => a * b, 1);
  const x = randomData(n, 41);
  const outShape = tm.outputs[0]!.shape.map((d, i) => (i === 0 ? inputShape[0]! : d!)) as number[];
  const y = randomData(outShape.reduce((a, b) => a * b, 1), 42);
  km.compile({ optimizer: sgdOptimizer({ learningRate: 0.1 }), loss: 'meanSquaredError' });
  tm.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
  const args = { epochs, batchSize: inputShape[0]!, shuffle: false, verbose: 0 } as const;
  const hk = await km.fit(tensorFromData(x, inputShape), tensorFromData(y, outShape), args);
  const ht = await tm.fit(tf.tensor(x, inputShape), tf.tensor(y, outShape), args);
  const lk = hk.history['loss'] as number[], lt = ht.history['loss'] as number[];
  expect(lk.length).toBe(epochs);
  const loss = Math.max(...lk.map((v, i) => Math.abs(v - lt[i]!) / Math.max(Math.abs(lt[i]!), 1e-6)));
  const weights = Math.max(...km.getWeights().map((w, i) => maxDiff(w.dataSync(), tm.getWeights()[i]!.dataSync())));
  return { loss, weights, losses: lt };
}

/**
 * A Keras 3 Sequential model.json topology (InputLayer with batch_shape, DTypePolicy dtypes,
 * module/registered_name fields) around weightless layers given in Keras's snake_case
 * {class_name, config}, loaded by kiln.loadLayersModel: for layers tfjs-layers cannot save.
 */
export async function loadKeras3Sequential(layers: { class_name: string; config: Record<string, unknown> }[], inputShape: number[]): Promise<Model> {
  const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
  const batchShape = [null, ...inputShape.slice(1)];
  const topology = {
    module: 'keras', class_name: 'Sequential', registered_name: null,
    config: {
      name: 'sequential', trainable: true, dtype: policy, build_input_shape: batchShape,
      layers: [
        { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: batchShape, dtype: 'float32', sparse: false, ragged: false, name: 'input_layer' }, registered_name: null },
        ...layers.map((l, i) => ({ module: 'keras.layers', class_name: l.class_name, config: { name: `layer_${i}`, trainable: true, dtype: policy, ...l.config }, registered_name: null })),
      ],
    },
    build_config: { input_shape: batchShape }, compile_config: null,
  };
  const m = await loadLayersModel({ modelTopology: topology, weightSpecs: [], weightData: new ArrayBuffer(0) } as never);
  expect(m).toBeInstanceOf(Sequential);
  m.runEagerly = true;
  return m;
}
