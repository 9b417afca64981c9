import { beforeAll, describe, expect, it } from 'vitest';
import { interpret } from '../ir/interpreter.js';
import { literal } from '../ir/literal.js';
import { KilnError, tensorType } from '../ir/types.js';
import * as k from './index.js';
import { expectClose, rand, tf, toTf, useCpu } from './test_util.js';

beforeAll(useCpu);

describe('fn: per-signature trace cache', () => {
  it('traces once per signature and retraces on a new shape', () => {
    let bodyRuns = 0;
    const f = k.fn((x: k.Tensor, y: k.Tensor) => {
      bodyRuns++;
      return k.add(k.mul(x, y), 1);
    });
    const a = rand([2, 3], 1), b = rand([3], 2);
    const ref = tf.add(tf.mul(toTf(a), toTf(b)), 1);
    expectClose(f(a, b), ref);
    expectClose(f(a, b), ref);
    expectClose(f(rand([2, 3], 3), b), tf.add(tf.mul(toTf(rand([2, 3], 3)), toTf(b)), 1));
    expect(f.traceCount).toBe(1);
    expect(bodyRuns).toBe(1);
    const c = rand([4, 3], 4);
    expectClose(f(c, b), tf.add(tf.mul(toTf(c), toTf(b)), 1));
    expect(f.traceCount).toBe(2);
    expect(f.signatures()).toEqual(['(f32[2,3], f32[3])', '(f32[4,3], f32[3])']);
    f(k.tensor([1, 2, 3], [3], 'i32'), k.tensor([1, 2, 3], [3], 'i32'));
    expect(f.traceCount).toBe(3);
  });

  it('static number arguments are part of the signature', () => {
    const f = k.fn((x: k.Tensor, p: number) => k.mul(x, p));
    const x = k.tensor([1, 2]);
    expect(f(x, 2).arraySync()).toEqual([2, 4]);
    expect(f(x, 2).arraySync()).toEqual([2, 4]);
    expect(f.traceCount).toBe(1);
    expect(f(x, 3).arraySync()).toEqual([3, 6]);
    expect(f.traceCount).toBe(2);
  });

  it('returns the same structure: single, array, record', () => {
    const x = rand([2, 2], 5);
    const single = k.fn((t: k.Tensor) => k.neg(t));
    expect(single(x)).toBeInstanceOf(k.Tensor);
    const arr = k.fn((t: k.Tensor) => [k.neg(t), k.abs(t)]);
    const [n, a] = arr(x);
    expectClose(n!, tf.neg(toTf(x)));
    expectClose(a!, tf.abs(toTf(x)));
    const rec = k.fn((t: k.Tensor) => ({ total: k.sum(t), biggest: k.max(t) }));
    const r = rec(x);
    expect(Object.keys(r)).toEqual(['total', 'biggest']);
    expectClose(r.total, tf.sum(toTf(x)));
    expectClose(r.biggest, tf.max(toTf(x)));
    expect(rec.ir(x).resultNames).toEqual(['total', 'biggest']);
    expect(arr.ir(x).resultNames).toEqual(['out0', 'out1']);
  });

  it('accepts tensors inside arrays and records as arguments', () => {
    const f = k.fn((xs: k.Tensor[], o: { s: k.Tensor }) => k.add(k.add(xs[0]!, xs[1]!), o.s));
    const out = f([k.tensor([1, 2]), k.tensor([10, 20])], { s: k.scalar(100) });
    expect(out.arraySync()).toEqual([111, 122]);
    expect(f.ir([k.tensor([1, 2]), k.tensor([10, 20])], { s: k.scalar(100) }).params.length).toBe(3);
  });

  it('ir() traces without running and the Func interprets to the same result', () => {
    const f = k.fn((x: k.Tensor) => k.softmax(x), { name: 'sm' });
    const x = rand([3, 5], 6);
    const func = f.ir(x);
    expect(func.name).toBe('sm');
    expect(f.traceCount).toBe(1);
    const [y] = interpret(func, [x.literal!]);
    expectClose(k.Tensor.concrete(y!), tf.softmax(toTf(x)));
    f(x);
    expect(f.traceCount).toBe(1);
  });

  it('an fn called inside another trace is inlined', () => {
    const inner = k.fn((x: k.Tensor) => k.mul(x, 3));
    const outer = k.fn((x: k.Tensor) => k.add(inner(x), 1));
    const x = k.tensor([1, 2]);
    expect(outer(x).arraySync()).toEqual([4, 7]);
    expect(inner.traceCount).toBe(0);
    expect(outer.ir(x).body.some((v) => v.op === 'mul')).toBe(true);
  });

  it('concrete tensors used in a trace are captured as constants, once each', () => {
    const w = rand([3, 2], 7);
    const f = k.fn((x: k.Tensor) => k.add(k.matmul(x, w), k.sum(w)));
    const x = rand([4, 3], 8);
    expectClose(f(x), tf.add(tf.matMul(toTf(x), toTf(w)), tf.sum(toTf(w))));
    const func = f.ir(x);
    expect(func.params.length).toBe(1);
    // sum(w) is concrete, so it was computed eagerly and captured too.
    const consts = func.body.filter((v) => v.op === 'constant');
    expect(consts.filter((v) => v.type.shape.length === 2 && v.type.shape[0] === 3).length).toBe(1);
  });

  it('returning an argument or a constant works', () => {
    const f = k.fn((x: k.Tensor) => [x, k.tensor([5])]);
    const [a, b] = f(k.tensor([1, 2]));
    expect(a!.arraySync()).toEqual([1, 2]);
    expect(b!.arraySync()).toEqual([5]);
  });

  it('rejects bad return values', () => {
    const f = k.fn((() => 3) as unknown as (x: k.Tensor) => k.Tensor, { name: 'bad' });
    expect(() => f(k.tensor([1]))).toThrow(/fn 'bad' must return a Tensor, an array of Tensors or a record of Tensors; got number 3/);
  });
});

