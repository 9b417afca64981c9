/**
 * MultiHeadAttention against a direct tfjs-core implementation of Keras 3's formulas (tfjs-layers
 * 4.22 has no MultiHeadAttention): the projections and the attention written with Keras's own
 * einsum equations, the mask rule (`where(mask, scores, -1e9)`, softmax, times the mask), the
 * causal mask as a band matrix. Predictions, attention scores, gradients (tf.grads) with respect
 * to inputs and every weight, several attention axes, dropout, config, save/load, compile, fit.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients, which tf.grads needs
import { beforeAll, describe, expect, it } from 'vitest';
import { valueAndGrad } from '../../frontend/grad.js';
import { compile } from '../../compile.js';
import { load, readArtifact } from '../../runtime/index.js';
import { ops, type Tensor } from '../backend.js';
import { input } from '../engine/input.js';
import { model } from '../engine/functional.js';
import { deserializeLayer, getMask } from '../engine/layer.js';
import { loadLayersModel } from '../saving/load.js';
import { maxAbsDiff, randomTensor, randomizeWeights, toTf, useCpuBackend } from '../test_util.js';
import { adam } from '../optimizers/adam.js';
import { dense } from './dense.js';
import { embedding } from './embedding.js';
import { Dropout } from './dropout.js';
import { flatten } from './flatten.js';
import { MultiHeadAttention, multiHeadAttention, type MultiHeadAttentionArgs, type MultiHeadAttentionCallArgs } from './multi_head_attention.js';

beforeAll(useCpuBackend);

const hasPtxas = spawnSync('ptxas', ['--version']).status === 0;

interface RefOpts {
  numHeads: number;
  keyDim: number;
  useBias: boolean;
  /** Keras's einsum equations for this rank and these attention axes. */
  dot: string;
  combine: string;
  /** How many trailing score axes the softmax normalizes (the key attention axes). */
  normAxes: number;
  /** Output projection equation (`abcd,cde->abe` for rank 3). */
  out: string;
  proj: string;
  mask?: tf.Tensor; // bool, already in the scores' rank
}

