/**
 * A loaded program: its entry points (named schedules over one memory), the
 * resident state they share, and the only places where bytes cross between
 * JavaScript and linear memory: a run's inputs and outputs, getState and
 * setState. `stats` counts those bytes, so "state stays resident" is
 * observable. Building one (compiling, instantiating, starting workers) is
 * the executor's job (wasm_executor.ts).
 */
import { bytesOf, checkEntryName, checkInputs, checkOptions, checkStateNames, checkStateValues, describe } from './args.js';
import { readTensor, writeTensor, type DType, type TensorData } from './dtypes.js';
import { KilnRuntimeError } from './errors.js';
import { elementCount, specAtBatch, workAtBatch, type Manifest, type StateSpec, type TensorSpec } from './manifest.js';
import {
  CTRL,
  CTRL_SLOTS,
  WAIT_SLICE_MS,
  deadWorker,
  executeSchedule,
  takeFailure,
  waitAsync,
  type DeathListener,
  type KernelFn,
  type WorkerHandle,
} from './threads.js';

export interface TensorInfo {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

export type Variant = 'simd' | 'relaxed-simd';

export interface RunOptions {
  /** Entry point to run; default: the artifact's default entry. */
  entry?: string;
  /**
   * run()/step() only: give up after this many milliseconds. The run is then
   * executed by worker threads alone (a stand-in worker takes the caller's
   * share), so even a kernel that never returns can be stopped: on time-out
   * the workers are terminated, the run rejects, and new workers are started
   * for the next run. Resident state may be partly updated by the abandoned
   * run. Needs shared memory (an artifact compiled for threads, on a host
   * with threads).
   */
  timeoutMs?: number;
}

/** Options of runSync: the entry only (a blocked caller cannot enforce a time limit). */
export type SyncRunOptions = Pick<RunOptions, 'entry'>;

const RUN_OPTIONS = ['entry', 'timeoutMs'] as const;

/** Bytes copied between JavaScript and linear memory since load. */
export interface Stats {
  /** Schedule executions (run/step calls that got past input checks). */
  runs: number;
  /** Run inputs plus setState, in linear-memory bytes (an f16 element is 2). */
  bytesIn: number;
  /** Run outputs plus getState. */
  bytesOut: number;
}

/** One entry point: `prog.entry('eval_step')`. The program itself is its default entry. */
export interface EntryPoint {
  readonly name: string;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  run(inputs: Record<string, TensorData>, options?: Pick<RunOptions, 'timeoutMs'>): Promise<Record<string, TensorData>>;
  runSync(inputs: Record<string, TensorData>): Record<string, TensorData>;
  step(batch: Record<string, TensorData>, options?: Pick<RunOptions, 'timeoutMs'>): Promise<Record<string, TensorData>>;
}

/** @internal What the executor prepares per entry point. */
export interface EntryPlan {
  /** Position in the workers' entry list (the control block's ENTRY slot). */
  index: number;
  name: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Kernel index of each schedule step (loops and branches flattened, schedule.ts). */
  schedule: number[];
  /** The jump code of loops and branches, absent for a plain schedule. */
  code: Int32Array | undefined;
  fns: KernelFn[];
  /** Work items of each step at the batch of the last run (shared with the workers where memory is). */
  work: Int32Array;
  grain: Int32Array;
  /** The batch `work` holds counts for (batch-polymorphic artifacts; else the fixed batch). */
  batch?: number;
  /** Batch-polymorphic artifacts: each step's batchSegments as [count, segment length] ([0, 0]: none). */
  segs?: number[];
  /** Runs left that call kernels in pieces (load's chunkedRuns; counts down). */
  coldRuns: number;
  /** Pieces per thread's share in those runs. */
  coldPieces: number;
}

/** @internal Starts workers with these indices on a control block. */
export type SpawnWorkers = (control: SharedArrayBuffer, indices: number[], onDeath: DeathListener) => Promise<WorkerHandle[]>;

/** @internal */
export interface ProgramParts {
  manifest: Manifest;
  variant: Variant;
  threads: number;
  memory: WebAssembly.Memory;
  sharedMemory: boolean;
  plans: EntryPlan[];
  stateImage: Uint8Array | undefined;
  callerCanWait: boolean;
  /** Present when memory is shared and the host has workers. */
  spawn: SpawnWorkers | undefined;
}

const info = (t: TensorSpec): TensorInfo => Object.freeze({ name: t.name, shape: Object.freeze([...t.shape]), dtype: t.dtype });
const newControl = (shared: boolean): Int32Array =>
  new Int32Array(shared ? new SharedArrayBuffer(CTRL_SLOTS * 4) : new ArrayBuffer(CTRL_SLOTS * 4));

function checkRunOptions(options: unknown, sync: boolean): RunOptions {
  if (sync && typeof options === 'object' && options !== null && Object.prototype.hasOwnProperty.call(options, 'timeoutMs')) {
    throw new KilnRuntimeError('runSync() options: timeoutMs applies to run() and step() only (runSync blocks its caller, which cannot then stop a kernel); use await run(inputs, {timeoutMs})');
  }
  const o = checkOptions(`${sync ? 'runSync' : 'run'}() options`, options, sync ? ['entry'] : RUN_OPTIONS) as RunOptions;
  const t = o.timeoutMs;
  if (t !== undefined && (typeof t !== 'number' || !(t > 0) || t > 2 ** 31 - 1)) {
    throw new KilnRuntimeError(`run() options: timeoutMs must be a number of milliseconds in (0, ${2 ** 31 - 1}], got ${describe(t)}`);
  }
  return o;
}

/**
 * Runs that end. A worker that dies (exits, is terminated, or throws outside
 * a kernel) makes the run in progress reject with a KilnRuntimeError naming
 * the worker and what happened; the program then terminates its other
 * workers and starts new ones. run()/step() wait for the new workers;
 * runSync() meanwhile runs on the calling thread alone. Only if new workers
 * cannot be started does the program refuse further runs, saying why.
 */
export class Program implements EntryPoint {
  readonly manifest: Manifest;
  readonly variant: Variant;
  /** Threads it runs on, the caller included. */
  readonly threads: number;
  /** Whether linear memory is shared (false when a threads artifact was unshared for this host). */
  readonly sharedMemory: boolean;
  /** A batch-polymorphic artifact's largest batch (inputs may lead with any batch from 1 to it); else undefined. */
  readonly maxBatch: number | undefined;
  /** The default entry's name ("main" unless the manifest's defaultEntry says otherwise). */
  readonly name: string;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** Entry point names, the default first. */
  readonly entries: readonly string[];
  /** The resident state tensors, in manifest order. */
  readonly state: readonly TensorInfo[];
  readonly stateNames: readonly string[];
  private readonly parts: ProgramParts;
  private readonly stateSpecs: StateSpec[];
  private readonly counters: Stats = { runs: 0, bytesIn: 0, bytesOut: 0 };
  private restarts = 0;
  private disposed = false;
  /** The current crew's control block, workers (1..threads-1) and stand-in (index 0, started for the first detached run). */
  private ctrl: Int32Array;
  private workers: WorkerHandle[] = [];
  private standIn: WorkerHandle | undefined;
  /** Bumped whenever the crew is replaced, so late death reports of an old crew are ignored. */
  private crew = 0;
  /** Why the current crew is unusable (a worker died), until it is replaced. */
  private death: string | undefined;
  private restarting: Promise<void> | undefined;
  /** Set when new workers could not be started: every later run is refused with it. */
  private broken: string | undefined;
  /** Async runs, one at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  private detachedInFlight = false;

  /** @internal Use `load`. */
  constructor(parts: ProgramParts) {
    this.parts = parts;
    this.manifest = parts.manifest;
    this.variant = parts.variant;
    this.threads = parts.threads;
    this.sharedMemory = parts.sharedMemory;
    this.maxBatch = parts.manifest.batch?.max;
    const main = parts.plans[0]!;
    this.name = main.name;
    this.inputs = Object.freeze(main.inputs.map(info));
    this.outputs = Object.freeze(main.outputs.map(info));
    this.entries = Object.freeze(parts.plans.map((p) => p.name));
    this.stateSpecs = parts.manifest.state ?? [];
    this.state = Object.freeze(this.stateSpecs.map(info));
    this.stateNames = Object.freeze(this.stateSpecs.map((s) => s.name));
    this.ctrl = newControl(parts.spawn !== undefined);
    this.resetState();
  }