describe('symbolic tensors', () => {
  it('reading a symbolic value throws an explanatory error', () => {
    const reads: [string, (t: k.Tensor) => unknown][] = [
      ['dataSync', (t) => t.dataSync()], ['arraySync', (t) => t.arraySync()], ['item', (t) => t.item()],
      ['toString', (t) => t.toString()], ['plus', (t) => +(t as unknown as number)],
      ['compare', (t) => (t as unknown as number) > 0], ['valueOf', (t) => t.valueOf()],
    ];
    for (const [label, read] of reads) {
      const f = k.fn((x: k.Tensor) => {
        read(x);
        return x;
      }, { name: 'reader' });
      let err: unknown;
      try {
        f(k.scalar(1));
      } catch (e) {
        err = e;
      }
      expect(err, label).toBeInstanceOf(KilnError);
      const msg = (err as Error).message;
      expect(msg).toContain("symbolic because fn 'reader' is tracing");
      expect(msg).toContain('its value does not exist until the compiled program runs');
      expect(msg).toContain('kiln.where');
      expect(msg).toContain('return the tensor from the function and read it after the call');
    }
  });

  it('data() rejects on a symbolic tensor', async () => {
    let pending: Promise<unknown> | undefined;
    k.trace((x) => {
      pending = x.data();
      return x;
    }, [tensorType([2], 'f32')]);
    await expect(pending).rejects.toThrow(/symbolic/);
  });

  it('a symbolic tensor that escapes its trace cannot be used later', () => {
    let leaked: k.Tensor | undefined;
    const f = k.fn((x: k.Tensor) => {
      leaked = k.mul(x, 2);
      return x;
    });
    f(k.tensor([1]));
    expect(() => k.add(leaked!, 1)).toThrow(/escaped from its trace/);
    expect(() => leaked!.dataSync()).toThrow(/already finished/);
  });

  it('concrete tensors convert to numbers', () => {
    const s = k.scalar(3);
    expect(+(s as unknown as number)).toBe(3);
    expect((s as unknown as number) > 2).toBe(true);
    expect(() => +(k.tensor([1, 2]) as unknown as number)).toThrow(/only a one-element tensor converts to a number/);
  });
});

