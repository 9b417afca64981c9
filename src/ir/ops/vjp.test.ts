import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's node build registers no gradient functions; tfjs-layers' bundle registers them in
// the registry tfjs-core shares through its global, which is what tf.grads needs.
import '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { optimize } from '../../passes/pipeline.js';
import { vjpFunc } from '../../passes/autodiff.js';
import { Builder } from '../builder.js';
import { isFloat } from '../dtype.js';
import type { Attrs } from '../function.js';
import { ensureCpuBackend, interpret, literalToTensor } from '../interpreter.js';
import { literal, type Literal } from '../literal.js';
import { allOps } from '../registry.js';
import { verify } from '../verify.js';
import { ALL_OPS } from './index.js';
import { randomLiteral } from './testkit.js';

/**
 * Every op's VJP rule, checked three ways on one-node functions: against tf.grads of the natural
 * tfjs counterpart (with a random output cotangent), against central finite differences along a
 * random direction (sums in float64), and before/after the optimization pipeline.
 */

type TfFn = (...xs: tf.Tensor[]) => tf.Tensor;

interface Case {
  op: string;
  inputs: Literal[];
  attrs?: Attrs;
  /** Operands to differentiate (default: the float ones). */
  wrt?: number[];
  /** The tfjs counterpart on the same operands; tf.grads of it is the oracle. */
  tf?: TfFn;
  /** Finite differences (off for non-smooth points such as ties). */
  fd?: boolean;
  tol?: number;
}

// tfjs-core's prod gradient calls the chained x.reshape(), which the node build does not install.
const proto = tf.Tensor.prototype as unknown as { reshape?: (shape: number[]) => tf.Tensor };
if (!proto.reshape) proto.reshape = function (this: tf.Tensor, shape: number[]) { return tf.reshape(this, shape); };

const lit = (shape: number[], seed: number, lo = -2, hi = 2): Literal => randomLiteral(shape, 'f32', seed, lo, hi);

function oneNode(c: Case) {
  const b = new Builder(c.op);
  const ps = c.inputs.map((l) => b.param(l.type));
  const y = b.op(c.op, ps, c.attrs ?? {});
  return b.build([y]);
}

function weighted(fn: ReturnType<typeof oneNode>, inputs: Literal[], w: Literal): number {
  const y = interpret(fn, inputs)[0]!;
  let s = 0;
  for (let i = 0; i < y.data.length; i++) s += y.data[i]! * w.data[i]!;
  return s;
}

function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, label: string): void {
  expect(actual.length, `${label} length`).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (Math.abs(a - e) > tol * (1 + Math.abs(e))) expect.fail(`${label} element ${i}: got ${a}, expected ${e}`);
  }
}

