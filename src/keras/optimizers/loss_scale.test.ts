import { describe, expect, it } from 'vitest';
import { trace } from '../../frontend/tracing.js';
import { valueAndGrad } from '../../frontend/grad.js';
import { interpret } from '../../ir/interpreter.js';
import { literal, type Literal } from '../../ir/literal.js';
import { tensorType } from '../../ir/types.js';
import { verify } from '../../ir/verify.js';
import { mixedPrecision } from '../../passes/mixed_precision.js';
import { ops, type Tensor } from '../backend.js';
import { sgd } from './sgd.js';
import { DynamicLossScale, allFinite, selectIfFinite } from './loss_scale.js';
import '../../ir/ops/index.js';

const B = 8, D = 16, C = 4;
// A loss whose cotangents are tiny (1e-7 per element): in f16 they are subnormal or zero.
const TINY = 1e-7;
const loss = (x: Tensor, y: Tensor, w: Tensor) => ops.mul(ops.sum(ops.mul(ops.tanh(ops.matmul(x, w)), y)), TINY);

function rand(shape: number[], seed: number, lo = -1, hi = 1): Literal {
  let s = seed >>> 0;
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    v[i] = lo + ((s >>> 8) / 2 ** 24) * (hi - lo);
  }
  return literal(shape, 'f32', v);
}

const LR = 0.5;

/** step(x, y, w, iterations, scale, goodSteps) -> (loss, grad, w', iterations', scale', goodSteps'). */
function stepFunc(ls: DynamicLossScale, mixed: boolean) {
  const opt = sgd({ learningRate: LR });
  const grads = ls.valueAndGrad(loss, { argnums: [2] });
  const f = (x: Tensor, y: Tensor, w: Tensor, it: Tensor, scale: Tensor, good: Tensor) => {
    const { value, grads: g, finite } = grads(x, y, w, scale);
    const r = opt.apply([w], g, opt.fromTensors([it], 1));
    const [w1, it1] = selectIfFinite(finite, [...r.params, ...opt.stateTensors(r.state)], [w, it]);
    const s = ls.update({ scale, goodSteps: good }, finite);
    return [value, g[0]!, w1!, it1!, s.scale, s.goodSteps];
  };
  const types = [[B, D], [B, C], [D, C], [], [], []].map((sh, i) => tensorType(sh, i === 3 ? 'i32' : 'f32'));
  const func = trace(f, types, { name: 'step' }).func;
  if (mixed) mixedPrecision('f16').run(func);
  verify(func);
  return func;
}

/** f32 reference gradient without any scaling, through the interpreter. */
function referenceGrad(x: Literal, y: Literal, w: Literal): Float32Array {
  const g = valueAndGrad(loss, { argnums: [2] });
  const f = trace((a: Tensor, b: Tensor, c: Tensor) => g(a, b, c).grads[0]!, [x.type, y.type, w.type], { name: 'ref' }).func;
  return interpret(f, [x, y, w])[0]!.data as Float32Array;
}

const rel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0, s = 0;
  for (let i = 0; i < b.length; i++) { m = Math.max(m, Math.abs(a[i]! - b[i]!)); s = Math.max(s, Math.abs(b[i]!)); }
  return m / s;
};

const sc = (v: number) => literal([], 'f32', [v]);
const it0 = (v: number) => literal([], 'i32', [v]);

