/**
 * The stateful optimizer API (applyGradients / minimize / build / variables): state lives in the
 * optimizer object, and several steps match tfjs-core's optimizers (`tf.train.*.applyGradients`
 * and `minimize`) on the same variables and gradients.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients (minimize's oracle)
import { useCpu } from '../../frontend/test_util.js';
import { variableGrads } from '../../frontend/tape.js';
import { fn, ops, variable, type Tensor, type Variable } from '../backend.js';
import { trace } from '../../frontend/tracing.js';
import { adagrad } from './adagrad.js';
import { adam } from './adam.js';
import type { Optimizer } from './base.js';
import { rmsprop } from './rmsprop.js';
import { exponentialDecay } from './schedules.js';
import { sgd } from './sgd.js';
import { expectSameTrajectory, problem, runKiln, runTfjs, tf, type Problem } from './test_util.js';

beforeAll(() => useCpu());

type Form = 'pairs' | 'lists' | 'named';

/** Params after every step, updating Kiln Variables through applyGradients in the given form. */
function runStateful(opt: Optimizer, p: Problem, form: Form): number[][][] {
  const vars = p.init.map((v, i) => variable(ops.tensor(v, p.shapes[i], 'f32'), { name: `w${i}` }));
  const out: number[][][] = [];
  for (const g of p.grads) {
    const grads = g.map((v, i) => ops.tensor(v, p.shapes[i], 'f32'));
    // A name-keyed map resolves through the variables the optimizer has updated (Kiln keeps no
    // global registry), so the named form starts from a first step given as pairs.
    if (form === 'pairs' || (form === 'named' && out.length === 0)) opt.applyGradients(grads.map((t, i) => [t, vars[i]!] as const));
    else if (form === 'lists') opt.applyGradients({ grads, vars });
    else opt.applyGradients(Object.fromEntries(vars.map((v, i) => [v.name, grads[i]!])));
    out.push(vars.map((v) => Array.from(v.value.dataSync())));
  }
  return out;
}

