import { describe, expect, test } from 'vitest';
import { Builder, interpret, literal, tensorType, type Func } from '../ir/index.js';
import { parseFunc } from '../ir/parse.js';
import { printFunc } from '../ir/print.js';
import { dce } from './dce.js';
import { makeSimplify, simplify, splatValue, type Rule } from './simplify.js';

/** simplify in text: each case parses a function, runs simplify (then DCE to drop what it orphaned) and compares text. */

function simplified(text: string): { fn: Func; changed: boolean } {
  const fn = parseFunc(text);
  const changed = simplify.run(fn);
  dce.run(fn);
  return { fn, changed };
}

function expectSimplifiesTo(input: string, expected: string): void {
  const { fn, changed } = simplified(input);
  expect(changed).toBe(true);
  expect(printFunc(fn)).toBe(printFunc(parseFunc(expected)));
  // A second run finds nothing left to do.
  expect(simplify.run(fn)).toBe(false);
}

function expectUnchanged(input: string): void {
  const fn = parseFunc(input);
  const before = printFunc(fn);
  expect(simplify.run(fn)).toBe(false);
  expect(printFunc(fn)).toBe(before);
}

const ident = (param: string, type: string) => `func @f(%x: ${type}) -> (out0: ${type}) {\n  return %${param}\n}`;

describe('simplify: arithmetic identities', () => {
  test.each([
    ['x+0', 'add(%x, %z)'],
    ['0+x', 'add(%z, %x)'],
    ['x-0', 'sub(%x, %z)'],
  ])('%s -> x (zero is a scalar broadcast)', (_, expr) => {
    expectSimplifiesTo(
      `func @f(%x: f32[2,3]) -> (out0: f32[2,3]) {
        %c = constant() {value=f32[]{0}}
        %z = broadcast_in_dim(%c) {shape=[2,3], dims=[]}
        %y = ${expr}
        return %y
      }`,
      ident('x', 'f32[2,3]'),
    );
  });

  test.each([
    ['x*1', 'mul(%x, %one)'],
    ['1*x', 'mul(%one, %x)'],
    ['x/1', 'div(%x, %one)'],
  ])('%s -> x (one is a full constant)', (_, expr) => {
    expectSimplifiesTo(
      `func @f(%x: i32[3]) -> (out0: i32[3]) {
        %one = constant() {value=i32[3]{1, 1, 1}}
        %y = ${expr}
        return %y
      }`,
      ident('x', 'i32[3]'),
    );
  });

  test('x+(-0) also -> x; a constant that is not all zeros is kept', () => {
    expectSimplifiesTo(
      `func @f(%x: f32[2]) -> (out0: f32[2]) {
        %z = constant() {value=f32[2]{-0, -0}}
        %y = add(%x, %z)
        return %y
      }`,
      ident('x', 'f32[2]'),
    );
    expectUnchanged(
      `func @f(%x: f32[2]) -> (out0: f32[2]) {
        %z = constant() {value=f32[2]{0, 1}}
        %y = add(%x, %z)
        %w = mul(%y, %z)
        return %w
      }`,
    );
  });

  test('x*0, x-x, 0-x and 1/x are not rewritten (NaN and inf would change)', () => {
    expectUnchanged(
      `func @f(%x: f32[2]) -> (out0: f32[2], out1: f32[2], out2: f32[2], out3: f32[2]) {
        %c = constant() {value=f32[]{0}}
        %z = broadcast_in_dim(%c) {shape=[2], dims=[]}
        %c1 = constant() {value=f32[]{1}}
        %one = broadcast_in_dim(%c1) {shape=[2], dims=[]}
        %a = mul(%x, %z)
        %b = sub(%x, %x)
        %c2 = sub(%z, %x)
        %d = div(%one, %x)
        return %a, %b, %c2, %d
      }`,
    );
  });

  test('neg(neg x), not(not x), max(x,x), min(x,x)', () => {
    expectSimplifiesTo(
      `func @f(%x: f32[4], %b: bool[4]) -> (a: f32[4], n: bool[4], m: f32[4]) {
        %0 = neg(%x)
        %1 = neg(%0)
        %2 = not(%b)
        %3 = not(%2)
        %4 = max(%1, %1)
        %5 = min(%4, %x)
        %6 = min(%x, %x)
        return %5, %3, %6
      }`,
      `func @f(%x: f32[4], %b: bool[4]) -> (a: f32[4], n: bool[4], m: f32[4]) {
        return %x, %b, %x
      }`,
    );
  });

  test('neg(neg(neg x)) keeps one neg', () => {
    expectSimplifiesTo(
      `func @f(%x: f32[4]) -> (out0: f32[4]) {
        %0 = neg(%x)
        %1 = neg(%0)
        %2 = neg(%1)
        return %2
      }`,
      `func @f(%x: f32[4]) -> (out0: f32[4]) {
        %0 = neg(%x)
        return %0
      }`,
    );
  });
});

