import { beforeAll, describe, expect, it } from 'vitest';
import { tf, toTf, useCpu } from '../../frontend/test_util.js';
import { fn, ops, type Tensor } from '../backend.js';
import { clipByGlobalNorm, clipByNorm, clipByValue, globalNorm } from './clipping.js';
import { sgd } from './sgd.js';
import { expectSameTrajectory, problem, runKiln } from './test_util.js';

beforeAll(() => useCpu());

const close = (a: Tensor, b: tf.Tensor, tol = 1e-6) => {
  const x = a.dataSync(), y = b.dataSync();
  expect(a.shape).toEqual(b.shape);
  x.forEach((v, i) => expect(Math.abs(v - y[i]!), `element ${i}: ${v} vs ${y[i]}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(y[i]!))));
};

describe('gradient clipping', () => {
  const a = ops.tensor([[3, -4], [1, 2]], [2, 2], 'f32');
  const b = ops.tensor([12, 0, -5], [3], 'f32');

  it('clipByNorm rescales only tensors whose norm exceeds the limit', () => {
    const ta = toTf(a);
    const na = tf.norm(ta).dataSync()[0]!;
    close(clipByNorm(a, 2), tf.mul(ta, 2 / na));
    close(clipByNorm(a, 100), ta);
    close(clipByNorm(ops.zeros([3]), 1), tf.zeros([3]));
  });

  it('clipByGlobalNorm scales all tensors by one factor (eager and traced)', () => {
    const g = Math.sqrt(9 + 16 + 1 + 4 + 144 + 25);
    const expect1 = [tf.mul(toTf(a), 5 / g), tf.mul(toTf(b), 5 / g)];
    expect(globalNorm([a, b]).item()).toBeCloseTo(g, 4);
    clipByGlobalNorm([a, b], 5).forEach((t, i) => close(t, expect1[i]!));
    const traced = fn((x: Tensor, y: Tensor) => clipByGlobalNorm([x, y], 5));
    traced(a, b).forEach((t, i) => close(t, expect1[i]!));
    clipByGlobalNorm([a, b], 1000).forEach((t, i) => close(t, toTf([a, b][i]!)));
    // A non-finite norm poisons every result, as in Keras, rather than passing exploded gradients.
    const inf = ops.tensor([Infinity, 1], [2], 'f32');
    expect(Array.from(clipByGlobalNorm([inf, b], 5)[1]!.dataSync()).every(Number.isNaN)).toBe(true);
  });

  it('clipByValue clamps elementwise', () => {
    close(clipByValue(b, 3), tf.clipByValue(toTf(b), -3, 3));
    expect(() => clipByValue(b, 0)).toThrow(/clipvalue must be a positive number/);
  });

  it('optimizers clip before the update (clipnorm, globalClipnorm, clipvalue)', () => {
    const p = problem(5);
    const lr = 0.1;
    const norm = (xs: number[]) => Math.sqrt(xs.reduce((s, x) => s + x * x, 0));
    const run = (clip: (g: number[][]) => number[][]) => {
      const w = p.init.map((v) => [...v]);
      return p.grads.map((g) => {
        const c = clip(g);
        w.forEach((x, i) => x.forEach((_, k) => { x[k] = x[k]! - lr * c[i]![k]!; }));
        return w.map((x) => [...x]);
      });
    };
    const perTensor = run((g) => g.map((x) => x.map((v) => v * 0.5 / Math.max(norm(x), 0.5))));
    const global = run((g) => {
      const n = norm(g.flat());
      return g.map((x) => x.map((v) => v * 1 / Math.max(n, 1)));
    });
    const byValue = run((g) => g.map((x) => x.map((v) => Math.min(0.3, Math.max(-0.3, v)))));
    expectSameTrajectory(runKiln(sgd({ learningRate: lr, clipnorm: 0.5 }), p, true), perTensor, 1e-5, 'clipnorm');
    expectSameTrajectory(runKiln(sgd({ learningRate: lr, globalClipnorm: 1 }), p, true), global, 1e-5, 'globalClipnorm');
    expectSameTrajectory(runKiln(sgd({ learningRate: lr, clipvalue: 0.3 }), p, false), byValue, 1e-5, 'clipvalue');
  });
});