function check(c: Case): void {
  ensureCpuBackend();
  const fn = oneNode(c);
  const wrt = c.wrt ?? c.inputs.map((l, i) => (isFloat(l.type.dtype) ? i : -1)).filter((i) => i >= 0);
  const g = vjpFunc(fn, { wrt });
  verify(g);
  const out = fn.results[0]!;
  const w = randomLiteral(out.shape, out.dtype, 99);
  const res = interpret(g, [...c.inputs, w]);
  const grads = res.slice(1);
  const tol = c.tol ?? 1e-4;

  if (c.tf) {
    const xs = c.inputs.map(literalToTensor);
    const tfFn = c.tf;
    const tg = tf.grads((...ws: tf.Tensor[]) => tfFn(...xs.map((x, i) => (wrt.includes(i) ? ws[wrt.indexOf(i)]! : x))))(
      wrt.map((i) => xs[i]!), literalToTensor(w));
    wrt.forEach((i, k) => {
      expect(grads[k]!.type.shape, `${c.op} grad ${i} shape`).toEqual(c.inputs[i]!.type.shape);
      expectNear(grads[k]!.data, tg[k]!.dataSync(), tol, `${c.op} vs tf.grads, operand ${i}`);
    });
  }

  if (c.fd !== false) {
    const eps = 1e-3;
    wrt.forEach((i, k) => {
      const x = c.inputs[i]!;
      const d = randomLiteral(x.type.shape, 'f32', 7 + i, -1, 1);
      const shifted = (s: number) => c.inputs.map((l, j) => (j === i ? literal(l.type.shape, l.type.dtype, Array.from(l.data, (v, e) => v + s * eps * d.data[e]!)) : l));
      const fd = (weighted(fn, shifted(1), w) - weighted(fn, shifted(-1), w)) / (2 * eps);
      let an = 0, scale = 0;
      for (let e = 0; e < d.data.length; e++) {
        an += grads[k]!.data[e]! * d.data[e]!;
        scale += Math.abs(grads[k]!.data[e]! * d.data[e]!);
      }
      if (Math.abs(fd - an) > 1e-2 * (1 + scale)) expect.fail(`${c.op} operand ${i}: finite difference ${fd} vs analytic ${an}`);
    });
  }

  const opt = optimize(g);
  verify(opt);
  const again = interpret(opt, [...c.inputs, w]);
  again.forEach((l, k) => expectNear(l.data, res[k]!.data, 1e-5, `${c.op} optimized result ${k}`));
}

const pos = (shape: number[], seed: number) => lit(shape, seed, 0.3, 2.5);

describe('VJP rules: coverage', () => {
  it('every registered op declares a VJP rule (noGradient for ops without a derivative)', () => {
    // Control flow has tuple results: its rules are vjpTuple, and get_result's cotangent is routed by autodiff.
    const missing = allOps().filter((d) => typeof d.vjp !== 'function' && typeof d.vjpTuple !== 'function' && d.name !== 'get_result').map((d) => d.name);
    expect(missing).toEqual([]);
    expect(allOps().length).toBe(ALL_OPS.length);
  });
});

describe('VJP rules: elementwise', () => {
  const S = [3, 5];
  const unary: [string, TfFn, Literal?][] = [
    ['neg', tf.neg], ['abs', tf.abs], ['exp', tf.exp], ['log', tf.log, pos(S, 2)], ['log1p', tf.log1p, pos(S, 3)],
    ['sqrt', tf.sqrt, pos(S, 4)], ['rsqrt', tf.rsqrt, pos(S, 5)], ['tanh', tf.tanh], ['logistic', tf.sigmoid],
    ['sin', tf.sin], ['cos', tf.cos], ['erf', tf.erf],
  ];
  for (const [op, f, x] of unary) it(op, () => check({ op, inputs: [x ?? lit(S, 1)], tf: f }));

  it('sign floor ceil round have zero gradients, as in tf.grads', () => {
    for (const [op, f] of [['sign', tf.sign], ['floor', tf.floor], ['ceil', tf.ceil], ['round', tf.round]] as const) {
      check({ op, inputs: [lit(S, 1)], tf: f, fd: false });
    }
  });

  const binary: [string, TfFn, Literal?, Literal?][] = [
    ['add', tf.add], ['sub', tf.sub], ['mul', tf.mul], ['div', tf.div, undefined, pos(S, 8)],
    ['pow', tf.pow, pos(S, 9), lit(S, 10, -1.5, 1.5)], ['max', tf.maximum], ['min', tf.minimum],
  ];
  for (const [op, f, a, b] of binary) it(op, () => check({ op, inputs: [a ?? lit(S, 11), b ?? lit(S, 12)], tf: f }));

  it('pow: no exponent gradient at a non-positive base (tfjs)', () => {
    check({ op: 'pow', inputs: [literal([4], 'f32', [-2, 0, 1.5, 3]), literal([4], 'f32', [2, 3, 0.5, -1])], tf: tf.pow, fd: false });
  });

  it('max/min ties follow tf.maximum/tf.minimum (first operand wins)', () => {
    const a = literal([6], 'f32', [1, 2, 3, -1, 0, 5]), b = literal([6], 'f32', [1, 0, 3, 2, 0, 4]);
    check({ op: 'max', inputs: [a, b], tf: tf.maximum, fd: false });
    check({ op: 'min', inputs: [a, b], tf: tf.minimum, fd: false });
  });

  it('select: to the chosen branch, nothing to the predicate', () => {
    const p = randomLiteral(S, 'bool', 13);
    check({ op: 'select', inputs: [p, lit(S, 14), lit(S, 15)], tf: (c, x, y) => tf.where(c!, x!, y!) });
  });

  it('cast: float to float casts the cotangent back; to an integer gives zero', () => {
    const b = new Builder('c');
    const x = b.param({ shape: [4], dtype: 'f32' });
    const y = b.op('cast', [x], { dtype: 'f16' });
    const g = vjpFunc(b.build([y]));
    verify(g);
    const ct = literal([4], 'f16', [0.5, -1.25, 3, 1e-3]);
    const [, dx] = interpret(g, [lit([4], 1), ct]);
    expect(Array.from(dx!.data)).toEqual(Array.from(ct.data));
    check({ op: 'cast', inputs: [lit([4], 2)], attrs: { dtype: 'f32' }, tf: (t) => tf.mul(t, 1) });
    const bi = new Builder('ci');
    const xi = bi.param({ shape: [4], dtype: 'f32' });
    const gi = vjpFunc(bi.build([bi.op('cast', [xi], { dtype: 'i32' })]));
    expect(Array.from(interpret(gi, [lit([4], 1), literal([4], 'i32', [1, 2, 3, 4])])[1]!.data)).toEqual([0, 0, 0, 0]);
  });
});

