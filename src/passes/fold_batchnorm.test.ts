import { describe, expect, test } from 'vitest';
import { parseFunc } from '../ir/parse.js';
import { printFunc } from '../ir/print.js';
import { verify } from '../ir/verify.js';
import { interpret } from '../ir/interpreter.js';
import { tensorType } from '../ir/types.js';
import { trace } from '../frontend/tracing.js';
import type { Tensor } from '../frontend/tensor.js';
import { conv2d } from '../keras/layers/conv2d.js';
import { depthwiseConv2d } from '../keras/layers/depthwise_conv2d.js';
import { dense } from '../keras/layers/dense.js';
import { flatten } from '../keras/layers/flatten.js';
import { reLU } from '../keras/layers/relu.js';
import { batchNormalization } from '../keras/layers/batch_normalization.js';
import type { Layer } from '../keras/engine/layer.js';
import { randomTensor } from '../keras/test_util.js';
import { dce } from './dce.js';
import { foldBatchnorm } from './fold_batchnorm.js';
import { fixpoint, runPipeline } from './manager.js';
import { optimize } from './pipeline.js';
import { cse } from './cse.js';
import { fold } from './fold.js';
import { simplify } from './simplify.js';

/** Run fold_batchnorm then DCE on `text`; return the printed result and whether the pass changed it. */
function run(text: string): { changed: boolean; out: string } {
  const fn = parseFunc(text);
  const changed = foldBatchnorm.run(fn);
  dce.run(fn);
  verify(fn);
  return { changed, out: printFunc(fn) };
}

const same = (text: string) => printFunc(parseFunc(text));

describe('fold_batchnorm in text', () => {
  test('dense + bias + (x - mean) * scale + beta -> scaled weights and one bias add', () => {
    const { changed, out } = run(`func @dense_bn(%x: f32[2,3]) -> (out0: f32[2,2]) {
      %w = constant() {value=f32[3,2]{1, 2, 3, 4, 5, 6}}
      %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]}
      %b = constant() {value=f32[2]{0.5, -1}}
      %1 = broadcast_in_dim(%b) {shape=[2, 2], dims=[1]}
      %2 = add(%0, %1)
      %m = constant() {value=f32[2]{1.5, 1}}
      %3 = broadcast_in_dim(%m) {shape=[2, 2], dims=[1]}
      %4 = sub(%2, %3)
      %s = constant() {value=f32[2]{2, 0.25}}
      %5 = broadcast_in_dim(%s) {shape=[2, 2], dims=[1]}
      %6 = mul(%4, %5)
      %t = constant() {value=f32[2]{3, 0.5}}
      %7 = broadcast_in_dim(%t) {shape=[2, 2], dims=[1]}
      %8 = add(%6, %7)
      return %8
    }`);
    expect(changed).toBe(true);
    // Column 0 scaled by 2, column 1 by 0.25; bias (0.5 - 1.5) * 2 + 3 = 1 and (-1 - 1) * 0.25 + 0.5 = 0.
    expect(out).toBe(same(`func @dense_bn(%x: f32[2,3]) -> (out0: f32[2,2]) {
      %w = constant() {value=f32[3,2]{2, 0.5, 6, 1, 10, 1.5}}
      %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]}
      %b = constant() {value=f32[2]{1, 0}}
      %1 = broadcast_in_dim(%b) {shape=[2, 2], dims=[1]}
      %2 = add(%0, %1)
      return %2
    }`));
  });

  test('conv with full-size per-channel constants and a scalar broadcast; a zero bias adds nothing', () => {
    // mul by a materialized [1,1,2,2] constant (channel values 4, 0.5), then by a broadcast scalar 0.5.
    const { changed, out } = run(`func @conv_bn(%x: f32[1,2,3,1]) -> (out0: f32[1,1,2,2]) {
      %w = constant() {value=f32[2,2,1,2]{1, 1, 2, 2, 3, 3, 4, 4}}
      %0 = conv(%x, %w) {strides=[1, 1], pad_lo=[0, 0], pad_hi=[0, 0]}
      %s = constant() {value=f32[1,1,2,2]{4, 0.5, 4, 0.5}}
      %1 = mul(%0, %s)
      %h = constant() {value=f32[]{0.5}}
      %2 = broadcast_in_dim(%h) {shape=[1, 1, 2, 2], dims=[]}
      %3 = mul(%2, %1)
      return %3
    }`);
    expect(changed).toBe(true);
    expect(out).toBe(same(`func @conv_bn(%x: f32[1,2,3,1]) -> (out0: f32[1,1,2,2]) {
      %w = constant() {value=f32[2,2,1,2]{2, 0.25, 4, 0.5, 6, 0.75, 8, 1}}
      %0 = conv(%x, %w) {strides=[1, 1], pad_lo=[0, 0], pad_hi=[0, 0]}
      return %0
    }`));
  });

  test('c - x flips the scale; x / c divides it', () => {
    const { out } = run(`func @f(%x: f32[3,1]) -> (out0: f32[3,2]) {
      %w = constant() {value=f32[1,2]{1, 2}}
      %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]}
      %c = constant() {value=f32[2]{1, 2}}
      %1 = broadcast_in_dim(%c) {shape=[3, 2], dims=[1]}
      %2 = sub(%1, %0)
      %d = constant() {value=f32[2]{2, 4}}
      %3 = broadcast_in_dim(%d) {shape=[3, 2], dims=[1]}
      %4 = div(%2, %3)
      return %4
    }`);
    // (c - xW) / d = x(-W/d) + c/d.
    expect(out).toBe(same(`func @f(%x: f32[3,1]) -> (out0: f32[3,2]) {
      %w = constant() {value=f32[1,2]{-0.5, -0.5}}
      %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]}
      %b = constant() {value=f32[2]{0.5, 0.5}}
      %1 = broadcast_in_dim(%b) {shape=[3, 2], dims=[1]}
      %2 = add(%0, %1)
      return %2
    }`));
  });

  test('leaves alone: a lone bias add, weights that are parameters, a shared intermediate, constants varying off the channel axis', () => {
    const cases = [
      `func @bias_only(%x: f32[2,3]) -> (out0: f32[2,2]) {
        %w = constant() {value=f32[3,2]{1, 2, 3, 4, 5, 6}}
        %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]}
        %b = constant() {value=f32[2]{1, 2}}
        %1 = broadcast_in_dim(%b) {shape=[2, 2], dims=[1]}
        %2 = add(%0, %1)
        return %2
      }`,
      `func @param_weights(%x: f32[2,3], %w: f32[3,2]) -> (out0: f32[2,2]) {
        %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]}
        %s = constant() {value=f32[2]{2, 3}}
        %1 = broadcast_in_dim(%s) {shape=[2, 2], dims=[1]}
        %2 = mul(%0, %1)
        return %2
      }`,
      `func @shared(%x: f32[2,3]) -> (out0: f32[2,2], out1: f32[2,2]) {
        %w = constant() {value=f32[3,2]{1, 2, 3, 4, 5, 6}}
        %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]}
        %s = constant() {value=f32[2]{2, 3}}
        %1 = broadcast_in_dim(%s) {shape=[2, 2], dims=[1]}
        %2 = mul(%0, %1)
        return %2, %0
      }`,
      `func @per_row(%x: f32[2,3]) -> (out0: f32[2,2]) {
        %w = constant() {value=f32[3,2]{1, 2, 3, 4, 5, 6}}
        %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]}
        %s = constant() {value=f32[2]{2, 3}}
        %1 = broadcast_in_dim(%s) {shape=[2, 2], dims=[0]}
        %2 = mul(%0, %1)
        %t = constant() {value=f32[2,2]{1, 2, 1, 3}}
        %3 = add(%2, %t)
        return %3
      }`,
    ];
    for (const text of cases) {
      const { changed, out } = run(text);
      expect(changed).toBe(false);
      expect(out).toBe(same(text));
    }
  });
});

