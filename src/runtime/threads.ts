/**
 * Multi-threaded execution over one shared WebAssembly memory. N-1 workers
 * plus the calling thread each instantiate the same compiled module; a run
 * bumps a generation counter in a small control block (its own
 * SharedArrayBuffer, so the compiler's memory plan needs no reserved bytes),
 * every participant walks the same static schedule, takes a contiguous chunk
 * of each kernel's work items, and meets the others at a barrier before the
 * next kernel. No messages are posted per run or per kernel: only Atomics.
 *
 * `executeSchedule` and `workerMain` are shipped to workers as source text
 * (Function.prototype.toString), so they must stay self-contained: no
 * references to anything outside their own bodies.
 */
import { KilnRuntimeError } from './errors.js';

/** Control block layout, in Int32 slots. */
export const CTRL = {
  GEN: 0, // run generation; workers wake when it changes
  CMD: 1, // 0 = run, 1 = exit
  ARRIVED: 2, // barrier: participants arrived at the current phase
  PHASE: 3, // barrier: bumped by the last arrival
  ERROR: 4, // 0, or 1 + the thread that failed first
  ERROR_STEP: 5,
  MSG_LEN: 6,
  ENTRY: 7, // which entry point's schedule this run walks
  MSG: 16, // up to MSG_MAX UTF-16 code units of the error message
  MSG_MAX: 240,
} as const;
export const CTRL_SLOTS = 256;

export type KernelFn = (start: number, end: number) => void;

/**
 * One participant's share of one run: for each schedule step, the chunk of
 * [0, work) belonging to thread `me` of `n`, then a barrier. A trap is
 * recorded in the control block (first one wins) and the remaining steps are
 * skipped, but barriers are still honoured so no thread is left waiting.
 * `canWait` is false on a browser main thread, which may spin but not block.
 */
export function executeSchedule(
  fns: ReadonlyArray<KernelFn>,
  work: ArrayLike<number>,
  grain: ArrayLike<number>,
  ctrl: Int32Array,
  me: number,
  n: number,
  canWait: boolean,
): void {
  for (let s = 0; s < fns.length; s++) {
    if (Atomics.load(ctrl, 4) === 0) {
      const w = work[s]!;
      const active = Math.min(n, Math.max(1, Math.floor(w / grain[s]!)));
      if (me < active) {
        const start = Math.floor((w * me) / active);
        const end = Math.floor((w * (me + 1)) / active);
        if (end > start) {
          try {
            fns[s]!(start, end);
          } catch (e) {
            if (Atomics.compareExchange(ctrl, 4, 0, me + 1) === 0) {
              const msg = String(e instanceof Error ? e.message : e).slice(0, 240);
              ctrl[5] = s;
              ctrl[6] = msg.length;
              for (let i = 0; i < msg.length; i++) ctrl[16 + i] = msg.charCodeAt(i);
            }
          }
        }
      }
    }
    if (n > 1) {
      // Counter barrier with a phase word: read the phase before arriving, so
      // the last arrival's bump is never missed.
      const phase = Atomics.load(ctrl, 3);
      if (Atomics.add(ctrl, 2, 1) === n - 1) {
        Atomics.store(ctrl, 2, 0);
        Atomics.add(ctrl, 3, 1);
        Atomics.notify(ctrl, 3);
      } else {
        // Spin briefly first: kernels of a small model finish in microseconds,
        // far less than a futex round trip.
        let spins = 0;
        while (Atomics.load(ctrl, 3) === phase) {
          if (canWait && ++spins > 4000) Atomics.wait(ctrl, 3, phase);
        }
      }
    }
  }
}

/** One entry point's schedule: kernel indices, and each step's work and grain. */
export interface SchedulePlan {
  schedule: number[];
  work: number[];
  grain: number[];
}

/** What a worker needs; posted once, at load. */
export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  kernelNames: string[];
  /** Every entry point, indexed by the control block's ENTRY slot. */
  entries: SchedulePlan[];
  index: number;
  threads: number;
}

export type WorkerReply = { ok: true } | { ok: false; message: string };