  /** @internal Starts the worker threads (the executor calls it once, at load). */
  async startWorkers(): Promise<void> {
    if (this.threads > 1) this.workers = await this.spawn([...Array(this.threads - 1).keys()].map((i) => i + 1));
  }

  /** @internal Test hook: the live worker handles (1..threads-1, then the stand-in if started). */
  get workerHandles(): readonly WorkerHandle[] {
    return this.standIn ? [...this.workers, this.standIn] : [...this.workers];
  }

  /** A snapshot of the byte counters. */
  get stats(): Stats {
    return { ...this.counters };
  }

  /** Times the worker threads were replaced after one died or failed, or a run was abandoned. */
  get workerRestarts(): number {
    return this.restarts;
  }

  /**
   * Runs an entry point; the returned arrays are fresh copies the caller owns.
   * Calls are queued: one run at a time. `timeoutMs`: see RunOptions.
   */
  run(inputs: Record<string, TensorData>, options?: RunOptions): Promise<Record<string, TensorData>> {
    const job = this.queue.then(() => this.runAsync(inputs, options));
    this.queue = job.catch(() => undefined);
    return job;
  }

  /** A training step: the same as `run`. Resident state is updated in place and never copied out. */
  step(batch: Record<string, TensorData>, options?: RunOptions): Promise<Record<string, TensorData>> {
    return this.run(batch, options);
  }