describe('trace', () => {
  it('builds a Func with params, named results and the output structure', () => {
    const r = k.trace((x, y) => ({ prod: k.matmul(x!, y!), s: k.sum(x!, 1) }), [tensorType([2, 3], 'f32'), tensorType([3, 4], 'f32')], {
      name: 'pair', argNames: ['x', 'y'],
    });
    expect(r.func.name).toBe('pair');
    expect(r.func.params.map((p) => p.name)).toEqual(['x', 'y']);
    expect(r.func.resultNames).toEqual(['prod', 's']);
    expect(r.outputNames).toEqual(['prod', 's']);
    expect(r.outputs.prod.isSymbolic).toBe(true);
    expect(r.outputs.prod.shape).toEqual([2, 4]);
    const x = rand([2, 3], 1), y = rand([3, 4], 2);
    const outs = interpret(r.func, [x.literal!, y.literal!]).map((l) => k.Tensor.concrete(l));
    const rebuilt = r.unflatten(outs);
    expectClose(rebuilt.prod, tf.matMul(toTf(x), toTf(y)));
    expectClose(rebuilt.s, tf.sum(toTf(x), 1));
  });

  it('an explicit inner trace cannot close over the outer trace’s tensors', () => {
    expect(() => k.trace((x) => {
      k.trace(() => k.add(x!, 1), [], { name: 'inner' });
      return x!;
    }, [tensorType([2], 'f32')], { name: 'outer' })).toThrow(/from the enclosing trace 'outer' was used while tracing 'inner'/);
  });
});

describe('variables', () => {
  it('are captured as constants by default and bound as parameters on request', () => {
    const w = k.variable(k.tensor([1, 2, 3]), { name: 'w' });
    expect(w.trainable).toBe(true);
    const captured = k.trace((x) => k.mul(x!, w.read()), [tensorType([3], 'f32')]);
    expect(captured.func.params.length).toBe(1);
    expect(captured.capturedVariables).toEqual([w]);
    const bound = k.trace((x) => k.mul(x!, w.read()), [tensorType([3], 'f32')], { variables: [w] });
    expect(bound.func.params.map((p) => p.name)).toEqual(['arg0', 'w']);
    expect(bound.func.body.some((v) => v.op === 'constant')).toBe(false);
    const x = k.tensor([2, 2, 2]);
    const [y] = interpret(bound.func, [x.literal!, literal([3], 'f32', [5, 6, 7])]);
    expect(Array.from(y!.data)).toEqual([10, 12, 14]);
  });

  it('read() outside a trace is the concrete value; assign checks type', () => {
    const v = k.variable([1, 2]);
    expect(v.read().arraySync()).toEqual([1, 2]);
    v.assign(k.tensor([3, 4]));
    expect(v.read().arraySync()).toEqual([3, 4]);
    expect(() => v.assign(k.tensor([1, 2, 3]))).toThrow(/assign: value f32\[3\] does not match the variable's f32\[2\]/);
  });

  it('fn retraces when a captured variable was assigned', () => {
    const w = k.variable(k.scalar(2));
    const f = k.fn((x: k.Tensor) => k.mul(x, w.read()));
    expect(f(k.tensor([1, 2])).arraySync()).toEqual([2, 4]);
    expect(f(k.tensor([1, 2])).arraySync()).toEqual([2, 4]);
    expect(f.traceCount).toBe(1);
    w.assign(k.scalar(10));
    expect(f(k.tensor([1, 2])).arraySync()).toEqual([10, 20]);
    expect(f.traceCount).toBe(2);
  });

  it('bound variables are fed each call and assign() updates them through aliased outputs', () => {
    const acc = k.variable(k.tensor([0, 0]), { name: 'acc' });
    const step = k.fn((x: k.Tensor) => {
      const next = k.add(acc.read(), x);
      acc.assign(next);
      return k.sum(next);
    }, { variables: [acc] });
    expect(step(k.tensor([1, 2])).item()).toBe(3);
    expect(step(k.tensor([1, 2])).item()).toBe(6);
    expect(acc.value.arraySync()).toEqual([2, 4]);
    expect(step.traceCount).toBe(1);
    const func = step.ir(k.tensor([1, 2]));
    expect(func.aliases).toEqual([{ result: 1, param: 1 }]);
    expect(func.resultNames).toEqual(['out0', 'acc']);
  });

  it('fn binds a variable it assigns (tf.function semantics); trace without the binding explains what to do', () => {
    const v = k.variable(k.tensor([1]), { name: 'state' });
    const f = k.fn((x: k.Tensor) => {
      v.assign(k.add(v.read(), x));
      return x;
    });
    f(k.tensor([5]));
    f(k.tensor([7]));
    expect(Array.from(v.value.dataSync())).toEqual([13]);
    expect(f.traceCount).toBe(1);
    expect(f.ir(k.tensor([1])).aliases).toEqual([{ result: 1, param: 1 }]);
    expect(() => k.trace((x: k.Tensor) => {
      v.assign(x);
      return x;
    }, [tensorType([1], 'f32')])).toThrow(/variable 'state'.assign: .*captured the variable as a constant; bind it/);
  });
});