describe('simplify: select and cast', () => {
  const sel = (pred: string) => `func @f(%a: f32[2], %b: f32[2]) -> (out0: f32[2]) {
      %c = constant() {value=bool[]{${pred}}}
      %p = broadcast_in_dim(%c) {shape=[2], dims=[]}
      %y = select(%p, %a, %b)
      return %y
    }`;
  test('select on a known predicate picks a branch', () => {
    expectSimplifiesTo(sel('1'), `func @f(%a: f32[2], %b: f32[2]) -> (out0: f32[2]) {\n return %a\n}`);
    expectSimplifiesTo(sel('0'), `func @f(%a: f32[2], %b: f32[2]) -> (out0: f32[2]) {\n return %b\n}`);
  });

  test('select(p, a, a) -> a; a mixed constant predicate stays', () => {
    expectSimplifiesTo(
      `func @f(%p: bool[2], %a: f32[2]) -> (out0: f32[2]) {
        %y = select(%p, %a, %a)
        return %y
      }`,
      `func @f(%p: bool[2], %a: f32[2]) -> (out0: f32[2]) {\n return %a\n}`,
    );
    expectUnchanged(
      `func @f(%a: f32[2], %b: f32[2]) -> (out0: f32[2]) {
        %p = constant() {value=bool[2]{1, 0}}
        %y = select(%p, %a, %b)
        return %y
      }`,
    );
  });

  test('cast to the same dtype disappears; exact cast chains collapse', () => {
    expectSimplifiesTo(
      `func @f(%x: f32[3], %h: f16[3], %u: u8[3]) -> (a: f32[3], b: bf16[3], c: i8[3]) {
        %0 = cast(%x) {dtype=f32}
        %1 = cast(%h) {dtype=f32}
        %2 = cast(%1) {dtype=bf16}
        %3 = cast(%u) {dtype=i32}
        %4 = cast(%3) {dtype=f16}
        %5 = cast(%4) {dtype=i8}
        return %0, %2, %5
      }`,
      `func @f(%x: f32[3], %h: f16[3], %u: u8[3]) -> (a: f32[3], b: bf16[3], c: i8[3]) {
        %0 = cast(%h) {dtype=bf16}
        %1 = cast(%u) {dtype=i8}
        return %x, %0, %1
      }`,
    );
  });

  test('a round trip through a wider type is the identity; lossy chains stay', () => {
    expectSimplifiesTo(
      `func @f(%x: bf16[3]) -> (out0: bf16[3]) {
        %0 = cast(%x) {dtype=f32}
        %1 = cast(%0) {dtype=bf16}
        return %1
      }`,
      ident('x', 'bf16[3]'),
    );
    // f32 -> f16 -> f32 rounds; i32 -> f32 -> i32 loses above 2^24; f32 -> i32 -> f32 truncates.
    expectUnchanged(
      `func @f(%x: f32[3], %i: i32[3]) -> (a: f32[3], b: i32[3], c: f32[3]) {
        %0 = cast(%x) {dtype=f16}
        %1 = cast(%0) {dtype=f32}
        %2 = cast(%i) {dtype=f32}
        %3 = cast(%2) {dtype=i32}
        %4 = cast(%x) {dtype=i32}
        %5 = cast(%4) {dtype=f32}
        return %1, %3, %5
      }`,
    );
  });
});

