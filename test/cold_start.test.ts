/**
 * Cold-start dispatch (issue 13, point 3): the load-time warm-up (each kernel run once on one
 * work item, then memory zeroed) and the chunked first runs (each kernel called on pieces of
 * its share) change when the engine optimizes kernels, never what a run computes. Oracle: the
 * same artifact loaded with both off (one call per kernel share, nothing run at load), on one
 * thread: outputs and resident state must be bitwise identical, run after run, on 1 and 2
 * threads, for an inference convnet (conv, depthwise, pooling, batch norm, concat, GEMM,
 * softmax), a recurrent model (LSTM: a looped schedule) and a training step whose kernels write
 * resident state (Adam).
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { compileEntries } from '../src/compile.js';
import { trace } from '../src/frontend/tracing.js';
import { valueAndGrad } from '../src/frontend/grad.js';
import { ops, type Tensor } from '../src/keras/backend.js';
import { meanSquaredError } from '../src/keras/losses.js';
import { adam } from '../src/keras/optimizers/adam.js';
import { randomTensor } from '../src/keras/test_util.js';
import { tensorType } from '../src/ir/types.js';
import { COLD_RUNS, KilnRuntimeError, load, type LoadOptions, type Program, type TensorData } from '../src/runtime/index.js';

const open: Program[] = [];
async function loaded(bytes: Uint8Array, opts: LoadOptions): Promise<Program> {
  const p = await load(bytes, opts);
  open.push(p);
  return p;
}
afterEach(() => {
  for (const p of open.splice(0)) p.dispose();
});

const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 2);
const PLAIN: LoadOptions = { warmup: false, chunkedRuns: 0 };
/** Every run chunked (the default chunks only the first COLD_RUNS). */
const ALL_CHUNKED: LoadOptions = { warmup: true, chunkedRuns: 1000 };

