import { describe, expect, it } from 'vitest';
// tfjs-layers brings tfjs-core's gradient registrations, which tf.grads (the oracle) needs.
import '@tensorflow/tfjs-layers';
import { printFunc } from '../ir/print.js';
import { verify } from '../ir/verify.js';
import { KilnError } from '../ir/types.js';
import { cond, scan, whileLoop } from './control_flow.js';
import { add, greater, less, mul, sin, tanh } from './elementwise.js';
import { grad, valueAndGrad } from './grad.js';
import { matmul } from './linalg.js';
import { sum } from './reduction.js';
import { scalar } from './creation.js';
import { Tensor } from './tensor.js';
import { expectClose, rand, tf, toTf, useCpu } from './test_util.js';
import { fn } from './tracing.js';
import { variable } from './variable.js';

/**
 * kiln.cond / whileLoop / scan: eager and traced runs agree with the same computation on
 * tfjs-core; gradients through them match tf.grads of the host-side computation (and finite
 * differences for the nested case); closures over outer symbolic tensors are lifted; bad input
 * is refused with the names and types involved.
 */

useCpu();

/** The same function eagerly, and through `fn` on the interpreter (control flow does not compile yet). */
function both(f: (...xs: Tensor[]) => Tensor | Tensor[], inputs: readonly Tensor[]): { eager: Tensor[]; traced: Tensor[]; ir: string } {
  const flat = (r: Tensor | Tensor[]) => (r instanceof Tensor ? [r] : r);
  const eager = flat(f(...inputs));
  const g = fn((...xs: Tensor[]) => f(...xs), { name: 'cf', execution: 'interpreter' });
  const traced = flat(g(...inputs));
  const func = g.ir(...inputs);
  verify(func);
  return { eager, traced, ir: printFunc(func) };
}

describe('cond', () => {
  const pick = (p: Tensor, x: Tensor, y: Tensor) =>
    cond(greater(sum(p), 0), () => [tanh(mul(x, y)), add(x, 1)], () => [sin(x), mul(y, y)]);

  it('eager and traced take the branch the data says, matching tfjs-core', () => {
    const x = rand([3], 1), y = rand([3], 2);
    for (const sign of [1, -1]) {
      const p = mul(rand([2], 3, 0.1, 1), sign);
      const { eager, traced, ir } = both(pick, [p, x, y]);
      expect(ir).toContain('cond(');
      expect(ir).toContain('func @then');
      const [ex, ey] = sign > 0 ? [tf.tanh(tf.mul(toTf(x), toTf(y))), tf.add(toTf(x), 1)] : [tf.sin(toTf(x)), tf.mul(toTf(y), toTf(y))];
      for (const r of [eager, traced]) {
        expectClose(r[0]!, ex);
        expectClose(r[1]!, ey);
      }
    }
  });

  it('a numeric scalar predicate means != 0; a single-Tensor branch returns a Tensor', () => {
    const f = (p: Tensor, x: Tensor) => cond(p, () => mul(x, 2), () => mul(x, 3));
    const x = rand([2], 4);
    for (const v of [0, 5]) {
      const { eager, traced } = both(f, [scalar(v, 'i32'), x]);
      expect(traced[0]).toBeInstanceOf(Tensor);
      expectClose(eager[0]!, tf.mul(toTf(x), v ? 2 : 3));
      expectClose(traced[0]!, tf.mul(toTf(x), v ? 2 : 3));
    }
  });

  it('gradients through both branches match tf.grads', () => {
    const x = rand([3], 5), y = rand([3], 6);
    for (const sign of [1, -1]) {
      const p = scalar(sign);
      const loss = (pp: Tensor, a: Tensor, b: Tensor) => {
        const [u, v] = pick(pp, a, b) as Tensor[];
        return sum(add(mul(u!, 3), v!));
      };
      const [gx, gy] = grad(loss, { argnums: [1, 2] })(p, x, y);
      const tfLoss = (a: tf.Tensor, b: tf.Tensor) => sign > 0
        ? tf.sum(tf.add(tf.mul(tf.tanh(tf.mul(a, b)), 3), tf.add(a, 1)))
        : tf.sum(tf.add(tf.mul(tf.sin(a), 3), tf.mul(b, b)));
      const [ex, ey] = tf.grads(tfLoss)([toTf(x), toTf(y)]);
      expectClose(gx!, ex!, 1e-5, 'dx');
      expectClose(gy!, ey!, 1e-5, 'dy');
    }
  });

  it('refuses a predicate that is not a scalar, and branches of different types', () => {
    const x = rand([2, 2], 7);
    expect(() => cond(greater(x, 0), () => x, () => x)).toThrow(/kiln.cond: the predicate must be a scalar \(rank-0\) bool or numeric tensor, got bool\[2,2\]/);
    const g = fn((a: Tensor) => cond(greater(sum(a), 0), () => a, () => sum(a)), { execution: 'interpreter' });
    expect(() => g(x)).toThrow(/thenFn returns a Tensor f32\[2,2\], elseFn returns a Tensor f32\[\]/);
    expect(() => g(x)).toThrow(KilnError);
  });
});

