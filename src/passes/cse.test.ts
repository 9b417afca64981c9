import { describe, expect, test } from 'vitest';
import { Builder, literal, tensorType } from '../ir/index.js';
import { hasOp } from '../ir/registry.js';
import { parseFunc } from '../ir/parse.js';
import { printFunc } from '../ir/print.js';
import { cse } from './cse.js';

/** CSE in text: parse, run cse, compare with the expected text. */

function expectCse(input: string, expected: string): void {
  const fn = parseFunc(input);
  expect(cse.run(fn)).toBe(true);
  expect(printFunc(fn)).toBe(printFunc(parseFunc(expected)));
  expect(cse.run(fn)).toBe(false);
}

function expectUnchanged(input: string): void {
  const fn = parseFunc(input);
  const before = printFunc(fn);
  expect(cse.run(fn)).toBe(false);
  expect(printFunc(fn)).toBe(before);
}

describe('cse', () => {
  test('duplicates merge, and their users then merge too', () => {
    expectCse(
      `func @f(%x: f32[4], %y: f32[4]) -> (a: f32[4], b: f32[4]) {
        %0 = exp(%x)
        %1 = exp(%x)
        %2 = add(%0, %y)
        %3 = add(%1, %y)
        return %2, %3
      }`,
      `func @f(%x: f32[4], %y: f32[4]) -> (a: f32[4], b: f32[4]) {
        %0 = exp(%x)
        %2 = add(%0, %y)
        return %2, %2
      }`,
    );
  });

  test('commutative operands in either order merge; sub and lt do not', () => {
    expectCse(
      `func @f(%x: f32[4], %y: f32[4]) -> (a: f32[4], b: f32[4], c: bool[4], d: bool[4], e: f32[4], f: f32[4], g: bool[4], h: bool[4]) {
        %0 = mul(%x, %y)
        %1 = mul(%y, %x)
        %2 = compare(%x, %y) {dir=eq}
        %3 = compare(%y, %x) {dir=eq}
        %4 = sub(%x, %y)
        %5 = sub(%y, %x)
        %6 = compare(%x, %y) {dir=lt}
        %7 = compare(%y, %x) {dir=lt}
        return %0, %1, %2, %3, %4, %5, %6, %7
      }`,
      `func @f(%x: f32[4], %y: f32[4]) -> (a: f32[4], b: f32[4], c: bool[4], d: bool[4], e: f32[4], f: f32[4], g: bool[4], h: bool[4]) {
        %0 = mul(%x, %y)
        %2 = compare(%x, %y) {dir=eq}
        %4 = sub(%x, %y)
        %5 = sub(%y, %x)
        %6 = compare(%x, %y) {dir=lt}
        %7 = compare(%y, %x) {dir=lt}
        return %0, %0, %2, %2, %4, %5, %6, %7
      }`,
    );
  });

  test('equal constants merge; different literals, -0 vs 0 and different attributes do not', () => {
    expectCse(
      `func @f() -> (a: f32[2], b: f32[2], c: f32[2], d: f32[2], e: f32[2,2], f: f32[2,2]) {
        %0 = constant() {value=f32[2]{1, nan}}
        %1 = constant() {value=f32[2]{1, nan}}
        %2 = constant() {value=f32[2]{0, 0}}
        %3 = constant() {value=f32[2]{0, -0}}
        %4 = broadcast_in_dim(%0) {shape=[2,2], dims=[0]}
        %5 = broadcast_in_dim(%1) {shape=[2,2], dims=[1]}
        return %0, %1, %2, %3, %4, %5
      }`,
      `func @f() -> (a: f32[2], b: f32[2], c: f32[2], d: f32[2], e: f32[2,2], f: f32[2,2]) {
        %0 = constant() {value=f32[2]{1, nan}}
        %2 = constant() {value=f32[2]{0, 0}}
        %3 = constant() {value=f32[2]{0, -0}}
        %4 = broadcast_in_dim(%0) {shape=[2,2], dims=[0]}
        %5 = broadcast_in_dim(%0) {shape=[2,2], dims=[1]}
        return %0, %0, %2, %3, %4, %5
      }`,
    );
  });

  test('same op on different operands, or with other dtypes, stays', () => {
    expectUnchanged(
      `func @f(%x: f32[4], %y: f32[4]) -> (a: f32[4], b: f32[4], c: i32[4], d: f16[4]) {
        %0 = exp(%x)
        %1 = exp(%y)
        %2 = cast(%x) {dtype=i32}
        %3 = cast(%x) {dtype=f16}
        return %0, %1, %2, %3
      }`,
    );
  });

  test('parameters of equal type never merge', () => {
    const b = new Builder();
    const x = b.param(tensorType([3], 'f32'), 'x');
    const y = b.param(tensorType([3], 'f32'), 'y');
    const fn = b.build([b.op('neg', [x]), b.op('neg', [y])]);
    expect(cse.run(fn)).toBe(false);
    expect(fn.body.length).toBe(2);
  });

  test('large constants: equal data merges, one differing element does not', () => {
    const b = new Builder();
    const data = Float32Array.from({ length: 5000 }, (_, i) => Math.sin(i));
    const other = Float32Array.from(data);
    other[4321] = 7;
    const c0 = b.constant(literal([5000], 'f32', data));
    const c1 = b.constant(literal([5000], 'f32', Float32Array.from(data)));
    const c2 = b.constant(literal([5000], 'f32', other));
    const fn = b.build([c0, c1, c2]);
    expect(cse.run(fn)).toBe(true);
    expect(fn.body.length).toBe(2);
    expect(fn.results[0]).toBe(fn.results[1]);
    expect(fn.results[2]).not.toBe(fn.results[0]);
  });

  test.runIf(hasOp('rng_uniform'))('rng nodes with the same key and attributes merge (they draw the same numbers)', () => {
    expectCse(
      `func @f(%k: i32[2], %j: i32[2]) -> (a: f32[3], b: f32[3], c: f32[3], d: f32[4]) {
        %0 = rng_uniform(%k) {shape=[3], dtype=f32}
        %1 = rng_uniform(%k) {shape=[3], dtype=f32}
        %2 = rng_uniform(%j) {shape=[3], dtype=f32}
        %3 = rng_uniform(%k) {shape=[4], dtype=f32}
        return %0, %1, %2, %3
      }`,
      `func @f(%k: i32[2], %j: i32[2]) -> (a: f32[3], b: f32[3], c: f32[3], d: f32[4]) {
        %0 = rng_uniform(%k) {shape=[3], dtype=f32}
        %2 = rng_uniform(%j) {shape=[3], dtype=f32}
        %3 = rng_uniform(%k) {shape=[4], dtype=f32}
        return %0, %0, %2, %3
      }`,
    );
  });
});
