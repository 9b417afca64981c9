/**
 * Attention and AdditiveAttention against a direct tfjs-core implementation of Keras 3's
 * formulas (tfjs-layers 4.22 has neither): dot and concat scores, useScale, the value mask and
 * causal mask subtracting 1e9 from the scores, the query mask zeroing rows, returned scores,
 * dropout, gradients vs tf.grads (inputs and weights), config round trips, compile and fit.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients, which tf.grads needs
import { beforeAll, describe, expect, it } from 'vitest';
import { valueAndGrad } from '../../frontend/grad.js';
import { compile } from '../../compile.js';
import { load } from '../../runtime/index.js';
import { ops, type Tensor } from '../backend.js';
import { input } from '../engine/input.js';
import { model } from '../engine/functional.js';
import { deserializeLayer } from '../engine/layer.js';
import { adam } from '../optimizers/adam.js';
import { loadLayersModel } from '../saving/load.js';
import { maxAbsDiff, randomTensor, randomizeWeights, toTf, useCpuBackend } from '../test_util.js';
import { AdditiveAttention, additiveAttention } from './additive_attention.js';
import { Attention, attention, type AttentionArgs, type AttentionCallArgs } from './attention.js';
import { dense } from './dense.js';
import { embedding } from './embedding.js';
import { Dropout } from './dropout.js';
import { flatten } from './flatten.js';

beforeAll(useCpuBackend);

interface Ref {
  kind: 'dot' | 'concat' | 'additive';
  scale?: tf.Tensor;
  concatWeight?: tf.Tensor;
  qMask?: tf.Tensor;
  vMask?: tf.Tensor;
  causal?: boolean;
}

/** Keras 3 Attention / AdditiveAttention, written with tfjs-core ops. */
function refAttention(q: tf.Tensor, v: tf.Tensor, k: tf.Tensor, r: Ref): { y: tf.Tensor; p: tf.Tensor } {
  let s: tf.Tensor;
  if (r.kind === 'dot') {
    s = tf.matMul(q, k, false, true);
    if (r.scale) s = tf.mul(s, r.scale);
  } else {
    let sum = tf.add(tf.expandDims(q, 2), tf.expandDims(k, 1));
    if (r.kind === 'concat') {
      if (r.scale) sum = tf.mul(r.scale, sum);
      s = tf.mul(r.concatWeight!, tf.sum(tf.tanh(sum), -1));
    } else {
      s = tf.sum(r.scale ? tf.mul(r.scale, tf.tanh(sum)) : tf.tanh(sum), -1);
    }
  }
  let keep: tf.Tensor | undefined = r.vMask ? tf.expandDims(r.vMask, 1) : undefined;
  if (r.causal) {
    const band = tf.reshape(tf.cast(tf.linalg.bandPart(tf.ones([s.shape[1]!, s.shape[2]!]), -1, 0), 'bool'), [1, s.shape[1]!, s.shape[2]!]);
    keep = keep ? tf.logicalAnd(keep, band) : band;
  }
  if (keep) s = tf.sub(s, tf.mul(1e9, tf.cast(tf.logicalNot(keep), 'float32')));
  const p = tf.softmax(s);
  let y = tf.matMul(p, v);
  if (r.qMask) y = tf.mul(y, tf.expandDims(tf.cast(r.qMask, 'float32'), -1));
  return { y, p };
}

const kilnBool = (data: number[], shape: number[]) => ops.greater(ops.tensor(data, shape), 0.5);
const tfBool = (data: number[], shape: number[]) => tf.cast(tf.tensor(data, shape), 'bool');

