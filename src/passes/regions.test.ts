import { describe, expect, test } from 'vitest';
import { interpret } from '../ir/interpreter.js';
import { literalsEqual } from '../ir/literal.js';
import { parseFunc } from '../ir/parse.js';
import { printFunc } from '../ir/print.js';
import { randomFunc, randomInputs } from '../ir/random.js';
import { verify } from '../ir/verify.js';
import { cse } from './cse.js';
import { dce } from './dce.js';
import { fold } from './fold.js';
import { optimize } from './pipeline.js';
import { simplify } from './simplify.js';

/**
 * Simplify, CSE, DCE and fold inside control-flow regions: each pass on small IR text with its
 * expected result, DCE's narrowing of loop-carried values (and what it must keep), and the
 * standard pipeline on random functions with control flow, checked against the interpreter.
 */

const norm = (text: string) => printFunc(parseFunc(text));

function runPass(pass: { run(f: ReturnType<typeof parseFunc>): boolean }, text: string): string {
  const f = parseFunc(text);
  pass.run(f);
  verify(f);
  return printFunc(f);
}

describe('passes inside regions', () => {
  test('simplify rewrites a branch body', () => {
    const out = runPass(simplify, `func @f(%p: bool[], %x: f32[2]) -> (y: f32[2]) {
      %0 = cond(%p, %x) {
        func @then(%a: f32[2]) -> (out0: f32[2]) {
          %0 = neg(%a) : f32[2]
          %1 = neg(%0) : f32[2]
          return %1
        }
        func @else(%a: f32[2]) -> (out0: f32[2]) {
          %0 = exp(%a) : f32[2]
          return %0
        }
      } : (f32[2])
      %1 = get_result(%0) {index=0} : f32[2]
      return %1
    }`);
    // neg(neg a) -> a; the dead neg is DCE's to remove.
    expect(out).toContain('    func @then(%a: f32[2]) -> (out0: f32[2]) {\n      %0 = neg(%a) : f32[2]\n      return %a\n    }');
    const f = parseFunc(out);
    expect(dce.run(f)).toBe(true);
    expect(printFunc(f)).toContain('    func @then(%a: f32[2]) -> (out0: f32[2]) {\n      return %a\n    }');
  });

  test('cse merges inside a loop body, and merges two loops only when their regions are equal', () => {
    const body = (op: string) => `{
        func @cond(%i: i32[], %v: f32[2]) -> (out0: bool[]) {
          %0 = constant() {value=i32[]{3}} : i32[]
          %1 = compare(%i, %0) {dir=lt} : bool[]
          return %1
        }
        func @body(%i: i32[], %v: f32[2]) -> (out0: i32[], out1: f32[2]) {
          %0 = constant() {value=i32[]{1}} : i32[]
          %1 = add(%i, %0) : i32[]
          %2 = ${op}(%v) : f32[2]
          %3 = ${op}(%v) : f32[2]
          %4 = add(%2, %3) : f32[2]
          return %1, %4
        }
      }`;
    const text = (second: string) => `func @f(%x: f32[2]) -> (a: f32[2], b: f32[2]) {
      %0 = constant() {value=i32[]{0}} : i32[]
      %1 = while(%0, %x) ${body('tanh')} : (i32[], f32[2])
      %2 = while(%0, %x) ${body(second)} : (i32[], f32[2])
      %3 = get_result(%1) {index=1} : f32[2]
      %4 = get_result(%2) {index=1} : f32[2]
      return %3, %4
    }`;
    const same = parseFunc(text('tanh'));
    expect(cse.run(same)).toBe(true);
    verify(same);
    expect(same.body.filter((v) => v.op === 'while')).toHaveLength(1);
    expect(same.results[0]).toBe(same.results[1]);
    expect(same.body.find((v) => v.op === 'while')!.regions[1]!.body.filter((v) => v.op === 'tanh')).toHaveLength(1);
    const different = parseFunc(text('sin'));
    cse.run(different);
    verify(different);
    expect(different.body.filter((v) => v.op === 'while')).toHaveLength(2);
  });

  test('fold: a cond on a constant predicate becomes its branch; constants fold inside a loop body', () => {
    const out = runPass(fold, `func @f(%x: f32[2]) -> (y: f32[2]) {
      %0 = constant() {value=bool[]{1}} : bool[]
      %1 = cond(%0, %x) {
        func @then(%a: f32[2]) -> (out0: f32[2]) {
          %0 = exp(%a) : f32[2]
          return %0
        }
        func @else(%a: f32[2]) -> (out0: f32[2]) {
          return %a
        }
      } : (f32[2])
      %2 = get_result(%1) {index=0} : f32[2]
      return %2
    }`);
    expect(out).toBe(norm(`func @f(%x: f32[2]) -> (y: f32[2]) {
      %0 = constant() {value=bool[]{1}} : bool[]
      %1 = exp(%x) : f32[2]
      return %1
    }`));
    const loop = parseFunc(`func @g(%c: f32[], %x: f32[3]) -> (y: f32[]) {
      %0 = scan(%c, %x) {carries=1, length=3} {
        func @step(%c: f32[], %x: f32[]) -> (out0: f32[]) {
          %0 = constant() {value=f32[]{2}} : f32[]
          %1 = constant() {value=f32[]{3}} : f32[]
          %2 = mul(%0, %1) : f32[]
          %3 = mul(%c, %2) : f32[]
          %4 = add(%3, %x) : f32[]
          return %4
        }
      } : (f32[])
      %1 = get_result(%0) {index=0} : f32[]
      return %1
    }`);
    expect(fold.run(loop)).toBe(true);
    dce.run(loop);
    verify(loop);
    expect(printFunc(loop)).toContain('constant() {value=f32[]{6}}');
  });

  test('dce narrows a scan: drops an unused output, a carry nothing kept depends on, an unread sequence', () => {
    const f = parseFunc(`func @f(%a: f32[], %b: f32[], %x: f32[4], %z: f32[4]) -> (y: f32[4]) {
      %0 = scan(%a, %b, %x, %z) {carries=2, length=4} {
        func @step(%a: f32[], %b: f32[], %x: f32[], %z: f32[]) -> (a2: f32[], b2: f32[], y: f32[], w: f32[]) {
          %0 = add(%a, %x) : f32[]
          %1 = mul(%b, %z) : f32[]
          %2 = tanh(%0) : f32[]
          return %0, %1, %2, %1
        }
      } : (f32[], f32[], f32[4], f32[4])
      %1 = get_result(%0) {index=2} : f32[4]
      return %1
    }`);
    const inputs = randomInputs(f, 1);
    const want = interpret(f, inputs);
    expect(dce.run(f)).toBe(true);
    verify(f);
    expect(printFunc(f)).toBe(norm(`func @f(%a: f32[], %b: f32[], %x: f32[4], %z: f32[4]) -> (y: f32[4]) {
      %0 = scan(%a, %x) {carries=1, length=4} {
        func @step(%a: f32[], %x: f32[]) -> (a2: f32[], y: f32[]) {
          %0 = add(%a, %x) : f32[]
          %1 = tanh(%0) : f32[]
          return %0, %1
        }
      } : (f32[], f32[4])
      %1 = get_result(%0) {index=1} : f32[4]
      return %1
    }`));
    expect(literalsEqual(interpret(f, inputs)[0]!, want[0]!)).toBe(true);
  });

  test('dce keeps a while value the condition or a kept value depends on, drops the rest', () => {
    const text = `func @f(%x: f32[2], %y: f32[2], %n: i32[]) -> (r: f32[2]) {
      %0 = constant() {value=i32[]{0}} : i32[]
      %1 = while(%0, %x, %y, %n) {
        func @cond(%i: i32[], %x: f32[2], %y: f32[2], %n: i32[]) -> (out0: bool[]) {
          %0 = compare(%i, %n) {dir=lt} : bool[]
          return %0
        }
        func @body(%i: i32[], %x: f32[2], %y: f32[2], %n: i32[]) -> (i2: i32[], x2: f32[2], y2: f32[2], n2: i32[]) {
          %0 = constant() {value=i32[]{1}} : i32[]
          %1 = add(%i, %0) : i32[]
          %2 = add(%x, %y) : f32[2]
          %3 = exp(%y) : f32[2]
          return %1, %2, %3, %n
        }
      } : (i32[], f32[2], f32[2], i32[])
      %2 = get_result(%1) {index=1} : f32[2]
      return %2
    }`;
    // x needs y (x2 = x + y), i and n drive the condition: nothing can go.
    const f = parseFunc(text);
    expect(dce.run(f)).toBe(false);
    // With x2 = x * 2 instead, y is dead: it goes from the operands and both regions.
    const g = parseFunc(text.replace('%2 = add(%x, %y) : f32[2]', '%2 = add(%x, %x) : f32[2]'));
    const inputs = randomInputs(g, 2);
    inputs[2]!.data[0] = 3;
    const want = interpret(g, inputs);
    expect(dce.run(g)).toBe(true);
    verify(g);
    const w = g.body.find((v) => v.op === 'while')!;
    expect(w.inputs.map((v) => v.name ?? v.op)).toEqual(['constant', 'x', 'n']);
    expect(w.regions[1]!.params.map((p) => p.name)).toEqual(['i', 'x', 'n']);
    expect(literalsEqual(interpret(g, inputs)[0]!, want[0]!)).toBe(true);
  });

  test('dce drops a cond result nobody reads and the operand only it used', () => {
    const out = runPass(dce, `func @f(%p: bool[], %x: f32[2], %y: f32[2]) -> (r: f32[2]) {
      %0 = cond(%p, %x, %y) {
        func @then(%x: f32[2], %y: f32[2]) -> (a: f32[2], b: f32[2]) {
          %0 = exp(%x) : f32[2]
          %1 = exp(%y) : f32[2]
          return %0, %1
        }
        func @else(%x: f32[2], %y: f32[2]) -> (a: f32[2], b: f32[2]) {
          return %x, %y
        }
      } : (f32[2], f32[2])
      %1 = get_result(%0) {index=0} : f32[2]
      return %1
    }`);
    expect(out).toBe(norm(`func @f(%p: bool[], %x: f32[2], %y: f32[2]) -> (r: f32[2]) {
      %0 = cond(%p, %x) {
        func @then(%x: f32[2]) -> (a: f32[2]) {
          %0 = exp(%x) : f32[2]
          return %0
        }
        func @else(%x: f32[2]) -> (a: f32[2]) {
          return %x
        }
      } : (f32[2])
      %1 = get_result(%0) {index=0} : f32[2]
      return %1
    }`));
  });

  test('the standard pipeline preserves what random functions with control flow compute', () => {
    const ops = ['add', 'mul', 'neg', 'tanh', 'exp', 'reduce', 'constant', 'broadcast_in_dim', 'cond', 'while', 'scan'];
    let seen = 0;
    for (let s = 1; s <= 40; s++) {
      const f = randomFunc(s * 104729, { ops, size: 8 });
      if (!f.body.some((v) => v.regions.length)) continue;
      seen++;
      const inputs = randomInputs(f, s);
      const want = interpret(f, inputs);
      const g = optimize(f);
      verify(g);
      const got = interpret(g, inputs);
      got.forEach((l, i) => expect(literalsEqual(l, want[i]!), `seed ${s} result ${i}\n${printFunc(f)}\n${printFunc(g)}`).toBe(true));
    }
    expect(seen).toBeGreaterThan(20);
  });
});
