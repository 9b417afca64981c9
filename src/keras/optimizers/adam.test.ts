import { beforeAll, describe, expect, it } from 'vitest';
import { useCpu } from '../../frontend/test_util.js';
import { ops } from '../backend.js';
import { adam } from './adam.js';
import { adamw } from './adamw.js';
import { cosineDecay } from './schedules.js';
import { checkAgainstTfjs, expectSameTrajectory, problem, runKiln, runTfjs, tf } from './test_util.js';

beforeAll(() => useCpu());

/** Keras 3 Adam in plain JS (f64): epsilon added to sqrt(v), bias correction folded into alpha. */
function kerasAdam(
  p: ReturnType<typeof problem>, lrAt: (t: number) => number,
  o: { beta1: number; beta2: number; epsilon: number; amsgrad?: boolean; weightDecay?: number },
): number[][][] {
  const params = p.init.map((v) => [...v]);
  const m = p.init.map((v) => v.map(() => 0));
  const v = p.init.map((x) => x.map(() => 0));
  const vhat = p.init.map((x) => x.map(() => 0));
  const out: number[][][] = [];
  p.grads.forEach((g, t) => {
    const lr = lrAt(t);
    const step = t + 1;
    const alpha = (lr * Math.sqrt(1 - o.beta2 ** step)) / (1 - o.beta1 ** step);
    params.forEach((w, i) => w.forEach((_, k) => {
      w[k] = w[k]! - w[k]! * (o.weightDecay ?? 0) * lr;
      const gk = g[i]![k]!;
      m[i]![k] = m[i]![k]! + (gk - m[i]![k]!) * (1 - o.beta1);
      v[i]![k] = v[i]![k]! + (gk * gk - v[i]![k]!) * (1 - o.beta2);
      let vk = v[i]![k]!;
      if (o.amsgrad) vk = vhat[i]![k] = Math.max(vhat[i]![k]!, vk);
      w[k] = w[k]! - (alpha * m[i]![k]!) / (Math.sqrt(vk) + o.epsilon);
    }));
    out.push(params.map((w) => [...w]));
  });
  return out;
}

describe('Adam', () => {
  it("with epsilonMode 'tfjs' matches tf.train.adam (eager and traced)", () => {
    checkAgainstTfjs(adam({ learningRate: 0.01, epsilonMode: 'tfjs' }), () => tf.train.adam(0.01, 0.9, 0.999, 1e-7));
    checkAgainstTfjs(
      adam({ learningRate: 0.05, beta1: 0.8, beta2: 0.95, epsilon: 1e-3, epsilonMode: 'tfjs' }),
      () => tf.train.adam(0.05, 0.8, 0.95, 1e-3),
    );
  });

  it('by default follows Keras 3 (epsilon added after the bias correction)', () => {
    const p = problem(6);
    const o = { beta1: 0.8, beta2: 0.95, epsilon: 1e-2 };
    const opt = adam({ learningRate: 0.05, ...o });
    const expected = kerasAdam(p, () => 0.05, o);
    expectSameTrajectory(runKiln(opt, p, false), expected, 1e-5, 'eager');
    expectSameTrajectory(runKiln(opt, p, true), expected, 1e-5, 'traced');
    // With a large epsilon the two placements differ visibly, so the test above can tell them apart.
    const tfjs = runTfjs(tf.train.adam(0.05, 0.8, 0.95, 1e-2), p);
    const diff = Math.abs(tfjs[5]![0]![0]! - expected[5]![0]![0]!);
    expect(diff).toBeGreaterThan(1e-4);
  });

  it('Keras and tfjs formulas agree closely with the default epsilon', () => {
    const p = problem(6);
    expectSameTrajectory(runKiln(adam({ learningRate: 0.01 }), p, false), runTfjs(tf.train.adam(0.01, 0.9, 0.999, 1e-7), p), 1e-5);
  });

  it('amsgrad keeps the running max of v', () => {
    const p = problem(6);
    const o = { beta1: 0.9, beta2: 0.99, epsilon: 1e-7, amsgrad: true };
    const opt = adam({ learningRate: 0.02, ...o });
    expect(opt.slotNames()).toEqual(['m', 'v', 'vhat']);
    expectSameTrajectory(runKiln(opt, p, true), kerasAdam(p, () => 0.02, o), 1e-5, 'amsgrad');
  });

  it('computes a scheduled learning rate inside the traced step', () => {
    const p = problem(6);
    const sched = cosineDecay({ initialLearningRate: 0.05, decaySteps: 4, alpha: 0.1 });
    const lrAt = (t: number) => 0.05 * ((1 - 0.1) * 0.5 * (1 + Math.cos((Math.PI * Math.min(t, 4)) / 4)) + 0.1);
    const o = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };
    expectSameTrajectory(runKiln(adam({ learningRate: sched, ...o }), p, true), kerasAdam(p, lrAt, o), 1e-5, 'scheduled');
  });

  it('AdamW decays weights decoupled from the gradient (default 0.004)', () => {
    const p = problem(6);
    const o = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };
    expect(adamw().weightDecay).toBe(0.004);
    const opt = adamw({ learningRate: 0.05, weightDecay: 0.5 });
    expect(opt.className).toBe('AdamW');
    expect(opt.stateNames(['w'])).toEqual(['adamw/iterations', 'w/m', 'w/v']);
    const expected = kerasAdam(p, () => 0.05, { ...o, weightDecay: 0.5 });
    expectSameTrajectory(runKiln(opt, p, false), expected, 1e-5, 'adamw eager');
    expectSameTrajectory(runKiln(opt, p, true), expected, 1e-5, 'adamw traced');
  });

  it('state round-trips through the flat view and rejects a wrong count', () => {
    const opt = adam();
    const params = [ops.zeros([2, 3]), ops.zeros([3])];
    const st = opt.init(params);
    const flat = opt.stateTensors(st);
    expect(flat.length).toBe(5);
    expect(opt.stateNames(['dense/kernel', 'dense/bias'])).toEqual([
      'adam/iterations', 'dense/kernel/m', 'dense/kernel/v', 'dense/bias/m', 'dense/bias/v',
    ]);
    const back = opt.fromTensors(flat, 2);
    expect(back.slots[1]!['v']!.shape).toEqual([3]);
    expect(() => opt.fromTensors(flat.slice(1), 2)).toThrow(/expected 5 tensors/);
    expect(() => adam({ beta1: 1 })).toThrow(/beta1 must be in \[0, 1\)/);
  });
});
