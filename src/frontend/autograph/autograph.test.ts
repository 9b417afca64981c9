/**
 * AutoGraph: each construct converted by kiln.fn equals (a) the same computation run eagerly
 * with its conditions read on the host by tfjs-core (the oracle), and (b) the hand-written
 * kiln.cond / kiln.whileLoop version, for inputs that take every branch, with one trace serving
 * all of them (the choice happens in the compiled program). Plain-JS conditions still unroll at
 * trace time; what cannot be converted fails naming the construct and the line; the source
 * transform runs once per function.
 */
import { beforeAll, describe, expect, it } from 'vitest';
// tfjs-layers' bundle registers tfjs-core's gradient functions, which tf.grads needs.
import '@tensorflow/tfjs-layers';
import { compile } from '../../compile.js';
import { printFunc } from '../../ir/print.js';
import { load } from '../../runtime/index.js';
import { KilnError } from '../../ir/types.js';
import { Layer } from '../../keras/engine/layer.js';
import * as kiln from '../index.js';
import { expectClose, rand, tf, toTf, useCpu } from '../test_util.js';
import { autographRewrites, convert } from './index.js';

beforeAll(useCpu);

// Test runners and bundlers rename module imports inside functions (vitest: __vite_ssr_import_0__),
// so converted functions read the ops through this local name, passed in `scope`.
const k = kiln;
const scope = { k };
const { cond, whileLoop } = kiln;

const sumOf = (t: tf.Tensor): number => tf.sum(t).dataSync()[0]!;
const irText = (f: kiln.CompiledFn<kiln.Tensor[], kiln.Tensor>, ...args: kiln.Tensor[]): string => printFunc(f.ir(...args));
const opsIn = (text: string, op: string): number => text.split('\n').filter((l) => new RegExp(`= ${op}\\b`).test(l)).length;

describe('if / else, ternary, early return, && || !', () => {
  const pos = rand([2, 3], 1, 0.1, 2), neg = rand([2, 3], 2, -2, -0.1), mixed = rand([2, 3], 3);

  it('if/else on a tensor condition becomes one cond; equals eager tfjs and the hand-written kiln.cond', () => {
    const f = kiln.fn((x: kiln.Tensor) => {
      let y = x;
      if (k.greater(k.sum(x), 0)) {
        y = k.mul(y, 2);
      } else {
        y = k.neg(k.exp(y));
      }
      return k.add(y, 1);
    }, { scope });
    const hand = kiln.fn((x: kiln.Tensor) => k.add(cond(k.greater(k.sum(x), 0), () => k.mul(x, 2), () => k.neg(k.exp(x))), 1), { autograph: false });
    for (const x of [pos, neg, mixed]) {
      const tx = toTf(x);
      const oracle = tf.add(sumOf(tx) > 0 ? tf.mul(tx, 2) : tf.neg(tf.exp(tx)), 1);
      expectClose(f(x), oracle);
      expectClose(f(x), hand(x));
    }
    expect(f.traceCount).toBe(1);
    expect(opsIn(irText(f, pos), 'cond')).toBe(1);
  });

  it('a relational condition on a tensor (sum > 0) converts too, and a branch-only temporary stays inside', () => {
    const f = kiln.fn((x: kiln.Tensor) => {
      let out = k.zerosLike(x);
      // TypeScript types relational operators on numbers only; the cast vanishes in the JS that runs.
      if ((k.sum(x) as unknown as number) > 0) {
        const t = k.sqrt(x);
        out = k.sub(t, 1);
      }
      return out;
    }, { scope });
    for (const x of [pos, neg]) {
      const tx = toTf(x);
      expectClose(f(x), sumOf(tx) > 0 ? tf.sub(tf.sqrt(tx), 1) : tf.zerosLike(tx));
    }
    expect(f.traceCount).toBe(1);
  });

  it('a ternary on a tensor condition', () => {
    const f = kiln.fn((x: kiln.Tensor) => (k.greater(k.max(x), 1.5) ? k.square(x) : k.mul(x, -3)), { scope });
    const hand = kiln.fn((x: kiln.Tensor) => cond(k.greater(k.max(x), 1.5), () => k.square(x), () => k.mul(x, -3)), { autograph: false });
    for (const x of [pos, neg, mixed]) {
      const tx = toTf(x);
      const oracle = tf.max(tx).dataSync()[0]! > 1.5 ? tf.square(tx) : tf.mul(tx, -3);
      expectClose(f(x), oracle);
      expectClose(f(x), hand(x));
    }
    expect(f.traceCount).toBe(1);
  });

  it('return inside both forms: if-return followed by code that returns, and if/else that both return', () => {
    const f = kiln.fn((x: kiln.Tensor) => {
      if (k.less(k.sum(x), 0)) return k.neg(x);
      const y = k.mul(x, 3);
      if (k.greater(k.max(y), 5)) {
        return k.sub(y, 5);
      } else {
        return k.add(y, 1);
      }
    }, { scope });
    for (const x of [pos, neg, mixed, rand([2, 3], 9, 0, 0.5)]) {
      const tx = toTf(x);
      const y = tf.mul(tx, 3);
      const oracle = sumOf(tx) < 0 ? tf.neg(tx) : tf.max(y).dataSync()[0]! > 5 ? tf.sub(y, 5) : tf.add(y, 1);
      expectClose(f(x), oracle);
    }
    expect(f.traceCount).toBe(1);
    // Two conds in the printout: the inner one is printed inside the outer cond's else region.
    const text = irText(f, pos);
    expect(opsIn(text, 'cond')).toBe(2);
  });

  it('&&, || and ! on tensor conditions (mixed with JS values)', () => {
    const f = kiln.fn((a: kiln.Tensor, b: kiln.Tensor, strict: boolean) => {
      let r = k.zerosLike(a);
      if ((k.greater(k.sum(a), 0) && !k.greater(k.sum(b), 0)) || (strict && k.less(k.sum(a), -1))) r = k.add(a, b);
      return r;
    }, { scope });
    for (const [a, b] of [[pos, neg], [pos, pos], [neg, neg], [neg, pos], [rand([2, 3], 5, -2, -1), pos]] as const) {
      for (const strict of [false, true]) {
        const sa = sumOf(toTf(a)), sb = sumOf(toTf(b));
        const take = (sa > 0 && !(sb > 0)) || (strict && sa < -1);
        expectClose(f(a, b, strict), take ? tf.add(toTf(a), toTf(b)) : tf.zerosLike(toTf(a)));
      }
    }
    expect(f.traceCount).toBe(2); // once per value of the JS argument `strict`
  });
});

