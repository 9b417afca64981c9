import * as tf from '@tensorflow/tfjs-core';
// tfjs-layers brings tfjs-core's gradient registrations, which tf.grads (the oracle) needs.
import '@tensorflow/tfjs-layers';
import { describe, expect, test } from 'vitest';
import { Builder, makeValue } from '../builder.js';
import { funcDiff } from '../equal.js';
import { Func, Value } from '../function.js';
import { interpret } from '../interpreter.js';
import { literal } from '../literal.js';
import { parseFunc } from '../parse.js';
import { printFunc } from '../print.js';
import { KilnError, tensorType, type TensorType } from '../types.js';
import { verify } from '../verify.js';
import { maxAbsDiff, randomLiteral } from './testkit.js';
import { inlineFunc } from './vjp_control.js';
import { gradFunc } from '../../passes/autodiff.js';
import { optimize } from '../../passes/pipeline.js';

/**
 * Control-flow ops: inference and region checks, verify errors, the text form of regions, and
 * the interpreter's cond/while/scan against the same computation written as a host loop on
 * tfjs-core.
 */

const f32 = (...shape: number[]) => tensorType(shape, 'f32');
const i32 = (...shape: number[]) => tensorType(shape, 'i32');

/** A region: a closed function of `types` whose results `body` builds. */
function region(name: string, types: readonly TensorType[], body: (b: Builder, ps: Value[]) => Value[]): Func {
  const b = new Builder(name);
  const ps = types.map((t, i) => b.param(t, `p${i}`));
  return b.build(body(b, ps));
}

/** while (i < n) { i += 1; x = x * 0.5 + 1 } */
function whileFunc(max = -1): Func {
  const b = new Builder('loop');
  const x = b.param(f32(3), 'x');
  const n = b.param(i32(), 'n');
  const zero = b.scalar(0, 'i32');
  const cond = region('cond', [i32(), f32(3), i32()], (r, [i, , m]) => [r.op('compare', [i!, m!], { dir: 'lt' })]);
  const body = region('body', [i32(), f32(3), i32()], (r, [i, y, m]) => {
    const one = r.scalar(1, 'i32');
    const half = r.full(0.5, f32(3));
    const onef = r.full(1, f32(3));
    return [r.op('add', [i!, one]), r.op('add', [r.op('mul', [y!, half]), onef]), m!];
  });
  const w = b.op('while', [zero, x, n], max >= 0 ? { max_iterations: max } : {}, [cond, body]);
  return b.build([b.op('get_result', [w], { index: 1 }), b.op('get_result', [w], { index: 0 })], ['y', 'iters']);
}

/** scan over x[t] (axis `axis`): carry c = c * x[t] + 1 (elementwise), per-step output y[t] = c + x[t]. */
function scanFunc(reverse: boolean, axis: number): Func {
  const xs = axis === 0 ? f32(4, 2) : f32(2, 4);
  const b = new Builder('scan');
  const c0 = b.param(f32(2), 'c0');
  const x = b.param(xs, 'x');
  const body = region('step', [f32(2), f32(2)], (r, [c, xt]) => {
    const nc = r.op('add', [r.op('mul', [c!, xt!]), r.full(1, f32(2))]);
    return [nc, r.op('add', [nc, xt!])];
  });
  const s = b.op('scan', [c0, x], { carries: 1, length: 4, reverse, axis }, [body]);
  return b.build([b.op('get_result', [s], { index: 0 }), b.op('get_result', [s], { index: 1 })], ['c', 'ys']);
}

function condFunc(): Func {
  const b = new Builder('pick');
  const p = b.param(tensorType([], 'bool'), 'p');
  const x = b.param(f32(2), 'x');
  const then = region('then', [f32(2)], (r, [a]) => [r.op('exp', [a!])]);
  const els = region('else', [f32(2)], (r, [a]) => [r.op('neg', [a!])]);
  const c = b.op('cond', [p, x], {}, [then, els]);
  return b.build([b.op('get_result', [c], { index: 0 })], ['y']);
}