describe('whileLoop', () => {
  // Newton-like iteration: while (i < n) { x = x - tanh(x) * 0.5; i++ }
  const loop = (x: Tensor, n: Tensor, max?: number) => whileLoop(
    (i, _x) => less(i, n),
    (i, v) => [add(i!, scalar(1, 'i32')), add(v!, mul(tanh(v!), -0.5))],
    [scalar(0, 'i32'), x], max === undefined ? {} : { maximumIterations: max },
  );
  const host = (x: tf.Tensor, trips: number) => {
    for (let i = 0; i < trips; i++) x = tf.add(x, tf.mul(tf.tanh(x), -0.5));
    return x;
  };

  it('eager and traced run the data-dependent trip count (n is a traced input)', () => {
    const x = rand([4], 8);
    for (const n of [0, 3, 6]) {
      const { eager, traced, ir } = both((a, m) => loop(a, m!), [x, scalar(n, 'i32')]);
      expect(ir).toContain('while(');
      for (const r of [eager, traced]) {
        expect(r[0]!.item()).toBe(n);
        expectClose(r[1]!, host(toTf(x), n));
      }
    }
  });

  it('maximumIterations stops the loop; the gradient of a bounded loop matches tf.grads', () => {
    const x = rand([4], 9);
    const f = (a: Tensor, m: Tensor) => sum(mul(loop(a, m, 4)[1]!, a));
    for (const n of [2, 9]) {
      const { value, grads } = valueAndGrad(f)(x, scalar(n, 'i32'));
      const trips = Math.min(n, 4);
      const [e] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(host(a, trips), a)))([toTf(x)]);
      expectClose(value, tf.sum(tf.mul(host(toTf(x), trips), toTf(x))));
      expectClose(grads, e!, 1e-5, `n=${n}`);
    }
  });

  it('without maximumIterations the gradient is refused, saying which bound is needed', () => {
    const f = (a: Tensor, m: Tensor) => sum(loop(a, m)[1]!);
    expect(() => grad(f)(rand([4], 10), scalar(3, 'i32'))).toThrow(/needs a static bound on its trip count; give it maximumIterations/);
  });

  it('closures over outer symbolic tensors are lifted into the loop', () => {
    const w = rand([3, 3], 11, -0.5, 0.5), x = rand([1, 3], 12);
    const f = (a: Tensor, m: Tensor) => whileLoop((i) => less(i, 3), (i, v) => [add(i!, scalar(1, 'i32')), tanh(matmul(v!, m))], [scalar(0, 'i32'), a])[1]!;
    const { eager, traced, ir } = both(f, [x, w]);
    let e = toTf(x);
    for (let i = 0; i < 3; i++) e = tf.tanh(tf.matMul(e, toTf(w)));
    expectClose(eager[0]!, e);
    expectClose(traced[0]!, e);
    // w is a carried value the body passes through: three carried values, not two.
    expect(ir).toMatch(/while\(%\d+, %arg0, %arg1\)/);
  });

  it('refuses a body returning other types, a non-scalar condition and unknown options', () => {
    const x = rand([2], 13);
    expect(() => whileLoop((v) => less(sum(v), 10), (v) => [sum(v)], [x])).toThrow(/bodyFn must return the loop variables' types \(f32\[2\]\), got \(f32\[\]\)/);
    expect(() => whileLoop((v) => less(v, 10), (v) => [v], [x])).toThrow(/condFn's result must be a scalar \(rank-0\) bool or numeric tensor, got bool\[2\]/);
    expect(() => whileLoop((v) => less(sum(v), 10), (v) => [v], [x], { maxIterations: 3 } as never)).toThrow(/unknown option 'maxIterations' \(did you mean 'maximumIterations'\?\)/);
  });
});