describe('loops', () => {
  it('while on a tensor condition becomes one while; equals eager tfjs and the hand-written kiln.whileLoop', () => {
    const f = kiln.fn((x: kiln.Tensor) => {
      let s = x;
      let n = k.scalar(0, 'i32');
      while (k.less(k.sum(s), 100)) {
        s = k.add(k.mul(s, 2), 1);
        n = k.add(n, 1);
      }
      return [s, n];
    }, { scope });
    const hand = kiln.fn((x: kiln.Tensor) => whileLoop((s) => k.less(k.sum(s!), 100), (s, n) => [k.add(k.mul(s!, 2), 1), k.add(n!, 1)], [x, k.scalar(0, 'i32')]), { autograph: false });
    for (const x of [rand([3], 1, 0, 1), rand([3], 2, 10, 20), rand([3], 3, 40, 50)]) {
      let s = toTf(x);
      let n = 0;
      while (sumOf(s) < 100) {
        s = tf.add(tf.mul(s, 2), 1);
        n++;
      }
      const [gs, gn] = f(x);
      expectClose(gs!, s);
      expect(gn!.item()).toBe(n);
      expectClose(gs!, hand(x)[0]!);
    }
    expect(f.traceCount).toBe(1);
    expect(opsIn(irText(f as never, rand([3], 1)), 'while')).toBe(1);
  });

  it('for (let i = 0; i < n; i++) with a tensor n', () => {
    const f = kiln.fn((x: kiln.Tensor, n: kiln.Tensor) => {
      let acc = x;
      for (let i = 0; i < (n as unknown as number); i++) {
        acc = k.add(k.mul(acc, 0.5), k.cast(i, 'f32'));
      }
      return acc;
    }, { scope });
    const x = rand([4], 7);
    for (const n of [0, 1, 3, 6]) {
      let acc = toTf(x);
      for (let i = 0; i < n; i++) acc = tf.add(tf.mul(acc, 0.5), i);
      expectClose(f(x, k.scalar(n, 'i32')), acc);
    }
    expect(f.traceCount).toBe(1);
  });

  it('break and continue in a tensor loop (TensorFlow-style flags)', () => {
    const f = kiln.fn((x: kiln.Tensor, n: kiln.Tensor) => {
      let acc = k.zerosLike(x);
      let i = k.scalar(0, 'i32');
      while (k.less(i, n)) {
        i = k.add(i, 1);
        if (k.equal(k.mod(i, 3), 0)) continue;
        acc = k.add(acc, k.mul(x, k.cast(i, 'f32')));
        if (k.greater(k.sum(acc), 40)) break;
      }
      return [acc, i];
    }, { scope });
    for (const [xs, n] of [[rand([3], 1, 1, 2), 10], [rand([3], 2, 0.1, 0.2), 10], [rand([3], 3, 0.1, 0.2), 2]] as const) {
      const tx = toTf(xs);
      let acc = tf.zerosLike(tx);
      let i = 0;
      while (i < n) {
        i++;
        if (i % 3 === 0) continue;
        acc = tf.add(acc, tf.mul(tx, i));
        if (sumOf(acc) > 40) break;
      }
      const [ga, gi] = f(xs, k.scalar(n, 'i32'));
      expectClose(ga!, acc);
      expect(gi!.item()).toBe(i);
    }
    expect(f.traceCount).toBe(1);
  });

  it('the Collatz example of docs/autograph.md: a ternary inside a tensor while', () => {
    const collatzSteps = kiln.fn((n: kiln.Tensor) => {
      let steps = k.scalar(0, 'i32');
      while (k.greater(n, 1)) {
        n = k.equal(k.mod(n, 2), 0) ? k.floorDiv(n, 2) : k.add(k.mul(n, 3), 1);
        steps = k.add(steps, 1);
      }
      return steps;
    }, { scope });
    const steps = (n: number): number => {
      let s = 0;
      for (; n > 1; s++) n = n % 2 === 0 ? n / 2 : 3 * n + 1;
      return s;
    };
    for (const n of [27, 6, 1, 97]) expect(collatzSteps(k.scalar(n, 'i32')).item()).toBe(steps(n));
    expect(steps(27)).toBe(111);
    expect(collatzSteps.traceCount).toBe(1);
  });

  it('compiles: the converted Collatz loop runs from its artifact in the runtime alone', async () => {
    const collatzSteps = kiln.fn((n: kiln.Tensor) => {
      let steps = k.scalar(0, 'i32');
      while (k.greater(n, 1)) {
        n = k.equal(k.mod(n, 2), 0) ? k.floorDiv(n, 2) : k.add(k.mul(n, 3), 1);
        steps = k.add(steps, 1);
      }
      return steps;
    }, { scope });
    const art = compile(collatzSteps.ir(k.scalar(1, 'i32')));
    const prog = await load(art.bytes);
    try {
      for (const [n, want] of [[27, 111], [6, 8], [1, 0]] as const) {
        const got = prog.runSync({ [art.manifest.inputs[0]!.name]: new Int32Array([n]) });
        expect(Array.from(got[art.manifest.outputs[0]!.name] as Int32Array)).toEqual([want]);
      }
    } finally {
      prog.dispose();
    }
  });

  it('a per-iteration temporary is not carried; a loop variable that changes dtype is refused by name', () => {
    const f = kiln.fn((x: kiln.Tensor) => {
      let s = x;
      let t;
      while (k.less(k.sum(s), 50)) {
        t = k.mul(s, 2);
        s = k.add(t, 1);
      }
      return s;
    }, { scope });
    let s = toTf(rand([2], 3, 0, 1));
    while (sumOf(s) < 50) s = tf.add(tf.mul(s, 2), 1);
    expectClose(f(rand([2], 3, 0, 1)), s);
    const bad = kiln.fn((x: kiln.Tensor) => {
      let acc: number | kiln.Tensor = 0;
      let n = 0;
      while (k.less(k.sum(x), 10)) {
        acc = k.add(k.cast(acc, 'f32'), k.sum(x));
        n = n + 1;
      }
      return [acc as kiln.Tensor, k.scalar(n)];
    }, { scope });
    expect(() => bad(rand([2]))).toThrow(/while loop at line 4 .*loop variable 'acc' enters the loop as i32\[\] \(from the JS value 0\) but one iteration makes it f32\[\]/);
  });

  it('do ... while on a tensor condition', () => {
    const f = kiln.fn((x: kiln.Tensor) => {
      let s = x;
      do {
        s = k.mul(s, 3);
      } while (k.less(k.max(s), 10));
      return s;
    }, { scope });
    for (const x of [rand([2], 1, 1, 2), rand([2], 2, 20, 30)]) {
      let s = toTf(x);
      do s = tf.mul(s, 3); while (tf.max(s).dataSync()[0]! < 10);
      expectClose(f(x), s);
    }
    expect(f.traceCount).toBe(1);
  });

  it('maximumIterations bounds converted loops, and the gradient flows through converted control flow', () => {
    const body = (x: kiln.Tensor) => {
      let s = x;
      while (k.less(k.sum(s), 10)) s = k.mul(s, 1.5);
      return k.greater(k.sum(x), 0) ? k.sum(k.square(s)) : k.sum(s);
    };
    const f = kiln.fn(body, { scope, maximumIterations: 50 });
    const g = kiln.grad((x: kiln.Tensor) => f(x));
    for (const x of [rand([3], 1, 0.5, 1), rand([3], 2, -1, -0.5)]) {
      // Oracle: tf.grads of the same function with its conditions read on the host.
      const tfBody = (tx: tf.Tensor): tf.Scalar => {
        let s = tx;
        let steps = 0;
        while (sumOf(s) < 10 && steps++ < 50) s = tf.mul(s, 1.5);
        return (sumOf(tx) > 0 ? tf.sum(tf.square(s)) : tf.sum(s)) as tf.Scalar;
      };
      const [dx] = tf.grads((tx: tf.Tensor) => tfBody(tx))([toTf(x)]);
      expectClose(f(x), tfBody(toTf(x)), 1e-4);
      expectClose(g(x), dx!, 1e-4);
    }
  });
});

