import { beforeAll, describe, expect, it } from 'vitest';
import { useCpu } from '../../frontend/test_util.js';
import { ops } from '../backend.js';
import { SGD, sgd } from './sgd.js';
import { exponentialDecay } from './schedules.js';
import { checkAgainstTfjs, expectSameTrajectory, problem, runKiln, tf } from './test_util.js';

beforeAll(() => useCpu());

/** Keras 3 SGD in plain JS (f64), with a learning rate per 0-based step. */
function kerasSgd(p: ReturnType<typeof problem>, lrAt: (t: number) => number, momentum: number, nesterov: boolean, wd = 0): number[][][] {
  const params = p.init.map((v) => [...v]);
  const mom = p.init.map((v) => v.map(() => 0));
  const out: number[][][] = [];
  p.grads.forEach((g, t) => {
    const lr = lrAt(t);
    params.forEach((w, i) => w.forEach((_, k) => {
      w[k] = w[k]! - w[k]! * wd * lr;
      const gk = g[i]![k]!;
      if (momentum === 0) { w[k] = w[k]! - lr * gk; return; }
      const m = momentum * mom[i]![k]! - lr * gk;
      mom[i]![k] = m;
      w[k] = w[k]! + (nesterov ? momentum * m - lr * gk : m);
    }));
    out.push(params.map((w) => [...w]));
  });
  return out;
}

describe('SGD', () => {
  it('matches tf.train.sgd (eager and traced)', () => {
    checkAgainstTfjs(sgd({ learningRate: 0.1 }), () => tf.train.sgd(0.1));
  });

  it('matches tf.train.momentum, plain and Nesterov', () => {
    checkAgainstTfjs(sgd({ learningRate: 0.05, momentum: 0.9 }), () => tf.train.momentum(0.05, 0.9));
    checkAgainstTfjs(sgd({ learningRate: 0.05, momentum: 0.8, nesterov: true }), () => tf.train.momentum(0.05, 0.8, true));
  });

  it('follows the Keras formula under a schedule and with weight decay', () => {
    const p = problem(6);
    const sched = exponentialDecay({ initialLearningRate: 0.1, decaySteps: 2, decayRate: 0.5 });
    const opt = sgd({ learningRate: sched, momentum: 0.9, weightDecay: 0.1 });
    const expected = kerasSgd(p, (t) => 0.1 * 0.5 ** (t / 2), 0.9, false, 0.1);
    expectSameTrajectory(runKiln(opt, p, false), expected, 1e-5, 'eager');
    expectSameTrajectory(runKiln(opt, p, true), expected, 1e-5, 'traced');
  });

  it('keeps a momentum slot only when momentum > 0 and names state for the compiler', () => {
    const w = ops.zeros([2, 2]);
    expect(new SGD().slotNames()).toEqual([]);
    const opt = sgd({ momentum: 0.5 });
    const st = opt.init([w, ops.zeros([2])]);
    expect(opt.stateNames(['dense/kernel', 'dense/bias'])).toEqual(['SGD/iterations', 'dense/kernel/momentum', 'dense/bias/momentum']);
    const flat = opt.stateTensors(st);
    expect(flat.map((t) => t.shape)).toEqual([[], [2, 2], [2]]);
    expect(flat[0]!.dtype).toBe('i32');
    const r = opt.apply([w, ops.zeros([2])], [ops.ones([2, 2]), ops.ones([2])], st);
    expect(r.state.iterations.item()).toBe(1);
  });

  it('rejects bad input with clear errors', () => {
    const opt = sgd();
    const st = opt.init([ops.zeros([2])]);
    expect(() => opt.apply([ops.zeros([2])], [ops.zeros([3])], st)).toThrow(/param 0 is f32\[2\] but its gradient is f32\[3\]/);
    expect(() => opt.apply([ops.zeros([2])], [], st)).toThrow(/1 params but 0 gradients/);
    expect(() => sgd({ momentum: 2 })).toThrow(/momentum must be/);
    expect(() => sgd({ clipnorm: 1, clipvalue: 1 })).toThrow(/only one of clipnorm, clipvalue and globalClipnorm/);
  });
});