type Einsum = (eq: string, a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/**
 * The rank-3 equations with matmuls and transposes: tfjs-core has no gradient for einsum, so
 * the gradient test runs the same formulas through these.
 */
const matmulEinsum: Einsum = (eq, a, b) => {
  const [A, B2, C, D] = a.shape;
  switch (eq) {
    case 'abc,cde->abde': return tf.reshape(tf.matMul(tf.reshape(a, [-1, C!]), tf.reshape(b, [C!, -1])), [A!, B2!, b.shape[1]!, b.shape[2]!]);
    case 'aecd,abcd->acbe': return tf.matMul(tf.transpose(b, [0, 2, 1, 3]), tf.transpose(a, [0, 2, 1, 3]), false, true);
    case 'acbe,aecd->abcd': return tf.transpose(tf.matMul(a, tf.transpose(b, [0, 2, 1, 3])), [0, 2, 1, 3]);
    case 'abcd,cde->abe': return tf.reshape(tf.matMul(tf.reshape(a, [A! * B2!, C! * D!]), tf.reshape(b, [C! * D!, -1])), [A!, B2!, -1]);
    default: throw new Error(`matmulEinsum: ${eq}`);
  }
};

/** Keras 3 MultiHeadAttention, written with tfjs-core ops. */
function refMha(w: tf.Tensor[], q: tf.Tensor, v: tf.Tensor, k: tf.Tensor, o: RefOpts, einsum: Einsum = tf.einsum): { y: tf.Tensor; scores: tf.Tensor } {
  const ws = [...w];
  const take = (): [tf.Tensor, tf.Tensor | undefined] => [ws.shift()!, o.useBias ? ws.shift()! : undefined];
  const proj = (x: tf.Tensor, [kern, b]: [tf.Tensor, tf.Tensor | undefined], eq: string) => (b ? tf.add(einsum(eq, x, kern), b) : einsum(eq, x, kern));
  const [qw, kw, vw, ow] = [take(), take(), take(), take()];
  const Q = proj(q, qw, o.proj), K = proj(k, kw, o.proj), V = proj(v, vw, o.proj);
  let s = einsum(o.dot, K, tf.mul(Q, 1 / Math.sqrt(o.keyDim)));
  if (o.mask) s = tf.where(tf.broadcastTo(o.mask, s.shape), s, tf.fill(s.shape, -1e9));
  const axes = Array.from({ length: o.normAxes }, (_, i) => s.rank - o.normAxes + i);
  let p = tf.exp(tf.sub(s, tf.logSumExp(s, axes, true)));
  if (o.mask) p = tf.mul(p, tf.cast(tf.broadcastTo(o.mask, p.shape), 'float32'));
  const att = einsum(o.combine, p, V);
  return { y: proj(att, ow, o.out), scores: p };
}

const RANK3 = { dot: 'aecd,abcd->acbe', combine: 'acbe,aecd->abcd', normAxes: 1, out: 'abcd,cde->abe', proj: 'abc,cde->abde' };

/** A built layer with random weights (biases too), applied once to build. */
function built(args: MultiHeadAttentionArgs, q: Tensor, v: Tensor, k?: Tensor, seed = 5): MultiHeadAttention {
  const l = multiHeadAttention(args);
  l.apply(k ? [q, v, k] : [q, v]);
  randomizeWeights(l, seed, -0.6, 0.6);
  return l;
}

/** Bool tf mask from a 0/1 pattern. */
const tfBool = (data: number[], shape: number[]) => tf.cast(tf.tensor(data, shape), 'bool');
const kilnBool = (data: number[], shape: number[]) => ops.greater(ops.tensor(data, shape), 0.5);

describe('MultiHeadAttention', () => {
  it('weights are the EinsumDense kernels and biases Keras stores, in its order', () => {
    const q = randomTensor([2, 4, 6], 1), v = randomTensor([2, 5, 7], 2), k = randomTensor([2, 5, 3], 3);
    const l = multiHeadAttention({ name: 'mha', numHeads: 2, keyDim: 4, valueDim: 5, outputShape: [3, 2] });
    const y = l.apply([q, v, k]) as Tensor;
    expect(l.weights.map((w) => `${w.name} [${w.shape.join(',')}]`)).toEqual([
      'mha/query/kernel [6,2,4]', 'mha/query/bias [2,4]', 'mha/key/kernel [3,2,4]', 'mha/key/bias [2,4]',
      'mha/value/kernel [7,2,5]', 'mha/value/bias [2,5]', 'mha/attention_output/kernel [2,5,3,2]', 'mha/attention_output/bias [3,2]',
    ]);
    expect(y.shape).toEqual([2, 4, 3, 2]);
    expect(l.computeOutputShape([[null, 4, 6], [null, 5, 7], [null, 5, 3]])).toEqual([null, 4, 3, 2]);
    const nb = multiHeadAttention({ name: 'nb', numHeads: 3, keyDim: 2, useBias: false });
    nb.apply([q, q]);
    expect(nb.weights.map((w) => w.name.split('/').slice(1).join('/'))).toEqual(['query/kernel', 'key/kernel', 'value/kernel', 'attention_output/kernel']);
    expect(nb.countParams()).toBe(3 * (6 * 3 * 2) + 3 * 2 * 6);
  });

  it.each([
    ['self-attention', { numHeads: 2, keyDim: 3 }, false],
    ['cross-attention with a key, valueDim != keyDim', { numHeads: 3, keyDim: 2, valueDim: 4 }, true],
    ['no bias, one head, outputShape 5', { numHeads: 1, keyDim: 4, useBias: false, outputShape: 5 }, true],
  ] as const)('%s matches the Keras formula', (_, args, withKey) => {
    const q = randomTensor([2, 4, 6], 11), v = randomTensor([2, 5, 6], 12), k = withKey ? randomTensor([2, 5, 3], 13) : undefined;
    const l = built({ ...args }, q, v, k);
    const y = l.apply(k ? [q, v, k] : [q, v]) as Tensor;
    const o = RANK3;
    const ref = refMha(l.getWeights().map(toTf), toTf(q), toTf(v), toTf(k ?? v), { ...o, numHeads: args.numHeads, keyDim: args.keyDim, useBias: !('useBias' in args) });
    expect(maxAbsDiff(y, ref.y)).toBeLessThan(1e-5);
  });

  it('attention mask, causal mask, input masks and a fully masked row follow Keras (-1e9 fill, times the mask)', () => {
    const B = 2, Tq = 4, Tv = 4;
    const x = randomTensor([B, Tq, 5], 21);
    const l = built({ numHeads: 2, keyDim: 3 }, x, x);
    const w = l.getWeights().map(toTf);
    // Query row 2 of batch 0 sees nothing: Keras's output for it is the output bias projection alone.
    const pattern = [1, 1, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1];
    const qMask = [1, 1, 1, 0, 1, 1, 0, 1], vMask = [1, 0, 1, 1, 1, 1, 1, 0];
    const band = tf.linalg.bandPart(tf.ones([Tq, Tv]), -1, 0);
    const cases: [string, MultiHeadAttentionCallArgs, tf.Tensor][] = [
      ['attentionMask', { attentionMask: kilnBool(pattern, [B, Tq, Tv]) }, tfBool(pattern, [B, Tq, Tv])],
      ['0/1 float attentionMask', { attentionMask: ops.tensor(pattern, [B, Tq, Tv]) }, tfBool(pattern, [B, Tq, Tv])],
      ['useCausalMask', { useCausalMask: true }, tf.cast(tf.reshape(band, [1, Tq, Tv]), 'bool')],
      ['causal AND attentionMask', { useCausalMask: true, attentionMask: kilnBool(pattern, [B, Tq, Tv]) }, tf.logicalAnd(tfBool(pattern, [B, Tq, Tv]), tf.cast(band, 'bool'))],
      ['queryMask and valueMask', { queryMask: kilnBool(qMask, [B, Tq]), valueMask: kilnBool(vMask, [B, Tv]) },
        tf.logicalAnd(tf.reshape(tfBool(qMask, [B, Tq]), [B, Tq, 1]), tf.reshape(tfBool(vMask, [B, Tv]), [B, 1, Tv]))],
    ];
    for (const [what, args, mask] of cases) {
      const [y, scores] = l.apply([x, x], { ...args, returnAttentionScores: true }) as Tensor[];
      const ref = refMha(w, toTf(x), toTf(x), toTf(x), { ...RANK3, numHeads: 2, keyDim: 3, useBias: true, mask: tf.expandDims(mask, 1) });
      expect(maxAbsDiff(y!, ref.y), what).toBeLessThan(1e-5);
      expect(maxAbsDiff(scores!, ref.scores), what).toBeLessThan(1e-6);
    }
    // The fully masked row has all-zero probabilities, not a uniform distribution.
    const [, s] = l.apply([x, x], { attentionMask: kilnBool(pattern, [B, Tq, Tv]), returnAttentionScores: true }) as Tensor[];
    expect(Array.from(s!.dataSync().slice(2 * Tv, 3 * Tv))).toEqual([0, 0, 0, 0]);
    // Causal: probabilities above the diagonal are exactly 0 and each row sums to 1.
    const [, c] = l.apply([x, x], { useCausalMask: true, returnAttentionScores: true }) as Tensor[];
    const cs = Array.from(c!.dataSync());
    for (let r = 0; r < Tq; r++) {
      expect(cs.slice(r * Tv + r + 1, (r + 1) * Tv).every((p) => p === 0)).toBe(true);
      expect(cs.slice(r * Tv, (r + 1) * Tv).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
  });

  it('padding masks travel from Embedding(maskZero) into the attention as query and value masks', () => {
    const ids = ops.tensor([3, 1, 4, 0, 0, 2, 5, 0, 0, 0, 7, 7], [2, 6]);
    const emb = embedding({ inputDim: 8, outputDim: 5, maskZero: true });
    const l = multiHeadAttention({ numHeads: 2, keyDim: 3 });
    const e = emb.apply(ids);
    l.apply([e, e]);
    randomizeWeights(l, 44, -0.6, 0.6);
    const got = l.apply([e, e]) as Tensor;
    const keep = ops.notEqual(ids, 0);
    const explicit = l.apply([e, e], { mask: null, queryMask: keep, valueMask: keep }) as Tensor;
    expect(maxAbsDiff(got, toTf(explicit))).toBe(0);
    const qm = tf.notEqual(toTf(ids), 0);
    const mask = tf.expandDims(tf.logicalAnd(tf.expandDims(qm, 2), tf.expandDims(qm, 1)), 1);
    expect(maxAbsDiff(got, refMha(l.getWeights().map(toTf), toTf(e), toTf(e), toTf(e), { ...RANK3, numHeads: 2, keyDim: 3, useBias: true, mask }).y)).toBeLessThan(1e-5);
    // Without the mask the padded positions change the result.
    expect(maxAbsDiff(l.apply([e, e], { mask: null }) as Tensor, toTf(got))).toBeGreaterThan(1e-3);
    // The query's mask passes on to the output (Keras sets it).
    expect(Array.from(getMask(got)!.dataSync())).toEqual(Array.from(keep.dataSync()));
  });

  it('several attention axes: default (all of them, softmax over both key axes) and attentionAxes [2]', () => {
    const q = randomTensor([2, 3, 4, 5], 31), v = randomTensor([2, 3, 2, 5], 32);
    const full = built({ numHeads: 2, keyDim: 3 }, q, q, undefined, 40);
    const proj = 'abcd,def->abcef', out = 'abcde,def->abcf';
    const refFull = refMha(full.getWeights().map(toTf), toTf(q), toTf(q), toTf(q), { numHeads: 2, keyDim: 3, useBias: true, dot: 'afgde,abcde->adbcfg', combine: 'adbcfg,afgde->abcde', normAxes: 2, out, proj });
    const [y, s] = full.apply([q, q], { returnAttentionScores: true }) as Tensor[];
    expect(s!.shape).toEqual([2, 2, 3, 4, 3, 4]);
    expect(maxAbsDiff(y!, refFull.y)).toBeLessThan(1e-5);
    expect(maxAbsDiff(s!, refFull.scores)).toBeLessThan(1e-6);
    const ax = built({ numHeads: 2, keyDim: 3, attentionAxes: [2] }, q, v, undefined, 50);
    const refAx = refMha(ax.getWeights().map(toTf), toTf(q), toTf(v), toTf(v), { numHeads: 2, keyDim: 3, useBias: true, dot: 'abfde,abcde->abdcf', combine: 'abdcf,abfde->abcde', normAxes: 1, out, proj });
    const [y2, s2] = ax.apply([q, v], { returnAttentionScores: true }) as Tensor[];
    expect(s2!.shape).toEqual([2, 3, 2, 4, 2]);
    expect(maxAbsDiff(y2!, refAx.y)).toBeLessThan(1e-5);
    // A mask over one attention axis, expanded at the heads axis as Keras does.
    const pattern = Array.from({ length: 2 * 3 * 4 * 2 }, (_, i) => (i * 7) % 3 === 0 ? 0 : 1);
    const m = ax.apply([q, v], { attentionMask: kilnBool(pattern, [2, 3, 4, 2]) }) as Tensor;
    const refM = refMha(ax.getWeights().map(toTf), toTf(q), toTf(v), toTf(v), { numHeads: 2, keyDim: 3, useBias: true, dot: 'abfde,abcde->abdcf', combine: 'abdcf,abfde->abcde', normAxes: 1, out, proj, mask: tf.expandDims(tfBool(pattern, [2, 3, 4, 2]), 2) });
    expect(maxAbsDiff(m, refM.y)).toBeLessThan(1e-5);
  });

  it('gradients with respect to query, value, key and every weight match tf.grads (causal + mask)', () => {
    const q = randomTensor([2, 3, 4], 61), v = randomTensor([2, 5, 4], 62), k = randomTensor([2, 5, 6], 63);
    const l = built({ numHeads: 2, keyDim: 3, valueDim: 2 }, q, v, k, 70);
    const pattern = Array.from({ length: 2 * 3 * 5 }, (_, i) => (i % 4 === 3 ? 0 : 1));
    const c = randomTensor([2, 3, 4], 64);
    const f = (a: Tensor, b: Tensor, kk: Tensor) => ops.sum(ops.mul(l.apply([a, b, kk], { useCausalMask: true, attentionMask: kilnBool(pattern, [2, 3, 5]) }) as Tensor, c));
    const got = valueAndGrad(f, { argnums: [0, 1, 2], variables: l.trainableWeights })(q, v, k);
    const band = tf.cast(tf.linalg.bandPart(tf.ones([3, 5]), -1, 0), 'bool');
    const mask = tf.expandDims(tf.logicalAnd(tfBool(pattern, [2, 3, 5]), band), 1);
    const tfW = l.getWeights().map(toTf);
    const ref = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(refMha(xs.slice(3), xs[0]!, xs[1]!, xs[2]!, { ...RANK3, numHeads: 2, keyDim: 3, useBias: true, mask }, matmulEinsum).y, toTf(c))))(
      [toTf(q), toTf(v), toTf(k), ...tfW]);
    [...got.grads, ...got.variableGrads].forEach((g, i) => expect(maxAbsDiff(g, ref[i]!), `gradient ${i}`).toBeLessThan(2e-5));
    expect(got.variableGrads.length).toBe(8);
  });

  it('dropout on the attention probabilities in training only, keyed by the step like Dropout', () => {
    const x = randomTensor([2, 4, 6], 81);
    const l = built({ numHeads: 2, keyDim: 3, dropout: 0.4, seed: 9 }, x, x, undefined, 82);
    const w = l.getWeights().map(toTf);
    const ref = refMha(w, toTf(x), toTf(x), toTf(x), { ...RANK3, numHeads: 2, keyDim: 3, useBias: true });
    expect(maxAbsDiff(l.apply([x, x]) as Tensor, ref.y)).toBeLessThan(1e-5); // inference: no dropout
    const step = ops.scalar(3, 'i32');
    const [y, s] = l.apply([x, x], { training: true, step, returnAttentionScores: true }) as Tensor[];
    // The same dropout mask, drawn by a Dropout with the same seed at the same step on ones.
    const keep = toTf(new Dropout({ rate: 0.4, seed: 9 }).apply(ops.ones([2, 2, 4, 4]), { training: true, step }));
    expect(keep.dataSync().some((d) => d === 0)).toBe(true);
    // Scores returned are before dropout (Keras returns attention_scores, not the dropped ones).
    expect(maxAbsDiff(s!, ref.scores)).toBeLessThan(1e-6);
    const [qk, qb, kk, kb, vk, vb, ok, ob] = w;
    const V = tf.add(tf.einsum(RANK3.proj, toTf(x), vk!), vb!);
    void qk; void qb; void kk; void kb;
    const att = tf.einsum(RANK3.combine, tf.mul(ref.scores, keep), V);
    expect(maxAbsDiff(y!, tf.add(tf.einsum(RANK3.out, att, ok!), ob!))).toBeLessThan(1e-5);
    // Another step, another mask.
    const y2 = l.apply([x, x], { training: true, step: ops.scalar(4, 'i32') }) as Tensor;
    expect(maxAbsDiff(y2, toTf(y!))).toBeGreaterThan(1e-3);
  });

  it('config round-trips; bad arguments name the layer, field and value', () => {
    const l = multiHeadAttention({ name: 'm1', numHeads: 4, keyDim: 8, valueDim: 6, dropout: 0.1, useBias: false, outputShape: [3, 4], attentionAxes: [1], seed: 3, kernelInitializer: 'heNormal', kernelRegularizer: 'l2' });
    const cfg = l.getConfig();
    expect(cfg).toMatchObject({ numHeads: 4, keyDim: 8, valueDim: 6, dropout: 0.1, useBias: false, outputShape: [3, 4], attentionAxes: [1], seed: 3 });
    expect(MultiHeadAttention.fromConfig(cfg).getConfig()).toEqual(cfg);
    expect(deserializeLayer(l.serialize()).getConfig()).toEqual(cfg);
    expect(multiHeadAttention({ numHeads: 2, keyDim: 5 }).getConfig()).toMatchObject({ valueDim: 5, dropout: 0, useBias: true, outputShape: null, attentionAxes: null, seed: null });
    expect(() => multiHeadAttention({ name: 'e1', numHeads: 2, keyDm: 3 } as never)).toThrow("MultiHeadAttention 'e1': unknown argument 'keyDm' (did you mean 'keyDim'?)");
    expect(() => multiHeadAttention({ name: 'e2', numHeads: 0, keyDim: 3 })).toThrow("MultiHeadAttention 'e2': numHeads must be a positive integer, got 0");
    expect(() => multiHeadAttention({ name: 'e3', numHeads: 2 } as never)).toThrow("MultiHeadAttention 'e3': keyDim is required");
    expect(() => multiHeadAttention({ name: 'e4', numHeads: 2, keyDim: 2, dropout: 1 })).toThrow("MultiHeadAttention 'e4': dropout must be in [0, 1), got 1");
    const x = randomTensor([2, 3, 4], 1);
    const e5 = multiHeadAttention({ name: 'e5', numHeads: 2, keyDim: 2 });
    expect(() => e5.apply(x)).toThrow("MultiHeadAttention 'e5': expects a list of inputs [query, value] or [query, value, key], got one input f32[2,3,4]");
    expect(() => e5.apply([x, randomTensor([2, 3], 2)])).toThrow("MultiHeadAttention 'e5': the value must have the query's rank 3, got query f32[2,3,4] and value f32[2,3]");
    e5.apply([x, x]);
    expect(() => e5.apply([x, randomTensor([2, 3, 5], 2)])).toThrow("MultiHeadAttention 'e5': was built for features [query 4, value 4, key 4], got query f32[2,3,4], value f32[2,3,5], key f32[2,3,5]");
    expect(() => e5.apply([x, x], { useCasualMask: true } as never)).toThrow("MultiHeadAttention 'e5': unknown call argument 'useCasualMask' (did you mean 'useCausalMask'?)");
    expect(() => e5.apply([x, x], { attentionMask: kilnBool([1, 0], [2, 1, 1, 1, 1]) })).toThrow(/MultiHeadAttention 'e5': attentionMask bool\[2,1,1,1,1\] does not broadcast to the attention scores \[2,2,3,3\]/);
    expect(() => multiHeadAttention({ name: 'e6', numHeads: 2, keyDim: 2, attentionAxes: [3] }).apply([x, x])).toThrow("MultiHeadAttention 'e6': attentionAxes [3] include axis 3, but a rank-3 query has attention axes 1..1 only");
  });

  it('loads from a Keras 3 model config (snake_case, DTypePolicy, __keras_tensor__ args) and predicts as the formula', async () => {
    const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
    const kt = (name: string) => ({ class_name: '__keras_tensor__', config: { shape: [null, 4, 6], dtype: 'float32', keras_history: [name, 0, 0] } });
    const glorot = { module: 'keras.initializers', class_name: 'GlorotUniform', config: { seed: null }, registered_name: null };
    const zeros = { module: 'keras.initializers', class_name: 'Zeros', config: {}, registered_name: null };
    const topology = {
      module: 'keras.src.models.functional', class_name: 'Functional', registered_name: 'Functional',
      config: {
        name: 'functional', trainable: true,
        layers: [
          { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 4, 6], dtype: 'float32', sparse: false, name: 'q' }, registered_name: null, name: 'q', inbound_nodes: [] },
          { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 4, 6], dtype: 'float32', sparse: false, name: 'v' }, registered_name: null, name: 'v', inbound_nodes: [] },
          {
            module: 'keras.layers', class_name: 'MultiHeadAttention', registered_name: null, name: 'mha',
            config: {
              name: 'mha', trainable: true, dtype: policy, num_heads: 2, key_dim: 3, value_dim: 3, dropout: 0.0, use_bias: true, output_shape: null, attention_axes: [1],
              kernel_initializer: glorot, bias_initializer: zeros, kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null, seed: null,
            },
            build_config: { shapes_dict: { query_shape: [null, 4, 6], value_shape: [null, 4, 6] } },
            inbound_nodes: [{ args: [kt('q'), kt('v')], kwargs: {} }],
          },
        ],
        input_layers: [['q', 0, 0], ['v', 0, 0]], output_layers: [['mha', 0, 0]],
      },
    };
    const shapes = [[6, 2, 3], [2, 3], [6, 2, 3], [2, 3], [6, 2, 3], [2, 3], [2, 3, 6], [6]];
    const names = ['query/kernel', 'query/bias', 'key/kernel', 'key/bias', 'value/kernel', 'value/bias', 'attention_output/kernel', 'attention_output/bias'];
    const values = shapes.map((sh, i) => randomTensor(sh, 200 + i, -0.7, 0.7));
    const data = new Float32Array(values.reduce((n, t) => n + t.size, 0));
    let at = 0;
    for (const t of values) { data.set(t.dataSync() as Float32Array, at); at += t.size; }
    const m = await loadLayersModel({ modelTopology: topology, weightSpecs: names.map((n, i) => ({ name: `mha/${n}`, shape: shapes[i]!, dtype: 'float32' as const })), weightData: data.buffer } as never);
    const q = randomTensor([2, 4, 6], 210), v = randomTensor([2, 4, 6], 211);
    m.runEagerly = true;
    const ref = refMha(values.map(toTf), toTf(q), toTf(v), toTf(v), { ...RANK3, numHeads: 2, keyDim: 3, useBias: true });
    expect(maxAbsDiff(m.predict([q, v]) as Tensor, ref.y)).toBeLessThan(1e-5);
    // A call option in the saved graph (Keras 3 kwargs) is honoured: use_causal_mask.
    const withKw = JSON.parse(JSON.stringify(topology));
    withKw.config.layers[2].inbound_nodes[0].kwargs = { use_causal_mask: true };
    const causal = await loadLayersModel({ modelTopology: withKw, weightSpecs: names.map((n, i) => ({ name: `mha/${n}`, shape: shapes[i]!, dtype: 'float32' as const })), weightData: data.buffer } as never);
    causal.runEagerly = true;
    const band = tf.reshape(tf.cast(tf.linalg.bandPart(tf.ones([4, 4]), -1, 0), 'bool'), [1, 1, 4, 4]);
    const refC = refMha(values.map(toTf), toTf(q), toTf(v), toTf(v), { ...RANK3, numHeads: 2, keyDim: 3, useBias: true, mask: band });
    expect(maxAbsDiff(causal.predict([q, v]) as Tensor, refC.y)).toBeLessThan(1e-5);
    // Options the layer does not take are refused by name, not dropped.
    for (const [kw, msg] of [[{ use_casual_mask: true }, /unknown call argument 'useCasualMask' \(did you mean 'useCausalMask'\?\)/], [{ foo: 1 }, /layer 'mha' \(MultiHeadAttention\) is called with 'foo', which it does not take/]] as const) {
      const bad = JSON.parse(JSON.stringify(topology));
      bad.config.layers[2].inbound_nodes[0].kwargs = kw;
      await expect(loadLayersModel({ modelTopology: bad, weightSpecs: [], weightData: new ArrayBuffer(0) } as never)).rejects.toThrow(msg);
    }
  });

  it('loads a Keras 2 (tf.keras) config: value as a keyword tensor, use_causal_mask, :0 weight names', async () => {
    const mhaConfig = {
      name: 'mha', trainable: true, dtype: 'float32', num_heads: 2, key_dim: 3, value_dim: 3, dropout: 0.0, use_bias: true, output_shape: null, attention_axes: [1],
      kernel_initializer: { class_name: 'GlorotUniform', config: { seed: null } }, bias_initializer: { class_name: 'Zeros', config: {} },
      kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null,
      query_shape: [null, 4, 6], key_shape: [null, 5, 6], value_shape: [null, 5, 6],
    };
    const cfg = mhaConfig;
    const topology = {
      keras_version: '2.13.1', backend: 'tensorflow',
      model_config: {
        class_name: 'Model',
        config: {
          name: 'model', layers: [
            { class_name: 'InputLayer', config: { batch_input_shape: [null, 4, 6], dtype: 'float32', sparse: false, ragged: false, name: 'query_in' }, name: 'query_in', inbound_nodes: [] },
            { class_name: 'InputLayer', config: { batch_input_shape: [null, 5, 6], dtype: 'float32', sparse: false, ragged: false, name: 'value_in' }, name: 'value_in', inbound_nodes: [] },
            { class_name: 'MultiHeadAttention', config: cfg, name: 'mha', inbound_nodes: [[['query_in', 0, 0, { value: ['value_in', 0, 0], use_causal_mask: true }]]] },
          ],
          input_layers: [['query_in', 0, 0], ['value_in', 0, 0]], output_layers: [['mha', 0, 0]],
        },
      },
    };
    const shapes = [[6, 2, 3], [2, 3], [6, 2, 3], [2, 3], [6, 2, 3], [2, 3], [2, 3, 6], [6]];
    const names = ['query/kernel', 'query/bias', 'key/kernel', 'key/bias', 'value/kernel', 'value/bias', 'attention_output/kernel', 'attention_output/bias'];
    const values = shapes.map((sh, i) => randomTensor(sh, 300 + i, -0.7, 0.7));
    const data = new Float32Array(values.reduce((n, t) => n + t.size, 0));
    let at = 0;
    for (const t of values) { data.set(t.dataSync() as Float32Array, at); at += t.size; }
    const m = await loadLayersModel({ modelTopology: topology, weightSpecs: names.map((n, i) => ({ name: `mha/${n}:0`, shape: shapes[i]!, dtype: 'float32' as const })), weightData: data.buffer } as never);
    const q = randomTensor([2, 4, 6], 310), v = randomTensor([2, 5, 6], 311);
    m.runEagerly = true;
    const band = tf.reshape(tf.cast(tf.linalg.bandPart(tf.ones([4, 5]), -1, 0), 'bool'), [1, 1, 4, 5]);
    const ref = refMha(values.map(toTf), toTf(q), toTf(v), toTf(v), { ...RANK3, numHeads: 2, keyDim: 3, useBias: true, mask: band });
    expect(maxAbsDiff(m.predict([q, v]) as Tensor, ref.y)).toBeLessThan(1e-5);
    // A tensor attention_mask keyword cannot become an input: refused by name.
    const bad = JSON.parse(JSON.stringify(topology));
    bad.model_config.config.layers[2].inbound_nodes[0][0][3] = { value: ['value_in', 0, 0], attention_mask: ['value_in', 0, 0] };
    await expect(loadLayersModel({ modelTopology: bad, weightSpecs: [], weightData: new ArrayBuffer(0) } as never)).rejects.toThrow(/layer 'mha' is called with keyword argument 'attentionMask'/);
    // Keras 2's recorded build shapes are checked against the inputs.
    const wrong = JSON.parse(JSON.stringify(topology));
    wrong.model_config.config.layers[2].config.value_shape = [null, 5, 7];
    await expect(loadLayersModel({ modelTopology: wrong, weightSpecs: [], weightData: new ArrayBuffer(0) } as never)).rejects.toThrow(/MultiHeadAttention 'mha': valueShape \[null,5,7\] in its config does not match the input f32\[\?,5,6\]/);
  });

  it('in a functional model: saves and loads through kiln, compiles equal to the interpreter, trains with fit', async () => {
    const inp = input({ shape: [6, 8] });
    const mha = multiHeadAttention({ numHeads: 2, keyDim: 4, name: 'self_att' });
    const att = mha.apply([inp, inp]);
    const pooled = flatten().apply(att);
    const out = dense({ units: 3, activation: 'softmax' }).apply(pooled);
    const m = model({ inputs: inp, outputs: out });
    randomizeWeights(m, 90, -0.5, 0.5);
    const x = randomTensor([4, 6, 8], 91);
    m.runEagerly = true;
    const eager = m.predict(x) as Tensor;
    // Saved with kiln's own save, loaded with loadLayersModel: same predictions.
    let saved: unknown;
    await m.save({ save: async (a: unknown) => { saved = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; } } as never);
    const back = await loadLayersModel(saved as never);
    back.runEagerly = true;
    expect(maxAbsDiff(back.predict(x) as Tensor, toTf(eager))).toBe(0);
    expect(back.layers.map((l) => l.className)).toContain('MultiHeadAttention');
    // useCausalMask on a symbolic call is recorded on the node, replayed, saved and loaded.
    const ci = input({ shape: [6, 8] });
    const cm = model({ inputs: ci, outputs: mha.apply([ci, ci], { useCausalMask: true }) });
    const xc = randomTensor([2, 6, 8], 95);
    const wantC = mha.apply([xc, xc], { useCausalMask: true }) as Tensor;
    expect(maxAbsDiff(wantC, toTf(mha.apply([xc, xc]) as Tensor))).toBeGreaterThan(1e-3);
    cm.runEagerly = true;
    expect(maxAbsDiff(cm.predict(xc) as Tensor, toTf(wantC))).toBe(0);
    let savedC: unknown;
    await cm.save({ save: async (a: unknown) => { savedC = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; } } as never);
    expect(JSON.stringify(savedC)).toContain('"use_causal_mask":true');
    const backC = await loadLayersModel(savedC as never);
    backC.runEagerly = true;
    expect(maxAbsDiff(backC.predict(xc) as Tensor, toTf(wantC))).toBe(0);
    expect(() => mha.apply([ci, ci], { returnAttentionScores: true })).toThrow(/returnAttentionScores on symbolic inputs \(a functional model\) is not supported/);
    // Compiled artifact, run by the runtime alone, equals the interpreter.
    const art = compile(m, { inputShapes: [[4, 6, 8]] });
    const prog = await load(art.bytes);
    const res = await prog.run({ [prog.inputs[0]!.name]: x.dataSync() as Float32Array });
    const y = res[prog.outputs[0]!.name]!;
    prog.dispose();
    expect(maxAbsDiff(ops.tensor(Array.from(y as Float32Array), [4, 3]), toTf(eager))).toBeLessThan(1e-5);
    // Training compiles with fit and lowers the loss.
    m.compile({ optimizer: adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy' });
    const labels = ops.tensor([0, 1, 2, 1], [4], 'i32');
    const h = await m.fit(x, labels, { epochs: 15, batchSize: 4, verbose: 0 });
    const losses = h.history['loss']!;
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.8);
  });

  it.skipIf(!hasPtxas)('compiles for CUDA: ptxas assembles the causal self-attention program (f32 and f16 mixed precision)', () => {
    const mha = multiHeadAttention({ numHeads: 2, keyDim: 8 });
    const x0 = randomTensor([2, 16, 32], 1);
    mha.apply([x0, x0]);
    for (const mixed of [undefined, 'f16'] as const) {
      const art = compile((x: Tensor) => mha.apply([x, x], { useCausalMask: true }) as Tensor, { inputShapes: [[2, 16, 32]], target: 'cuda', sm: 80, ...(mixed ? { mixedPrecision: mixed } : {}) });
      const dir = mkdtempSync(join(tmpdir(), 'kiln-mha-ptx-'));
      writeFileSync(join(dir, 'm.ptx'), new TextDecoder().decode(readArtifact(art.bytes).sections['ptx']));
      const r = spawnSync('ptxas', ['-arch=sm_80', join(dir, 'm.ptx'), '-o', join(dir, 'm.cubin')], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    }
  });
  if (!hasPtxas) it('ptxas check', () => console.log('SKIP: ptxas not on PATH; the attention PTX was not assembled'));
});