describe('plain JS conditions run at trace time, as in TensorFlow', () => {
  it('a loop and an if on JS numbers unroll; no cond or while in the IR', () => {
    const f = kiln.fn((x: kiln.Tensor, n: number) => {
      let y = x;
      for (let i = 0; i < n; i++) y = k.add(y, i);
      if (n > 2) y = k.mul(y, 2);
      return y.shape.length === 1 ? y : k.neg(y);
    }, { scope });
    const x = rand([3], 4);
    for (const n of [1, 4]) {
      let y = toTf(x);
      for (let i = 0; i < n; i++) y = tf.add(y, i);
      if (n > 2) y = tf.mul(y, 2);
      expectClose(f(x, n), y);
      const text = printFunc(f.ir(x, n));
      expect(opsIn(text, 'cond') + opsIn(text, 'while')).toBe(0);
      expect(opsIn(text, 'add')).toBe(n);
    }
  });

  it('a concrete tensor condition (a constant under the trace) is read at trace time', () => {
    const f = kiln.fn((x: kiln.Tensor, flag: number) => {
      let y = x;
      if (k.greater(k.scalar(flag), 0)) y = k.exp(y);
      return y;
    }, { scope });
    const x = rand([3], 2);
    expectClose(f(x, 1), tf.exp(toTf(x)));
    expectClose(f(x, -1), toTf(x));
    expect(opsIn(printFunc(f.ir(x, 1)), 'cond')).toBe(0);
  });

  it('a function without control flow is not rewritten (no parse), and autograph: false traces as written', () => {
    const before = autographRewrites();
    const f = kiln.fn((x: kiln.Tensor) => k.add(x, 1));
    f(rand([2]));
    const g = kiln.fn((x: kiln.Tensor) => (x.rank > 0 ? k.add(x, 1) : x), { autograph: false });
    g(rand([2]));
    expect(autographRewrites()).toBe(before);
  });
});