/** Worker body: instantiate, report ready, then serve runs until told to exit. */
export async function workerMain(
  init: WorkerInit,
  post: (r: WorkerReply) => void,
  exec: typeof executeSchedule,
): Promise<void> {
  let plans: { fns: KernelFn[]; work: number[]; grain: number[] }[];
  try {
    const inst = await WebAssembly.instantiate(init.module, { env: { memory: init.memory } });
    plans = init.entries.map((e) => ({ fns: e.schedule.map((k) => inst.exports[init.kernelNames[k]!] as KernelFn), work: e.work, grain: e.grain }));
  } catch (e) {
    post({ ok: false, message: String(e instanceof Error ? e.message : e) });
    return;
  }
  const ctrl = new Int32Array(init.control);
  let seen = Atomics.load(ctrl, 0);
  post({ ok: true });
  for (;;) {
    let spins = 0;
    while (Atomics.load(ctrl, 0) === seen) {
      if (++spins > 4000) Atomics.wait(ctrl, 0, seen);
    }
    seen = Atomics.load(ctrl, 0);
    if (Atomics.load(ctrl, 1) !== 0) return;
    const p = plans[Atomics.load(ctrl, 7)]!;
    exec(p.fns, p.work, p.grain, ctrl, init.index, init.threads, true);
  }
}

function workerSource(node: boolean): string {
  const boot = node
    ? "const{parentPort:p}=require('node:worker_threads');p.once('message',m=>main(m,r=>p.postMessage(r),exec));"
    : 'self.onmessage=e=>{self.onmessage=null;main(e.data,r=>self.postMessage(r),exec)};';
  return `"use strict";const exec=${executeSchedule.toString()};\nconst main=${workerMain.toString()};\n${boot}`;
}

/** The handle the executor keeps per worker. */
export interface WorkerHandle {
  terminate(): void;
}

interface NodeWorker {
  once(ev: 'message', f: (r: WorkerReply) => void): void;
  once(ev: 'error', f: (e: Error) => void): void;
  once(ev: 'exit', f: (code: number) => void): void;
  postMessage(m: WorkerInit): void;
  terminate(): Promise<number>;
  unref(): void;
}

// A variable, not a literal, so bundlers targeting browsers leave it alone.
const NODE_WORKER_MODULE = 'node:worker_threads';

async function startNodeWorker(init: WorkerInit, source: string): Promise<WorkerHandle> {
  const mod = (await import(/* @vite-ignore */ NODE_WORKER_MODULE)) as {
    Worker: new (src: string, opts: { eval: boolean }) => NodeWorker;
  };
  const w = new mod.Worker(source, { eval: true });
  await new Promise<void>((resolve, reject) => {
    w.once('message', (r) => (r.ok ? resolve() : reject(new Error(r.message))));
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`worker exited with code ${code} before it was ready`)));
    w.postMessage(init);
  }).catch((e: Error) => {
    void w.terminate();
    throw e;
  });
  // An idle worker must not keep the process alive when the user forgets dispose().
  w.unref();
  return { terminate: () => void w.terminate() };
}

async function startBrowserWorker(init: WorkerInit, source: string): Promise<WorkerHandle> {
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  const w = new Worker(url);
  URL.revokeObjectURL(url);
  await new Promise<void>((resolve, reject) => {
    w.onmessage = (e: MessageEvent<WorkerReply>) => (e.data.ok ? resolve() : reject(new Error(e.data.message)));
    w.onerror = (e) => reject(new Error(e.message || 'worker failed to start'));
    w.postMessage(init);
  }).catch((e: Error) => {
    w.terminate();
    throw e;
  });
  w.onmessage = null;
  w.onerror = null;
  return { terminate: () => w.terminate() };
}

/**
 * Starts workers 1..threads-1 and waits until each has instantiated the
 * module. On any failure the ones already started are terminated.
 */
export async function startWorkers(
  base: Omit<WorkerInit, 'index'>,
  node: boolean,
): Promise<WorkerHandle[]> {
  const source = workerSource(node);
  const start = node ? startNodeWorker : startBrowserWorker;
  const settled = await Promise.allSettled(
    Array.from({ length: base.threads - 1 }, (_, i) => start({ ...base, index: i + 1 }, source)),
  );
  const handles = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    for (const h of handles) h.terminate();
    throw new KilnRuntimeError(`could not start ${base.threads - 1} worker threads: ${(failed.reason as Error).message}`);
  }
  return handles;
}

/** Reads and clears a failure recorded by executeSchedule, if any. */
export function takeFailure(ctrl: Int32Array): { thread: number; step: number; message: string } | null {
  const who = Atomics.load(ctrl, CTRL.ERROR);
  if (who === 0) return null;
  const len = ctrl[CTRL.MSG_LEN]!;
  let message = '';
  for (let i = 0; i < len; i++) message += String.fromCharCode(ctrl[CTRL.MSG + i]!);
  const step = ctrl[CTRL.ERROR_STEP]!;
  Atomics.store(ctrl, CTRL.ERROR, 0);
  return { thread: who - 1, step, message };
}