describe('optimizer.applyGradients', () => {
  const p = problem(6);
  const cases: [string, () => Optimizer, () => tf.Optimizer][] = [
    ['Adam', () => adam({ learningRate: 0.05, epsilonMode: 'tfjs' }), () => tf.train.adam(0.05, 0.9, 0.999, 1e-7)],
    ['SGD', () => sgd({ learningRate: 0.1 }), () => tf.train.sgd(0.1)],
    ['SGD momentum', () => sgd({ learningRate: 0.1, momentum: 0.9 }), () => tf.train.momentum(0.1, 0.9)],
    ['RMSprop', () => rmsprop({ learningRate: 0.01, rho: 0.9 }), () => tf.train.rmsprop(0.01, 0.9, 0, 1e-7)],
    ['Adagrad', () => adagrad({ learningRate: 0.1 }), () => tf.train.adagrad(0.1, 0.1)],
  ];
  for (const [name, make, makeTf] of cases) {
    it(`${name}: ${p.grads.length} steps equal tf.train's applyGradients (every argument form)`, () => {
      const expected = runTfjs(makeTf(), p);
      for (const form of ['pairs', 'lists', 'named'] as const) expectSameTrajectory(runStateful(make(), p, form), expected, 1e-5, `${name} ${form}`);
    });
  }

  it('keeps its state in the optimizer: iterations, one slot variable per slot, created on first use', () => {
    const opt = adam({ learningRate: 0.1 });
    expect(opt.iterations).toBe(0);
    expect(opt.variables).toEqual([]);
    const a = variable(ops.tensor([1, 2]), { name: 'a' });
    const b = variable(ops.tensor([[3]]), { name: 'b' });
    opt.applyGradients([[ops.tensor([0.5, -1]), a]]);
    expect(opt.iterations).toBe(1);
    expect(opt.variables.map((v) => v.name)).toEqual(['adam/iterations', 'a/m', 'a/v']);
    // A variable joining later gets fresh slots; the step counter is shared (Keras's iterations).
    opt.applyGradients([[ops.tensor([0.5, -1]), a], [ops.tensor([[2]]), b]]);
    expect(opt.iterations).toBe(2);
    expect(opt.variables.map((v) => v.name)).toEqual(['adam/iterations', 'a/m', 'a/v', 'b/m', 'b/v']);
    // m of `a` after two steps of the same gradient: 0.1 g + 0.9 * 0.1 g = 0.19 g (Adam's m = beta1 m + (1 - beta1) g).
    expect(Array.from(opt.slotsOf(a)![0]!.value.dataSync())).toEqual([0.5 * 0.19, -0.19].map(Math.fround));
    // b's first update is a full first step of Adam at t = 2: |delta| = alpha * m / (sqrt(v) + eps).
    const t = 2, alpha = (0.1 * Math.sqrt(1 - 0.999 ** t)) / (1 - 0.9 ** t);
    const m = 0.1 * 2, v = 0.001 * 4;
    expect(b.value.item()).toBeCloseTo(3 - (alpha * m) / (Math.sqrt(v) + 1e-7), 5);
  });

  it('a learning-rate schedule reads the optimizer\'s own step counter (same as the functional apply)', () => {
    const make = () => sgd({ learningRate: exponentialDecay({ initialLearningRate: 0.5, decaySteps: 1, decayRate: 0.5 }), momentum: 0.5 });
    const q = problem(5);
    expectSameTrajectory(runStateful(make(), q, 'pairs'), runKiln(make(), q, false), 1e-6, 'schedule');
  });

  it('minimize(f) and the tfjs form minimize(f, returnCost, varList) follow tf.train.adam.minimize for 10 steps', () => {
    const xs = [[0.5, -1], [1.5, 0.25], [-0.75, 2], [1, 1]];
    const ys = [1, -2, 0.5, 3];
    const kx = ops.tensor(xs), ky = ops.tensor(ys, [4, 1]);
    const w = variable(ops.tensor([[0.1], [-0.2]]), { name: 'mw' });
    const bias = variable(ops.tensor([0.3]), { name: 'mb' });
    const opt = adam({ learningRate: 0.1, epsilonMode: 'tfjs' });
    const tx = tf.tensor(xs), ty = tf.tensor(ys, [4, 1]);
    const tw = tf.variable(tf.tensor([[0.1], [-0.2]]), true, 'apply_gradients_test_w');
    const tb = tf.variable(tf.tensor([0.3]), true, 'apply_gradients_test_b');
    const tOpt = tf.train.adam(0.1, 0.9, 0.999, 1e-7);
    const lossK = () => ops.mean(ops.square(ops.sub(ops.add(ops.matmul(kx, w.read()), bias.read()), ky)));
    for (let i = 0; i < 10; i++) {
      const lk = i % 2 === 0 ? opt.minimize(lossK) : opt.minimize(lossK, true, [w, bias])!;
      const lt = tOpt.minimize(() => tf.mean(tf.square(tf.sub(tf.add(tf.matMul(tx, tw), tb), ty))), true, [tw, tb])!;
      expect(lk.item(), `loss at step ${i}`).toBeCloseTo(lt.dataSync()[0]!, 5);
    }
    expect(Array.from(w.value.dataSync())).toEqual(Array.from(tw.dataSync()).map((x) => expect.closeTo(x, 5)));
    expect(opt.minimize(lossK, false)).toBeNull();
    expect(opt.iterations).toBe(11);
    tw.dispose(); tb.dispose(); tOpt.dispose();
  });

  it('takes the grads map of kiln.variableGrads directly (a tfjs loop ported line by line)', () => {
    const w = variable(ops.tensor([1, -1]), { name: 'vg_w' });
    const opt = sgd({ learningRate: 0.5 });
    const { value, grads } = variableGrads(() => ops.sum(ops.square(w.read())));
    expect(value.item()).toBe(2);
    opt.applyGradients(grads);
    expect(Array.from(w.value.dataSync())).toEqual([0, 0]);
  });

  it('refuses bad input, naming the variable, the shapes and the accepted forms', () => {
    const opt = adam();
    const w = variable(ops.tensor([1, 2, 3]), { name: 'bad_w' });
    expect(() => opt.applyGradients([[ops.tensor([1, 2]), w]])).toThrow("optimizer 'adam'.applyGradients: variable 'bad_w' is f32[3] but its gradient is f32[2]");
    expect(() => opt.applyGradients([[w, ops.tensor([1, 2, 3])] as unknown as [Tensor, Variable]])).toThrow("Keras's order is [grad, variable]");
    expect(() => opt.applyGradients({ nope: ops.tensor([1]) })).toThrow("no variable named 'nope' is known");
    expect(() => opt.applyGradients({ grads: [ops.tensor([1, 2, 3])], vars: [] })).toThrow('two lists of the same length, got 1 grads and 0 vars');
    expect(() => opt.applyGradients(42 as never)).toThrow('expects [[grad, variable], ...], {grads, vars}');
    expect(() => opt.applyGradients([[ops.tensor([1, 2, 3]), w], [ops.tensor([1, 2, 3]), w]])).toThrow("variable 'bad_w' is listed twice");
    expect(opt.iterations).toBe(0); // nothing was applied
  });

  it('under kiln.fn: the variables and slots it assigns are bound by themselves; traced once, it matches eager steps', () => {
    const p = problem(4, [[2, 3], [3]]);
    const eager = runStateful(adam({ learningRate: 0.05 }), p, 'pairs');
    const grads = (g: number[][]) => [ops.tensor(g[0]!, [2, 3]), ops.tensor(g[1]!, [3])] as const;
    // kiln.trace binds only what it is given: the update cannot be recorded, and the error says what to do.
    const vars0 = p.init.map((v, i) => variable(ops.tensor(v, p.shapes[i], 'f32'), { name: `tw${i}` }));
    const opt0 = adam({ learningRate: 0.05 });
    const [g0, g1] = grads(p.grads[0]!);
    expect(() => trace((a: Tensor, b: Tensor) => {
      opt0.applyGradients([[a, vars0[0]!], [b, vars0[1]!]]);
      return a;
    }, [g0.type, g1.type], { variables: vars0 })).toThrow(/'adam\/iterations', 'tw0\/m', .* are not bound by the trace.*optimizer\.build\(vars\) first/);
    for (const explicit of [false, true]) {
      const opt = adam({ learningRate: 0.05 });
      const vars = p.init.map((v, i) => variable(ops.tensor(v, p.shapes[i], 'f32'), { name: `fw${i}` }));
      if (explicit) opt.build(vars);
      const step = fn((a: Tensor, b: Tensor) => {
        opt.applyGradients([[a, vars[0]!], [b, vars[1]!]]);
        return a;
      }, explicit ? { variables: [...vars, ...opt.variables] } : {});
      const out: number[][][] = [];
      for (const g of p.grads) {
        step(...grads(g));
        out.push(vars.map((v) => Array.from(v.value.dataSync())));
      }
      expect(step.traceCount).toBe(1);
      expect(opt.iterations).toBe(4);
      // Weights, slots and the step counter are state: results aliased to their parameters.
      expect(step.ir(...grads(p.grads[0]!)).aliases.length).toBe(2 + 4 + 1);
      expectSameTrajectory(out, eager, 1e-5, explicit ? 'fn (listed variables)' : 'fn (auto-bound)');
    }
  });
});
