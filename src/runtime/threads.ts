/**
 * Multi-threaded execution over one shared WebAssembly memory. N-1 workers
 * plus the calling thread each instantiate the same compiled module; a run
 * bumps a generation counter in a small control block (its own
 * SharedArrayBuffer, so the compiler's memory plan needs no reserved bytes),
 * every participant walks the same static schedule, takes a contiguous chunk
 * of each kernel's work items, and meets the others at a barrier before the
 * next kernel. No messages are posted per run or per kernel: only Atomics.
 *
 * Runs end: every wait is timed and checks, between slices, whether a worker
 * died (a worker that fails outside a kernel says so in the control block
 * before it exits; Node's exit/error events and browsers' error events reach
 * the program through `onDeath`) or the run was abandoned (ABORT). A run with
 * a time limit is "detached": a stand-in worker (index 0) takes the caller's
 * share, so the caller only waits, and can give up on a kernel that never
 * returns by terminating the workers (program.ts then starts new ones).
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
  DEAD: 8, // 0, or 1 + a worker that failed outside a kernel (it then exits)
  ABORT: 9, // nonzero: the run was abandoned; participants leave it
  DONE: 10, // detached runs: set to 1 by the stand-in for thread 0 when the schedule is done
  DETACHED: 11, // 1: thread 0's share is run by the stand-in worker, not by the caller
  AT_STEP: 12, // the schedule step thread 0 is at (to name a kernel that never returns)
  DEAD_MSG_LEN: 13,
  ERROR_AT: 14, // 0, or 1 + the ordinal (kernels run so far in this run) of the first failing kernel
  PIECES: 15, // 0: each participant calls a kernel once over its share; p > 0: in up to p calls (cold runs, see executeSchedule)
  MSG: 16, // up to MSG_MAX UTF-16 code units of a kernel's error message
  MSG_MAX: 240,
  DEAD_MSG: 256, // up to MSG_MAX code units of the DEAD worker's error message
} as const;
export const CTRL_SLOTS = 512;

/** Hard cap on threads (the caller included): more is refused at load, naming it. */
export const MAX_THREADS = 64;

/** Slice of every blocking wait: between slices, a waiter checks DEAD and ABORT. */
export const WAIT_SLICE_MS = 50;

export type KernelFn = (start: number, end: number) => void;

/**
 * One participant's share of one run: for each schedule step, the chunk of
 * [0, work) belonging to thread `me` of `n`, then a barrier. A trap is
 * recorded in the control block (first one wins) and the remaining steps are
 * skipped, but barriers are still honoured so no thread is left waiting.
 * Barrier waits are timed (WAIT_SLICE_MS) and give up when a worker has
 * died (DEAD) or the run was abandoned (ABORT), or past `deadline` (a
 * Date.now() value; it then sets ABORT): the function returns false, and the
 * barrier count is left inconsistent, so the caller replaces the control
 * block and the workers. `canWait` is false on a browser main thread, which
 * may spin but not block. With ctrl[PIECES] = p > 0, a share is run in up to
 * p calls of consecutive pieces (work items are independent, so any split
 * computes the same values as one call). `segs` (batch-polymorphic artifacts, see manifest
 * batchSegments) holds per step a segment count c and length L (0, 0: none): such a step's work
 * w is c runs of w / c items, run g starting at item g * L, and a share of [0, w) maps onto them.
 */
