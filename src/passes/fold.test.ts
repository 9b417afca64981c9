import { describe, expect, test } from 'vitest';
import { attr, Builder, interpret, literal, tensorType, type Func, type Value } from '../ir/index.js';
import { hasOp } from '../ir/registry.js';
import { parseFunc } from '../ir/parse.js';
import { printFunc } from '../ir/print.js';
import { dce } from './dce.js';
import { fold, foldDecision, makeFold } from './fold.js';

/** Constant folding: text in/out, values against naive loops, and the size and rng policies. */

function folded(text: string, pass = fold): { fn: Func; changed: boolean } {
  const fn = parseFunc(text);
  const changed = pass.run(fn);
  dce.run(fn);
  return { fn, changed };
}

function constantData(v: Value): number[] {
  expect(v.op).toBe('constant');
  return [...attr.literal(v.attrs, 'value').data];
}

describe('fold', () => {
  test('elementwise ops on constants become one constant with the right values', () => {
    const a = [1.5, -2, 3.25, 1e30], b = [0.5, 4, -1, 1e30];
    const { fn, changed } = folded(`func @f(%x: f32[4]) -> (out0: f32[4], out1: f32[4]) {
      %a = constant() {value=f32[4]{${a.join(', ')}}}
      %b = constant() {value=f32[4]{${b.join(', ')}}}
      %0 = mul(%a, %b)
      %1 = sub(%0, %a)
      %2 = add(%x, %1)
      return %1, %2
    }`);
    expect(changed).toBe(true);
    expect(fn.body.map((v) => v.op)).toEqual(['constant', 'add']);
    const want = a.map((x, i) => Math.fround(Math.fround(x * b[i]!) - x));
    expect(constantData(fn.results[0]!)).toEqual(want);
    expect(fn.results[1]!.inputs[1]).toBe(fn.results[0]);
  });

  test('elementwise ops on broadcast scalars fold on one element, however large the shape', () => {
    const { fn } = folded(`func @f() -> (out0: f32[300,300]) {
      %a = constant() {value=f32[]{2}}
      %b = constant() {value=f32[]{3}}
      %ba = broadcast_in_dim(%a) {shape=[300,300], dims=[]}
      %bb = broadcast_in_dim(%b) {shape=[300,300], dims=[]}
      %0 = pow(%ba, %bb)
      return %0
    }`);
    expect(printFunc(fn)).toBe(printFunc(parseFunc(`func @f() -> (out0: f32[300,300]) {
      %0 = constant() {value=f32[]{8}}
      %1 = broadcast_in_dim(%0) {shape=[300,300], dims=[]}
      return %1
    }`)));
  });

  test('a broadcast of a small constant to a huge shape stays a broadcast; results over the limit stay', () => {
    const text = `func @f() -> (out0: f32[1000,1000], out1: f32[1000,1000]) {
      %a = constant() {value=f32[1000]{0x${'0000803f'.repeat(1000)}}}
      %0 = broadcast_in_dim(%a) {shape=[1000,1000], dims=[1]}
      %1 = exp(%0)
      return %0, %1
    }`;
    const { fn, changed } = folded(text);
    expect(changed).toBe(false);
    expect(printFunc(fn)).toBe(printFunc(parseFunc(text)));
    expect(foldDecision(fn.body[1]!).why).toMatch(/broadcast/);
    expect(foldDecision(fn.body[2]!).why).toMatch(/1000000 elements \(limit 65536\)/);
  });

  test('a splat result becomes a broadcast scalar', () => {
    const { fn } = folded(`func @f() -> (out0: i32[3]) {
      %a = constant() {value=i32[3]{4, -2, 9}}
      %b = constant() {value=i32[3]{-4, 2, -9}}
      %0 = add(%a, %b)
      return %0
    }`);
    expect(printFunc(fn)).toBe(printFunc(parseFunc(`func @f() -> (out0: i32[3]) {
      %0 = constant() {value=i32[]{0}}
      %1 = broadcast_in_dim(%0) {shape=[3], dims=[]}
      return %1
    }`)));
  });

  test('maxElements bounds what is folded', () => {
    const text = `func @f() -> (out0: f32[8]) {
      %a = constant() {value=f32[8]{1, 2, 3, 4, 5, 6, 7, 8}}
      %0 = neg(%a)
      return %0
    }`;
    expect(folded(text, makeFold({ maxElements: 4 })).changed).toBe(false);
    const { fn, changed } = folded(text, makeFold({ maxElements: 8 }));
    expect(changed).toBe(true);
    expect(constantData(fn.results[0]!)).toEqual([-1, -2, -3, -4, -5, -6, -7, -8]);
  });

  test('iota operands fold; iota alone stays; values follow a naive loop', () => {
    const { fn } = folded(`func @f() -> (out0: i32[2,3], out1: i32[2,3]) {
      %i = iota() {shape=[2,3], dtype=i32, dim=1}
      %j = iota() {shape=[2,3], dtype=i32, dim=0}
      %c = constant() {value=i32[]{10}}
      %t = broadcast_in_dim(%c) {shape=[2,3], dims=[]}
      %0 = mul(%j, %t)
      %1 = add(%0, %i)
      return %1, %i
    }`);
    const want: number[] = [];
    for (let r = 0; r < 2; r++) for (let c = 0; c < 3; c++) want.push(r * 10 + c);
    expect(constantData(fn.results[0]!)).toEqual(want);
    expect(fn.results[1]!.op).toBe('iota');
  });

  test('narrow dtypes round exactly as the interpreter does', () => {
    const text = `func @f() -> (out0: f16[3], out1: i8[3], out2: bf16[3]) {
      %a = constant() {value=f16[3]{0.1, 1000, 3.14}}
      %0 = mul(%a, %a)
      %b = constant() {value=i8[3]{100, -100, 7}}
      %1 = add(%b, %b)
      %c = constant() {value=bf16[3]{1, 2, 3}}
      %d = constant() {value=bf16[3]{0.01, 0.02, 300}}
      %2 = div(%c, %d)
      return %0, %1, %2
    }`;
    const reference = interpret(parseFunc(text), []);
    const { fn, changed } = folded(text);
    expect(changed).toBe(true);
    expect(fn.results.every((r) => r.op === 'constant')).toBe(true);
    fn.results.forEach((r, k) => expect(constantData(r)).toEqual([...reference[k]!.data]));
    // i8 wraps: 100+100 = 200 -> -56, -200 -> 56.
    expect(constantData(fn.results[1]!)).toEqual([-56, 56, 14]);
  });

  test('nodes with a parameter operand are left alone', () => {
    const text = `func @f(%x: f32[2]) -> (out0: f32[2]) {
      %a = constant() {value=f32[2]{1, 2}}
      %0 = add(%x, %a)
      return %0
    }`;
    const { changed } = folded(text);
    expect(changed).toBe(false);
    expect(foldDecision(parseFunc(text).body[1]!)).toEqual({ fold: false, why: 'operand 0 (parameter) is not a constant' });
  });

  test.runIf(hasOp('reduce'))('reductions of constants fold', () => {
    const { fn } = folded(`func @f() -> (out0: f32[2]) {
      %a = constant() {value=f32[2,3]{1, 2, 3, 4, 5, 6}}
      %0 = reduce(%a) {op=sum, axes=[1]}
      return %0
    }`);
    expect(constantData(fn.results[0]!)).toEqual([6, 15]);
  });

  test.runIf(hasOp('rng_uniform'))('rng with a constant key is not folded (its output would be stored in full)', () => {
    const b = new Builder();
    const key = b.constant(literal([2], 'i32', [1, 2]));
    const r = b.op('rng_uniform', [key], { shape: [64], dtype: 'f32' });
    const fn = b.build([r]);
    expect(fold.run(fn)).toBe(false);
    expect(foldDecision(r).why).toMatch(/rng/);
  });

  test('an operand over the limit is not materialized', () => {
    const b = new Builder();
    const big = b.full(1, tensorType([70000], 'f32'));
    const s = b.op('slice', [big], { start: [0], limit: [4], strides: [1] });
    const fn = b.build([s]);
    expect(foldDecision(s).why).toMatch(/operand 0 has 70000 elements/);
    expect(fold.run(fn)).toBe(false);
  });
});
