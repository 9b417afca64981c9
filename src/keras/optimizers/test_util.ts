/**
 * Test helpers for the optimizers (tests only): run a Kiln optimizer over a fixed sequence of
 * gradients eagerly or traced through `fn` with the state passed as parameters, and run a
 * tfjs-core optimizer (the oracle) over the same sequence.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { expect } from 'vitest';
import { randValues } from '../../frontend/test_util.js';
import { fn, ops, Tensor } from '../backend.js';
import type { Optimizer } from './base.js';

export { tf };

export interface Problem {
  shapes: number[][];
  init: number[][];
  /** grads[step][param] */
  grads: number[][][];
}

/** Seeded params and a gradient sequence of `steps` steps (some gradients large, some tiny). */
export function problem(steps = 6, shapes: number[][] = [[3, 4], [4], []], seed = 7): Problem {
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const init = shapes.map((s, i) => randValues(size(s), seed + i, -1, 1));
  const grads = Array.from({ length: steps }, (_, t) =>
    shapes.map((s, i) => randValues(size(s), seed * 100 + t * 10 + i, -1, 1).map((g) => g * (t % 3 === 2 ? 3 : 1))));
  return { shapes, init, grads };
}

const tensorsOf = (vals: number[][], shapes: number[][]): Tensor[] => vals.map((v, i) => ops.tensor(v, shapes[i], 'f32'));

/** Params after every step: result[step][param] (eager, or traced once through fn). */
export function runKiln(opt: Optimizer, p: Problem, traced: boolean): number[][][] {
  let params = tensorsOf(p.init, p.shapes);
  let flat = opt.stateTensors(opt.init(params));
  const step = fn((ps: Tensor[], gs: Tensor[], st: Tensor[]) => {
    const r = opt.apply(ps, gs, opt.fromTensors(st, ps.length));
    return [...r.params, ...opt.stateTensors(r.state)];
  }, { name: 'optimizer_step' });
  const out: number[][][] = [];
  for (const g of p.grads) {
    const grads = tensorsOf(g, p.shapes);
    if (traced) {
      const r = step(params, grads, flat);
      params = r.slice(0, params.length);
      flat = r.slice(params.length);
    } else {
      const r = opt.apply(params, grads, opt.fromTensors(flat, params.length));
      params = r.params;
      flat = opt.stateTensors(r.state);
    }
    out.push(params.map((t) => Array.from(t.dataSync())));
  }
  if (traced) {
    expect(step.traceCount).toBe(1);
    expect(params.every((t) => !t.isSymbolic)).toBe(true);
  }
  return out;
}

let tfVarId = 0;

/** Params after every step under a tfjs-core optimizer. */
export function runTfjs(opt: tf.Optimizer, p: Problem): number[][][] {
  const vars = p.init.map((v, i) => tf.variable(tf.tensor(v, p.shapes[i], 'float32'), true, `kiln_opt_test_${tfVarId++}`));
  const out: number[][][] = [];
  for (const g of p.grads) {
    const named: Record<string, tf.Tensor> = {};
    vars.forEach((v, i) => { named[v.name] = tf.tensor(g[i]!, p.shapes[i], 'float32'); });
    opt.applyGradients(named);
    out.push(vars.map((v) => Array.from(v.dataSync())));
  }
  vars.forEach((v) => v.dispose());
  opt.dispose();
  return out;
}

/** Every value within rel tol (|a - b| <= tol * max(1, |b|)), with the step and param in the message. */
export function expectSameTrajectory(actual: number[][][], expected: number[][][], tol = 1e-5, label = ''): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((step, t) => step.forEach((param, i) => param.forEach((x, k) => {
    const y = expected[t]![i]![k]!;
    const err = Math.abs(x - y);
    if (!(err <= tol * Math.max(1, Math.abs(y)))) {
      expect.fail(`${label} step ${t + 1} param ${i} element ${k}: got ${x}, expected ${y} (|diff| ${err})`);
    }
  })));
}

/** Check `opt` against tfjs eagerly and traced. */
export function checkAgainstTfjs(opt: Optimizer, makeTf: () => tf.Optimizer, p: Problem = problem(), tol = 1e-5): void {
  const expected = runTfjs(makeTf(), p);
  expectSameTrajectory(runKiln(opt, p, false), expected, tol, `${opt.className} eager`);
  expectSameTrajectory(runKiln(opt, p, true), expected, tol, `${opt.className} traced`);
}