  /**
   * Same as `run` without a time limit, returning directly. With threads the
   * caller takes part: it blocks in Atomics.wait at barriers where the host
   * allows it (Node, workers) and spins where it does not (a browser's main
   * thread). While new workers are being started after a failure, it runs on
   * the calling thread alone.
   */
  runSync(inputs: Record<string, TensorData>, options?: SyncRunOptions): Record<string, TensorData> {
    const o = checkRunOptions(options, true);
    this.live();
    if (this.detachedInFlight) throw new KilnRuntimeError('runSync() was called while a run() with timeoutMs is in progress; await that run first');
    return this.execute(this.plan(o.entry), inputs);
  }

  /** One entry point by name, to run without passing `{entry}` each time. */
  entry(name: string): EntryPoint {
    const p = this.plan(name);
    const withEntry = (o: unknown): RunOptions => {
      const c = checkOptions(`entry('${name}').run() options`, o, ['timeoutMs']);
      return { ...c, entry: name };
    };
    return Object.freeze({
      name,
      inputs: Object.freeze(p.inputs.map(info)),
      outputs: Object.freeze(p.outputs.map(info)),
      run: (x: Record<string, TensorData>, o?: Pick<RunOptions, 'timeoutMs'>) => this.run(x, withEntry(o)),
      runSync: (x: Record<string, TensorData>) => this.runSync(x, { entry: name }),
      step: (x: Record<string, TensorData>, o?: Pick<RunOptions, 'timeoutMs'>) => this.step(x, withEntry(o)),
    });
  }

  /** Copies state tensors out: all, one (by name) or the ones named. */
  getState(only?: string | readonly string[]): Record<string, TensorData> {
    this.live();
    const out: Record<string, TensorData> = {};
    for (const s of checkStateNames(only, this.stateSpecs)) out[s.name] = this.read(s);
    return out;
  }

  /** Overwrites the named state tensors; all are checked before any is written. */
  setState(values: Record<string, TensorData>): void {
    this.live();
    for (const [s, data] of checkStateValues(values, this.stateSpecs)) this.write(s, data);
  }

