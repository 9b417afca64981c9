/**
 * A loaded program: its entry points (named schedules over one memory), the
 * resident state they share, and the only places where bytes cross between
 * JavaScript and linear memory: a run's inputs and outputs, getState and
 * setState. `stats` counts those bytes, so "state stays resident" is
 * observable. Building one (compiling, instantiating, starting workers) is
 * the executor's job (wasm_executor.ts).
 */
import { dtypeBytes, hostArrayName, readTensor, writeTensor, type DType, type TensorData } from './dtypes.js';
import { KilnRuntimeError } from './errors.js';
import { elementCount, specToString, type Manifest, type StateSpec, type TensorSpec } from './manifest.js';
import { CTRL, executeSchedule, takeFailure, type KernelFn, type WorkerHandle } from './threads.js';

export interface TensorInfo {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

export type Variant = 'simd' | 'relaxed-simd';

export interface RunOptions {
  /** Entry point to run; default: the artifact's default entry. */
  entry?: string;
}

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
  run(inputs: Record<string, TensorData>): Promise<Record<string, TensorData>>;
  runSync(inputs: Record<string, TensorData>): Record<string, TensorData>;
  step(batch: Record<string, TensorData>): Promise<Record<string, TensorData>>;
}

/** @internal What the executor prepares per entry point. */
export interface EntryPlan {
  /** Position in the workers' entry list (the control block's ENTRY slot). */
  index: number;
  name: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  schedule: number[];
  fns: KernelFn[];
  work: Int32Array;
  grain: Int32Array;
}

/** @internal */
export interface ProgramParts {
  manifest: Manifest;
  variant: Variant;
  threads: number;
  memory: WebAssembly.Memory;
  sharedMemory: boolean;
  plans: EntryPlan[];
  stateImage: Uint8Array | undefined;
  ctrl: Int32Array;
  workers: WorkerHandle[];
  callerCanWait: boolean;
}

function describe(x: unknown): string {
  if (ArrayBuffer.isView(x)) return `${x.constructor.name}(${(x as unknown as ArrayLike<number>).length ?? x.byteLength})`;
  if (Array.isArray(x)) return `Array(${x.length})`;
  return x === null ? 'null' : typeof x;
}

const tagOf = (x: unknown): string => Object.prototype.toString.call(x).slice(8, -1);
const bytesOf = (s: TensorSpec): number => elementCount(s.shape) * dtypeBytes(s.dtype);
const names = (list: readonly { name: string }[]): string => list.map((s) => s.name).join(', ') || '(none)';
const info = (t: TensorSpec): TensorInfo => Object.freeze({ name: t.name, shape: Object.freeze([...t.shape]), dtype: t.dtype });
const has = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

function expected(s: TensorSpec): string {
  const n = elementCount(s.shape);
  return `${specToString(s)} (${n} element${n === 1 ? '' : 's'}, ${hostArrayName(s.dtype)})`;
}

/** Throws unless `data` is the host array `s` travels in, with the right length. */
function checkArray(kind: string, s: TensorSpec, data: unknown): TensorData {
  if (tagOf(data) !== hostArrayName(s.dtype) || (data as TensorData).length !== elementCount(s.shape)) {
    throw new KilnRuntimeError(`${kind} '${s.name}' must be ${expected(s)}, got ${describe(data)}`);
  }
  return data as TensorData;
}

export class Program implements EntryPoint {
  readonly manifest: Manifest;
  readonly variant: Variant;
  /** Threads it runs on, the caller included. */
  readonly threads: number;
  /** Whether linear memory is shared (false when a threads artifact was unshared for this host). */
  readonly sharedMemory: boolean;
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
  private disposed = false;

  /** @internal Use `load`. */
  constructor(parts: ProgramParts) {
    this.parts = parts;
    this.manifest = parts.manifest;
    this.variant = parts.variant;
    this.threads = parts.threads;
    this.sharedMemory = parts.sharedMemory;
    const main = parts.plans[0]!;
    this.name = main.name;
    this.inputs = Object.freeze(main.inputs.map(info));
    this.outputs = Object.freeze(main.outputs.map(info));
    this.entries = Object.freeze(parts.plans.map((p) => p.name));
    this.stateSpecs = parts.manifest.state ?? [];
    this.state = Object.freeze(this.stateSpecs.map(info));
    this.stateNames = Object.freeze(this.stateSpecs.map((s) => s.name));
    this.resetState();
  }

  /** A snapshot of the byte counters. */
  get stats(): Stats {
    return { ...this.counters };
  }

  /** Runs an entry point; the returned arrays are fresh copies the caller owns. */
  async run(inputs: Record<string, TensorData>, options?: RunOptions): Promise<Record<string, TensorData>> {
    return this.runSync(inputs, options);
  }

  /** A training step: the same as `run`. Resident state is updated in place and never copied out. */
  async step(batch: Record<string, TensorData>, options?: RunOptions): Promise<Record<string, TensorData>> {
    return this.runSync(batch, options);
  }

