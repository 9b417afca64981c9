/**
 * Matmul 1024x1024x1024 f32, GFLOP/s: Kiln's generated GEMM kernel (plain
 * SIMD128 and relaxed-SIMD FMA; 1 thread, and 2 threads as the runtime would
 * run it: worker_threads over one shared memory, each calling the export on
 * half of the row blocks) against tfjs-backend-wasm (1 and 2 threads) and
 * tfjs-backend-cpu, measured in the same process with benny. The machine is
 * shared and noisy, so each case runs several rounds and the best sample is
 * kept; ratios are against tfjs-backend-wasm at equal threads.
 *
 * Run: npx esbuild bench/matmul.ts --bundle --platform=node --format=esm \
 *        --packages=external --outfile=bench/out/matmul.mjs && node bench/out/matmul.mjs [rounds] [size]
 */
import v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

import { Worker } from 'node:worker_threads';
import b from 'benny';
import { emitGemm } from '../src/codegen/wasm/gemm.js';
import { type KernelFn, createKernelModule, emitModule, instantiateKernels } from '../src/codegen/wasm/module_builder.js';
import { packB } from '../src/codegen/wasm/pack.js';
import { type PeerName, tf, usePeer } from './peers.js';

const rounds = Number(process.argv[2] ?? 3);
const SIZE = Number(process.argv[3] ?? 1024);
const M = SIZE, N = SIZE, K = SIZE;
const FLOP = 2 * M * N * K;

function randomMatrix(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.random() * 2 - 1;
  return out;
}
const A = randomMatrix(M * K);
const B = randomMatrix(K * N);

/**
 * Runs one kernel on [0, items) split over the main thread and `extra`
 * workers sharing `memory`; the workers spin-free wait on Atomics.
 */
class ThreadedKernel {
  private readonly ctrl: Int32Array;
  private readonly workers: Worker[] = [];
  private seq = 0;

  constructor(
    private readonly fn: KernelFn,
    bytes: Uint8Array,
    memory: WebAssembly.Memory,
    name: string,
    private readonly items: number,
    extra: number,
  ) {
    // ctrl[0]: generation counter; ctrl[1]: workers still running.
    this.ctrl = new Int32Array(new SharedArrayBuffer(8));
    const parts = extra + 1;
    for (let w = 1; w <= extra; w++) {
      const start = Math.floor((items * w) / parts);
      const end = Math.floor((items * (w + 1)) / parts);
      const code = `
        const { workerData } = require('node:worker_threads');
        const { bytes, memory, ctrl, name, start, end } = workerData;
        const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
        const f = inst.exports[name];
        let seen = 0;
        for (;;) {
          Atomics.wait(ctrl, 0, seen);
          seen = Atomics.load(ctrl, 0);
          if (seen < 0) break;
          f(start, end);
          if (Atomics.sub(ctrl, 1, 1) === 1) Atomics.notify(ctrl, 1);
        }`;
      this.workers.push(new Worker(code, { eval: true, workerData: { bytes, memory, ctrl: this.ctrl, name, start, end } }));
    }
  }

  run(): void {
    const extra = this.workers.length;
    Atomics.store(this.ctrl, 1, extra);
    Atomics.store(this.ctrl, 0, ++this.seq);
    Atomics.notify(this.ctrl, 0);
    this.fn(0, Math.floor(this.items / (extra + 1)));
    for (;;) {
      const left = Atomics.load(this.ctrl, 1);
      if (left === 0) break;
      Atomics.wait(this.ctrl, 1, left);
    }
  }

  async close(): Promise<void> {
    Atomics.store(this.ctrl, 0, -1);
    Atomics.notify(this.ctrl, 0);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

interface KilnSetup {
  run(): void;
  close(): Promise<void>;
  check(): number;
}

function setupKiln(relaxed: boolean, threads: number): KilnSetup {
  const nr = 8;
  const Bp = packB(B, K, N, nr);
  const aAddr = 1024;
  const bAddr = aAddr + A.length * 4;
  const cAddr = bAddr + Bp.length * 4;
  const pages = Math.ceil((cAddr + M * N * 4) / 65536) + 1;
  const shared = threads > 1;
  const mod = createKernelModule({ relaxed, shared, initialPages: pages });
  const kernel = emitGemm(mod, { name: 'gemm', M, N, K, aAddr, bPackedAddr: bAddr, cAddr, relaxed, nr });
  const bytes = emitModule(mod);
  mod.dispose();
  const memory = shared
    ? new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true })
    : new WebAssembly.Memory({ initial: pages });
  const f32 = new Float32Array(memory.buffer);
  f32.set(A, aAddr / 4);
  f32.set(Bp, bAddr / 4);
  const { gemm } = instantiateKernels(bytes, memory);
  const check = (): number => {
    // Max abs error on a few sampled outputs against a float64 dot product.
    let worst = 0;
    for (const [i, j] of [[0, 0], [M - 1, N - 1], [M >> 1, 7], [3, N >> 1]] as const) {
      let ref = 0;
      for (let k = 0; k < K; k++) ref += A[i * K + k]! * B[k * N + j]!;
      worst = Math.max(worst, Math.abs(f32[cAddr / 4 + i * N + j]! - ref));
    }
    return worst;
  };
  if (!shared) return { run: () => gemm!(0, kernel.workItems), close: async () => {}, check };
  const t = new ThreadedKernel(gemm!, bytes, memory, 'gemm', kernel.workItems, threads - 1);
  return { run: () => t.run(), close: () => t.close(), check };
}

