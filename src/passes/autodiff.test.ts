import { describe, expect, test } from 'vitest';
import { Builder } from '../ir/builder.js';
import { interpret } from '../ir/interpreter.js';
import { literal } from '../ir/literal.js';
import { randomLiteral } from '../ir/ops/testkit.js';
import { parseFunc } from '../ir/parse.js';
import { printFunc } from '../ir/print.js';
import { verify } from '../ir/verify.js';
import { gradFunc, vjpFunc } from './autodiff.js';
import { optimize } from './pipeline.js';

/**
 * The autodiff transform itself: signature and result layout, cotangent accumulation on fan-out,
 * which values get cotangents (only paths from wrt parameters to seeded results, never integers),
 * aliases kept, errors, and the result surviving the optimization pipeline.
 */

const data = (l: { data: ArrayLike<number> }) => Array.from(l.data);

describe('autodiff', () => {
  test('gradFunc: primal results first, then one gradient per wrt parameter, named after it', () => {
    const fn = parseFunc(`func @f(%x: f32[3], %y: f32[3]) -> (loss: f32[]) {
      %0 = mul(%x, %y)
      %1 = reduce(%0) {op=sum, axes=[0]}
      return %1
    }`);
    const g = gradFunc(fn);
    verify(g);
    expect(g.params.map((p) => p.name)).toEqual(['x', 'y']);
    expect(g.resultNames).toEqual(['loss', 'grad_x', 'grad_y']);
    const x = literal([3], 'f32', [1, 2, 3]), y = literal([3], 'f32', [4, -5, 6]);
    const [v, dx, dy] = interpret(g, [x, y]);
    expect(data(v!)).toEqual([4 - 10 + 18]);
    expect(data(dx!)).toEqual([4, -5, 6]);
    expect(data(dy!)).toEqual([1, 2, 3]);
  });

  test('fan-out: cotangents of a value used several times are summed', () => {
    // f = sum(x*x + exp(x) * x) -> df/dx = 2x + exp(x)(1 + x)
    const fn = parseFunc(`func @f(%x: f32[4]) -> (out0: f32[]) {
      %0 = mul(%x, %x)
      %1 = exp(%x)
      %2 = mul(%1, %x)
      %3 = add(%0, %2)
      %4 = reduce(%3) {op=sum, axes=[0]}
      return %4
    }`);
    const g = gradFunc(fn);
    verify(g);
    const xs = [-1.5, 0, 0.25, 2];
    const [, dx] = interpret(g, [literal([4], 'f32', xs)]);
    data(dx!).forEach((d, i) => expect(d).toBeCloseTo(2 * xs[i]! + Math.exp(xs[i]!) * (1 + xs[i]!), 5));
  });

  test('vjpFunc takes one cotangent per result; results sharing a value add up', () => {
    const fn = parseFunc(`func @f(%x: f32[2]) -> (a: f32[2], b: f32[2], c: f32[2]) {
      %0 = exp(%x)
      %1 = neg(%x)
      return %0, %1, %0
    }`);
    const g = vjpFunc(fn);
    verify(g);
    expect(g.params.map((p) => p.name)).toEqual(['x', 'ct_a', 'ct_b', 'ct_c']);
    const x = literal([2], 'f32', [0, 1]);
    const [, , , dx] = interpret(g, [x, literal([2], 'f32', [1, 2]), literal([2], 'f32', [10, 20]), literal([2], 'f32', [3, 4])]);
    expect(data(dx!)[0]).toBeCloseTo((1 + 3) * 1 - 10, 5);
    expect(data(dx!)[1]).toBeCloseTo((2 + 4) * Math.E - 20, 4);
  });

  test('only values between wrt parameters and seeded results get cotangents; no zeros for unused branches', () => {
    const fn = parseFunc(`func @f(%x: f32[3], %w: f32[3], %k: i32[3]) -> (loss: f32[], other: f32[3]) {
      %0 = cast(%k) {dtype=f32}
      %1 = mul(%x, %0)
      %2 = tanh(%w)
      %3 = mul(%1, %w)
      %4 = reduce(%3) {op=sum, axes=[0]}
      %5 = exp(%2)
      return %4, %5
    }`);
    const g = gradFunc(fn, { wrt: [1] });
    verify(g);
    const ops = g.body.slice(fn.body.length).map((v) => v.op);
    // d loss/d w = x * cast(k): a broadcast of the seed and one mul. Nothing for x, k, tanh or exp.
    expect(ops.filter((o) => o === 'mul')).toHaveLength(1);
    expect(ops).not.toContain('tanh');
    expect(ops).not.toContain('exp');
    expect(ops).not.toContain('cast');
    const [, , dw] = interpret(g, [literal([3], 'f32', [1, 2, 3]), literal([3], 'f32', [0, 0, 0]), literal([3], 'i32', [2, -1, 5])]);
    expect(data(dw!)).toEqual([2, -2, 15]);
  });

  test('a wrt parameter nothing reaches gets zeros; one that is itself a result gets the seed', () => {
    const fn = parseFunc(`func @f(%x: f32[2], %unused: f32[2,2]) -> (out0: f32[2]) {
      return %x
    }`);
    const g = gradFunc(fn);
    verify(g);
    const [, dx, du] = interpret(g, [literal([2], 'f32', [5, 6]), literal([2, 2], 'f32', [1, 2, 3, 4])]);
    expect(data(dx!)).toEqual([1, 1]);
    expect(data(du!)).toEqual([0, 0, 0, 0]);
  });

  test('aliases (state updates) keep their positions', () => {
    const fn = parseFunc(`func @step(%w: f32[2], %m: f32[2]) -> (loss: f32[], m_new: f32[2]) {
      %0 = mul(%w, %w)
      %1 = reduce(%0) {op=sum, axes=[0]}
      %2 = add(%m, %w)
      return %1, %2
      aliases {1: %m}
    }`);
    const g = gradFunc(fn, { wrt: [0] });
    verify(g);
    expect(g.aliases).toEqual([{ result: 1, param: 1 }]);
    expect(g.resultNames).toEqual(['loss', 'm_new', 'grad_w']);
    const [, mNew, dw] = interpret(g, [literal([2], 'f32', [1, -2]), literal([2], 'f32', [10, 10])]);
    expect(data(mNew!)).toEqual([11, 8]);
    expect(data(dw!)).toEqual([2, -4]);
  });

  test('the input is untouched, and the output survives optimize() with identical results', () => {
    const text = `func @mlp(%x: f32[5,4], %w: f32[4,3], %b: f32[3]) -> (loss: f32[]) {
      %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]}
      %1 = broadcast_in_dim(%b) {shape=[5,3], dims=[1]}
      %2 = add(%0, %1)
      %3 = constant() {value=f32[]{0}}
      %4 = broadcast_in_dim(%3) {shape=[5,3], dims=[]}
      %5 = max(%2, %4)
      %6 = mul(%5, %5)
      %7 = reduce(%6) {op=sum, axes=[0, 1]}
      return %7
    }`;
    const fn = parseFunc(text);
    const g = gradFunc(fn);
    expect(printFunc(fn)).toBe(printFunc(parseFunc(text)));
    verify(g);
    const inputs = [randomLiteral([5, 4], 'f32', 1), randomLiteral([4, 3], 'f32', 2), randomLiteral([3], 'f32', 3)];
    const before = interpret(g, inputs);
    const opt = optimize(g);
    verify(opt);
    const after = interpret(opt, inputs);
    after.forEach((l, i) => expect(data(l)).toEqual(data(before[i]!)));
    // It parses back from its printed form (tests and bug reports use the text).
    expect(printFunc(parseFunc(printFunc(g)))).toBe(printFunc(g));
  });

  test('a padded max pooling gradient prints and parses back (its pad fills with -inf)', () => {
    const fn = parseFunc(`func @pool(%x: f32[1,5,5,2]) -> (out0: f32[1,3,3,2]) {
      %0 = reduce_window(%x) {op=max, window=[1,3,3,1], strides=[1,2,2,1], pad_lo=[0,1,1,0], pad_hi=[0,1,1,0]}
      return %0
    }`);
    const g = vjpFunc(fn);
    verify(g);
    const text = printFunc(g);
    expect(text).toContain('value=-inf');
    const back = parseFunc(text);
    verify(back);
    const inputs = [randomLiteral([1, 5, 5, 2], 'f32', 4), randomLiteral([1, 3, 3, 2], 'f32', 5)];
    expect(data(interpret(back, inputs)[1]!)).toEqual(data(interpret(g, inputs)[1]!));
  });

  test('errors: non-float wrt or result, bad indices', () => {
    const b = new Builder('f');
    const x = b.param({ shape: [2], dtype: 'f32' }, 'x');
    const k = b.param({ shape: [2], dtype: 'i32' }, 'k');
    const fn = b.build([b.op('reduce', [x], { op: 'sum', axes: [0] }), k]);
    expect(() => gradFunc(fn, { wrt: [1] })).toThrow(/parameter 1 \('k': i32\[2\]\) is not floating-point/);
    expect(() => gradFunc(fn, { wrt: [2] })).toThrow(/wrt index 2 is out of range/);
    expect(() => gradFunc(fn, { wrt: [0, 0] })).toThrow(/listed twice/);
    expect(() => gradFunc(fn, { resultIndex: 1 })).toThrow(/result 1 .* is not floating-point/);
    expect(() => gradFunc(fn, { resultIndex: 5 })).toThrow(/result index 5 is out of range/);
    // Default wrt: the float parameters only.
    expect(gradFunc(fn).resultNames).toEqual(['out0', 'out1', 'grad_x']);
  });
});
