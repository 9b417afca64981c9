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