describe('inference and verification', () => {
  test('result types are tuples; get_result projects them', () => {
    const f = whileFunc();
    verify(f);
    const w = f.body.find((v) => v.op === 'while')!;
    expect(w.type.tuple?.map((t) => `${t.dtype}[${t.shape.join(',')}]`)).toEqual(['i32[]', 'f32[3]', 'i32[]']);
    const s = scanFunc(false, 1).body.find((v) => v.op === 'scan')!;
    expect(s.type.tuple?.map((t) => t.shape)).toEqual([[2], [2, 4]]);
    verify(condFunc());
  });

  test('cond: a non-scalar or non-bool predicate, branches of different types', () => {
    const x = new Value('parameter', [], { index: 0 }, f32(2));
    const pv = new Value('parameter', [], { index: 1 }, tensorType([2], 'bool'));
    const then = region('then', [f32(2)], (_r, [a]) => [a!]);
    expect(() => makeValue('cond', [pv, x], {}, [then, then])).toThrow(/operand 0 \(the predicate\) must be a bool scalar \(bool\[\]\), got bool\[2\]/);
    const p = new Value('parameter', [], { index: 1 }, tensorType([], 'bool'));
    const other = region('other', [f32(2)], (r, [a]) => [r.op('cast', [a!], { dtype: 'i32' })]);
    expect(() => makeValue('cond', [p, x], {}, [then, other])).toThrow(/branches return different types: then \(@then\) \(f32\[2\]\), else \(@other\) \(i32\[2\]\)/);
    const wrongParams = region('w', [f32(3)], (_r, [a]) => [a!]);
    expect(() => makeValue('cond', [p, x], {}, [wrongParams, then])).toThrow(/then region \(@w\) takes \(f32\[3\]\) but must take the operands after the predicate \(f32\[2\]\)/);
    expect(() => makeValue('cond', [p, x], {}, [then])).toThrow(/expects 2 region\(s\), got 1/);
    expect(() => makeValue('cond', [p, x], {}, [then])).toThrow(KilnError);
  });

  test('while: cond must return one bool scalar, body must keep the carried types', () => {
    const i = new Value('parameter', [], { index: 0 }, i32());
    const badCond = region('c', [i32()], (_r, [a]) => [a!]);
    const body = region('b', [i32()], (_r, [a]) => [a!]);
    expect(() => makeValue('while', [i], {}, [badCond, body])).toThrow(/cond region \(@c\) returns \(i32\[\]\) but must return one bool scalar \(bool\[\]\)/);
    const cond = region('c', [i32()], (r, [a]) => [r.op('compare', [a!, a!], { dir: 'lt' })]);
    const badBody = region('b', [i32()], (r, [a]) => [r.op('cast', [a!], { dtype: 'f32' })]);
    expect(() => makeValue('while', [i], {}, [cond, badBody])).toThrow(/body region \(@b\) returns \(f32\[\]\) but must return the carried types \(i32\[\]\)/);
    expect(() => makeValue('while', [i], { max_iterations: -3 }, [cond, body])).toThrow(/max_iterations/);
  });

  test('scan: sequence length and body signature', () => {
    const c = new Value('parameter', [], { index: 0 }, f32(2));
    const x = new Value('parameter', [], { index: 1 }, f32(5, 2));
    const body = region('s', [f32(2), f32(2)], (_r, [a, b]) => [a!, b!]);
    expect(() => makeValue('scan', [c, x], { carries: 1, length: 4 }, [body])).toThrow(/sequence 0 \(operand 1: f32\[5,2\]\) has 5 steps along axis 0, but 'length' is 4/);
    const badCarry = region('s', [f32(2), f32(2)], (r, [a]) => [r.op('cast', [a!], { dtype: 'i32' })]);
    expect(() => makeValue('scan', [c, x], { carries: 1, length: 5 }, [badCarry])).toThrow(/must start with the carry types \(f32\[2\]\)/);
    const v = makeValue('scan', [c, x], { carries: 1, length: 5 }, [body]);
    expect(v.type.tuple?.map((t) => t.shape)).toEqual([[2], [5, 2]]);
  });

  test('verify: tuples are read only by get_result; regions verify on their own', () => {
    const f = condFunc();
    const c = f.body.find((v) => v.op === 'cond')!;
    f.results[0] = c;
    expect(() => verify(f)).toThrow(/result 0 is the tuple result of cond/);
    const g = condFunc();
    const then = g.body.find((v) => v.op === 'cond')!.regions[0]!;
    then.results[0] = g.params[1]!; // an outer value inside a region
    expect(() => verify(g)).toThrow(/region 0 \(@then\): verify @then: result 0 .* is not defined in this function/);
    expect(() => makeValue('get_result', [c], { index: 2 })).toThrow(/index 2 is out of range \(the tuple has 1 elements\)/);
    expect(() => makeValue('exp', [c])).toThrow(KilnError);
  });
});

