import { beforeAll, describe, expect, it } from 'vitest';
import { useCpu } from '../../frontend/test_util.js';
import { rmsprop } from './rmsprop.js';
import { checkAgainstTfjs, expectSameTrajectory, problem, runKiln, tf } from './test_util.js';

beforeAll(() => useCpu());

/** Keras 3 RMSprop in plain JS (f64). */
function kerasRmsprop(p: ReturnType<typeof problem>, lr: number, rho: number, momentum: number, eps: number, centered: boolean): number[][][] {
  const params = p.init.map((v) => [...v]);
  const zeros = () => p.init.map((v) => v.map(() => 0));
  const rms = zeros(), mg = zeros(), mom = zeros();
  const out: number[][][] = [];
  for (const g of p.grads) {
    params.forEach((w, i) => w.forEach((_, k) => {
      const gk = g[i]![k]!;
      rms[i]![k] = rho * rms[i]![k]! + (1 - rho) * gk * gk;
      let denom = rms[i]![k]! + eps;
      if (centered) {
        mg[i]![k] = rho * mg[i]![k]! + (1 - rho) * gk;
        denom = rms[i]![k]! - mg[i]![k]! ** 2 + eps;
      }
      const inc = (lr * gk) / Math.sqrt(denom);
      if (momentum > 0) {
        mom[i]![k] = momentum * mom[i]![k]! + inc;
        w[k] = w[k]! - mom[i]![k]!;
      } else {
        w[k] = w[k]! - inc;
      }
    }));
    out.push(params.map((w) => [...w]));
  }
  return out;
}

describe('RMSprop', () => {
  it('matches tf.train.rmsprop without and with momentum (eager and traced)', () => {
    checkAgainstTfjs(rmsprop({ learningRate: 0.01 }), () => tf.train.rmsprop(0.01, 0.9, 0, 1e-7));
    checkAgainstTfjs(rmsprop({ learningRate: 0.01, rho: 0.8, momentum: 0.9, epsilon: 1e-4 }), () => tf.train.rmsprop(0.01, 0.8, 0.9, 1e-4));
  });

  it('centered follows Keras (epsilon added to the variance estimate)', () => {
    const p = problem(6);
    const opt = rmsprop({ learningRate: 0.01, momentum: 0.5, centered: true, epsilon: 1e-3 });
    expect(opt.slotNames()).toEqual(['rms', 'momentum', 'mg']);
    const expected = kerasRmsprop(p, 0.01, 0.9, 0.5, 1e-3, true);
    expectSameTrajectory(runKiln(opt, p, false), expected, 1e-5, 'eager');
    expectSameTrajectory(runKiln(opt, p, true), expected, 1e-5, 'traced');
  });

  it('keeps only the slots it needs', () => {
    expect(rmsprop().slotNames()).toEqual(['rms']);
    expect(() => rmsprop({ rho: 1 })).toThrow(/rho must be in \[0, 1\)/);
  });
});