describe('VJP rules: movement', () => {
  it('broadcast_in_dim: new, expanded and permuted dims', () => {
    check({ op: 'broadcast_in_dim', inputs: [lit([3, 1], 1)], attrs: { shape: [2, 3, 4], dims: [1, 2] }, tf: (x) => tf.broadcastTo(tf.reshape(x!, [1, 3, 1]), [2, 3, 4]) });
    check({ op: 'broadcast_in_dim', inputs: [lit([4, 3], 2)], attrs: { shape: [3, 2, 4], dims: [2, 0] }, tf: (x) => tf.broadcastTo(tf.reshape(tf.transpose(x!), [3, 1, 4]), [3, 2, 4]) });
    check({ op: 'broadcast_in_dim', inputs: [lit([], 3)], attrs: { shape: [2, 3], dims: [] }, tf: (x) => tf.broadcastTo(x!, [2, 3]) });
    check({ op: 'broadcast_in_dim', inputs: [lit([1, 5], 4)], attrs: { shape: [1, 5], dims: [0, 1] }, tf: (x) => tf.mul(x!, 1) });
  });
  it('reshape and transpose', () => {
    check({ op: 'reshape', inputs: [lit([3, 4], 1)], attrs: { shape: [2, 1, 6] }, tf: (x) => tf.reshape(x!, [2, 1, 6]) });
    check({ op: 'transpose', inputs: [lit([2, 3, 5], 2)], attrs: { perm: [2, 0, 1] }, tf: (x) => tf.transpose(x!, [2, 0, 1]) });
  });
  it('slice: unit and larger strides', () => {
    check({ op: 'slice', inputs: [lit([5, 7], 1)], attrs: { start: [1, 2], limit: [4, 7], strides: [1, 1] }, tf: (x) => tf.slice(x!, [1, 2], [3, 5]) });
    check({ op: 'slice', inputs: [lit([5, 7, 1], 2)], attrs: { start: [0, 1, 0], limit: [5, 7, 1], strides: [2, 3, 1] } });
  });
  it('pad: edges, interior and negative amounts', () => {
    check({ op: 'pad', inputs: [lit([3, 4], 1)], attrs: { low: [1, 0], high: [2, 3], interior: [0, 0], value: 0.5 }, tf: (x) => tf.pad(x!, [[1, 2], [0, 3]], 0.5) });
    check({ op: 'pad', inputs: [lit([3, 4], 2)], attrs: { low: [-1, 2], high: [1, -2], interior: [2, 1] } });
    check({ op: 'pad', inputs: [lit([5, 1], 3)], attrs: { low: [-2, 0], high: [-1, 1], interior: [0, 3] } });
  });
  it('concat', () => {
    check({ op: 'concat', inputs: [lit([2, 3], 1), lit([2, 1], 2), lit([2, 5], 3)], attrs: { axis: 1 }, tf: (a, b, c) => tf.concat([a!, b!, c!], 1) });
  });
});