describe('fold_batchnorm on Keras models', () => {
  /** Build the layers on `x`, then give every weight seeded values (variances positive). */
  function randomize(layers: Layer[], seed: number): void {
    layers.forEach((l, j) => l.setWeights(l.weights.map((w, i) => randomTensor(w.value.shape, seed + 10 * j + i, w.name.endsWith('variance') ? 0.3 : -0.8, 1.2))));
  }

  test('conv+BN+relu, depthwise+BN, dense+BN: same outputs, fewer ops, no per-channel mul left', () => {
    const layers = [
      conv2d({ filters: 6, kernelSize: 3, padding: 'same' }), batchNormalization(), reLU(),
      depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2 }), batchNormalization({ epsilon: 1e-5 }), reLU(),
      flatten(), dense({ units: 5, useBias: false }), batchNormalization(),
    ];
    const model = (x: Tensor) => layers.reduce((h, l) => l.apply(h) as Tensor, x);
    const x = randomTensor([2, 6, 6, 3], 1);
    model(x);
    randomize(layers, 100);
    // The standard passes without batch-norm folding (optimize() now includes it).
    const before = trace(model, [tensorType([2, 6, 6, 3], 'f32')]).func.clone();
    runPipeline(before, [fixpoint([simplify, cse, fold, dce])]);
    const after = before.clone();
    const report = runPipeline(after, [foldBatchnorm, dce], { dumpDir: null });
    expect(report.records[0]!.changed).toBe(true);
    expect(after.body.length).toBeLessThan(before.body.length);
    const count = (f: typeof before, op: string) => f.body.filter((v) => v.op === op).length;
    expect(count(after, 'mul')).toBe(0);
    expect(count(after, 'sub')).toBe(0);
    expect(count(after, 'add')).toBe(3); // one folded bias per producer
    expect(count(after, 'conv')).toBe(count(before, 'conv'));
    const want = interpret(before, [x.literal!])[0]!.data;
    const got = interpret(after, [x.literal!])[0]!.data;
    let scale = 0;
    for (const v of want) scale = Math.max(scale, Math.abs(v));
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-5 * scale);
  });

  test('converges in a fixpoint with the standard passes', () => {
    const layers = [dense({ units: 4 }), batchNormalization()];
    const model = (x: Tensor) => layers.reduce((h, l) => l.apply(h) as Tensor, x);
    const x = randomTensor([3, 5], 2);
    model(x);
    randomize(layers, 200);
    const fn = trace(model, [tensorType([3, 5], 'f32')]).func;
    const want = interpret(fn, [x.literal!])[0]!.data;
    const report = runPipeline(fn, [fixpoint([simplify, cse, fold, foldBatchnorm, dce])], { dumpDir: null });
    expect(report.unconverged).toBe(0);
    expect(fn.body.map((v) => v.op)).toEqual(['constant', 'dot_general', 'constant', 'broadcast_in_dim', 'add']);
    const got = interpret(fn, [x.literal!])[0]!.data;
    for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 5);
  });
});