describe('caching', () => {
  it('the source transform runs once per function, across signatures and fn wrappers', () => {
    const body = (x: kiln.Tensor) => (k.greater(k.sum(x), 0) ? x : k.neg(x));
    const before = autographRewrites();
    const f = kiln.fn(body, { scope });
    f(rand([2], 1));
    f(rand([3], 2)); // a new signature: traced again, not rewritten again
    expect(f.traceCount).toBe(2);
    kiln.fn(body, { scope, name: 'again' })(rand([2], 3));
    expect(autographRewrites()).toBe(before + 1);
    expect(kiln.autograph.toCode(body)).toContain('ag__.ifExp(');
    expect(kiln.autograph.rewriteCount()).toBe(autographRewrites());
  });
});

describe('errors name the construct and the line', () => {
  const x = rand([3], 1);

  it('an unresolved closure variable is listed with its line, with the fix', () => {
    const W = k.ones([3]);
    const f = kiln.fn((v: kiln.Tensor) => {
      const y = k.mul(v, W);
      return k.greater(k.sum(y), 0) ? y : k.neg(y);
    }, { scope });
    expect(() => f(x)).toThrow(KilnError);
    expect(() => f(x)).toThrow(/W \(line 2: `const y = k\.mul\(v, W\);`\).*Pass them in kiln\.fn\(f, \{scope: \{\.\.\.\}\}\).*kiln\.cond/);
    const ok = kiln.fn((v: kiln.Tensor) => {
      const y = k.mul(v, W);
      return k.greater(k.sum(y), 0) ? y : k.neg(y);
    }, { scope: { k, W } });
    expectClose(ok(x), sumOf(toTf(x)) > 0 ? toTf(x) : tf.neg(toTf(x)));
  });

  it('a break inside try in a tensor loop names the loop, the line and try', () => {
    const f = kiln.fn((v: kiln.Tensor) => {
      let s = v;
      while (k.less(k.sum(s), 10)) {
        try {
          s = k.add(s, 1);
          if (k.greater(k.max(s), 5)) break;
        } finally {
          s = k.mul(s, 1);
        }
      }
      return s;
    }, { scope });
    expect(() => f(x)).toThrow(/the while loop at line 3 of '.*' \(`while \(k\.less\(k\.sum\(s\), 10\)\) \{`\).*`break` inside a `try` statement \(line 6\).*kiln\.whileLoop/);
  });

  it('a labelled break out of a tensor loop, and a return in only one branch inside a loop', () => {
    const labelled = kiln.fn((v: kiln.Tensor) => {
      let s = v;
      outer: for (let i = 0; i < 3; i++) {
        while (k.less(k.sum(s), 10)) {
          s = k.add(s, 1);
          if (i === 1) break outer;
        }
      }
      return s;
    }, { scope });
    expect(() => labelled(x)).toThrow(/while loop at line 4.*labelled `break outer;` \(line 6\)/);
    const oneBranch = kiln.fn((v: kiln.Tensor) => {
      for (const j of [1, 2]) {
        if (k.greater(k.sum(v), j)) return v;
      }
      return k.neg(v);
    }, { scope });
    expect(() => oneBranch(x)).toThrow(/the if at line 3 .*`return` \(line 3\) but not in the supported form/);
  });

  it('a variable both branches set to the same JS value keeps it', () => {
    const f = kiln.fn((v: kiln.Tensor) => {
      let mode = 'none';
      let y = v;
      if (k.greater(k.sum(v), 0)) { mode = 'scaled'; y = k.mul(v, 2); } else { mode = 'scaled'; y = k.mul(v, -2); }
      let tag = 'x';
      if (k.greater(k.sum(v), 100)) tag = 'x';
      return mode === 'scaled' && tag === 'x' ? y : v;
    }, { scope });
    for (const v of [rand([3], 1, 0, 1), rand([3], 2, -1, 0)]) expectClose(f(v), tf.mul(toTf(v), sumOf(toTf(v)) > 0 ? 2 : -2));
  });

  it('a var declared in tensor-conditioned branches is an output of the cond', () => {
    const f = kiln.fn((v: kiln.Tensor) => {
      if (k.greater(k.sum(v), 0)) { var y = k.exp(v); } else { var y = k.neg(v); }
      return y;
    }, { scope });
    for (const v of [rand([3], 1, 0, 1), rand([3], 2, -1, 0)]) expectClose(f(v), sumOf(toTf(v)) > 0 ? tf.exp(toTf(v)) : tf.neg(toTf(v)));
    expect(f.traceCount).toBe(1);
  });

  it('a variable assigned in one branch only and used after it', () => {
    const f = kiln.fn((v: kiln.Tensor) => {
      let y;
      if (k.greater(k.sum(v), 0)) y = k.exp(v);
      return y!;
    }, { scope });
    expect(() => f(x)).toThrow(/the if at line 3 .*variable 'y' is read after the if but has no value at the end of its else branch/);
  });

  it('a tensor of several elements as a condition', () => {
    const f = kiln.fn((v: kiln.Tensor) => (k.greater(v, 0) ? v : k.neg(v)), { scope });
    expect(() => f(x)).toThrow(/conditional expression \(\?:\) at line 1 .*a tensor condition must have one element/);
  });

  it('bound functions, generators and async functions are refused; unknown options are named', () => {
    const body = function (this: unknown, v: kiln.Tensor) { return k.greater(k.sum(v), 0) ? v : k.neg(v); };
    expect(() => kiln.fn(body.bind(null), { scope })(x)).toThrow(/bound function \(made by \.bind\).*kiln\.cond \/ kiln\.whileLoop \/ kiln\.scan/);
    expect(() => kiln.fn(Math.abs as never)(x)).toThrow(/AutoGraph cannot convert 'abs': it is a native function/);
    const gen = function* (v: kiln.Tensor) { if (v) yield v; };
    expect(() => kiln.fn(gen as never, { scope })(x)).toThrow(/generator function/);
    expect(() => kiln.fn(body, { autograf: false } as never)).toThrow(/unknown option 'autograf' \(did you mean 'autograph'\?\)/);
    expect(() => kiln.fn(body, { scope: [k] } as never)).toThrow(/scope must be a plain object/);
  });
});