function convnet(): kiln.Model {
  const L = kiln.layers;
  const inp = kiln.input({ shape: [18, 18, 3] });
  type T = kiln.KerasTensor;
  const ap = (l: { apply(x: T | T[]): unknown }, x: T | T[]) => l.apply(x) as T;
  let x = ap(L.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' }), inp);
  let y = ap(L.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', useBias: false }), x);
  y = ap(L.batchNormalization({}), y);
  y = ap(L.reLU({ maxValue: 6 }), y);
  y = ap(L.conv2d({ filters: 8, kernelSize: 1 }), y);
  const p = ap(L.maxPooling2d({ poolSize: 2, strides: 2 }), x);
  const a = ap(L.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same' }), p);
  x = ap(L.concatenate({}), [ap(L.add({}), [y, p]), a]);
  x = ap(L.conv2d({ filters: 12, kernelSize: [1, 3], padding: 'valid', activation: 'tanh' }), x);
  x = ap(L.globalAveragePooling2d({}), x);
  x = ap(L.dense({ units: 10, activation: 'softmax' }), x);
  return kiln.model({ inputs: inp, outputs: x });
}

function recurrent(): kiln.Model {
  return kiln.sequential({
    layers: [
      kiln.layers.lstm({ units: 8, returnSequences: false, inputShape: [6, 5] }),
      kiln.layers.dense({ units: 3 }),
    ],
  });
}

/** Runs `inputs` in order; returns every run's outputs. */
async function runAll(prog: Program, inputs: Record<string, TensorData>[]): Promise<Record<string, TensorData>[]> {
  const outs: Record<string, TensorData>[] = [];
  for (const [i, x] of inputs.entries()) outs.push(i % 2 ? prog.runSync(x) : await prog.run(x));
  return outs;
}

function expectSame(got: Record<string, TensorData>[], want: Record<string, TensorData>[], what: string): void {
  expect(got.length).toBe(want.length);
  got.forEach((g, r) => {
    expect(Object.keys(g).sort()).toEqual(Object.keys(want[r]!).sort());
    for (const k of Object.keys(g)) {
      const a = Array.from(g[k]! as ArrayLike<number>), b = Array.from(want[r]![k]! as ArrayLike<number>);
      // Bitwise: Object.is tells NaN from NaN and -0 from 0 the way a byte compare would.
      const bad = a.findIndex((v, i) => !Object.is(v, b[i]));
      expect(bad, `${what}: run ${r} output '${k}' differs at ${bad}: ${a[bad]} vs ${b[bad]}`).toBe(-1);
    }
  });
}

describe('cold-start dispatch', () => {
  it.each([
    ['convnet', convnet, [1, 18, 18, 3]],
    ['LSTM', recurrent, [1, 6, 5]],
  ] as const)('%s: warm-up and chunked runs give the outputs of whole-share dispatch, threads 1 and 2', async (_, build, shape) => {
    const bytes = kiln.compile(build(), { inputShapes: [[...shape]] }).bytes;
    const n = (shape as readonly number[]).reduce((a, b) => a * b, 1);
    const base = await loaded(bytes, { ...PLAIN, threads: 1 });
    const inputs = [0, 1, 2, 3].map((s) => ({ [base.inputs[0]!.name]: rand(n, s) }));
    const want = await runAll(base, inputs);
    for (const threads of [1, 2]) {
      for (const opts of [ALL_CHUNKED, {}, { warmup: false, chunkedRuns: 1000 }, { warmup: true, chunkedRuns: 0 }]) {
        const prog = await loaded(bytes, { ...opts, threads });
        expectSame(await runAll(prog, inputs), want, `threads ${threads}, ${JSON.stringify(opts)}`);
      }
    }
  });

  it('a training step (Adam, resident state written by kernels): same losses and state, warm-up does not touch the initial state', async () => {
    const shapes = [[6, 8], [8], [8, 3], [3]];
    const init = shapes.map((s, i) => randomTensor(s, 40 + i, -0.5, 0.5));
    const opt = adam({ learningRate: 0.05 });
    const optState = opt.stateTensors(opt.init(init));
    const stateT = [...init, ...optState];
    const names = [...shapes.map((_, i) => `w${i}`), ...optState.map((_, i) => `opt${i}`)];
    const mlp = (x: Tensor, [w1, b1, w2, b2]: Tensor[]) => ops.add(ops.matmul(ops.relu(ops.add(ops.matmul(x, w1!), b1!)), w2!), b2!);
    const loss = meanSquaredError();
    const g = valueAndGrad((xb: Tensor, yb: Tensor, ...ps: Tensor[]) => loss(yb, mlp(xb, ps)), { argnums: [2, 3, 4, 5] });
    const step = (xb: Tensor, yb: Tensor, ...rest: Tensor[]) => {
      const ps = rest.slice(0, 4);
      const { value, grads } = g(xb, yb, ...ps);
      const r = opt.apply(ps, grads, opt.fromTensors(rest.slice(4), ps.length));
      return [value, ...r.params, ...opt.stateTensors(r.state)];
    };
    const B = 16;
    const { func } = trace(step, [tensorType([B, 6], 'f32'), tensorType([B, 3], 'f32'), ...stateT.map((t) => t.type)], { name: 'train_step', argNames: ['x', 'y', ...names] });
    func.resultNames = ['loss', ...names.map((n) => `new_${n}`)];
    names.forEach((_, i) => func.aliases.push({ result: 1 + i, param: 2 + i }));
    const bytes = compileEntries([{ name: 'train_step', func }], names.map((name, i) => ({ name, value: stateT[i]!.literal! }))).bytes;
    const batches = [0, 1, 2, 3, 4].map((s) => ({ x: rand(B * 6, 10 + s), y: rand(B * 3, 20 + s) }));
    const base = await loaded(bytes, { ...PLAIN, threads: 1 });
    const initial = base.getState();
    const want = await runAll(base, batches);
    const wantState = base.getState();
    for (const threads of [1, 2]) {
      for (const opts of [ALL_CHUNKED, {}]) {
        const prog = await loaded(bytes, { ...opts, threads });
        expectSame([prog.getState()], [initial], `initial state after load, threads ${threads}`);
        expectSame(await runAll(prog, batches), want, `losses, threads ${threads}`);
        expectSame([prog.getState()], [wantState], `state after ${batches.length} steps, threads ${threads}`);
      }
    }
  });

  it('the warm-up leaves linear memory byte for byte as a load without it (weights, state, zeros elsewhere)', async () => {
    const bytes = kiln.compile(convnet(), { inputShapes: [[1, 18, 18, 3]] }).bytes;
    const memoryOf = (p: Program) => new Uint8Array((p as unknown as { parts: { memory: WebAssembly.Memory } }).parts.memory.buffer);
    const want = memoryOf(await loaded(bytes, PLAIN));
    const got = memoryOf(await loaded(bytes, { warmup: true }));
    expect(got.length).toBe(want.length);
    let diff = -1;
    for (let i = 0; i < got.length && diff < 0; i++) if (got[i] !== want[i]) diff = i;
    expect(diff, `first differing byte at ${diff}`).toBe(-1);
  });

  it('chunks only the first COLD_RUNS runs by default', async () => {
    expect(COLD_RUNS).toBeGreaterThan(0);
    const bytes = kiln.compile(recurrent(), { inputShapes: [[1, 6, 5]] }).bytes;
    const prog = await loaded(bytes, { threads: 1 });
    // The control block's PIECES slot is what executeSchedule reads; watch it through the kernels.
    const plan = (prog as unknown as { parts: { plans: { fns: ((a: number, b: number) => void)[]; coldRuns: number }[] } }).parts.plans[0]!;
    const calls: number[] = [];
    let count = 0;
    plan.fns = plan.fns.map((f) => (a: number, b: number) => {
      count++;
      f(a, b);
    });
    const x = { [prog.inputs[0]!.name]: rand(30, 1) };
    for (let r = 0; r < COLD_RUNS + 2; r++) {
      count = 0;
      prog.runSync(x);
      calls.push(count);
    }
    // Cold runs make more kernel calls than warm ones; the warm ones make the same number.
    for (let r = 0; r < COLD_RUNS; r++) expect(calls[r]).toBeGreaterThan(calls[COLD_RUNS]!);
    expect(calls[COLD_RUNS + 1]).toBe(calls[COLD_RUNS]);
    expect(plan.coldRuns).toBe(0);
  });

  it('refuses bad warmup / chunkedRuns options, naming them', async () => {
    const bytes = kiln.compile(recurrent(), { inputShapes: [[1, 6, 5]] }).bytes;
    const cases: [unknown, RegExp][] = [
      [{ warmup: 1 }, /load\(\) options: warmup must be a boolean, got number 1/],
      [{ warmup: 'yes' }, /warmup must be a boolean, got .*yes/],
      [{ chunkedRuns: -1 }, /load\(\) options: chunkedRuns must be an integer in \[0, 1000\], got number -1/],
      [{ chunkedRuns: 2.5 }, /chunkedRuns must be an integer in \[0, 1000\], got number 2\.5/],
      [{ chunkedRuns: 1001 }, /chunkedRuns must be an integer in \[0, 1000\], got number 1001/],
      [{ chunkedRuns: '2' }, /chunkedRuns must be an integer/],
      [{ warmUp: false }, /unknown option 'warmUp'.*did you mean 'warmup'/i],
      [{ chunkRuns: 1 }, /unknown option 'chunkRuns'.*did you mean 'chunkedRuns'/i],
      [{ device: 'cuda', warmup: false }, /'warmup' applies to device 'wasm' only/],
    ];
    for (const [opts, msg] of cases) {
      let caught: unknown;
      try {
        await load(bytes, opts as LoadOptions);
      } catch (e) {
        caught = e;
      }
      expect(caught, JSON.stringify(opts)).toBeInstanceOf(KilnRuntimeError);
      expect((caught as Error).message).toMatch(msg);
    }
  });
});