describe('simplify: movement ops', () => {
  test('no-op reshape, transpose, broadcast, slice, pad, concat disappear', () => {
    expectSimplifiesTo(
      `func @f(%x: f32[2,3]) -> (out0: f32[2,3]) {
        %0 = reshape(%x) {shape=[2,3]}
        %1 = transpose(%0) {perm=[0, 1]}
        %2 = broadcast_in_dim(%1) {shape=[2,3], dims=[0, 1]}
        %3 = slice(%2) {start=[0, 0], limit=[2, 3], strides=[1, 1]}
        %4 = pad(%3) {low=[0, 0], high=[0, 0], interior=[0, 0], value=5}
        %5 = concat(%4) {axis=1}
        return %5
      }`,
      ident('x', 'f32[2,3]'),
    );
  });

  test('reduce over no axes is its operand; a reduce over a size-1 axis stays', () => {
    expectSimplifiesTo(
      `func @f(%x: f32[2,3]) -> (out0: f32[2,3]) {
        %0 = reduce(%x) {op=max, axes=[]}
        return %0
      }`,
      ident('x', 'f32[2,3]'),
    );
    expectUnchanged(
      `func @f(%x: f32[2,1]) -> (out0: f32[2]) {
        %0 = reduce(%x) {op=sum, axes=[1]}
        return %0
      }`,
    );
  });

  test('partial slices, real pads and two-operand concats stay', () => {
    expectUnchanged(
      `func @f(%x: f32[2,3]) -> (a: f32[2,2], b: f32[2,4], c: f32[2,6], d: f32[3,2]) {
        %0 = slice(%x) {start=[0, 1], limit=[2, 3], strides=[1, 1]}
        %1 = pad(%x) {low=[0, 0], high=[0, 1], interior=[0, 0], value=0}
        %2 = concat(%x, %x) {axis=1}
        %3 = transpose(%x) {perm=[1, 0]}
        return %0, %1, %2, %3
      }`,
    );
  });

  test('reshape chains collapse into one reshape', () => {
    expectSimplifiesTo(
      `func @f(%x: f32[2,3,4]) -> (out0: f32[4,6]) {
        %0 = reshape(%x) {shape=[6,4]}
        %1 = reshape(%0) {shape=[24]}
        %2 = reshape(%1) {shape=[4,6]}
        return %2
      }`,
      `func @f(%x: f32[2,3,4]) -> (out0: f32[4,6]) {
        %0 = reshape(%x) {shape=[4,6]}
        return %0
      }`,
    );
  });

  test('transpose chains compose; inverse perms cancel', () => {
    expectSimplifiesTo(
      `func @f(%x: f32[2,3,4]) -> (a: f32[4,2,3], b: f32[2,3,4]) {
        %0 = transpose(%x) {perm=[1, 2, 0]}
        %1 = transpose(%0) {perm=[1, 2, 0]}
        %2 = transpose(%x) {perm=[2, 0, 1]}
        %3 = transpose(%2) {perm=[1, 2, 0]}
        return %1, %3
      }`,
      `func @f(%x: f32[2,3,4]) -> (a: f32[4,2,3], b: f32[2,3,4]) {
        %0 = transpose(%x) {perm=[2, 0, 1]}
        return %0, %x
      }`,
    );
  });

  test('broadcast chains compose', () => {
    expectSimplifiesTo(
      `func @f(%x: f32[3]) -> (out0: f32[5,2,3]) {
        %0 = broadcast_in_dim(%x) {shape=[2,3], dims=[1]}
        %1 = broadcast_in_dim(%0) {shape=[5,2,3], dims=[1, 2]}
        return %1
      }`,
      `func @f(%x: f32[3]) -> (out0: f32[5,2,3]) {
        %0 = broadcast_in_dim(%x) {shape=[5,2,3], dims=[2]}
        return %0
      }`,
    );
  });

  test('a splat constant becomes a broadcast scalar, which moves through reshape and transpose', () => {
    expectSimplifiesTo(
      `func @f() -> (out0: f32[3,2]) {
        %0 = constant() {value=f32[2,3]{7, 7, 7, 7, 7, 7}}
        %1 = transpose(%0) {perm=[1, 0]}
        return %1
      }`,
      `func @f() -> (out0: f32[3,2]) {
        %0 = constant() {value=f32[]{7}}
        %1 = broadcast_in_dim(%0) {shape=[3,2], dims=[]}
        return %1
      }`,
    );
    // -0 and +0 differ in bits, so this is no splat.
    expectUnchanged(
      `func @f() -> (out0: f32[2]) {
        %0 = constant() {value=f32[2]{0, -0}}
        return %0
      }`,
    );
  });
});