describe('VJP rules: reduce', () => {
  const X = [3, 4, 5];
  it('sum', () => check({ op: 'reduce', inputs: [lit(X, 1)], attrs: { op: 'sum', axes: [0, 2] }, tf: (x) => tf.sum(x!, [0, 2]) }));
  it('max and min (all ties receive the cotangent, as tf.max)', () => {
    check({ op: 'reduce', inputs: [lit(X, 20)], attrs: { op: 'max', axes: [1] }, tf: (x) => tf.max(x!, 1) });
    check({ op: 'reduce', inputs: [lit(X, 3)], attrs: { op: 'min', axes: [0, 2] }, tf: (x) => tf.min(x!, [0, 2]) });
    const ties = literal([2, 4], 'f32', [1, 3, 3, 0, -2, -1, -2, -5]);
    check({ op: 'reduce', inputs: [ties], attrs: { op: 'max', axes: [1] }, tf: (x) => tf.max(x!, 1), fd: false });
    check({ op: 'reduce', inputs: [ties], attrs: { op: 'min', axes: [1] }, tf: (x) => tf.min(x!, 1), fd: false });
  });
  it('prod, with no, one and two zeros in a group', () => {
    check({ op: 'reduce', inputs: [lit(X, 4, 0.5, 1.5)], attrs: { op: 'prod', axes: [1, 2] }, tf: (x) => tf.prod(x!, [1, 2]) });
    const z = literal([3, 4], 'f32', [2, 0, 3, -1, 0.5, 2, -3, 1.5, 0, 4, 0, 2]);
    check({ op: 'reduce', inputs: [z], attrs: { op: 'prod', axes: [1] }, tf: (x) => tf.prod(x!, 1), fd: false });
  });
});

describe('VJP rules: dot_general', () => {
  const dot = (lb: number[], rb: number[], lc: number[], rc: number[]): Attrs => ({ lhs_batch: lb, rhs_batch: rb, lhs_contract: lc, rhs_contract: rc });
  it('matmul with and without transposes', () => {
    check({ op: 'dot_general', inputs: [lit([3, 5], 1), lit([5, 2], 2)], attrs: dot([], [], [1], [0]), tf: (a, b) => tf.matMul(a!, b!) });
    check({ op: 'dot_general', inputs: [lit([5, 3], 3), lit([5, 2], 4)], attrs: dot([], [], [0], [0]), tf: (a, b) => tf.matMul(a!, b!, true, false) });
    check({ op: 'dot_general', inputs: [lit([3, 5], 5), lit([7, 5], 6)], attrs: dot([], [], [1], [1]), tf: (a, b) => tf.matMul(a!, b!, false, true) });
    check({ op: 'dot_general', inputs: [lit([1, 5], 7), lit([5, 1], 8)], attrs: dot([], [], [1], [0]), tf: (a, b) => tf.matMul(a!, b!) });
  });
  it('batched', () => {
    check({ op: 'dot_general', inputs: [lit([2, 3, 5], 1), lit([2, 5, 4], 2)], attrs: dot([0], [0], [2], [1]), tf: (a, b) => tf.matMul(a!, b!) });
  });
  it('general batch and contracting dims in any order', () => {
    // lhs [c1=3, b=2, m=4, c0=5], rhs [c0=5, n=3, b=2, c1=3]
    check({ op: 'dot_general', inputs: [lit([3, 2, 4, 5], 3), lit([5, 3, 2, 3], 4)], attrs: dot([1], [2], [3, 0], [0, 3]) });
    check({ op: 'dot_general', inputs: [lit([4], 5), lit([4], 6)], attrs: dot([], [], [0], [0]), tf: (a, b) => tf.sum(tf.mul(a!, b!)) });
  });
});