describe('text form', () => {
  test('golden print of a while loop, parsed back equal', () => {
    const text = printFunc(whileFunc(10));
    expect(text).toBe([
      'func @loop(%x: f32[3], %n: i32[]) -> (y: f32[3], iters: i32[]) {',
      '  %0 = constant() {value=i32[]{0}} : i32[]',
      '  %1 = while(%0, %x, %n) {max_iterations=10} {',
      '    func @cond(%p0: i32[], %p1: f32[3], %p2: i32[]) -> (out0: bool[]) {',
      '      %0 = compare(%p0, %p2) {dir=lt} : bool[]',
      '      return %0',
      '    }',
      '    func @body(%p0: i32[], %p1: f32[3], %p2: i32[]) -> (out0: i32[], out1: f32[3], out2: i32[]) {',
      '      %0 = constant() {value=i32[]{1}} : i32[]',
      '      %1 = constant() {value=f32[]{0.5}} : f32[]',
      '      %2 = broadcast_in_dim(%1) {shape=[3], dims=[]} : f32[3]',
      '      %3 = constant() {value=f32[]{1}} : f32[]',
      '      %4 = broadcast_in_dim(%3) {shape=[3], dims=[]} : f32[3]',
      '      %5 = add(%p0, %0) : i32[]',
      '      %6 = mul(%p1, %2) : f32[3]',
      '      %7 = add(%6, %4) : f32[3]',
      '      return %5, %7, %p2',
      '    }',
      '  } : (i32[], f32[3], i32[])',
      '  %2 = get_result(%1) {index=1} : f32[3]',
      '  %3 = get_result(%1) {index=0} : i32[]',
      '  return %2, %3',
      '}',
      '',
    ].join('\n'));
    const g = parseFunc(text);
    expect(funcDiff(whileFunc(10), g)).toBeNull();
    expect(printFunc(g)).toBe(text);
  });

  test('cond and scan round trip; nested regions too', () => {
    for (const f of [condFunc(), scanFunc(true, 1)]) expect(funcDiff(f, parseFunc(printFunc(f)))).toBeNull();
    // A scan whose body holds a cond.
    const b = new Builder('nested');
    const x = b.param(f32(3, 2), 'x');
    const c0 = b.param(f32(2), 'c');
    const body = region('step', [f32(2), f32(2)], (r, [c, xt]) => {
      const s = r.op('reduce', [xt!], { op: 'sum', axes: [0] });
      const p = r.op('compare', [s, r.scalar(0)], { dir: 'gt' });
      const k = r.op('cond', [p, c!, xt!], {}, [
        region('then', [f32(2), f32(2)], (q, [u, v]) => [q.op('add', [u!, v!])]),
        region('else', [f32(2), f32(2)], (q, [u, v]) => [q.op('sub', [u!, v!])]),
      ]);
      const nc = r.op('get_result', [k], { index: 0 });
      return [nc, nc];
    });
    const s = b.op('scan', [c0, x], { carries: 1, length: 3 }, [body]);
    const f = b.build([b.op('get_result', [s], { index: 1 })]);
    verify(f);
    const g = parseFunc(printFunc(f));
    expect(funcDiff(f, g)).toBeNull();
    expect(printFunc(f)).toContain('        func @then(%p0: f32[2], %p1: f32[2]) -> (out0: f32[2]) {');
  });

  test('parse errors inside a region name the line; a changed region makes funcDiff report it', () => {
    const text = printFunc(condFunc()).replace('exp(%p0)', 'exp(%zz)');
    expect(() => parseFunc(text)).toThrow(/^4:\d+: undefined value %zz/);
    const f = condFunc(), g = condFunc();
    g.body.find((v) => v.op === 'cond')!.regions[1]!.body[0] = makeValue('abs', [g.body.find((v) => v.op === 'cond')!.regions[1]!.params[0]!]);
    g.body.find((v) => v.op === 'cond')!.regions[1]!.results[0] = g.body.find((v) => v.op === 'cond')!.regions[1]!.body[0]!;
    expect(funcDiff(f, g)).toMatch(/region 1: %0: ops differ: neg vs abs/);
  });
});