export function executeSchedule(
  fns: ReadonlyArray<KernelFn>,
  work: ArrayLike<number>,
  grain: ArrayLike<number>,
  ctrl: Int32Array,
  me: number,
  n: number,
  canWait: boolean,
  deadline: number,
  code?: ArrayLike<number>,
  mem?: ArrayBufferLike,
  segs?: ArrayLike<number>,
): boolean {
  // Counter barrier with a phase word: read the phase before arriving, so the last arrival's
  // bump is never missed. False when the run is abandoned (a worker died, ABORT, deadline).
  const meet = (): boolean => {
    const phase = Atomics.load(ctrl, 3);
    if (Atomics.add(ctrl, 2, 1) === n - 1) {
      Atomics.store(ctrl, 2, 0);
      Atomics.add(ctrl, 3, 1);
      Atomics.notify(ctrl, 3);
      return true;
    }
    // Spin briefly first: kernels of a small model finish in microseconds, far less than a
    // futex round trip. Then wait in slices, checking that everyone is still alive and the
    // run still wanted.
    let spins = 0;
    while (Atomics.load(ctrl, 3) === phase) {
      if (++spins > 4000) {
        if (Atomics.load(ctrl, 8) !== 0 || Atomics.load(ctrl, 9) !== 0) return false;
        if (Date.now() > deadline) {
          Atomics.compareExchange(ctrl, 9, 0, 2);
          return false;
        }
        if (canWait) Atomics.wait(ctrl, 3, phase, 50);
        else spins = 0;
      }
    }
    return true;
  };
  // Items [a, b) of step s; a segmented step's items are the live runs at the start of each segment.
  const call = (s: number, a: number, b: number): void => {
    const c = segs ? segs[2 * s]! : 0, live = work[s]! / c, len = segs ? segs[2 * s + 1]! : 0;
    if (c < 2 || live === len) return fns[s]!(a, b);
    // Item i of run g is item i + g * (len - live) of the kernel.
    for (let e; a < b; a = e) {
      const g = Math.floor(a / live), skip = g * (len - live);
      e = Math.min(b, (g + 1) * live);
      fns[s]!(a + skip, e + skip);
    }
  };
  // A kernel small enough for thread 0 alone, followed directly by another one, needs no
  // barrier between them: the others run neither and meet thread 0 after the last of the run.
  const solo = (k: number) => work[k]! < 2 * grain[k]!;
  // Set by the caller before it starts the run (the generation bump publishes it to workers).
  const pieces = Atomics.load(ctrl, 15);
  // Loops and branches (schedule.ts describes the code); without code, steps run in order.
  const len = code ? code.length / 4 : fns.length;
  const view = code && mem ? new DataView(mem) : undefined;
  const cnt: number[] = [];
  // Kernels this thread has run (barrier included): a flag read after a failure takes the
  // false path, so a data-dependent loop ends; the failure counts only once every thread
  // is past its kernel (ordinal below `ran`), so all threads still take the same path.
  let ran = 0;
  for (let pc = 0; pc < len;) {
    let s = pc++;
    if (code) {
      const i = s * 4, op = code[i]!, a = code[i + 1]!, b = code[i + 2]!, c = code[i + 3]!;
      if (op === 1) {
        // Every thread reads the flag (the kernel that wrote it was followed by a barrier),
        // then all meet again before any goes on to a kernel that might reuse its bytes.
        const v = b === 1 ? view!.getUint8(a) : b === 4 ? view!.getInt32(a, true) : view!.getFloat32(a, true);
        const e = Atomics.load(ctrl, 14);
        if (n > 1 && !meet()) return false;
        if (v === 0 || (e !== 0 && e <= ran)) pc = c;
        continue;
      }
      if (op === 2) pc = a;
      else if (op === 3) cnt[a] = b;
      else if (op === 4) {
        if (cnt[a] === 0) pc = b;
        else cnt[a]!--;
      }
      if (op !== 0) continue;
      s = a;
    }
    if (me === 0) ctrl[12] = s;
    if (Atomics.load(ctrl, 9) !== 0) return false;
    if (Atomics.load(ctrl, 4) === 0) {
      const w = work[s]!;
      const active = Math.min(n, Math.max(1, Math.floor(w / grain[s]!)));
      if (me < active) {
        const start = Math.floor((w * me) / active);
        const end = Math.floor((w * (me + 1)) / active);
        if (end > start) {
          try {
            // Cold runs (PIECES > 0) call a kernel on pieces of the share: WebAssembly has no
            // on-stack replacement, so a kernel whose baseline (Liftoff) code exhausts its tier-up
            // budget only gets optimized code at its next call.
            if (pieces > 0 && end - start > 1) {
              const step = Math.ceil((end - start) / pieces);
              for (let a = start; a < end; a += step) call(s, a, Math.min(end, a + step));
            } else call(s, start, end);
          } catch (e) {
            Atomics.compareExchange(ctrl, 14, 0, ran + 1);
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
    const next = code ? (code[pc * 4] === 0 ? code[pc * 4 + 1]! : -1) : pc < len ? pc : -1;
    if (n > 1 && !(solo(s) && next >= 0 && solo(next)) && !meet()) return false;
    ran++;
  }
  return true;
}

/** One entry point's schedule: kernel indices, and each step's work and grain. */
export interface SchedulePlan {
  schedule: number[];
  /** On a SharedArrayBuffer: the caller rewrites it before a run whose batch differs (batch-polymorphic artifacts). */
  work: Int32Array | number[];
  grain: number[];
  /** Loops and branches (schedule.ts), absent for a plain schedule. */
  code?: number[] | undefined;
  /** Segmented steps: [count, length] per step (executeSchedule), absent when none. */
  segs?: number[] | undefined;
}

/** Test hook: make a worker fail outside any kernel at the start of its `afterRuns`-th run. */
export interface WorkerFault {
  worker: number;
  afterRuns: number;
  /** 'throw': an exception escapes the worker's loop; 'exit': the thread exits (process.exit in Node); 'start': the worker fails to start. */
  kind: 'throw' | 'exit' | 'start';
}

/** What a worker needs; posted once, at load. */
export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  kernelNames: string[];
  /** Every entry point, indexed by the control block's ENTRY slot. */
  entries: SchedulePlan[];
  /** 1..threads-1; 0 is the stand-in that runs the caller's share of detached runs. */
  index: number;
  threads: number;
  fault?: WorkerFault | undefined;
}

export type WorkerReply = { ok: true } | { ok: false; message: string };

/**
 * Worker body: instantiate, report ready, then serve runs until told to exit.
 * A failure outside a kernel is recorded in the DEAD slots (so the others stop
 * waiting for this thread) and rethrown, which ends the thread with an error event.
 */
export async function workerMain(
  init: WorkerInit,
  post: (r: WorkerReply) => void,
  exec: typeof executeSchedule,
): Promise<void> {
  let plans: { fns: KernelFn[]; work: Int32Array | number[]; grain: number[]; code?: number[] | undefined; segs?: number[] | undefined }[];
  try {
    if (init.fault?.kind === 'start' && init.fault.worker === init.index) throw new Error('injected start failure (test hook)');
    const inst = await WebAssembly.instantiate(init.module, { env: { memory: init.memory } });
    plans = init.entries.map((e) => ({ fns: e.schedule.map((k) => inst.exports[init.kernelNames[k]!] as KernelFn), work: e.work, grain: e.grain, code: e.code, segs: e.segs }));
  } catch (e) {
    post({ ok: false, message: String(e instanceof Error ? e.message : e) });
    return;
  }
  const ctrl = new Int32Array(init.control);
  // Writes this thread's death into the DEAD slots (first one wins) and wakes every waiter.
  const dead = (what: string): void => {
    if (Atomics.compareExchange(ctrl, 8, 0, init.index + 1) === 0) {
      const msg = what.slice(0, 240);
      ctrl[13] = msg.length;
      for (let i = 0; i < msg.length; i++) ctrl[256 + i] = msg.charCodeAt(i);
    }
    Atomics.notify(ctrl, 3);
    Atomics.notify(ctrl, 10);
  };
  // Node runs process 'exit' handlers when a worker calls process.exit: say so unless told to exit.
  const proc = (globalThis as unknown as { process?: { on(ev: string, f: (code: number) => void): void } }).process;
  proc?.on('exit', (code) => {
    if (Atomics.load(ctrl, 1) === 0) dead(`exited with code ${code}`);
  });
  let seen = Atomics.load(ctrl, 0);
  let runs = 0;
  post({ ok: true });
  for (;;) {
    let spins = 0;
    while (Atomics.load(ctrl, 0) === seen) {
      if (++spins > 4000) Atomics.wait(ctrl, 0, seen, 1000);
    }
    seen = Atomics.load(ctrl, 0);
    if (Atomics.load(ctrl, 1) !== 0) return;
    // The stand-in takes part only in detached runs.
    if (init.index === 0 && Atomics.load(ctrl, 11) === 0) continue;
    try {
      const f = init.fault;
      if (f && f.worker === init.index && ++runs >= f.afterRuns) {
        if (f.kind === 'exit') (globalThis as unknown as { process: { exit(code: number): void } }).process.exit(3);
        throw new Error('injected failure outside a kernel (test hook)');
      }
      const p = plans[Atomics.load(ctrl, 7)];
      if (!p) throw new Error(`no entry point at index ${Atomics.load(ctrl, 7)}`);
      exec(p.fns, p.work, p.grain, ctrl, init.index, init.threads, true, Infinity, p.code, init.memory.buffer, p.segs);
    } catch (e) {
      dead(`threw outside a kernel: ${String(e instanceof Error ? e.message : e)}`);
      throw e;
    }
    if (init.index === 0) {
      Atomics.store(ctrl, 10, 1);
      Atomics.notify(ctrl, 10);
    }
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
  readonly index: number;
  /** Stops the thread; its exit is expected, so no death is reported. */
  terminate(): void;
  /** Test hook: stops the thread as if from outside; the death is reported like any other. */
  kill(): void;
}

/** Called once per worker that exits or throws without being asked to. */
export type DeathListener = (index: number, what: string) => void;

interface NodeWorker {
  on(ev: 'message', f: (r: WorkerReply) => void): void;
  on(ev: 'error', f: (e: Error) => void): void;
  on(ev: 'exit', f: (code: number) => void): void;
  postMessage(m: WorkerInit): void;
  terminate(): Promise<number>;
  unref(): void;
}

// A variable, not a literal, so bundlers targeting browsers leave it alone.
const NODE_WORKER_MODULE = 'node:worker_threads';

async function startNodeWorker(init: WorkerInit, source: string, onDeath: DeathListener): Promise<WorkerHandle> {
  const mod = (await import(/* @vite-ignore */ NODE_WORKER_MODULE)) as {
    Worker: new (src: string, opts: { eval: boolean }) => NodeWorker;
  };
  const w = new mod.Worker(source, { eval: true });
  let ready = false;
  let stopping = false;
  let reported = false;
  const died = (what: string): void => {
    if (ready && !stopping && !reported) {
      reported = true;
      onDeath(init.index, what);
    }
  };
  await new Promise<void>((resolve, reject) => {
    w.on('message', (r) => (r.ok ? resolve() : reject(new Error(r.message))));
    // Listeners stay for the worker's life: an 'error' nobody listens to would crash the process.
    w.on('error', (e) => (ready ? died(`threw outside a kernel: ${e.message}`) : reject(e)));
    w.on('exit', (code) => (ready ? died(`exited with code ${code}`) : reject(new Error(`worker exited with code ${code} before it was ready`))));
    w.postMessage(init);
  }).catch((e: Error) => {
    stopping = true;
    void w.terminate();
    throw e;
  });
  ready = true;
  // An idle worker must not keep the process alive when the user forgets dispose().
  w.unref();
  return {
    index: init.index,
    terminate: () => {
      stopping = true;
      void w.terminate();
    },
    kill: () => void w.terminate(),
  };
}

async function startBrowserWorker(init: WorkerInit, source: string, onDeath: DeathListener): Promise<WorkerHandle> {
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
  // Browsers report no exit event; a worker's uncaught error is its death (it also sets DEAD).
  let stopping = false;
  w.onmessage = null;
  w.onerror = (e) => {
    if (!stopping) onDeath(init.index, `threw outside a kernel: ${e.message || 'error'}`);
  };
  const stop = (quiet: boolean): void => {
    stopping = quiet;
    w.terminate();
    if (!quiet) onDeath(init.index, 'was terminated');
  };
  return { index: init.index, terminate: () => stop(true), kill: () => stop(false) };
}

let fault: WorkerFault | undefined;
/** Test hook: workers started from now on carry this fault (undefined clears it). */
export function injectWorkerFault(f: WorkerFault | undefined): void {
  fault = f;
}

/**
 * Starts the workers with the given indices (1..threads-1 for a crew; 0 for
 * the stand-in) and waits until each has instantiated the module. On any
 * failure the ones already started are terminated.
 */
export async function startWorkers(
  base: Omit<WorkerInit, 'index'>,
  indices: readonly number[],
  node: boolean,
  onDeath: DeathListener,
): Promise<WorkerHandle[]> {
  const source = workerSource(node);
  const start = node ? startNodeWorker : startBrowserWorker;
  const settled = await Promise.allSettled(indices.map((index) => start({ ...base, index, fault }, source, onDeath)));
  const handles = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    for (const h of handles) h.terminate();
    throw new KilnRuntimeError(`could not start ${indices.length} worker thread${indices.length === 1 ? '' : 's'}: ${(failed.reason as Error).message}`);
  }
  return handles;
}

function readMessage(ctrl: Int32Array, lenSlot: number, at: number): string {
  const len = Math.min(ctrl[lenSlot]!, CTRL.MSG_MAX);
  let message = '';
  for (let i = 0; i < len; i++) message += String.fromCharCode(ctrl[at + i]!);
  return message;
}

/** Reads and clears a failure recorded by executeSchedule, if any. */
export function takeFailure(ctrl: Int32Array): { thread: number; step: number; message: string } | null {
  const who = Atomics.load(ctrl, CTRL.ERROR);
  if (who === 0) return null;
  const message = readMessage(ctrl, CTRL.MSG_LEN, CTRL.MSG);
  const step = ctrl[CTRL.ERROR_STEP]!;
  Atomics.store(ctrl, CTRL.ERROR, 0);
  Atomics.store(ctrl, CTRL.ERROR_AT, 0);
  return { thread: who - 1, step, message };
}

/** A worker's failure outside any kernel ("threw outside a kernel: ...", "exited with code 3"), recorded in the DEAD slots by the worker itself. */
export function deadWorker(ctrl: Int32Array): { thread: number; message: string } | null {
  const who = Atomics.load(ctrl, CTRL.DEAD);
  return who === 0 ? null : { thread: who - 1, message: readMessage(ctrl, CTRL.DEAD_MSG_LEN, CTRL.DEAD_MSG) };
}

type WaitAsync = (a: Int32Array, i: number, v: number, t: number) => { async: boolean; value: Promise<string> | string };

/**
 * Resolves when ctrl[i] may no longer be v, or after `ms`. A timer runs beside
 * Atomics.waitAsync (where it exists) because a pending waitAsync alone does
 * not keep Node's event loop alive.
 */
export function waitAsync(ctrl: Int32Array, i: number, v: number, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    const wa = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;
    if (!wa) return;
    const r = wa(ctrl, i, v, ms);
    if (!r.async) {
      clearTimeout(timer);
      resolve();
    } else {
      void (r.value as Promise<string>).then(() => {
        clearTimeout(timer);
        resolve();
      });
    }
  });
}