  /** Restores every state tensor to its initial value (from the artifact, or zero). */
  resetState(): void {
    this.live();
    const bytes = new Uint8Array(this.parts.memory.buffer);
    for (const s of this.stateSpecs) {
      const n = bytesOf(s);
      if (s.init === undefined) bytes.fill(0, s.offset, s.offset + n);
      else bytes.set(this.parts.stateImage!.subarray(s.init, s.init + n), s.offset);
    }
  }

  /** Stops the worker threads. The program cannot run afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.stopCrew();
  }

  private live(): void {
    if (this.disposed) throw new KilnRuntimeError('this program was disposed; load the artifact again to run it');
    if (this.broken) throw new KilnRuntimeError(this.broken);
  }

  private plan(entry: unknown): EntryPlan {
    return this.parts.plans[checkEntryName(entry, this.entries)]!;
  }

  private async runAsync(inputs: Record<string, TensorData>, options: RunOptions | undefined): Promise<Record<string, TensorData>> {
    const o = checkRunOptions(options, false);
    this.live();
    const plan = this.plan(o.entry);
    if (this.restarting) await this.restarting;
    this.live();
    if (o.timeoutMs === undefined) return this.execute(plan, inputs);
    return this.executeDetached(plan, inputs, o.timeoutMs);
  }

  private whose(plan: EntryPlan): string {
    return plan.index ? `entry '${plan.name}'` : `the program ('${plan.name}')`;
  }

  /** The caller takes part (thread 0); alone while the crew is being replaced. */
  private execute(plan: EntryPlan, inputs: unknown): Record<string, TensorData> {
    this.writeInputs(plan, inputs);
    this.counters.runs++;
    const alone = this.threads === 1 || this.restarting !== undefined || this.death !== undefined;
    const ctrl = alone ? newControl(false) : this.ctrl;
    const n = alone ? 1 : this.threads;
    this.setPieces(plan, ctrl);
    if (n > 1) {
      Atomics.store(ctrl, CTRL.DETACHED, 0);
      Atomics.store(ctrl, CTRL.ENTRY, plan.index);
      Atomics.add(ctrl, CTRL.GEN, 1);
      Atomics.notify(ctrl, CTRL.GEN);
    }
    if (!executeSchedule(plan.fns, plan.work, plan.grain, ctrl, 0, n, this.parts.callerCanWait, Infinity, plan.code, this.parts.memory.buffer, plan.segs)) {
      throw this.abandon(plan, this.deathReason(ctrl) ?? 'the run was abandoned');
    }
    return this.finish(plan, ctrl);
  }

  /** Workers only (the stand-in takes thread 0's share); the caller waits, at most `timeoutMs`. */
  private async executeDetached(plan: EntryPlan, inputs: unknown, timeoutMs: number): Promise<Record<string, TensorData>> {
    if (!this.parts.spawn) {
      throw new KilnRuntimeError(
        `run() options: timeoutMs needs worker threads on shared memory, and this program runs on one thread without shared memory (${this.sharedMemory ? 'this host has no workers' : 'the artifact was compiled without threads, or this host has no SharedArrayBuffer'}); run it without timeoutMs, or recompile it for threads`,
      );
    }
    this.writeInputs(plan, inputs);
    this.detachedInFlight = true;
    try {
      if (!this.standIn) {
        const crew = this.crew;
        const [h] = await this.spawn([0]);
        if (crew !== this.crew || this.disposed) h!.terminate();
        else this.standIn = h;
        this.live();
        const dead = this.deathReason(this.ctrl);
        if (dead || !this.standIn) throw this.abandon(plan, dead ?? 'the worker threads were replaced while it started');
      }
      this.counters.runs++;
      const { ctrl } = this;
      const deadline = Date.now() + timeoutMs;
      this.setPieces(plan, ctrl);
      Atomics.store(ctrl, CTRL.DONE, 0);
      Atomics.store(ctrl, CTRL.DETACHED, 1);
      Atomics.store(ctrl, CTRL.ENTRY, plan.index);
      Atomics.add(ctrl, CTRL.GEN, 1);
      Atomics.notify(ctrl, CTRL.GEN);
      while (Atomics.load(ctrl, CTRL.DONE) === 0) {
        if (this.disposed) throw new KilnRuntimeError(`run of ${this.whose(plan)} was abandoned: the program was disposed during the run`);
        const dead = this.deathReason(ctrl);
        if (dead) throw this.abandon(plan, dead);
        const left = deadline - Date.now();
        if (left <= 0) {
          const step = ctrl[CTRL.AT_STEP]!;
          const k = this.manifest.kernels[plan.schedule[step]!];
          throw this.abandon(
            plan,
            `it did not finish within timeoutMs ${timeoutMs} (thread 0 was at schedule step ${step}${k ? `, kernel '${k.name}'` : ''})`,
          );
        }
        await waitAsync(ctrl, CTRL.DONE, 0, Math.min(left, WAIT_SLICE_MS));
      }
      const dead = this.deathReason(ctrl);
      if (dead) throw this.abandon(plan, dead);
      return this.finish(plan, ctrl);
    } finally {
      this.detachedInFlight = false;
    }
  }

