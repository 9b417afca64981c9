import { describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { parseFunc } from '../ir/parse.js';
import { printFunc } from '../ir/print.js';
import { verify } from '../ir/verify.js';
import { literal } from '../ir/literal.js';
import { KilnError } from '../ir/types.js';
import { dce } from './dce.js';
import { layout, transposeLiteral } from './layout.js';
import { optimize } from './pipeline.js';
import { interpret } from '../ir/interpreter.js';

function random(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; out[i] = s / 2 ** 32 - 0.5; }
  return out;
}

describe('transposeLiteral (typed-array loops)', () => {
  const cases: [number[], number[]][] = [
    [[3, 3, 5, 7], [3, 2, 0, 1]], [[3, 3, 5, 7], [0, 1, 3, 2]], [[4, 6], [1, 0]], [[2, 3, 4], [1, 2, 0]],
    [[5], [0]], [[], []], [[2, 0, 3], [2, 0, 1]], [[1, 7, 1, 9], [1, 3, 0, 2]],
  ];
  for (const [shape, perm] of cases) {
    test(`equals tf.transpose: shape [${shape.join(', ')}], perm [${perm.join(', ')}]`, () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = random(n, n + perm.length);
      const got = transposeLiteral(literal(shape, 'f32', data), perm);
      const want = tf.transpose(tf.tensor(data, shape, 'float32'), perm);
      expect(got.type.shape).toEqual(want.shape);
      expect(new Uint8Array(got.data.buffer.slice(0))).toEqual(new Uint8Array((want.dataSync() as Float32Array).buffer.slice(0)));
    });
  }

  test('int32 data keeps its dtype', () => {
    const got = transposeLiteral(literal([2, 3], 'i32', [1, 2, 3, 4, 5, 6]), [1, 0]);
    expect(got.type.dtype).toBe('i32');
    expect([...got.data]).toEqual([1, 4, 2, 5, 3, 6]);
  });

  test('refuses a perm that is not a permutation, naming perm and shape', () => {
    expect(() => transposeLiteral(literal([2, 3], 'f32'), [0, 0])).toThrow(KilnError);
    expect(() => transposeLiteral(literal([2, 3], 'f32'), [1])).toThrow(/perm \[1\] is not a permutation of the 2 axes of shape \[2, 3\]/);
  });
});

describe('layout pass on IR text', () => {
  test('a transposed constant of any size becomes a constant (no fold size limit); the rest is untouched', () => {
    // 70x1000 = 70000 elements: above fold's default limit of 65536.
    const n = 70 * 1000;
    const vals = Array.from(random(n, 3), (v) => String(v)).join(', ');
    const fn = parseFunc(`func @f(%x: f32[2,1000]) -> (out0: f32[2,70]) {
      %w = constant() {value=f32[70,1000]{${vals}}}
      %t = transpose(%w) {perm=[1, 0]}
      %y = dot_general(%x, %t) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]}
      return %y
    }`);
    expect(layout.run(fn)).toBe(true);
    dce.run(fn);
    verify(fn);
    expect(fn.body.map((v) => v.op)).toEqual(['constant', 'dot_general']);
    const c = fn.body[0]!;
    expect(c.shape).toEqual([1000, 70]);
    const want = tf.transpose(tf.tensor(random(n, 3), [70, 1000], 'float32'), [1, 0]).dataSync() as Float32Array;
    const got = (c.attrs['value'] as { data: Float32Array }).data;
    // The text round-trips each value through its shortest decimal form: exact for f32.
    expect(got).toEqual(want);
    expect(layout.run(fn)).toBe(false);
  });

  test('a transpose of a runtime value stays', () => {
    const text = `func @g(%x: f32[2,3]) -> (out0: f32[3,2]) {
      %t = transpose(%x) {perm=[1, 0]}
      return %t
    }`;
    const fn = parseFunc(text);
    expect(layout.run(fn)).toBe(false);
    expect(printFunc(fn)).toBe(printFunc(parseFunc(text)));
  });
});