describe('Attention', () => {
  const q = randomTensor([2, 3, 4], 1), v = randomTensor([2, 5, 6], 2), k = randomTensor([2, 5, 4], 3);

  it.each([
    ['dot', {}],
    ['dot, useScale', { useScale: true }],
    ['concat', { scoreMode: 'concat' as const }],
    ['concat, useScale', { scoreMode: 'concat' as const, useScale: true }],
  ] as [string, AttentionArgs][])('%s matches the Keras formula, with and without a key', (_, args) => {
    const l = attention(args);
    l.apply([q, v, k]);
    randomizeWeights(l, 7, 0.3, 1.5);
    const w = l.getWeights().map(toTf);
    const ref = (key: Tensor) => refAttention(toTf(q), toTf(v), toTf(key), {
      kind: args.scoreMode ?? 'dot', ...(args.useScale ? { scale: w[0] } : {}), ...(args.scoreMode === 'concat' ? { concatWeight: w[args.useScale ? 1 : 0] } : {}),
    });
    expect(maxAbsDiff(l.apply([q, v, k]) as Tensor, ref(k).y)).toBeLessThan(1e-5);
    const qv = randomTensor([2, 5, 4], 4);
    expect(maxAbsDiff(l.apply([q, qv]) as Tensor, refAttention(toTf(q), toTf(qv), toTf(qv), {
      kind: args.scoreMode ?? 'dot', ...(args.useScale ? { scale: w[0] } : {}), ...(args.scoreMode === 'concat' ? { concatWeight: w[args.useScale ? 1 : 0] } : {}),
    }).y)).toBeLessThan(1e-5);
    expect(l.weights.map((x) => x.name.split('/')[1])).toEqual([...(args.useScale ? ['scale'] : []), ...(args.scoreMode === 'concat' ? ['concat_score_weight'] : [])]);
  });

  it('masks: value mask and causal mask take 1e9 off the scores, the query mask zeroes rows; scores returned', () => {
    const l = attention({ useScale: true });
    l.apply([q, k]);
    randomizeWeights(l, 9, 0.5, 2);
    const qm = [1, 0, 1, 1, 1, 0], vm = [1, 1, 0, 1, 0, 0, 1, 1, 1, 1];
    const cases: [string, AttentionCallArgs, Ref][] = [
      ['value mask', { mask: [null, kilnBool(vm, [2, 5])] }, { kind: 'dot', vMask: tfBool(vm, [2, 5]) }],
      ['query and value masks', { mask: [kilnBool(qm, [2, 3]), kilnBool(vm, [2, 5])] }, { kind: 'dot', qMask: tfBool(qm, [2, 3]), vMask: tfBool(vm, [2, 5]) }],
      ['causal', { useCausalMask: true }, { kind: 'dot', causal: true }],
      ['causal and value mask', { useCausalMask: true, mask: [null, kilnBool(vm, [2, 5])] }, { kind: 'dot', causal: true, vMask: tfBool(vm, [2, 5]) }],
    ];
    for (const [what, args, r] of cases) {
      const [y, p] = l.apply([q, v, k], { ...args, returnAttentionScores: true }) as Tensor[];
      const ref = refAttention(toTf(q), toTf(v), toTf(k), { ...r, scale: toTf(l.getWeights()[0]!) });
      expect(maxAbsDiff(y!, ref.y), what).toBeLessThan(1e-5);
      expect(maxAbsDiff(p!, ref.p), what).toBeLessThan(1e-6);
    }
  });

  it('padding masks travel from Embedding(maskZero) as [queryMask, valueMask]', () => {
    const ids = ops.tensor([3, 1, 4, 0, 2, 5, 0, 0], [2, 4]);
    const e = embedding({ inputDim: 6, outputDim: 4, maskZero: true }).apply(ids);
    const l = attention({ useScale: true });
    l.apply([e, e]);
    randomizeWeights(l, 19, 0.5, 1.5);
    const got = l.apply([e, e]) as Tensor;
    const keep = tf.notEqual(toTf(ids), 0);
    expect(maxAbsDiff(got, refAttention(toTf(e), toTf(e), toTf(e), { kind: 'dot', scale: toTf(l.getWeights()[0]!), qMask: keep, vMask: keep }).y)).toBeLessThan(1e-5);
    expect(maxAbsDiff(l.apply([e, e], { mask: null }) as Tensor, toTf(got))).toBeGreaterThan(1e-3);
  });

  it('gradients with respect to query, value, key and the weights match tf.grads', () => {
    for (const l of [attention({ scoreMode: 'concat', useScale: true }), additiveAttention()]) {
      l.apply([q, v, k]);
      randomizeWeights(l, 13, 0.3, 1.2);
      const c = randomTensor([2, 3, 6], 14);
      const vm = [1, 1, 0, 1, 1, 0, 1, 1, 1, 1];
      const got = valueAndGrad((a: Tensor, b: Tensor, kk: Tensor) => ops.sum(ops.mul(l.apply([a, b, kk], { useCausalMask: true, mask: [null, kilnBool(vm, [2, 5])] }) as Tensor, c)),
        { argnums: [0, 1, 2], variables: l.trainableWeights })(q, v, k);
      const additive = l instanceof AdditiveAttention;
      const ref = tf.grads((a: tf.Tensor, b: tf.Tensor, kk: tf.Tensor, s: tf.Tensor, cw?: tf.Tensor) =>
        tf.sum(tf.mul(refAttention(a, b, kk, { kind: additive ? 'additive' : 'concat', scale: s, ...(cw ? { concatWeight: cw } : {}), causal: true, vMask: tfBool(vm, [2, 5]) }).y, toTf(c))))(
        [toTf(q), toTf(v), toTf(k), ...l.getWeights().map(toTf)]);
      [...got.grads, ...got.variableGrads].forEach((g, i) => expect(maxAbsDiff(g, ref[i]!), `${l.className} gradient ${i}`).toBeLessThan(2e-5));
    }
  });

  it('dropout drops probabilities in training only, keyed by the step', () => {
    const l = attention({ dropout: 0.5, seed: 4 });
    const ref = refAttention(toTf(q), toTf(v), toTf(k), { kind: 'dot' });
    expect(maxAbsDiff(l.apply([q, v, k]) as Tensor, ref.y)).toBeLessThan(1e-5);
    const step = ops.scalar(2, 'i32');
    const keep = toTf(new Dropout({ rate: 0.5, seed: 4 }).apply(ops.ones([2, 3, 5]), { training: true, step }));
    expect(maxAbsDiff(l.apply([q, v, k], { training: true, step }) as Tensor, tf.matMul(tf.mul(ref.p, keep), toTf(v)))).toBeLessThan(1e-5);
  });

  it('config round-trips; bad arguments and inputs are named', () => {
    const a = attention({ name: 'a1', useScale: true, scoreMode: 'concat', dropout: 0.2, seed: 1 });
    expect(a.getConfig()).toMatchObject({ useScale: true, scoreMode: 'concat', dropout: 0.2, seed: 1 });
    expect(Attention.fromConfig(a.getConfig()).getConfig()).toEqual(a.getConfig());
    const ad = additiveAttention({ name: 'ad1', useScale: false });
    expect(Object.keys(ad.getConfig())).not.toContain('scoreMode');
    expect(deserializeLayer(ad.serialize()).getConfig()).toEqual(ad.getConfig());
    expect(additiveAttention().useScale).toBe(true);
    expect(() => attention({ name: 'a2', scoreMode: 'general' as 'dot' })).toThrow(`Attention 'a2': scoreMode "general" is not supported (expected 'dot' or 'concat')`);
    expect(() => attention({ name: 'a3', useScal: true } as never)).toThrow("Attention 'a3': unknown argument 'useScal' (did you mean 'useScale'?)");
    expect(() => additiveAttention({ name: 'a4', scoreMode: 'dot' } as never)).toThrow("AdditiveAttention 'a4': unknown argument 'scoreMode'");
    expect(() => attention({ name: 'a5' }).apply([q, randomTensor([2, 5, 3], 1)])).toThrow("Attention 'a5': query and key must have the same feature size, got query f32[2,3,4] and key f32[2,5,3]");
    expect(() => attention({ name: 'a6' }).apply([q])).toThrow("Attention 'a6': expects a list of inputs [query, value] or [query, value, key], got 1 inputs");
    expect(() => attention({ name: 'a7' }).apply([q, k], { useCasualMask: true } as never)).toThrow("Attention 'a7': unknown call argument 'useCasualMask' (did you mean 'useCausalMask'?)");
  });
});

