/**
 * The WebAssembly executor: `load` turns artifact bytes into a Program. It
 * picks the module variant, creates the linear memory (shared when the
 * artifact was compiled for threads), copies the weights in, starts the
 * worker threads once, and then each run copies inputs in, walks the kernel
 * schedule, and copies outputs out. Buffer addresses are baked into the code
 * by the compiler, so a run passes nothing but (start, end) to kernels.
 */
import { readArtifact } from './artifact.js';
import { hostArrayName, readTensor, writeTensor, type DType, type TensorData } from './dtypes.js';
import { KilnRuntimeError } from './errors.js';
import { canBlock, hardwareThreads, isNode, relaxedSimdAvailable, threadsAvailable } from './host.js';
import { checkWasmManifest, elementCount, specToString, type Manifest, type TensorSpec } from './manifest.js';
import {
  CTRL,
  CTRL_SLOTS,
  executeSchedule,
  startWorkers,
  takeFailure,
  type KernelFn,
  type WorkerHandle,
} from './threads.js';

export interface LoadOptions {
  /**
   * Threads to run on, the caller included. Default: the artifact's
   * threads.default (0 = the host's core count), capped at DEFAULT_MAX_THREADS
   * and the host's core count. Hosts without shared memory or workers (a
   * browser page without cross-origin isolation) always get 1.
   */
  threads?: number;
  /** false forces the plain-SIMD module even when the host has relaxed SIMD. */
  relaxedSimd?: boolean;
}

export interface TensorInfo {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

export type Variant = 'simd' | 'relaxed-simd';

/** Default cap: batch-1 inference rarely gains past this many threads. */
export const DEFAULT_MAX_THREADS = 8;

function describe(x: unknown): string {
  if (ArrayBuffer.isView(x)) return `${x.constructor.name}(${(x as unknown as ArrayLike<number>).length ?? x.byteLength})`;
  if (Array.isArray(x)) return `Array(${x.length})`;
  return x === null ? 'null' : typeof x;
}

function tagOf(x: unknown): string {
  return Object.prototype.toString.call(x).slice(8, -1);
}

export class Program {
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  private disposed = false;

  /** @internal Use `load`. */
  constructor(
    readonly manifest: Manifest,
    readonly variant: Variant,
    readonly threads: number,
    private readonly memory: WebAssembly.Memory,
    private readonly fns: KernelFn[],
    private readonly work: Int32Array,
    private readonly grain: Int32Array,
    private readonly ctrl: Int32Array,
    private readonly workers: WorkerHandle[],
    private readonly callerCanWait: boolean,
  ) {
    const info = (t: TensorSpec): TensorInfo => Object.freeze({ name: t.name, shape: Object.freeze([...t.shape]), dtype: t.dtype });
    this.inputs = Object.freeze(manifest.inputs.map(info));
    this.outputs = Object.freeze(manifest.outputs.map(info));
  }

  /** Runs the program; the returned arrays are fresh copies the caller owns. */
  async run(inputs: Record<string, TensorData>): Promise<Record<string, TensorData>> {
    return this.runSync(inputs);
  }

  /**
   * Same as `run`, returning directly. With threads the caller takes part:
   * it blocks in Atomics.wait at barriers where the host allows it (Node,
   * workers) and spins where it does not (a browser's main thread).
   */
  runSync(inputs: Record<string, TensorData>): Record<string, TensorData> {
    if (this.disposed) throw new KilnRuntimeError('this program was disposed; load the artifact again to run it');
    this.writeInputs(inputs);
    const ctrl = this.ctrl;
    if (this.threads > 1) {
      Atomics.add(ctrl, CTRL.GEN, 1);
      Atomics.notify(ctrl, CTRL.GEN);
    }
    executeSchedule(this.fns, this.work, this.grain, ctrl, 0, this.threads, this.callerCanWait);
    const failure = takeFailure(ctrl);
    if (failure) {
      const k = this.manifest.kernels[this.manifest.schedule[failure.step]!]!;
      throw new KilnRuntimeError(
        `kernel '${k.name}' (schedule step ${failure.step}) failed on thread ${failure.thread}: ${failure.message}`,
      );
    }
    const buf = this.memory.buffer;
    const out: Record<string, TensorData> = {};
    for (const o of this.manifest.outputs) out[o.name] = readTensor(buf, o.offset, o.dtype, elementCount(o.shape));
    return out;
  }