describe('VJP rules: conv', () => {
  const conv = (strides: number[], lo: number[], hi: number[], extra: Attrs = {}): Attrs => ({ strides, pad_lo: lo, pad_hi: hi, ...extra });
  it('conv2d with strides and padding vs tf.conv2d', () => {
    check({ op: 'conv', inputs: [lit([2, 7, 6, 3], 1), lit([3, 2, 3, 4], 2)], attrs: conv([2, 1], [1, 0], [1, 1]),
      tf: (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, [2, 1], [[0, 0], [1, 1], [0, 1], [0, 0]]) });
    check({ op: 'conv', inputs: [lit([1, 5, 5, 1], 3), lit([3, 3, 1, 1], 4)], attrs: conv([2, 2], [0, 0], [0, 0]),
      tf: (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'valid') });
  });
  it('depthwise (groups = channels, multiplier 2) vs tf.depthwiseConv2d', () => {
    check({ op: 'conv', inputs: [lit([2, 6, 5, 3], 5), lit([3, 3, 1, 6], 6)], attrs: conv([1, 2], [1, 1], [1, 1], { groups: 3 }),
      tf: (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, tf.reshape(w!, [3, 3, 3, 2]) as tf.Tensor4D, [1, 2], [[0, 0], [1, 1], [1, 1], [0, 0]]) });
  });
  it('grouped conv vs per-group tf.conv2d', () => {
    check({ op: 'conv', inputs: [lit([1, 5, 6, 4], 7), lit([2, 3, 2, 6], 8)], attrs: conv([1, 1], [0, 1], [1, 0], { groups: 2 }),
      tf: (x, w) => tf.concat([0, 1].map((k) => tf.conv2d(tf.slice(x!, [0, 0, 0, 2 * k], [-1, -1, -1, 2]) as tf.Tensor4D,
        tf.slice(w!, [0, 0, 0, 3 * k], [-1, -1, -1, 3]) as tf.Tensor4D, 1, [[0, 0], [0, 1], [1, 0], [0, 0]])), 3) });
  });
  it('kernel dilation with strides vs tf.conv2d on an explicitly dilated kernel (tfjs has no dilated gradients)', () => {
    // Dilate [kh,kw,I,O] by 2 along both spatial dims with stack + reshape + slice, all differentiable in tfjs.
    const dilate = (w: tf.Tensor, axis: number) => {
      const s = w.shape;
      const spread = tf.reshape(tf.stack([w, tf.zerosLike(w)], axis + 1), s.map((d, i) => (i === axis ? d * 2 : d)));
      return tf.slice(spread, s.map(() => 0), s.map((d, i) => (i === axis ? 2 * d - 1 : d)));
    };
    check({ op: 'conv', inputs: [lit([1, 7, 6, 2], 9), lit([2, 3, 2, 3], 10)], attrs: conv([2, 1], [1, 2], [0, 1], { rhs_dilation: [2, 2] }),
      tf: (x, w) => tf.conv2d(x as tf.Tensor4D, dilate(dilate(w!, 0), 1) as tf.Tensor4D, [2, 1], [[0, 0], [1, 0], [2, 1], [0, 0]]) });
  });
  it('input dilation, negative padding, grouped with dilation (finite differences)', () => {
    check({ op: 'conv', inputs: [lit([2, 3, 4, 2], 11), lit([3, 2, 2, 2], 12)], attrs: conv([1, 2], [2, 1], [2, 0], { lhs_dilation: [2, 3] }) });
    check({ op: 'conv', inputs: [lit([1, 6, 6, 4], 13), lit([2, 2, 1, 4], 14)], attrs: conv([2, 3], [-1, 0], [1, -1], { groups: 4, rhs_dilation: [1, 2] }) });
  });
});

