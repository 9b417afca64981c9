import { describe, expect, test } from 'vitest';
import { Builder } from '../ir/builder.js';
import type { Func, Value } from '../ir/function.js';
import { interpret } from '../ir/interpreter.js';
import { literal, type Literal } from '../ir/literal.js';
import { tensorType, type TensorType } from '../ir/types.js';
import { compile, compileEntries } from '../compile.js';
import * as kiln from '../frontend/index.js';
import { load } from '../runtime/index.js';
import { readArtifact } from '../runtime/artifact.js';
import { firstMismatch } from './wasm/test_util.js';
import { describeArtifact } from '../cli/inspect.js';
import { loadCuda, type CudaDriver } from '../runtime/cuda/index.js';
import { parsePtx, runKernel } from './cuda/ptx_sim.js';
import { assemblePtx, findPtxas } from './cuda/ptxas.js';
import '../ir/ops/index.js';

/**
 * Compiled control flow: functions with cond, while and scan compile to artifacts whose schedule
 * holds loop and branch entries (not unrolled kernels), and running them in the runtime gives the
 * interpreter's results (the oracle: it evaluates regions directly), on 1 and 2 threads.
 */

const f32 = (...shape: number[]) => tensorType(shape, 'f32');
const i32 = (...shape: number[]) => tensorType(shape, 'i32');
const bool = () => tensorType([], 'bool');

function region(name: string, types: readonly TensorType[], body: (b: Builder, ps: Value[]) => Value[]): Func {
  const b = new Builder(name);
  const ps = types.map((t, i) => b.param(t, `p${i}`));
  return b.build(body(b, ps));
}

const lit = (t: TensorType, f: (i: number) => number): Literal => {
  const l = literal(t.shape, t.dtype);
  for (let i = 0; i < l.data.length; i++) l.data[i] = f(i);
  return l;
};

/** Compiles fn, runs it at 1 and 2 threads, and expects the interpreter's outputs. */
async function expectLikeInterpreter(fn: Func, inputs: readonly Literal[]): Promise<ReturnType<typeof compile>> {
  const want = interpret(fn, inputs);
  const art = compile(fn);
  for (const threads of [1, 2]) {
    const prog = await load(art.bytes, { threads });
    try {
      const feed: Record<string, Literal['data']> = {};
      fn.params.forEach((_, i) => { feed[art.manifest.inputs[i]!.name] = inputs[i]!.data; });
      const got = prog.runSync(feed);
      want.forEach((w, i) => {
        const name = art.manifest.outputs[i]!.name;
        expect(firstMismatch(`${name} (threads ${threads})`, got[name] as ArrayLike<number>, w.data)).toBeUndefined();
      });
    } finally {
      prog.dispose();
    }
  }
  return art;
}

/** while (i < n) { i += 1; x = x * 0.5 + 1 }: a data-dependent trip count. */
function whileFunc(n: number, max = -1): Func {
  const b = new Builder('loop');
  const x = b.param(f32(1000), 'x');
  const nn = b.param(i32(), 'n');
  const zero = b.scalar(0, 'i32');
  const cond = region('cond', [i32(), f32(1000), i32()], (r, [i, , m]) => [r.op('compare', [i!, m!], { dir: 'lt' })]);
  const body = region('body', [i32(), f32(1000), i32()], (r, [i, y, m]) => [
    r.op('add', [i!, r.scalar(1, 'i32')]), r.op('add', [r.op('mul', [y!, r.full(0.5, f32(1000))]), r.full(1, f32(1000))]), m!,
  ]);
  void n;
  const w = b.op('while', [zero, x, nn], max >= 0 ? { max_iterations: max } : {}, [cond, body]);
  return b.build([b.op('get_result', [w], { index: 1 }), b.op('get_result', [w], { index: 0 })], ['y', 'iters']);
}

const kernelNames = (bytes: Uint8Array) => readArtifact(bytes).manifest.kernels.map((k) => k.name);
const schedule = (bytes: Uint8Array) => JSON.stringify(readArtifact(bytes).manifest.schedule);