describe('layout pass: transpose sinking and cancellation (results equal the interpreter)', () => {
  const lit = (shape: number[], seed: number) => literal(shape, 'f32', random(shape.reduce((a, b) => a * b, 1), seed));
  const ops = (fn: ReturnType<typeof parseFunc>) => fn.body.filter((v) => v.op !== 'constant').map((v) => v.op);
  const run = (fn: ReturnType<typeof parseFunc>) => { const changed = layout.run(fn); dce.run(fn); verify(fn); return changed; };

  test('an elementwise chain over transposes by one perm computes in the operands\' layout; one transpose follows it', () => {
    const fn = parseFunc(`func @f(%a: f32[2,3,4], %b: f32[2,3,4], %s: f32[]) -> (out0: f32[4,2,3]) {
      %ta = transpose(%a) {perm=[2, 0, 1]}
      %tb = transpose(%b) {perm=[2, 0, 1]}
      %bs = broadcast_in_dim(%s) {shape=[4, 2, 3], dims=[]}
      %m = mul(%ta, %tb)
      %y = add(%m, %bs)
      %e = exp(%y)
      return %e
    }`);
    const inputs = [lit([2, 3, 4], 1), lit([2, 3, 4], 2), literal([], 'f32', [0.25])];
    const before = interpret(fn, inputs);
    expect(run(fn)).toBe(true);
    expect(ops(fn)).toEqual(['mul', 'broadcast_in_dim', 'add', 'exp', 'transpose']);
    const after = interpret(fn, inputs);
    expect(after[0]!.type.shape).toEqual([4, 2, 3]);
    expect([...after[0]!.data]).toEqual([...before[0]!.data]);
    // Independent oracle: the same math in tfjs on the transposed operands.
    const [a, b] = [tf.tensor(inputs[0]!.data, [2, 3, 4]), tf.tensor(inputs[1]!.data, [2, 3, 4])];
    const want = tf.exp(tf.add(tf.mul(tf.transpose(a, [2, 0, 1]), tf.transpose(b, [2, 0, 1])), 0.25)).dataSync();
    expect([...after[0]!.data]).toEqual([...want]);
    expect(layout.run(fn)).toBe(false);
  });

  test('a sunk transpose cancels against the inverse one after it (standard pipeline): no transpose is left', () => {
    const fn = parseFunc(`func @f(%a: f32[5,3], %c: f32[5,3]) -> (out0: f32[5,3]) {
      %ta = transpose(%a) {perm=[1, 0]}
      %tc = transpose(%c) {perm=[1, 0]}
      %z = constant() {value=f32[]{0}}
      %zb = broadcast_in_dim(%z) {shape=[3, 5], dims=[]}
      %g = compare(%ta, %zb) {dir=gt}
      %r = select(%g, %ta, %tc)
      %n = neg(%r)
      %back = transpose(%n) {perm=[1, 0]}
      return %back
    }`);
    const inputs = [lit([5, 3], 3), lit([5, 3], 4)];
    const before = interpret(fn, inputs);
    const out = optimize(fn, { dumpDir: null });
    expect(out.body.some((v) => v.op === 'transpose'), printFunc(out)).toBe(false);
    expect([...interpret(out, inputs)[0]!.data]).toEqual([...before[0]!.data]);
    // Oracle: -(a > 0 ? a : c) elementwise.
    const a = inputs[0]!.data, c = inputs[1]!.data;
    expect([...before[0]!.data]).toEqual([...a].map((v, i) => -(v > 0 ? v : c[i]!)));
  });

  test('a transpose read by another op too stays where it is (sinking never copies work)', () => {
    const text = `func @f(%a: f32[2,3]) -> (out0: f32[3,2], out1: f32[3,2]) {
      %ta = transpose(%a) {perm=[1, 0]}
      %n = neg(%ta)
      %e = exp(%ta)
      return %n, %e
    }`;
    const fn = parseFunc(text);
    expect(run(fn)).toBe(false);
    expect(printFunc(fn)).toBe(printFunc(parseFunc(text)));
  });

  test('a cone that would end in more transposes than it reads is left alone', () => {
    const text = `func @f(%a: f32[2,3]) -> (out0: f32[3,2], out1: f32[3,2]) {
      %ta = transpose(%a) {perm=[1, 0]}
      %n = neg(%ta)
      %e = exp(%ta)
      %m = mul(%n, %e)
      %s = sqrt(%n)
      return %m, %s
    }`;
    const fn = parseFunc(text);
    expect(run(fn)).toBe(false);
    expect(printFunc(fn)).toBe(printFunc(parseFunc(text)));
  });

  test('a transpose also read by a dot keeps every elementwise reader where it is', () => {
    const text = `func @f(%a: f32[2,3], %w: f32[2,4]) -> (out0: f32[3,2], out1: f32[3,4]) {
      %ta = transpose(%a) {perm=[1, 0]}
      %n = neg(%ta)
      %d = dot_general(%ta, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]}
      return %n, %d
    }`;
    const fn = parseFunc(text);
    expect(run(fn)).toBe(false);
  });

  test('operands transposed by different perms, or not transposed, block sinking', () => {
    const text = `func @f(%a: f32[2,2], %b: f32[2,2]) -> (out0: f32[2,2]) {
      %ta = transpose(%a) {perm=[1, 0]}
      %y = add(%ta, %b)
      return %y
    }`;
    const fn = parseFunc(text);
    expect(run(fn)).toBe(false);
    expect(printFunc(fn)).toBe(printFunc(parseFunc(text)));
  });

  test('a full-shape constant operand is transposed at compile time into the operands\' layout', () => {
    const fn = parseFunc(`func @f(%a: f32[2,3]) -> (out0: f32[3,2]) {
      %ta = transpose(%a) {perm=[1, 0]}
      %k = constant() {value=f32[3,2]{1, 2, 3, 4, 5, 6}}
      %y = sub(%ta, %k)
      return %y
    }`);
    const inputs = [lit([2, 3], 5)];
    const before = interpret(fn, inputs);
    expect(run(fn)).toBe(true);
    expect(ops(fn)).toEqual(['sub', 'transpose']);
    expect([...(fn.body.find((v) => v.op === 'constant')!.attrs['value'] as { data: Float32Array }).data]).toEqual([1, 3, 5, 2, 4, 6]);
    expect([...interpret(fn, inputs)[0]!.data]).toEqual([...before[0]!.data]);
  });

  test('a reduce of a transpose reduces the operand and transposes the smaller result (or nothing)', () => {
    const fn = parseFunc(`func @f(%x: f32[2,3,4]) -> (out0: f32[4,3], out1: f32[4]) {
      %t = transpose(%x) {perm=[2, 0, 1]}
      %r = reduce(%t) {op=sum, axes=[1]}
      %u = transpose(%x) {perm=[1, 2, 0]}
      %m = reduce(%u) {op=max, axes=[0, 2]}
      return %r, %m
    }`);
    const inputs = [lit([2, 3, 4], 6)];
    const before = interpret(fn, inputs);
    expect(run(fn)).toBe(true);
    expect(ops(fn)).toEqual(['reduce', 'transpose', 'reduce']);
    const tr = fn.body.find((v) => v.op === 'transpose')!;
    expect(tr.inputs[0]!.shape).toEqual([3, 4]);
    const after = interpret(fn, inputs);
    const x = tf.tensor(inputs[0]!.data, [2, 3, 4]);
    expect(Array.from(after[0]!.data)).toEqual(Array.from(before[0]!.data));
    expect(Array.from(after[1]!.data)).toEqual(Array.from(before[1]!.data));
    expect(Array.from(after[0]!.data)).toEqual(Array.from(tf.sum(tf.transpose(x, [2, 0, 1]), 1).dataSync()));
    expect(Array.from(after[1]!.data)).toEqual(Array.from(tf.max(tf.transpose(x, [1, 2, 0]), [0, 2]).dataSync()));
  });

  test('per-channel quantize does not commute with a transpose: it is left alone', () => {
    const text = `func @f(%a: f32[2,3]) -> (out0: i8[3,2]) {
      %ta = transpose(%a) {perm=[1, 0]}
      %q = quantize(%ta) {scale=[0.5, 0.25], zero_point=[0, 0], axis=1}
      return %q
    }`;
    const fn = parseFunc(text);
    expect(run(fn)).toBe(false);
  });
});