describe('scan', () => {
  // An Elman RNN cell: h' = tanh(x W + h U), output h'.
  const rnn = (h0: Tensor, xs: Tensor, w: Tensor, u: Tensor, reverse = false, axis = 0) =>
    scan((c, x) => {
      const h = tanh(add(matmul(x[0]!, w), matmul(c[0]!, u)));
      return [[h], [h, sum(h, 1)]];
    }, [h0], [xs], { reverse, axis });
  const hostRnn = (h: tf.Tensor, xs: tf.Tensor, w: tf.Tensor, u: tf.Tensor, reverse: boolean, axis: number) => {
    const steps = tf.unstack(xs, axis);
    const hs: tf.Tensor[] = [], ss: tf.Tensor[] = [];
    for (let k = 0; k < steps.length; k++) {
      const t = reverse ? steps.length - 1 - k : k;
      h = tf.tanh(tf.add(tf.matMul(steps[t]!, w), tf.matMul(h, u)));
      hs[t] = h;
      ss[t] = tf.sum(h, 1);
    }
    return { h, hs: tf.stack(hs, axis), ss: tf.stack(ss, axis) };
  };

  it('eager and traced agree with a host RNN loop, forward and reverse, along axis 0 and 1', () => {
    const h0 = rand([2, 3], 14), w = rand([4, 3], 15, -0.5, 0.5), u = rand([3, 3], 16, -0.5, 0.5);
    for (const reverse of [false, true]) {
      for (const axis of [0, 1]) {
        const xs = rand(axis === 0 ? [5, 2, 4] : [2, 5, 4], 17);
        const f = (a: Tensor, b: Tensor, c: Tensor, d: Tensor) => {
          const [[h], [hs, ss]] = rnn(a, b, c, d, reverse, axis);
          return [h!, hs!, ss!];
        };
        const { eager, traced, ir } = both(f, [h0, xs, w, u]);
        expect(ir).toContain('scan(');
        const e = hostRnn(toTf(h0), toTf(xs), toTf(w), toTf(u), reverse, axis);
        for (const r of [eager, traced]) {
          expectClose(r[0]!, e.h);
          expectClose(r[1]!, e.hs);
          expectClose(r[2]!, e.ss);
        }
      }
    }
  });

  it('gradients of the weights, the initial state and the inputs match tf.grads', () => {
    const h0 = rand([2, 3], 18), xs = rand([4, 2, 4], 19), w = rand([4, 3], 20, -0.5, 0.5), u = rand([3, 3], 21, -0.5, 0.5);
    const loss = (a: Tensor, b: Tensor, c: Tensor, d: Tensor) => {
      const [[h], [hs]] = rnn(a, b, c, d, true);
      return add(sum(mul(h!, h!)), sum(mul(hs!, 0.5)));
    };
    const got = grad(loss, { argnums: [0, 1, 2, 3] })(h0, xs, w, u);
    const want = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => {
      const e = hostRnn(a, b, c, d, true, 0);
      return tf.add(tf.sum(tf.mul(e.h, e.h)), tf.sum(tf.mul(e.hs, 0.5)));
    })([toTf(h0), toTf(xs), toTf(w), toTf(u)]);
    got.forEach((g, i) => expectClose(g, want[i]!, 1e-4, `grad ${i}`));
  });

  it('a scan inside a variable-bound training step: the weight is a lifted capture and its gradient is right', () => {
    const w = variable(rand([3, 3], 22, -0.5, 0.5), { name: 'w' });
    const xs = rand([3, 1, 3], 23);
    const step = (x: Tensor) => sum(scan((c, xt) => {
      const h = tanh(add(matmul(c[0]!, w.read()), xt[0]!));
      return [[h], []];
    }, [rand([1, 3], 24)], [x])[0][0]!);
    const { variableGrads } = valueAndGrad(step, { variables: [w] })(xs);
    const [e] = tf.grads((wt: tf.Tensor) => {
      let h = toTf(rand([1, 3], 24));
      for (const xt of tf.unstack(toTf(xs))) h = tf.tanh(tf.add(tf.matMul(h, wt), xt));
      return tf.sum(h);
    })([toTf(w.value)]);
    expectClose(variableGrads[0]!, e!, 1e-5);
  });

  it('refuses sequences of different lengths and a carry that changes type', () => {
    expect(() => scan((c, x) => [c, x], [], [rand([3], 1), rand([4], 2)])).toThrow(/xs\[1\] has 4 steps along axis 0 but xs\[0\] has 3/);
    expect(() => scan((c) => [[sum(c[0]!)], []], [rand([2], 1)], [rand([3], 2)])).toThrow(/new carry of the types of init \(f32\[2\]\), got \(f32\[\]\)/);
    expect(() => scan((c, x) => [c, x], [], [rand([3], 1)], { revers: true } as never)).toThrow(/unknown option 'revers' \(did you mean 'reverse'\?\)/);
  });
});