describe('dynamic loss scaling', () => {
  const x = rand([B, D], 1), y = rand([B, C], 2, 0, 1), w = rand([D, C], 3, -0.5, 0.5);

  it('finite gradients: the f16 step with loss scaling matches the f32 gradient and update; without scaling f16 loses them', () => {
    const ls = new DynamicLossScale({ initialScale: 2 ** 15, growthInterval: 100 });
    const want = referenceGrad(x, y, w);
    const func = stepFunc(ls, true);
    expect(func.body.filter((v) => v.op === 'dot_general').every((d) => d.inputs.every((i) => i.dtype === 'f16'))).toBe(true);
    const [value, g, w1, it1, scale, good] = interpret(func, [x, y, w, it0(0), sc(2 ** 15), sc(0)]);
    expect(rel(g!.data, want)).toBeLessThan(5e-3);
    const wantW = Array.from(w.data, (v, i) => v - LR * want[i]!);
    expect(rel(w1!.data, wantW)).toBeLessThan(1e-6);
    expect(it1!.data[0]).toBe(1);
    expect(value!.data[0]).toBeCloseTo(interpret(trace(loss, [x.type, y.type, w.type]).func, [x, y, w])[0]!.data[0]!, 9);
    expect([scale!.data[0], good!.data[0]]).toEqual([2 ** 15, 1]);
    // The same f16 step with scale 1 (no scaling): the tiny cotangents underflow in f16.
    const [, gNo] = interpret(func, [x, y, w, it0(0), sc(1), sc(0)]);
    expect(rel(gNo!.data, want)).toBeGreaterThan(0.2);
  });

  it('an injected inf: the update is skipped (weights and optimizer state unchanged), the scale halves, the count resets', () => {
    const ls = new DynamicLossScale({ initialScale: 1024, growthInterval: 100 });
    const func = stepFunc(ls, true);
    const bad = literal([B, D], 'f32', Array.from(x.data, (v, i) => (i === 5 ? Infinity : v)));
    const [, g, w1, it1, scale, good] = interpret(func, [bad, y, w, it0(3), sc(1024), sc(7)]);
    expect(Array.from(g!.data).some((v) => !Number.isFinite(v))).toBe(true);
    expect(Array.from(w1!.data)).toEqual(Array.from(w.data));
    expect(it1!.data[0]).toBe(3);
    expect([scale!.data[0], good!.data[0]]).toEqual([512, 0]);
  });

  it('doubles the scale after growthInterval finite steps in a row, never backs off below minScale', () => {
    const ls = new DynamicLossScale({ initialScale: 8, growthInterval: 3, minScale: 4 });
    const func = stepFunc(ls, false);
    let state = [w, it0(0), sc(8), sc(0)];
    const scales: number[] = [];
    for (let s = 0; s < 4; s++) {
      const out = interpret(func, [x, y, ...state]);
      state = out.slice(2);
      scales.push(out[4]!.data[0]!, out[5]!.data[0]!);
    }
    // (scale, goodSteps) after each step: 8/1, 8/2, 16/0 (grew on the 3rd), 16/1
    expect(scales).toEqual([8, 1, 8, 2, 16, 0, 16, 1]);
    const nan = literal([B, D], 'f32', Array.from(x.data, (v, i) => (i === 0 ? NaN : v)));
    const out1 = interpret(func, [nan, y, w, it0(0), sc(6), sc(2)]);
    expect(out1[4]!.data[0]).toBe(4); // 6/2 = 3, clamped to minScale 4
  });

  it('allFinite and selectIfFinite on concrete tensors', () => {
    expect(Boolean(allFinite([ops.tensor([1, 2]), ops.tensor([3])]).item())).toBe(true);
    expect(Boolean(allFinite([ops.tensor([1, -Infinity])]).item())).toBe(false);
    expect(Boolean(allFinite([ops.tensor([NaN])]).item())).toBe(false);
    const [a] = selectIfFinite(ops.scalar(false), [ops.tensor([1, 2])], [ops.tensor([5, 6])]);
    expect(Array.from(a!.dataSync())).toEqual([5, 6]);
    expect(() => selectIfFinite(ops.scalar(true), [ops.tensor([1, 2])], [ops.tensor([5])])).toThrow(/selectIfFinite: tensor 0 changes type/);
    expect(() => new DynamicLossScale({ growthInterval: 0 })).toThrow(/growthInterval must be a positive integer, got 0/);
    expect(() => new DynamicLossScale({ factor: 1 })).toThrow(/factor must be finite and > 0 \(and > 1\), got 1/);
  });
});