  /** Stops the worker threads. The program cannot run afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.workers.length > 0) {
      Atomics.store(this.ctrl, CTRL.CMD, 1);
      Atomics.add(this.ctrl, CTRL.GEN, 1);
      Atomics.notify(this.ctrl, CTRL.GEN);
      for (const w of this.workers) w.terminate();
    }
  }

  private writeInputs(inputs: Record<string, TensorData>): void {
    if (typeof inputs !== 'object' || inputs === null) {
      throw new KilnRuntimeError(`run() takes an object of named inputs {${this.inputNames()}}, got ${describe(inputs)}`);
    }
    const specs = this.manifest.inputs;
    for (const name of Object.keys(inputs)) {
      if (!specs.some((s) => s.name === name)) {
        throw new KilnRuntimeError(`unexpected input '${name}'; the program's inputs are: ${this.inputNames()}`);
      }
    }
    const buf = this.memory.buffer;
    for (const s of specs) {
      if (!Object.prototype.hasOwnProperty.call(inputs, s.name)) {
        throw new KilnRuntimeError(`missing input '${s.name}' (${this.expected(s)}); the program's inputs are: ${this.inputNames()}`);
      }
      const data = inputs[s.name];
      const n = elementCount(s.shape);
      if (tagOf(data) !== hostArrayName(s.dtype) || (data as TensorData).length !== n) {
        throw new KilnRuntimeError(`input '${s.name}' must be ${this.expected(s)}, got ${describe(data)}`);
      }
      writeTensor(buf, s.offset, s.dtype, data as TensorData);
    }
  }

  private expected(s: TensorSpec): string {
    const n = elementCount(s.shape);
    return `${specToString(s)} (${n} element${n === 1 ? '' : 's'}, ${hostArrayName(s.dtype)})`;
  }

  private inputNames(): string {
    return this.manifest.inputs.map((s) => s.name).join(', ') || '(none)';
  }
}

async function compileSection(bytes: Uint8Array, section: string): Promise<WebAssembly.Module> {
  try {
    return await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  } catch (e) {
    throw new KilnRuntimeError(
      `failed to compile the '${section}' section: ${(e as Error).message}` +
        ' (the host may lack WebAssembly SIMD128' + (section === 'wasm-relaxed' ? ' or relaxed SIMD' : '') + ')',
    );
  }
}

function checkModuleInterface(mod: WebAssembly.Module, m: Manifest, section: string): void {
  for (const imp of WebAssembly.Module.imports(mod)) {
    if (imp.module !== 'env' || imp.name !== 'memory' || imp.kind !== 'memory') {
      throw new KilnRuntimeError(
        `the '${section}' module imports ${imp.kind} '${imp.module}.${imp.name}'; Kiln modules may import only the memory env.memory`,
      );
    }
  }
  const exported = new Set(WebAssembly.Module.exports(mod).filter((e) => e.kind === 'function').map((e) => e.name));
  for (const k of m.kernels) {
    if (!exported.has(k.name)) {
      throw new KilnRuntimeError(`kernel '${k.name}' is listed in the manifest but the '${section}' module exports no such function`);
    }
  }
}

async function chooseThreads(m: Manifest, requested: number | undefined): Promise<number> {
  const shared = m.memory.shared === true;
  if (requested !== undefined && (!Number.isInteger(requested) || requested < 1)) {
    throw new KilnRuntimeError(`threads must be a positive integer, got ${String(requested)}`);
  }
  if (!shared) {
    if (requested !== undefined && requested > 1) {
      throw new KilnRuntimeError(
        `threads: ${requested} was requested, but artifact '${m.name ?? '(unnamed)'}' was compiled without threads (its memory is not shared); load it with threads: 1 or recompile it for threads`,
      );
    }
    return 1;
  }
  if (!threadsAvailable()) return 1;
  if (requested !== undefined) return requested;
  const hw = await hardwareThreads();
  const preferred = m.threads?.default || hw;
  return Math.max(1, Math.min(preferred, hw, DEFAULT_MAX_THREADS));
}

/** Loads an artifact for the WebAssembly executor. */
export async function load(bytes: Uint8Array | ArrayBuffer, options: LoadOptions = {}): Promise<Program> {
  const art = readArtifact(bytes);
  const m = checkWasmManifest(art.manifest, new Set(Object.keys(art.sections)));
  const useRelaxed = art.sections['wasm-relaxed'] !== undefined && options.relaxedSimd !== false && relaxedSimdAvailable();
  const section = useRelaxed ? 'wasm-relaxed' : 'wasm';
  const mod = await compileSection(art.sections[section]!, section);
  checkModuleInterface(mod, m, section);

  const shared = m.memory.shared === true;
  if (shared && typeof SharedArrayBuffer !== 'function') {
    throw new KilnRuntimeError(
      'this artifact was compiled for threads (shared memory) but the host has no SharedArrayBuffer; in a browser, serve the page cross-origin isolated (COOP: same-origin, COEP: require-corp) or recompile without threads',
    );
  }
  const threads = await chooseThreads(m, options.threads);
  const pages = m.memory.pages;
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared });
  if (m.weights && m.weights.length > 0) {
    const w = art.sections['weights']!;
    if (w.length !== m.weights.length) {
      throw new KilnRuntimeError(`invalid artifact manifest: weights.length is ${m.weights.length} but the 'weights' section has ${w.length} bytes`);
    }
    new Uint8Array(memory.buffer, m.weights.offset, w.length).set(w);
  }
  let instance: WebAssembly.Instance;
  try {
    instance = await WebAssembly.instantiate(mod, { env: { memory } });
  } catch (e) {
    throw new KilnRuntimeError(
      `could not instantiate the '${section}' module: ${(e as Error).message} (the manifest says memory is ${pages} pages, shared: ${shared}; the module's memory import must match)`,
    );
  }
  const kernelNames = m.kernels.map((k) => k.name);
  const fns = m.schedule.map((k) => instance.exports[kernelNames[k]!] as KernelFn);
  const work = m.schedule.map((k) => m.kernels[k]!.work);
  const grain = m.schedule.map((k) => Math.max(1, m.kernels[k]!.minWorkPerThread ?? m.threads?.minWorkPerThread ?? 1));
  const control = threads > 1 ? new SharedArrayBuffer(CTRL_SLOTS * 4) : new ArrayBuffer(CTRL_SLOTS * 4);
  let workers: WorkerHandle[] = [];
  if (threads > 1) {
    workers = await startWorkers(
      { module: mod, memory, control: control as SharedArrayBuffer, kernelNames, schedule: m.schedule, work, grain, threads },
      isNode,
    );
  }
  return new Program(
    m,
    useRelaxed ? 'relaxed-simd' : 'simd',
    threads,
    memory,
    fns,
    Int32Array.from(work),
    Int32Array.from(grain),
    new Int32Array(control),
    workers,
    canBlock(),
  );
}
