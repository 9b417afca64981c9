/**
 * Test helpers for the recurrent layers (tests only): run a Kiln layer and its tfjs-layers twin
 * (or a tfjs-core reference) on the same weights and inputs, compare every output, and compare
 * the gradients of sum(out0 · r) with respect to the input and every trainable weight against
 * tf.variableGrads / tf.grads.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { valueAndGrad } from '../../frontend/grad.js';
import { ops, Tensor } from '../backend.js';
import type { Layer } from '../engine/layer.js';
import { maxAbsDiff, randomTensor, randomizeWeights, toTf } from '../test_util.js';
import '../index.js'; // every layer class registered, for loading saved models

export interface RnnComparison {
  /** Max abs difference over all outputs. */
  forward: number;
  /** Max abs difference of d/dx and of each trainable weight's gradient (when asked). */
  gradX?: number;
  gradW?: number[];
}

const asList = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/**
 * Build both layers on `xs` (first the sequence, then any initial states), give Kiln's layer
 * seeded random weights, copy them into tfjs, and compare. `tfCall` overrides how tfjs is applied
 * (e.g. with {mask} or {initialState}).
 */
export function compareRnn(
  k: Layer, t: tfl.layers.Layer, xs: Tensor[],
  opts: { grads?: boolean; seed?: number; tfCall?: (t: tfl.layers.Layer, xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[]; weightRange?: number } = {},
): RnnComparison {
  const seed = opts.seed ?? 3;
  const kIn = xs.length === 1 ? xs[0]! : xs;
  k.apply(kIn);
  randomizeWeights(k, seed + 50, -(opts.weightRange ?? 0.5), opts.weightRange ?? 0.5);
  const txs = xs.map(toTf);
  const call = opts.tfCall ?? ((l: tfl.layers.Layer, a: tf.Tensor[]) => l.apply(a.length === 1 ? a[0]! : a) as tf.Tensor | tf.Tensor[]);
  call(t, txs);
  t.setWeights(k.getWeights().map(toTf));
  const ko = asList(k.apply(kIn) as Tensor | Tensor[]);
  const to = asList(call(t, txs));
  if (ko.length !== to.length) throw new Error(`output count: kiln ${ko.length}, tfjs ${to.length}`);
  const forward = Math.max(...ko.map((o, i) => maxAbsDiff(o, to[i]!)));
  if (!opts.grads) return { forward };
  const r = randomTensor(ko[0]!.shape, seed + 7);
  const g = valueAndGrad((x: Tensor) => ops.sum(ops.mul(asList(k.apply(xs.length === 1 ? x : [x, ...xs.slice(1)]) as Tensor | Tensor[])[0]!, r)),
    { argnums: [0], variables: k.trainableWeights })(xs[0]!);
  const rt = toTf(r);
  const vars = t.trainableWeights.map((w) => w.read() as tf.Variable);
  const tg = tf.variableGrads(() => tf.sum(tf.mul(asList(call(t, txs))[0]!, rt)) as tf.Scalar, vars);
  const gx = tf.grads((x: tf.Tensor) => tf.sum(tf.mul(asList(call(t, [x, ...txs.slice(1)]))[0]!, rt)))([txs[0]!])[0]!;
  return {
    forward,
    gradX: maxAbsDiff(g.grads[0]!, gx),
    gradW: vars.map((v, i) => maxAbsDiff(g.variableGrads[i]!, tg.grads[v.name]!)),
  };
}

export { randomTensor };

/**
 * Save a tfjs-layers model with its own `model.save` to an in-memory IOHandler, load the
 * artifacts with kiln.loadLayersModel, and return the max abs difference of the two models'
 * predictions on `x` (and the Kiln model).
 */
export async function tfjsSavedToKiln(t: tfl.LayersModel, x: Tensor): Promise<{ diff: number; model: import('../engine/model.js').Model }> {
  const { loadLayersModel } = await import('../saving/load.js');
  let saved: tf.io.ModelArtifacts | undefined;
  await t.save(tf.io.withSaveHandler(async (a) => {
    saved = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  const m = await loadLayersModel(saved as never);
  const yk = asList(m.predict(x) as Tensor | Tensor[]);
  const yt = asList(t.predict(toTf(x)) as tf.Tensor | tf.Tensor[]);
  return { diff: Math.max(...yk.map((o, i) => maxAbsDiff(o, yt[i]!))), model: m };
}

/** Give every weight of a tfjs model seeded values in [-r, r]. */
export function randomizeTfjs(t: tfl.LayersModel, seed: number, r = 0.5): void {
  t.setWeights(t.getWeights().map((w, i) => toTf(randomTensor(w.shape, seed + i, -r, r))));
}