describe('interpreter against a host loop on tfjs-core', () => {
  test('while', () => {
    const x = randomLiteral([3], 'f32', 3);
    for (const [n, max] of [[5, -1], [0, -1], [7, 3]] as const) {
      const [y, iters] = interpret(whileFunc(max), [x, literal([], 'i32', [n])]);
      let t = tf.tensor(x.data, [3]);
      let i = 0;
      while (i < n && (max < 0 || i < max)) {
        t = tf.add(tf.mul(t, 0.5), 1);
        i++;
      }
      expect(iters!.data[0]).toBe(i);
      expect(maxAbsDiff(y!.data, t.dataSync())).toBeLessThan(1e-6);
    }
  });

  test('scan forward and reverse, along axis 0 and 1', () => {
    for (const reverse of [false, true]) {
      for (const axis of [0, 1]) {
        const c0 = randomLiteral([2], 'f32', 5);
        const x = randomLiteral(axis === 0 ? [4, 2] : [2, 4], 'f32', 6);
        const [c, ys] = interpret(scanFunc(reverse, axis), [c0, x]);
        const xt = tf.unstack(tf.tensor(x.data, [...x.type.shape]), axis);
        let carry = tf.tensor(c0.data, [2]);
        const out: tf.Tensor[] = [];
        for (let k = 0; k < 4; k++) {
          const t = reverse ? 3 - k : k;
          carry = tf.add(tf.mul(carry, xt[t]!), 1);
          out[t] = tf.add(carry, xt[t]!);
        }
        expect(maxAbsDiff(c!.data, carry.dataSync())).toBeLessThan(1e-6);
        expect(ys!.type.shape).toEqual(axis === 0 ? [4, 2] : [2, 4]);
        expect(maxAbsDiff(ys!.data, tf.stack(out, axis).dataSync())).toBeLessThan(1e-6);
      }
    }
  });

  test('cond takes the branch its predicate names', () => {
    const x = randomLiteral([2], 'f32', 9);
    const [yes] = interpret(condFunc(), [literal([], 'bool', [1]), x]);
    const [no] = interpret(condFunc(), [literal([], 'bool', [0]), x]);
    expect(maxAbsDiff(yes!.data, tf.exp(tf.tensor(x.data)).dataSync())).toBeLessThan(1e-6);
    expect(maxAbsDiff(no!.data, tf.neg(tf.tensor(x.data)).dataSync())).toBeLessThan(1e-6);
  });
});

/** `f` with one more result: sum(r0 * w0) + sum(r1 * w1) + ..., weights as extra parameters. */
function withLoss(f: Func): Func {
  const b = new Builder(`${f.name}_loss`);
  const ps = f.params.map((p) => b.param(p.type, p.name));
  const outs = inlineFunc(b, f, ps);
  let loss: Value | undefined;
  outs.forEach((o, i) => {
    if (o.dtype !== 'f32') return;
    const w = b.param(o.type, `w${i}`);
    const s = b.op('reduce', [b.op('mul', [o, w])], { op: 'sum', axes: o.shape.map((_, k) => k) });
    loss = loss ? b.op('add', [loss, s]) : s;
  });
  return b.build([loss!], ['loss']);
}