describe('VJP rules: reduce_window', () => {
  const pool = (k: number, s: number, lo = 0, hi = 0): Attrs => ({ window: [1, k, k, 1], strides: [1, s, s, 1], pad_lo: [0, lo, lo, 0], pad_hi: [0, hi, hi, 0] });
  it('max pooling vs tf.maxPool (valid and same, sizes that leave a remainder)', () => {
    check({ op: 'reduce_window', inputs: [lit([2, 5, 5, 3], 1)], attrs: { op: 'max', ...pool(2, 2) }, tf: (x) => tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid') });
    check({ op: 'reduce_window', inputs: [lit([1, 5, 5, 2], 2)], attrs: { op: 'max', ...pool(3, 2, 1, 1) }, tf: (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, 'same') });
  });
  it('max pooling ties go to the first maximum in window order, as tf.maxPool', () => {
    const x = literal([1, 4, 4, 1], 'f32', [1, 1, 0, 2, 1, 0, 2, 2, 3, 3, 1, 1, 3, 3, 1, 1]);
    check({ op: 'reduce_window', inputs: [x], attrs: { op: 'max', ...pool(2, 2) }, tf: (t) => tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid'), fd: false });
    check({ op: 'reduce_window', inputs: [x], attrs: { op: 'max', ...pool(3, 1) }, tf: (t) => tf.maxPool(t as tf.Tensor4D, 3, 1, 'valid'), fd: false });
  });
  it('sum pooling vs tf.avgPool (scaled), padded and overlapping windows', () => {
    check({ op: 'reduce_window', inputs: [lit([2, 6, 5, 2], 3)], attrs: { op: 'sum', ...pool(2, 2) }, tf: (x) => tf.mul(tf.avgPool(x as tf.Tensor4D, 2, 2, 'valid'), 4) });
    check({ op: 'reduce_window', inputs: [lit([1, 5, 6, 1], 4)], attrs: { op: 'sum', window: [1, 3, 2, 1], strides: [1, 2, 1, 1], pad_lo: [0, 2, 0, 0], pad_hi: [0, 1, 1, 0] } });
    check({ op: 'reduce_window', inputs: [lit([7], 5)], attrs: { op: 'max', window: [3], strides: [2], pad_lo: [1], pad_hi: [2] } });
  });
});

describe('VJP rules: gather and scatter_add', () => {
  it('gather (repeated indices accumulate) vs tf.gather', () => {
    const idx = literal([2, 3], 'i32', [0, 3, 3, 1, 0, 3]);
    check({ op: 'gather', inputs: [lit([4, 5], 1), idx], attrs: { axis: 0 }, tf: (x, i) => tf.gather(x!, i!, 0) });
    check({ op: 'gather', inputs: [lit([2, 4, 3], 2), idx], attrs: { axis: 1 }, tf: (x, i) => tf.gather(x!, i!, 1) });
  });
  it('gather clamps out-of-range indices, and so does its gradient', () => {
    check({ op: 'gather', inputs: [lit([4, 2], 3), literal([3], 'i32', [-2, 7, 1])], attrs: { axis: 0 } });
  });
  it('scatter_add: base gets the cotangent, updates gather it (dropped indices get zero)', () => {
    check({ op: 'scatter_add', inputs: [lit([4, 3], 4), literal([3], 'i32', [1, 9, 1]), lit([3, 3], 5)], attrs: { axis: 0 } });
  });
});