describe('simplify: the rewrite engine', () => {
  test('splatValue sees through broadcasts and reshapes and keeps -0 apart', () => {
    const b = new Builder();
    const c = b.scalar(-0);
    const bc = b.op('broadcast_in_dim', [c], { shape: [2, 2], dims: [] });
    const r = b.op('reshape', [bc], { shape: [4] });
    expect(Object.is(splatValue(r), -0)).toBe(true);
    expect(splatValue(b.constant(literal([2], 'f32', [0, -0])))).toBeUndefined();
    expect(splatValue(b.constant(literal([2], 'f32', [NaN, NaN])))).toBeNaN();
  });

  test('a rule that changes the type is reported with its name', () => {
    const bad: Rule = { name: 'bad-rule', ops: ['neg'], rewrite: (v, r) => r.emit('cast', [v.inputs[0]!], { dtype: 'i32' }) };
    const b = new Builder();
    const x = b.param(tensorType([2], 'f32'));
    const fn = b.build([b.op('neg', [x])]);
    expect(() => makeSimplify([bad]).run(fn)).toThrow(/bad-rule/);
  });

  test('a rule table that loops is caught', () => {
    const loop: Rule = { name: 'ping', ops: ['neg'], rewrite: (v, r) => r.emit('neg', [v.inputs[0]!]) };
    const b = new Builder();
    const x = b.param(tensorType([2], 'f32'));
    const fn = b.build([b.op('neg', [x])]);
    expect(() => makeSimplify([loop]).run(fn)).toThrow(/ping/);
  });

  test('rewritten results keep their values (interpreter before and after)', () => {
    const fn = parseFunc(`func @f(%x: f32[2,3]) -> (a: f32[3,2], b: f32[2,3]) {
      %c = constant() {value=f32[]{0}}
      %z = broadcast_in_dim(%c) {shape=[2,3], dims=[]}
      %0 = add(%x, %z)
      %1 = transpose(%0) {perm=[1, 0]}
      %2 = transpose(%1) {perm=[1, 0]}
      %3 = transpose(%2) {perm=[1, 0]}
      %4 = neg(%2)
      %5 = neg(%4)
      return %3, %5
    }`);
    const input = literal([2, 3], 'f32', [1, -2, NaN, Infinity, -0, 3.5]);
    const before = interpret(fn, [input]);
    expect(simplify.run(fn)).toBe(true);
    const after = interpret(fn, [input]);
    // Oracle: x + 0 and a naive transpose written here.
    const x = [...input.data];
    const plus0 = x.map((v) => v + 0);
    expect([...before[0]!.data]).toEqual([plus0[0], plus0[3], plus0[1], plus0[4], plus0[2], plus0[5]]);
    expect([...before[1]!.data]).toEqual(plus0);
    // x + 0 -> x differs only in the sign of a zero ((-0) + 0 is +0), which XLA accepts too.
    expect([...after[0]!.data].map((v) => v + 0)).toEqual([...before[0]!.data]);
    expect([...after[1]!.data]).toEqual(x);
    expect(Object.is(after[1]!.data[4], -0)).toBe(true);
  });
});