  /** Cold runs of an entry call kernels in pieces (threads.ts, executeSchedule); later ones over whole shares. */
  private setPieces(plan: EntryPlan, ctrl: Int32Array): void {
    const cold = plan.coldRuns > 0;
    if (cold) plan.coldRuns--;
    Atomics.store(ctrl, CTRL.PIECES, cold ? plan.coldPieces : 0);
  }

  private finish(plan: EntryPlan, ctrl: Int32Array): Record<string, TensorData> {
    const failure = takeFailure(ctrl);
    if (failure) {
      const k = this.manifest.kernels[plan.schedule[failure.step]!]!;
      throw new KilnRuntimeError(
        `kernel '${k.name}' (${plan.index ? `entry '${plan.name}', ` : ''}schedule step ${failure.step}) failed on thread ${failure.thread}: ${failure.message}`,
      );
    }
    const out: Record<string, TensorData> = {};
    const n = plan.batch;
    for (const o of plan.outputs) out[o.name] = this.read(n === undefined ? o : specAtBatch(o, n));
    return out;
  }

  /** What killed the current crew, if anything: a death event, or a worker's own report in the control block. */
  private deathReason(ctrl: Int32Array): string | undefined {
    if (this.death) return this.death;
    const d = deadWorker(ctrl);
    return d ? `${this.workerName(d.thread)} ${d.message}` : undefined;
  }

  /** Gives up the run in progress: replaces the crew and returns the error to throw. */
  private abandon(plan: EntryPlan, why: string): KilnRuntimeError {
    Atomics.store(this.ctrl, CTRL.ABORT, 1);
    void this.restart();
    return new KilnRuntimeError(
      `run of ${this.whose(plan)} failed: ${why}; the program terminated its worker threads and is starting new ones for the next run (resident state may be partly updated)`,
    );
  }

  private spawn(indices: number[]): Promise<WorkerHandle[]> {
    const crew = this.crew;
    return this.parts.spawn!(this.ctrl.buffer as SharedArrayBuffer, indices, (index, what) => this.onDeath(crew, index, what));
  }

  private workerName(index: number): string {
    return index === 0 ? 'the stand-in worker thread (for thread 0)' : `worker thread ${index} of ${this.threads}`;
  }

  private onDeath(crew: number, index: number, what: string): void {
    if (crew !== this.crew || this.disposed || this.death) return;
    this.death = `${this.workerName(index)} ${what}`;
    // Between runs, replace the crew now; during a detached run, the run notices and replaces it.
    if (!this.detachedInFlight) void this.restart();
  }

  private stopCrew(): void {
    const { ctrl } = this;
    this.crew++;
    if (this.workers.length > 0 || this.standIn) {
      Atomics.store(ctrl, CTRL.ABORT, 1);
      Atomics.store(ctrl, CTRL.CMD, 1);
      Atomics.add(ctrl, CTRL.GEN, 1);
      Atomics.notify(ctrl, CTRL.GEN);
      Atomics.notify(ctrl, CTRL.PHASE);
      for (const w of this.workers) w.terminate();
      this.standIn?.terminate();
    }
    this.workers = [];
    this.standIn = undefined;
  }