  /**
   * Same as `run`, returning directly. With threads the caller takes part:
   * it blocks in Atomics.wait at barriers where the host allows it (Node,
   * workers) and spins where it does not (a browser's main thread).
   */
  runSync(inputs: Record<string, TensorData>, options?: RunOptions): Record<string, TensorData> {
    this.live();
    const plan = this.plan(options?.entry);
    this.writeInputs(plan, inputs);
    const { ctrl, threads } = this.parts;
    this.counters.runs++;
    if (threads > 1) {
      Atomics.store(ctrl, CTRL.ENTRY, plan.index);
      Atomics.add(ctrl, CTRL.GEN, 1);
      Atomics.notify(ctrl, CTRL.GEN);
    }
    executeSchedule(plan.fns, plan.work, plan.grain, ctrl, 0, threads, this.parts.callerCanWait);
    const failure = takeFailure(ctrl);
    if (failure) {
      const k = this.manifest.kernels[plan.schedule[failure.step]!]!;
      throw new KilnRuntimeError(
        `kernel '${k.name}' (${plan.index ? `entry '${plan.name}', ` : ''}schedule step ${failure.step}) failed on thread ${failure.thread}: ${failure.message}`,
      );
    }
    const out: Record<string, TensorData> = {};
    for (const o of plan.outputs) out[o.name] = this.read(o);
    return out;
  }

  /** One entry point by name, to run without passing `{entry}` each time. */
  entry(name: string): EntryPoint {
    const p = this.plan(name);
    const entry = { entry: name };
    return Object.freeze({
      name,
      inputs: Object.freeze(p.inputs.map(info)),
      outputs: Object.freeze(p.outputs.map(info)),
      run: (x: Record<string, TensorData>) => this.run(x, entry),
      runSync: (x: Record<string, TensorData>) => this.runSync(x, entry),
      step: (x: Record<string, TensorData>) => this.step(x, entry),
    });
  }

  /** Copies state tensors out (all, or the ones named). */
  getState(only?: readonly string[]): Record<string, TensorData> {
    this.live();
    const out: Record<string, TensorData> = {};
    for (const s of only ? only.map((n) => this.stateSpec(n)) : this.stateSpecs) out[s.name] = this.read(s);
    return out;
  }

  /** Overwrites the named state tensors; all are checked before any is written. */
  setState(partial: Record<string, TensorData>): void {
    this.live();
    if (typeof partial !== 'object' || partial === null) {
      throw new KilnRuntimeError(`setState() takes an object of named state tensors {${names(this.stateSpecs)}}, got ${describe(partial)}`);
    }
    const writes = Object.keys(partial).map((n): [TensorSpec, TensorData] => {
      const s = this.stateSpec(n);
      return [s, checkArray('state tensor', s, partial[n])];
    });
    for (const [s, data] of writes) this.write(s, data);
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
    const { ctrl, workers } = this.parts;
    if (workers.length > 0) {
      Atomics.store(ctrl, CTRL.CMD, 1);
      Atomics.add(ctrl, CTRL.GEN, 1);
      Atomics.notify(ctrl, CTRL.GEN);
      for (const w of workers) w.terminate();
    }
  }

  private live(): void {
    if (this.disposed) throw new KilnRuntimeError('this program was disposed; load the artifact again to run it');
  }

  private plan(entry: string | undefined): EntryPlan {
    if (entry === undefined) return this.parts.plans[0]!;
    const p = this.parts.plans.find((q) => q.name === entry);
    if (!p) throw new KilnRuntimeError(`unknown entry point '${entry}'; the artifact's entries are: ${this.entries.join(', ')}`);
    return p;
  }

  private stateSpec(name: string): StateSpec {
    const s = this.stateSpecs.find((t) => t.name === name);
    if (!s) throw new KilnRuntimeError(`unknown state tensor '${name}'; the program's state is: ${names(this.stateSpecs)}`);
    return s;
  }

  private read(s: TensorSpec): TensorData {
    this.counters.bytesOut += bytesOf(s);
    return readTensor(this.parts.memory.buffer, s.offset, s.dtype, elementCount(s.shape));
  }

  private write(s: TensorSpec, data: TensorData): void {
    this.counters.bytesIn += bytesOf(s);
    writeTensor(this.parts.memory.buffer, s.offset, s.dtype, data);
  }

  private writeInputs(plan: EntryPlan, inputs: Record<string, TensorData>): void {
    const specs = plan.inputs;
    const whose = plan.index ? `entry '${plan.name}' takes` : "the program's inputs are";
    if (typeof inputs !== 'object' || inputs === null) {
      throw new KilnRuntimeError(`run() takes an object of named inputs {${names(specs)}}, got ${describe(inputs)}`);
    }
    for (const name of Object.keys(inputs)) {
      if (!specs.some((s) => s.name === name)) throw new KilnRuntimeError(`unexpected input '${name}'; ${whose}: ${names(specs)}`);
    }
    for (const s of specs) {
      if (!has(inputs, s.name)) throw new KilnRuntimeError(`missing input '${s.name}' (${expected(s)}); ${whose}: ${names(specs)}`);
      checkArray('input', s, inputs[s.name]);
    }
    for (const s of specs) this.write(s, inputs[s.name]!);
  }
}