interface Measured {
  secs: number;
  /** Process CPU time over wall time while the case ran: ~threads when they all got a core. */
  cpuPerWall: number;
}

/** Best seconds per op over benny samples, and the CPU/wall ratio meanwhile. */
async function measure(name: string, fn: () => void, slow = false): Promise<Measured> {
  for (let i = 0; i < 2; i++) fn(); // warm up; lets V8 tier kernels up
  let best = Infinity;
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  await b.suite(
    name,
    b.add(name, fn),
    b.configure({ cases: slow ? { minSamples: 2, maxTime: 1, initCount: 1 } : { minSamples: 5, maxTime: 3 } }),
    b.complete((summary) => {
      for (const r of summary.results) best = Math.min(best, r.details.min);
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return { secs: best, cpuPerWall: (cpu.user + cpu.system) / 1000 / (performance.now() - wall0) };
}

async function main(): Promise<void> {
  const best = new Map<string, Measured>();
  const note = (name: string, m: Measured): void => {
    const prev = best.get(name);
    if (!prev || m.secs < prev.secs) best.set(name, m);
  };
  const kiln = async (threads: number): Promise<void> => {
    for (const relaxed of [false, true]) {
      const name = `kiln ${relaxed ? 'relaxed-fma' : 'simd'} ${threads}t`;
      const k = setupKiln(relaxed, threads);
      note(name, await measure(name, k.run));
      const err = k.check();
      if (!(err < 1e-2)) throw new Error(`${name}: wrong result, max error ${err}`);
      await k.close();
    }
  };
  const peer = async (p: PeerName, round: number): Promise<void> => {
    const threads = await usePeer(p);
    const want = p === 'tfjs-wasm-2t' ? 2 : 1;
    if (threads !== want) throw new Error(`${p}: tfjs-backend-wasm reports ${threads} threads, wanted ${want}`);
    if (p === 'tfjs-cpu' && round > 0) return; // ~4 s per op: one round is enough
    const a = tf.tensor2d(A, [M, K]);
    const bt = tf.tensor2d(B, [K, N]);
    note(p, await measure(p, () => tf.matMul(a, bt).dispose(), p === 'tfjs-cpu'));
    a.dispose();
    bt.dispose();
  };
  // tfjs-backend-wasm may enter its 2-thread setting only once per process
  // (see peers.ts), so all 1-thread cases run first, then all 2-thread cases.
  for (let round = 0; round < rounds; round++) {
    await kiln(1);
    await peer('tfjs-wasm-1t', round);
    await peer('tfjs-cpu', round);
  }
  for (let round = 0; round < rounds; round++) {
    await kiln(2);
    await peer('tfjs-wasm-2t', round);
  }
  const gf = (name: string): number => FLOP / best.get(name)!.secs / 1e9;
  console.log(`\nmatmul ${M}x${N}x${K} f32, best of ${rounds} rounds (GFLOP/s; ratio vs tfjs-backend-wasm at equal threads; CPU/wall of the best round)`);
  for (const name of best.keys()) {
    const threads = name.endsWith('2t') ? 2 : 1;
    const ref = threads === 2 ? 'tfjs-wasm-2t' : 'tfjs-wasm-1t';
    const ratio = name === ref ? '      ' : `${(gf(name) / gf(ref)).toFixed(2).padStart(5)}x`;
    console.log(`${name.padEnd(22)} ${gf(name).toFixed(1).padStart(6)}  ${ratio}  cpu/wall ${best.get(name)!.cpuPerWall.toFixed(2)}`);
  }
  process.exit(0);
}

await main();