describe('a layer\'s call', () => {
  class Gate extends Layer {
    static override className = 'AutographGate';
    static override autograph = { scope: { k } };
    call(inputs: kiln.Tensor | kiln.Tensor[]): kiln.Tensor {
      const v = Array.isArray(inputs) ? inputs[0]! : inputs;
      if (k.greater(k.mean(v), 0)) return k.relu(v);
      return k.mul(v, -2);
    }
  }

  it('is converted when traced (static autograph), and runs as written eagerly', () => {
    const layer = new Gate();
    const f = kiln.fn((v: kiln.Tensor) => layer.apply(v) as kiln.Tensor);
    for (const v of [rand([2, 3], 1, 0.1, 1), rand([2, 3], 2, -1, -0.1)]) {
      const tv = toTf(v);
      expectClose(f(v), sumOf(tv) > 0 ? tf.relu(tv) : tf.mul(tv, -2));
    }
    expect(f.traceCount).toBe(1);
    expect(opsIn(irText(f, rand([2, 3])), 'cond')).toBe(1);
  });

  it('a call that uses super is refused by name (the rewritten method runs outside its class)', () => {
    class Sub extends Gate {
      static override className = 'AutographGateSub';
      override call(inputs: kiln.Tensor | kiln.Tensor[]): kiln.Tensor {
        const y = super.call(inputs);
        return k.greater(k.sum(y), 1) ? y : k.neg(y);
      }
    }
    const layer = new Sub();
    expect(() => kiln.fn((v: kiln.Tensor) => layer.apply(v) as kiln.Tensor)(rand([2]))).toThrow(/AutoGraph cannot convert 'AutographGateSub '.*': it uses `super` \(line 2\)/);
    class Plain extends Gate {
      static override className = 'AutographGatePlain';
      override call(inputs: kiln.Tensor | kiln.Tensor[]): kiln.Tensor {
        return Array.isArray(inputs) ? super.call(inputs[0]!) : k.neg(super.call(inputs)); // no tensor condition: runs as written
      }
    }
    const v = rand([2, 3], 4, 0.1, 1);
    expectClose(kiln.fn((x: kiln.Tensor) => new Plain().apply(x) as kiln.Tensor)(v), tf.neg(tf.relu(toTf(v))));
  });

  it('an unknown key in static autograph is refused', () => {
    class Bad extends Gate {
      static override autograph = { scopes: {} } as never;
    }
    const layer = new Bad();
    expect(() => kiln.fn((v: kiln.Tensor) => layer.apply(v) as kiln.Tensor)(rand([2]))).toThrow(/static autograph: unknown key 'scopes' \(did you mean 'scope'\?\)/);
  });
});

describe('on JS values the converted function is the original', () => {
  // Tricky plain-JS control flow: the converted twin (run directly, no trace) must agree with the
  // original on every input. Conditions are made dynamic (identifiers, calls) so everything converts.
  const isOdd = (i: number) => i % 2 === 1;
  const fns: ((n: number) => unknown)[] = [
    (n) => { let s = 0; for (let i = 0; i < n; i++) { if (isOdd(i)) continue; if (s > 20) break; s += i; } return s; },
    (n) => { let s = 0; let i = 0; while (i < n) { i++; if (isOdd(i)) { s -= 1; continue; } else if (i > 7) { break; } s = s * 2 + i; } return [s, i]; },
    (n) => { let out = ''; outer: for (let i = 0; i < 4; i++) { for (let j = 0; j < 4; j++) { if (j === n) continue outer; if (i + j > n + 2) break outer; out += `${i}${j},`; } } return out; },
    (n) => { if (isOdd(n)) return n > 5 ? 'big odd' : 'small odd'; const h = n / 2; if (h) { return h; } return 'zero'; },
    (n) => { let k = n; do { k -= 3; if (isOdd(k)) continue; k -= 1; } while (k > 0); return k; },
    (n) => { let r = 0; switch (n % 3) { case 0: r = 10; break; case 1: { for (let i = 0; i < n; i++) { if (isOdd(i)) continue; r += i; } break; } default: r = -1; } return r; },
    (n) => { const xs = [1, 2, 3, n]; let t = 0; for (const x of xs) { if (isOdd(x)) continue; t += x; } return t && n ? t : -t; },
    (n) => { let a = n, b = 1; while (a && b < 100) { b = b * (a % 4 || 2); a = a - 1; } return !a || !isOdd(b) ? b : -b; },
    (n) => { let i = 0; let acc = 0; for (; i < n; i += 2) { acc += i ** 2 % 7; } return [i, acc, -acc, i++ + ++i]; },
    (n) => { const o = { v: 1 }; const fs: (() => number)[] = []; for (let i = 0; i < n; i++) { o.v += i; fs.push(() => (isOdd(i) ? -i : i)); } return [o.v, fs.map((g) => g())]; },
    (n) => { let e = 'none'; for (let i = 0; i < n; i++) { try { if (isOdd(i)) throw new Error(`x${i}`); e = 'ok'; } catch (err) { e = (err as Error).message; } } return e; },
    (n) => { const fact = function f(m: number): number { return m ? m * f(m - 1) : 1; }; return isOdd(n) ? fact(n) : n < 4 ? fact(n + 1) : -fact(n); },
    (n) => { if (isOdd(n)) { if (n > 4) return 'a'; return 'b'; } else if (n) { return n > 3 ? (n > 8 ? 'c' : 'd') : 'e'; } return 'f'; },
    (n) => { let x = n; if (!isOdd(x) && !(x > 4)) x = -x; else if (isOdd(x) || x === 6) x *= 10; return x; },
    (n) => { if (isOdd(n)) { var y = n * 2, z: number | undefined; } else { var { y, z } = { y: -n, z: 1 as number | undefined }; } for (var i = 0, q = 0; i < n; i++) q += y; return [y, z, i, q]; },
  ];
  it('a method keeps its this', () => {
    const obj = { base: 5, m(n: number) { let t = this.base; while (isOdd(t) && t < n) t += 2; return t > 8 ? t : -t; } };
    const g = convert(obj.m, { name: 'm', strict: true, scope: { isOdd } });
    for (const n of [0, 7, 12]) expect(g.call(obj, n)).toBe(obj.m(n));
  });

  it.each(fns.map((f, i) => [i, f] as const))('function %i', (_, f) => {
    const g = convert(f, { name: `js${_}`, strict: true, scope: { isOdd } });
    expect(g).not.toBe(f);
    for (const n of [0, 1, 2, 3, 5, 6, 9, 12]) expect(g(n)).toEqual(f(n));
  });
});