describe('AdditiveAttention', () => {
  it('matches the Keras formula (scale [dim], and without scale), with masks', () => {
    const q = randomTensor([2, 3, 4], 21), v = randomTensor([2, 4, 5], 22), k = randomTensor([2, 4, 4], 23);
    for (const useScale of [true, false]) {
      const l = additiveAttention({ useScale });
      l.apply([q, v, k]);
      randomizeWeights(l, 24);
      expect(l.weights.map((w) => w.shape)).toEqual(useScale ? [[4]] : []);
      const vm = [1, 0, 1, 1, 0, 1, 1, 1];
      const scale = useScale ? { scale: toTf(l.getWeights()[0]!) } : {};
      expect(maxAbsDiff(l.apply([q, v, k]) as Tensor, refAttention(toTf(q), toTf(v), toTf(k), { kind: 'additive', ...scale }).y)).toBeLessThan(1e-5);
      const masked = l.apply([q, v, k], { mask: [null, kilnBool(vm, [2, 4])], useCausalMask: true }) as Tensor;
      expect(maxAbsDiff(masked, refAttention(toTf(q), toTf(v), toTf(k), { kind: 'additive', ...scale, vMask: tfBool(vm, [2, 4]), causal: true }).y)).toBeLessThan(1e-5);
    }
  });

  it('in a functional model: kiln save/load, compiled equal to the interpreter, trains with fit', async () => {
    for (const make of [() => attention({ useScale: true }), () => additiveAttention()]) {
      const a = input({ shape: [4, 6] }), b = input({ shape: [5, 6] });
      const att = make().apply([a, b]);
      const out = dense({ units: 2, activation: 'softmax' }).apply(flatten().apply(att));
      const m = model({ inputs: [a, b], outputs: out });
      randomizeWeights(m, 31, -0.5, 0.5);
      const xa = randomTensor([3, 4, 6], 32), xb = randomTensor([3, 5, 6], 33);
      m.runEagerly = true;
      const eager = m.predict([xa, xb]) as Tensor;
      let saved: unknown;
      await m.save({ save: async (x: unknown) => { saved = x; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; } } as never);
      const back = await loadLayersModel(saved as never);
      back.runEagerly = true;
      expect(maxAbsDiff(back.predict([xa, xb]) as Tensor, toTf(eager))).toBe(0);
      const prog = await load(compile(m, { inputShapes: [[3, 4, 6], [3, 5, 6]] }).bytes);
      const res = await prog.run({ [prog.inputs[0]!.name]: xa.dataSync() as Float32Array, [prog.inputs[1]!.name]: xb.dataSync() as Float32Array });
      const y = res[prog.outputs[0]!.name] as Float32Array;
      prog.dispose();
      expect(maxAbsDiff(ops.tensor(Array.from(y), [3, 2]), toTf(eager))).toBeLessThan(1e-5);
      m.compile({ optimizer: adam({ learningRate: 0.02 }), loss: 'sparseCategoricalCrossentropy' });
      const h = await m.fit([xa, xb], ops.tensor([0, 1, 1], [3], 'i32'), { epochs: 10, batchSize: 3, verbose: 0 });
      const losses = h.history['loss']!;
      expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.8);
    }
  });
});