describe('nested control flow', () => {
  it('a cond inside a scan inside a bounded while: eager = traced, gradient vs finite differences', () => {
    const f = (x: Tensor, s: Tensor) => {
      const [, out] = whileLoop((i) => less(i, 2), (i, v) => {
        const [[c]] = scan((carry, xt) => {
          const k = cond(greater(sum(xt[0]!), 0), () => mul(carry[0]!, tanh(xt[0]!)), () => add(carry[0]!, sin(mul(xt[0]!, s))));
          return [[k], []];
        }, [v!], [x]);
        return [add(i!, scalar(1, 'i32')), c!];
      }, [scalar(0, 'i32'), rand([3], 30)], { maximumIterations: 2 });
      return sum(mul(out!, out!));
    };
    const x = rand([4, 3], 31), s = rand([3], 32);
    const { eager, traced, ir } = both(f, [x, s]);
    expectClose(traced[0]!, eager[0]!, 1e-5);
    expect(ir.match(/func @/g)!.length).toBeGreaterThanOrEqual(5); // main, while cond/body, scan step, then/else
    const g = grad(f, { argnums: [0, 1] })(x, s);
    // Central differences in float64 on the host would need a second implementation; perturb the
    // f32 inputs instead with a step large enough for f32 and compare loosely.
    const eps = 1e-2;
    [x, s].forEach((inp, which) => {
      const data = Float32Array.from(inp.dataSync());
      for (const idx of [0, 2, data.length - 1]) {
        const at = (d: number) => {
          const copy = Float32Array.from(data);
          copy[idx] = copy[idx]! + d;
          const t = Tensor.concrete({ type: inp.type, data: copy });
          return (which === 0 ? f(t, s) : f(x, t)).item();
        };
        const fd = (at(eps) - at(-eps)) / (2 * eps);
        expect(Math.abs(g[which]!.dataSync()[idx]! - fd)).toBeLessThan(2e-2 * (1 + Math.abs(fd)));
      }
    });
  });
});
