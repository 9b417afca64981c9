import { describe, expect, test } from 'vitest';
import { Builder, Func, KilnError, makeValue, tensorType, Value, type TensorType } from './index.js';
import { verify } from './verify.js';
import { parseFunc } from './parse.js';

/** The verifier accepts well-formed IR and rejects each class of broken IR, naming the value. */

const f32 = (...shape: number[]): TensorType => tensorType(shape, 'f32');

function good(): Func {
  const b = new Builder('g');
  const x = b.param(f32(2), 'x');
  const w = b.param(f32(2), 'w');
  const s = b.op('add', [x, w]);
  const c = b.op('compare', [s, x], { dir: 'lt' });
  const f = b.build([b.op('select', [c, s, x]), s], ['y', 'w_new']);
  f.aliases.push({ result: 1, param: 1 });
  return f;
}

function rejects(f: Func, re: RegExp): void {
  let err: unknown;
  try {
    verify(f);
  } catch (e) {
    err = e;
  }
  expect(err, 'verify should throw').toBeInstanceOf(KilnError);
  expect((err as Error).message).toMatch(/^verify @g: /);
  expect((err as Error).message).toMatch(re);
}

describe('verify', () => {
  test('accepts well-formed functions (built, parsed, cloned)', () => {
    verify(good());
    verify(good().clone());
    verify(parseFunc('func @h(%x: f32[3]) -> (a: f32[3], b: f32[3]) {\n  %0 = exp(%x)\n  return %x, %0\n}'));
    verify(new Func('empty', [], [], []));
  });

  test('operand defined later in the body', () => {
    const f = good();
    [f.body[0], f.body[1]] = [f.body[1]!, f.body[0]!];
    rejects(f, /%0 = compare\(%1, %x\) \{dir=lt\} : bool\[2\] \(body position 0\): operand 0 \(add: f32\[2\]\) is defined later in the body/);
  });

  test('operand from another function', () => {
    const f = good(), other = good();
    f.body[0]!.inputs[1] = other.params[1]!;
    rejects(f, /%0 = add\(%x, .*\(body position 0\): operand 1 \(parameter: f32\[2\]\) is a parameter of another function/);
    const g = good();
    g.body[2]!.inputs[1] = other.body[0]!;
    rejects(g, /%2 = select.*operand 1 \(add: f32\[2\]\) is not defined in this function/);
  });

  test('value appearing twice', () => {
    const f = good();
    f.body.push(f.body[0]!);
    rejects(f, /%0 = add\(%x, %w\) : f32\[2\] \(body position 3\): value appears twice/);
    const g = good();
    g.params.push(g.params[0]!);
    rejects(g, /parameter 2 \(%x\) appears twice among the parameters/);
  });

  test('malformed parameters', () => {
    const f = good();
    f.params[1] = new Value('parameter', [], { index: 0 }, f32(2), 'w');
    rejects(f, /parameter 1 \(%w\) has index 0, expected 1/);
    const g = good();
    g.params.push(makeValue('exp', [g.params[0]!]));
    rejects(g, /parameter 2 \(.*\) has op 'exp', expected 'parameter'/);
    const h = good();
    h.body.unshift(new Value('parameter', [], { index: 2 }, f32(2), 'z'));
    rejects(h, /\(body position 0\): a parameter in the body/);
  });

  test('unknown op', () => {
    const f = good();
    f.body.splice(2, 0, new Value('frobnicate', [f.params[0]!], {}, f32(2)));
    rejects(f, /%2 = frobnicate\(%x\) : f32\[2\] \(body position 2\): unknown op 'frobnicate'/);
  });

  test('wrong arity', () => {
    const f = good();
    f.body[0]!.inputs.pop();
    rejects(f, /%0 = add\(%x\) : f32\[2\] \(body position 0\): add expects 2 operand\(s\), got 1/);
  });

  test('bad, unknown and missing attributes', () => {
    const f = good();
    f.body[1] = new Value('compare', [f.body[0]!, f.params[0]!], { dir: 'sideways' }, tensorType([2], 'bool'));
    f.body[2]!.inputs[0] = f.body[1]!;
    rejects(f, /%1 = compare\(%0, %x\) \{dir=sideways\}.*attribute 'dir' must be one of/);
    const g = good();
    g.body[0] = new Value('add', [...g.body[0]!.inputs], { alpha: 2 }, f32(2));
    g.body[1]!.inputs[0] = g.body[0]!;
    g.body[2]!.inputs[1] = g.body[0]!;
    g.results[1] = g.body[0]!;
    rejects(g, /%0 = add\(%x, %w\) \{alpha=2\}.*unknown attribute 'alpha'/);
    const h = good();
    h.body[1] = new Value('compare', [h.body[0]!, h.params[0]!], {}, tensorType([2], 'bool'));
    h.body[2]!.inputs[0] = h.body[1]!;
    rejects(h, /%1 = compare\(%0, %x\).*missing attribute 'dir'/);
  });

  test('stored type differs from the inferred type', () => {
    const f = good();
    f.body[1] = new Value('compare', [f.body[0]!, f.params[0]!], { dir: 'lt' }, f32(2));
    f.body[2]!.inputs[0] = f.body[1]!;
    rejects(f, /%1 = compare.*stored type f32\[2\] but compare infers bool\[2\]/);
    const g = good();
    g.body[0] = new Value('add', [...g.body[0]!.inputs], {}, f32(3));
    g.body[1]!.inputs[0] = g.body[0]!;
    g.results[1] = g.body[0]!;
    rejects(g, /%0 = add\(%x, %w\) : f32\[3\] \(body position 0\): stored type f32\[3\] but add infers f32\[2\]/);
  });

  test('operand types rejected by the op', () => {
    const g = good();
    g.body.push(new Value('add', [g.body[1]!, g.body[1]!], {}, tensorType([2], 'bool')));
    rejects(g, /%3 = add\(%1, %1\) : bool\[2\] \(body position 3\): add\(bool\[2\], bool\[2\]\): needs a numeric operand/);
  });

  test('results', () => {
    const f = good();
    f.results.push(makeValue('exp', [f.params[0]!]));
    f.resultNames.push('z');
    rejects(f, /result 2 \(exp: f32\[2\]\) is not defined in this function/);
    const g = good();
    g.resultNames.pop();
    rejects(g, /2 results but 1 result names/);
  });

  test('aliases', () => {
    const cases: [Func['aliases'], RegExp][] = [
      [[{ result: 5, param: 0 }], /alias 0: result 5 out of range \(2 results\)/],
      [[{ result: 1, param: 7 }], /alias 0: parameter 7 out of range \(2 parameters\)/],
      [[{ result: 1, param: 1 }, { result: 1, param: 0 }], /alias 1: result 1 \(w_new\) is aliased twice/],
      [[{ result: 1, param: 1 }, { result: 0, param: 1 }], /alias 1: parameter %w is donated twice/],
    ];
    for (const [aliases, re] of cases) {
      const f = good();
      f.aliases = aliases;
      rejects(f, re);
    }
    const b = new Builder('g');
    const x = b.param(f32(2), 'x');
    const f = b.build([b.op('compare', [x, x], { dir: 'eq' })]);
    f.aliases.push({ result: 0, param: 0 });
    rejects(f, /alias 0: result 0 \(out0: bool\[2\]\) and parameter %x \(f32\[2\]\) have different types/);
  });
});