  /** Terminates the crew and starts a new one on a fresh control block; refuses further runs if that fails. */
  private restart(): Promise<void> {
    if (this.restarting) return this.restarting;
    const why = this.death ?? 'a run was abandoned';
    this.stopCrew();
    this.ctrl = newControl(true);
    this.death = undefined;
    const indices = [...Array(this.threads - 1).keys()].map((i) => i + 1);
    const crew = this.crew;
    this.restarting = this.spawn(indices)
      .then(
        (ws) => {
          if (crew !== this.crew || this.disposed) {
            for (const w of ws) w.terminate();
            return;
          }
          this.workers = ws;
          this.restarts++;
        },
        (e: Error) => {
          this.broken = `this program cannot run any more: after ${why}, its worker threads could not be restarted (${e.message}); load the artifact again`;
        },
      )
      .finally(() => {
        this.restarting = undefined;
      });
    return this.restarting;
  }

  private read(s: TensorSpec): TensorData {
    this.counters.bytesOut += bytesOf(s);
    return readTensor(this.parts.memory.buffer, s.offset, s.dtype, elementCount(s.shape));
  }

  private write(s: TensorSpec, data: TensorData): void {
    this.counters.bytesIn += bytesOf(s);
    writeTensor(this.parts.memory.buffer, s.offset, s.dtype, data);
  }

  private writeInputs(plan: EntryPlan, inputs: unknown): void {
    const whose = plan.index ? `entry '${plan.name}' takes` : "the program's inputs are";
    const n = this.batchOf(plan, inputs);
    const specs = n === undefined ? plan.inputs : plan.inputs.map((t) => specAtBatch(t, n));
    for (const [s, data] of checkInputs(specs, inputs, whose)) this.write(s, data);
    if (n !== undefined) new DataView(this.parts.memory.buffer).setInt32(this.manifest.batch!.slot, n, true);
    if (n !== undefined && plan.batch !== n) {
      // Workers read these counts after the run's generation bump (an Atomics write) makes them visible.
      // A kernel with batchSegments: its live items in each segment, `count` times (executeSchedule maps them to the segments).
      plan.schedule.forEach((k, i) => {
        const s = this.manifest.kernels[k]!, g = s.batchSegments;
        plan.work[i] = g ? g.count * workAtBatch({ work: s.work / g.count, batch: g.work }, n) : workAtBatch(s, n);
      });
      plan.batch = n;
    }
  }

  /**
   * The batch of a run of a batch-polymorphic artifact: every batched input holds a whole number
   * of batch items, the same number, from 1 to maxBatch. Undefined for fixed-shape artifacts;
   * malformed inputs are left for checkInputs to describe.
   */
  private batchOf(plan: EntryPlan, inputs: unknown): number | undefined {
    const max = this.maxBatch;
    if (max === undefined || typeof inputs !== 'object' || inputs === null) return max;
    let n: number | undefined, from = '';
    for (const s of plan.inputs) {
      const data = (inputs as Record<string, TensorData>)[s.name];
      if (!s.batch || !ArrayBuffer.isView(data)) continue;
      const per = elementCount(s.shape) / max;
      const m = data.length / per;
      const shape = `[N${s.batch > 1 ? `*${s.batch}` : ''}, ${s.shape.slice(1).join(', ')}]`;
      if (!(m >= 1 && m <= max && m % 1 === 0)) {
        throw new KilnRuntimeError(`input '${s.name}' has ${data.length} elements; it takes shape ${shape} (${per} elements per batch item) with batch N from 1 to maxBatch ${max}`);
      }
      if (n !== undefined && m !== n) throw new KilnRuntimeError(`inputs disagree on the batch size: '${from}' has ${n} batch items, '${s.name}' has ${m}`);
      n = m;
      from = s.name;
    }
    return n ?? max;
  }

}