describe('compiled control flow equals the interpreter', () => {
  test('while with a data-dependent trip count (0, 1 and 7 iterations) and with max_iterations', async () => {
    for (const n of [0, 1, 7]) {
      const fn = whileFunc(n);
      const art = await expectLikeInterpreter(fn, [lit(f32(1000), (i) => i * 0.01 - 3), lit(i32(), () => n)]);
      expect(schedule(art.bytes)).toMatch(/"loop":\{"head":\[\d+\],"flag":\{"offset":\d+,"dtype":"bool"\}/);
      expect(readArtifact(art.bytes).manifest.version).toBe(4);
      // Both new values are computed elementwise from the old ones: written in place, no copy per iteration.
      expect(kernelNames(art.bytes).filter((k) => k.includes('_carry'))).toEqual([]);
    }
    await expectLikeInterpreter(whileFunc(9, 4), [lit(f32(1000), (i) => i), lit(i32(), () => 9)]);
  });

  test('scan forward, reversed, along axis 1, and with a matmul RNN step (carries and stacked outputs)', async () => {
    for (const [reverse, axis] of [[false, 0], [true, 0], [false, 1], [true, 1]] as const) {
      const xs = axis === 0 ? f32(5, 3, 4) : f32(3, 5, 4);
      const b = new Builder('scan');
      const c0 = b.param(f32(3, 4), 'c0');
      const x = b.param(xs, 'x');
      const body = region('step', [f32(3, 4), f32(3, 4)], (r, [c, xt]) => {
        const nc = r.op('tanh', [r.op('add', [r.op('mul', [c!, xt!]), r.full(0.5, f32(3, 4))])]);
        return [nc, r.op('add', [nc, xt!]), r.op('reduce', [xt!], { op: 'sum', axes: [1] })];
      });
      const s = b.op('scan', [c0, x], { carries: 1, length: 5, reverse, axis }, [body]);
      const fn = b.build([0, 1, 2].map((index) => b.op('get_result', [s], { index })), ['c', 'ys', 'sums']);
      const art = await expectLikeInterpreter(fn, [lit(f32(3, 4), (i) => 0.1 * i - 0.5), lit(xs, (i) => Math.sin(i))]);
      expect(schedule(art.bytes)).toMatch(/"loop":\{"count":5,"body":/);
      // The fused kernel recomputes the new carry for the per-step output after storing it: not in place.
      expect(kernelNames(art.bytes).filter((k) => k.includes('_carry'))).toHaveLength(1);
    }
    // h = tanh(x_t W + h U + b): dot_general kernels inside the loop body, weights as constants.
    const T = 6, B = 2, I = 8, H = 16;
    const b = new Builder('rnn');
    const h0 = b.param(f32(B, H), 'h0');
    const x = b.param(f32(T, B, I), 'x');
    const W = b.constant(lit(f32(I, H), (i) => Math.cos(i) * 0.3));
    const U = b.constant(lit(f32(H, H), (i) => Math.sin(i * 1.7) * 0.2));
    const body = region('cell', [f32(B, H), f32(I, H), f32(H, H), f32(B, I)], (r, [h, w, u, xt]) => {
      const dot = (a: Value, m: Value, n: number) => r.op('dot_general', [a, m], { lhs_batch: [], rhs_batch: [], lhs_contract: [1], rhs_contract: [0] });
      const nh = r.op('tanh', [r.op('add', [dot(xt!, w!, H), dot(h!, u!, H)])]);
      return [nh, w!, u!, nh];
    });
    const s = b.op('scan', [h0, W, U, x], { carries: 3, length: T }, [body]);
    const fn = b.build([b.op('get_result', [s], { index: 0 }), b.op('get_result', [s], { index: 3 })], ['h', 'hs']);
    const rnn = await expectLikeInterpreter(fn, [lit(f32(B, H), () => 0), lit(f32(T, B, I), (i) => Math.sin(i * 0.3))]);
    // h U reads the old h as a GEMM operand while the new h is written: that one is copied back.
    expect(kernelNames(rnn.bytes).filter((k) => k.includes('_carry'))).toEqual([expect.stringMatching(/_carry0$/)]);
  });

  test('short elementwise scans unroll (fusion merges the steps), longer ones loop; explain() says which and why', async () => {
    const make = (length: number) => {
      const b = new Builder(`scan${length}`);
      const c0 = b.param(f32(64), 'c0');
      const x = b.param(f32(length, 64), 'x');
      const body = region('step', [f32(64), f32(64)], (r, [c, xt]) => { const nc = r.op('add', [r.op('mul', [c!, xt!]), r.full(0.25, f32(64))]); return [nc, r.op('exp', [nc])]; });
      const s = b.op('scan', [c0, x], { carries: 1, length, reverse: true }, [body]);
      return b.build([b.op('get_result', [s], { index: 0 }), b.op('get_result', [s], { index: 1 })], ['c', 'ys']);
    };
    const short = await expectLikeInterpreter(make(3), [lit(f32(64), (i) => i * 0.01), lit(f32(3, 64), (i) => Math.cos(i))]);
    // Along axis 1, with a reduction in the body: unrolled too.
    {
      const b = new Builder('scan_axis1');
      const c0 = b.param(f32(5), 'c0');
      const x = b.param(f32(5, 2, 7), 'x');
      const body = region('step', [f32(5), f32(5, 7)], (r, [c, xt]) => {
        const nc = r.op('add', [c!, r.op('reduce', [xt!], { op: 'max', axes: [1] })]);
        return [nc, r.op('mul', [xt!, r.op('broadcast_in_dim', [nc], { shape: [5, 7], dims: [0] })])];
      });
      const sc = b.op('scan', [c0, x], { carries: 1, length: 2, axis: 1 }, [body]);
      const fn = b.build([b.op('get_result', [sc], { index: 0 }), b.op('get_result', [sc], { index: 1 })], ['c', 'ys']);
      const art = await expectLikeInterpreter(fn, [lit(f32(5), (i) => i), lit(f32(5, 2, 7), (i) => Math.sin(i * 1.3))]);
      expect(art.explain()).toMatch(/scan %\d+: unrolled \(2 steps/);
    }
    expect(schedule(short.bytes)).not.toMatch(/loop/);
    expect(short.explain()).toMatch(/control flow:\n  scan %\d+: unrolled \(3 steps <= 4, body of elementwise\/movement\/reduction ops/);
    const long = await expectLikeInterpreter(make(9), [lit(f32(64), (i) => i * 0.01), lit(f32(9, 64), (i) => Math.cos(i))]);
    expect(schedule(long.bytes)).toMatch(/"loop":\{"count":9/);
    expect(long.explain()).toMatch(/control flow:\n  scan %\d+: loop entry of 9 steps \(only 1 to 4 steps are unrolled/);
    expect(long.explain()).toMatch(/\nregion 0 of scan %\d+:\n  fusion plan for @step/);
    // Unrolled, the whole 3-step scan is fewer kernels than one step of the loop.
    const loopKernels = readArtifact(long.bytes).manifest.kernels.length;
    expect(readArtifact(short.bytes).manifest.kernels.length).toBeLessThan(loopKernels);
  });

  test('cond takes either branch from a data-dependent predicate; a branch may return its operand unchanged', async () => {
    const b = new Builder('branchy');
    const x = b.param(f32(300), 'x');
    const y = b.param(f32(300), 'y');
    const pred = b.op('compare', [b.op('reduce', [x], { op: 'sum', axes: [0] }), b.scalar(0)], { dir: 'gt' });
    const then = region('then', [f32(300), f32(300)], (r, [a, c]) => [r.op('exp', [r.op('mul', [a!, c!])]), c!]);
    const other = region('else', [f32(300), f32(300)], (r, [a, c]) => [r.op('sub', [a!, c!]), r.op('neg', [a!])]);
    const c = b.op('cond', [pred, x, y], {}, [then, other]);
    const fn = b.build([b.op('get_result', [c], { index: 0 }), b.op('get_result', [c], { index: 1 })], ['u', 'v']);
    for (const sign of [1, -1]) {
      const art = await expectLikeInterpreter(fn, [lit(f32(300), (i) => sign * (0.01 * i + 0.1)), lit(f32(300), (i) => Math.cos(i))]);
      expect(schedule(art.bytes)).toMatch(/"branch":\{"flag":\{"offset":\d+,"dtype":"bool"\},"then":\[/);
    }
  });

  test('nested: a cond inside a scan inside a while; a while whose body swaps its carried values', async () => {
    const b = new Builder('nested');
    const x = b.param(f32(4, 50), 'x');
    const n = b.param(i32(), 'n');
    const cond = region('cond', [i32(), f32(50), f32(4, 50), i32()], (r, [i, , , m]) => [r.op('compare', [i!, m!], { dir: 'lt' })]);
    const body = region('body', [i32(), f32(50), f32(4, 50), i32()], (r, [i, acc, xs, m]) => {
      const step = region('step', [f32(50), f32(50)], (q, [c, xt]) => {
        const p = q.op('compare', [q.op('reduce', [xt!], { op: 'max', axes: [0] }), q.scalar(0.5)], { dir: 'gt' });
        const br = q.op('cond', [p, c!, xt!], {}, [
          region('t', [f32(50), f32(50)], (z, [u, v]) => [z.op('add', [u!, v!])]),
          region('e', [f32(50), f32(50)], (z, [u, v]) => [z.op('mul', [u!, z.op('logistic', [v!])])]),
        ]);
        const nc = q.op('get_result', [br], { index: 0 });
        return [nc, nc];
      });
      const sc = r.op('scan', [acc!, xs!], { carries: 1, length: 4, reverse: true }, [step]);
      return [r.op('add', [i!, r.scalar(1, 'i32')]), r.op('get_result', [sc], { index: 0 }), xs!, m!];
    });
    const w = b.op('while', [b.scalar(0, 'i32'), b.full(0.1, f32(50)), x, n], {}, [cond, body]);
    const fn = b.build([b.op('get_result', [w], { index: 1 })], ['acc']);
    let art: ReturnType<typeof compile> | undefined;
    for (const k of [0, 3]) art = await expectLikeInterpreter(fn, [lit(f32(4, 50), (i) => Math.sin(i * 0.7)), lit(i32(), () => k)]);
    // `kiln inspect` shows the nesting.
    expect(describeArtifact(readArtifact(art!.bytes), art!.bytes.length, 'n.kiln')).toMatch(
      /control flow \(format version 4\):\n {2}loop \(while %\d+\): while the flag bool at byte \d+ holds; head \d+ kernel steps?, body \d+ kernel steps\n {4}loop \(scan %\d+, 4 steps, reversed\): at most 4 times; head 0 kernel steps, body \d+ kernel steps\n {6}branch \(cond %\d+\): on the flag bool at byte \d+; then \d+ kernel steps?, else \d+ kernel steps?/);

    const s = new Builder('swap');
    const a = s.param(f32(8), 'a');
    const c = s.param(f32(8), 'c');
    const wc = region('cond', [i32(), f32(8), f32(8)], (r, [i]) => [r.op('compare', [i!, r.scalar(5, 'i32')], { dir: 'lt' })]);
    const wb = region('body', [i32(), f32(8), f32(8)], (r, [i, u, v]) => [r.op('add', [i!, r.scalar(1, 'i32')]), v!, r.op('add', [u!, v!])]);
    const sw = s.op('while', [s.scalar(0, 'i32'), a, c], {}, [wc, wb]);
    const swap = s.build([s.op('get_result', [sw], { index: 1 }), s.op('get_result', [sw], { index: 2 })], ['u', 'v']);
    await expectLikeInterpreter(swap, [lit(f32(8), (i) => i), lit(f32(8), (i) => 1 - i * 0.5)]);
  });

  test('kiln.whileLoop / kiln.cond / kiln.scan traced by compile() equal the same function run eagerly (host loops)', async () => {
    const f = (x: kiln.Tensor, n: kiln.Tensor): kiln.Tensor[] => {
      const [, y] = kiln.whileLoop(
        (i) => kiln.less(i!, n),
        (i, y) => {
          const big = kiln.greater(kiln.sum(y!), 0);
          const z = kiln.cond(big, () => kiln.sub(kiln.mul(y!, 0.5), 1), () => kiln.add(kiln.tanh(y!), 0.75));
          return [kiln.add(i!, 1), z];
        },
        [kiln.scalar(0, 'int32'), x],
      );
      const [[c], [ys]] = kiln.scan((carry, [xt]) => {
        const nc = kiln.add(kiln.mul(carry[0]!, 0.9), xt!);
        return [[nc], [kiln.sigmoid(nc)]];
      }, [kiln.zeros([16])], [kiln.reshape(kiln.concat([y!, y!, y!, y!, y!, y!], 0), [6, 16])], { reverse: true });
      return [y!, c!, ys!];
    };
    const art = compile(f, { inputShapes: [[16], []], inputDtypes: ['f32', 'i32'] });
    expect(schedule(art.bytes)).toMatch(/"loop":\{"head".*"branch".*"loop":\{"count":6/);
    const prog = await load(art.bytes, { threads: 2 });
    try {
      for (const n of [0, 3, 6]) {
        const x = Float32Array.from({ length: 16 }, (_, i) => Math.sin(i) * 2);
        const want = f(kiln.tensor(x, [16]), kiln.scalar(n, 'int32')).map((t) => t.dataSync());
        const got = prog.runSync({ [prog.inputs[0]!.name]: x, [prog.inputs[1]!.name]: Int32Array.of(n) });
        prog.outputs.forEach((o, i) => expect(firstMismatch(o.name, got[o.name] as Float32Array, want[i]!)).toBeUndefined());
      }
    } finally {
      prog.dispose();
    }
  });

  test('a loop in a multi-entry artifact with resident state (compileEntries): state updated by a while, step after step', async () => {
    const b = new Builder('step');
    const w = b.param(f32(32), 'w');
    const n = b.param(i32(), 'n');
    const cond = region('cond', [i32(), f32(32), i32()], (r, [i, , m]) => [r.op('compare', [i!, m!], { dir: 'lt' })]);
    const body = region('body', [i32(), f32(32), i32()], (r, [i, v, m]) => [r.op('add', [i!, r.scalar(1, 'i32')]), r.op('add', [r.op('mul', [v!, r.full(0.5, f32(32))]), r.full(1, f32(32))]), m!]);
    const loop = b.op('while', [b.scalar(0, 'i32'), w, n], {}, [cond, body]);
    const nw = b.op('get_result', [loop], { index: 1 });
    const fn = b.build([nw, b.op('reduce', [nw], { op: 'sum', axes: [0] })], ['w', 'total']);
    fn.aliases = [{ result: 0, param: 0 }];
    const w0 = lit(f32(32), (i) => i - 10);
    const art = compileEntries([{ name: 'step', func: fn }], [{ name: 'w', value: w0 }]);
    const prog = await load(art.bytes, { threads: 1 });
    try {
      let state = w0;
      for (const k of [2, 0, 5]) {
        const want = interpret(fn, [state, lit(i32(), () => k)]);
        const got = prog.runSync({ n: Int32Array.of(k) });
        expect(firstMismatch('total', got['total'] as Float32Array, want[1]!.data)).toBeUndefined();
        expect(firstMismatch('w', prog.getState('w')['w'] as Float32Array, want[0]!.data)).toBeUndefined();
        state = want[0]!;
      }
    } finally {
      prog.dispose();
    }
  });

  test('CUDA: the same schedule entries drive the host-side launch loop (flags copied back); the PTX assembles', async () => {
    // A driver whose "GPU" is the sequential PTX interpreter over host memory (no GPU here).
    const mems = new Map<bigint, Uint8Array>();
    const names = new Map<bigint, string>();
    let ptx = '';
    let reads = 0;
    let next = 1n;
    const launches: string[] = [];
    const driver = (launchOf: (name: string) => { grid: number[]; block: number[]; threadsPerItem: number }): CudaDriver => ({
      init: () => ({ devices: 1 }),
      device: () => ({ name: 'Simulated GPU', major: 8, minor: 0 }),
      contextCreate: () => 1n,
      contextRelease: () => {},
      moduleLoad: (text) => { ptx = text; return 2n; },
      moduleUnload: () => {},
      getFunction: (_m, name) => { const h = next++; names.set(h, name); return h; },
      memAlloc: (bytes) => { const h = 100n + next++; mems.set(h, new Uint8Array(bytes)); return h; },
      memFree: (p) => { mems.delete(p); },
      memcpyHtoD: (p, off, d) => { mems.get(p)!.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), off); },
      memcpyDtoH: (dst, p, off) => { reads++; const u = new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength); u.set(mems.get(p)!.subarray(off, off + u.length)); },
      launch: (f, _gx, _gy, _gz, _bx, _by, _bz, _sh, mem, _start, end) => {
        const name = names.get(f)!;
        launches.push(name);
        const m = mems.get(mem)!;
        const l = launchOf(name);
        runKernel(parsePtx(ptx).get(name)!, { grid: [l.grid[0]!, l.grid[1]!, l.grid[2]!], block: [l.block[0]!, l.block[1]!, l.block[2]!], threadsPerItem: l.threadsPerItem } as never, end, new DataView(m.buffer, m.byteOffset, m.byteLength), name);
      },
      synchronize: () => {},
    });
    const b = new Builder('gpuloop');
    const x = b.param(f32(64), 'x');
    const n = b.param(i32(), 'n');
    const cond = region('cond', [i32(), f32(64), i32()], (r, [i, , m]) => [r.op('compare', [i!, m!], { dir: 'lt' })]);
    const body = region('body', [i32(), f32(64), i32()], (r, [i, y, m]) => {
      const p = r.op('compare', [i!, r.scalar(2, 'i32')], { dir: 'lt' });
      const c = r.op('cond', [p, y!], {}, [
        region('t', [f32(64)], (z, [u]) => [z.op('add', [z.op('mul', [u!, z.full(0.5, f32(64))]), z.full(1, f32(64))])]),
        region('e', [f32(64)], (z, [u]) => [z.op('neg', [u!])]),
      ]);
      return [r.op('add', [i!, r.scalar(1, 'i32')]), r.op('get_result', [c], { index: 0 }), m!];
    });
    const w = b.op('while', [b.scalar(0, 'i32'), x, n], {}, [cond, body]);
    const step = region('step', [f32(64), f32(64)], (r, [c, xt]) => { const nc = r.op('add', [r.op('mul', [c!, xt!]), xt!]); return [nc, nc]; });
    const xs = b.op('broadcast_in_dim', [b.op('get_result', [w], { index: 1 })], { shape: [3, 64], dims: [1] });
    const s = b.op('scan', [b.full(1, f32(64)), xs], { carries: 1, length: 3, reverse: true }, [step]);
    const fn = b.build([b.op('get_result', [w], { index: 1 }), b.op('get_result', [s], { index: 1 })], ['y', 'ys']);
    const art = compile(fn, { target: 'cuda' });
    if (findPtxas()) {
      const r = assemblePtx(new TextDecoder().decode(readArtifact(art.bytes).sections['ptx']!), 80);
      expect(r.log).toBe(r.ok ? r.log : '');
      expect(r.ok).toBe(true);
    } else {
      console.warn('SKIPPED ptxas check: ptxas not found (set PTXAS or install the CUDA toolkit)');
    }
    const m = art.manifest as unknown as { kernels: { name: string }[]; cuda: { launches: { grid: number[]; block: number[]; threadsPerItem: number }[] } };
    const prog = await loadCuda(art.bytes, { driver: driver((name) => m.cuda.launches[m.kernels.findIndex((k) => k.name === name)]!) });
    for (const k of [0, 4]) {
      const inputs = [lit(f32(64), (i) => Math.sin(i)), lit(i32(), () => k)];
      const want = interpret(fn, inputs);
      launches.length = 0;
      reads = 0;
      const got = prog.runSync({ x: inputs[0]!.data, n: inputs[1]!.data });
      expect(firstMismatch('y', got['y'] as Float32Array, want[0]!.data)).toBeUndefined();
      expect(firstMismatch('ys', got['ys'] as Float32Array, want[1]!.data)).toBeUndefined();
      // One flag read per loop test (k + 1) and per branch (k), plus the two outputs.
      expect(reads).toBe(k + 1 + k + 2);
    }
    prog.dispose();
  });
});