describe('VJP rules against tf.grads of the host loop', () => {
  test('scan (both directions, axis 0 and 1): gradients of the initial carry and the sequence', () => {
    for (const reverse of [false, true]) {
      for (const axis of [0, 1]) {
        const f = withLoss(scanFunc(reverse, axis));
        const g = gradFunc(f, { wrt: [0, 1] });
        verify(g);
        const c0 = randomLiteral([2], 'f32', 11), x = randomLiteral(axis === 0 ? [4, 2] : [2, 4], 'f32', 12, -1, 1);
        const w0 = randomLiteral([2], 'f32', 13), w1 = randomLiteral(axis === 0 ? [4, 2] : [2, 4], 'f32', 14);
        const [, gc, gx] = interpret(g, [c0, x, w0, w1]);
        const host = (c: tf.Tensor, xs: tf.Tensor): tf.Scalar => {
          const steps = tf.unstack(xs, axis);
          const out: tf.Tensor[] = [];
          for (let k = 0; k < 4; k++) {
            const t = reverse ? 3 - k : k;
            c = tf.add(tf.mul(c, steps[t]!), 1);
            out[t] = tf.add(c, steps[t]!);
          }
          return tf.add(tf.sum(tf.mul(c, tf.tensor(w0.data, [2]))), tf.sum(tf.mul(tf.stack(out, axis), tf.tensor(w1.data, [...w1.type.shape]))));
        };
        const [ec, ex] = tf.grads(host)([tf.tensor(c0.data, [2]), tf.tensor(x.data, [...x.type.shape])]);
        expect(maxAbsDiff(gc!.data, ec!.dataSync())).toBeLessThan(1e-4);
        expect(maxAbsDiff(gx!.data, ex!.dataSync())).toBeLessThan(1e-4);
      }
    }
  });

  test('the forward scan runs once in a gradient program: the residual scan replaces it', () => {
    for (const axis of [0, 1]) {
      const g = optimize(gradFunc(withLoss(scanFunc(false, axis)), { wrt: [0, 1] }));
      expect(g.body.filter((v) => v.op === 'scan').map((v) => v.attrs['reverse'])).toEqual([false, true]);
    }
  });

  test('cond: the gradient of the branch taken', () => {
    const f = withLoss(condFunc());
    const g = gradFunc(f, { wrt: [1] });
    verify(g);
    const x = randomLiteral([2], 'f32', 21), w = randomLiteral([2], 'f32', 22);
    const [, yes] = interpret(g, [literal([], 'bool', [1]), x, w]);
    const [, no] = interpret(g, [literal([], 'bool', [0]), x, w]);
    const wt = tf.tensor(w.data, [2]);
    const [ey] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(tf.exp(a), wt)))([tf.tensor(x.data, [2])]);
    const [en] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(tf.neg(a), wt)))([tf.tensor(x.data, [2])]);
    expect(maxAbsDiff(yes!.data, ey!.dataSync())).toBeLessThan(1e-5);
    expect(maxAbsDiff(no!.data, en!.dataSync())).toBeLessThan(1e-5);
  });

  test('while with max_iterations: differentiated like a bounded scan; without it, a KilnError asks for the bound', () => {
    for (const [n, max] of [[3, 5], [7, 4], [0, 2]] as const) {
      const f = withLoss(whileFunc(max));
      const g = gradFunc(f, { wrt: [0] });
      verify(g);
      const x = randomLiteral([3], 'f32', 31), w = randomLiteral([3], 'f32', 32);
      const [, gx] = interpret(g, [x, literal([], 'i32', [n]), w]);
      const [ex] = tf.grads((a: tf.Tensor) => {
        for (let i = 0; i < Math.min(n, max); i++) a = tf.add(tf.mul(a, 0.5), 1);
        return tf.sum(tf.mul(a, tf.tensor(w.data, [3])));
      })([tf.tensor(x.data, [3])]);
      expect(maxAbsDiff(gx!.data, ex!.dataSync())).toBeLessThan(1e-5);
    }
    // The masked scan the gradient needs also gives the forward values: no while is left.
    expect(optimize(gradFunc(withLoss(whileFunc(4)), { wrt: [0] })).body.map((v) => v.op).filter((op) => op === 'while' || op === 'scan')).toEqual(['scan', 'scan']);
    expect(() => gradFunc(withLoss(whileFunc()), { wrt: [0] })).toThrow(/differentiating a while loop needs a static bound on its trip count; give it maximumIterations/);
  });
});
