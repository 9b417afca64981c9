/**
 * The CUDA executor: `loadCuda(bytes)` turns a "cuda" artifact into a CudaProgram. Load checks
 * the manifest, initializes the driver through the kiln_cuda addon, JIT-loads the PTX section,
 * allocates one device memory image per program (the same layout as WebAssembly linear memory:
 * weights and the planned arena at the manifest's byte offsets) and copies the weights in once.
 * Each run copies the inputs in, launches the kernels in schedule order with their manifest
 * launch configuration and work range [0, work), synchronizes, and copies the outputs out.
 * Training artifacts (manifest version 2) add resident state and entry points with the API of the
 * WebAssembly Program (runtime/program.ts): state is copied to the device once at load and stays
 * there; `step(batch)` moves only the batch in and the entry's outputs out; getState/setState/
 * resetState are the only other transfers, and `stats` counts every byte.
 */
import { readArtifact } from '../artifact.js';
import { bytesOf, checkBytes, checkEntryName, checkInputs, checkInteger, checkOptions, checkStateNames, checkStateValues, describe } from '../args.js';
import { readTensor, writeTensor, type DType, type TensorData } from '../dtypes.js';
import { KilnRuntimeError } from '../errors.js';
import { elementCount, type StateSpec, type TensorSpec } from '../manifest.js';
import { flattenSchedule, flagValue, walkSchedule, type FlatSchedule } from '../schedule.js';
import { loadAddon, type CudaDriver } from './addon.js';
import { checkCudaManifest, type CudaManifest } from './manifest.js';
import { decodeWeights } from '../weights_codec.js';

export interface CudaLoadOptions {
  device?: 'cuda';
  /** Device ordinal (default 0). */
  ordinal?: number;
  /** Path of kiln_cuda.node (default: KILN_CUDA_ADDON or the package's native/cuda build). */
  addonPath?: string;
  /** A driver object to use instead of the addon (tests, or an embedder's own binding). */
  driver?: CudaDriver;
}

export interface CudaTensorInfo {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

export interface CudaDeviceInfo {
  readonly name: string;
  readonly major: number;
  readonly minor: number;
}

/** Bytes copied between the host and the device memory image since load (as Program.stats). */
export interface CudaStats {
  runs: number;
  /** Run inputs plus setState. */
  bytesIn: number;
  /** Run outputs plus getState. */
  bytesOut: number;
}

export interface CudaRunOptions {
  /** Entry point to run; default: the artifact's default entry. */
  entry?: string;
}

/** One entry point of a CUDA program: `prog.entry('eval_step')`. */
export interface CudaEntryPoint {
  readonly name: string;
  readonly inputs: readonly CudaTensorInfo[];
  readonly outputs: readonly CudaTensorInfo[];
  run(inputs: Record<string, TensorData>): Promise<Record<string, TensorData>>;
  runSync(inputs: Record<string, TensorData>): Record<string, TensorData>;
  step(batch: Record<string, TensorData>): Promise<Record<string, TensorData>>;
}

interface EntryPlan {
  readonly name: string;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** Steps and the jump code of loops and branches (../schedule.ts). */
  readonly flat: FlatSchedule;
}

const info = (t: TensorSpec): CudaTensorInfo => Object.freeze({ name: t.name, shape: Object.freeze([...t.shape]), dtype: t.dtype });

/** run/runSync/step options: the entry only; a launched kernel cannot be stopped, so there is no timeoutMs. */
function checkCudaRunOptions(where: string, options: unknown): CudaRunOptions {
  if (typeof options === 'object' && options !== null && Object.prototype.hasOwnProperty.call(options, 'timeoutMs')) {
    throw new KilnRuntimeError(`${where} options: timeoutMs is not supported by the CUDA executor (a launched kernel cannot be stopped); run without it`);
  }
  return checkOptions(`${where} options`, options, ['entry']) as CudaRunOptions;
}

const LOAD_OPTIONS = ['device', 'ordinal', 'addonPath', 'driver'] as const;

export class CudaProgram implements CudaEntryPoint {
  /** The default entry's name. */
  readonly name: string;
  readonly inputs: readonly CudaTensorInfo[];
  readonly outputs: readonly CudaTensorInfo[];
  /** Entry point names, the default first. */
  readonly entries: readonly string[];
  /** Resident state tensors, in manifest order. */
  readonly state: readonly CudaTensorInfo[];
  readonly stateNames: readonly string[];
  private readonly plans: EntryPlan[];
  private readonly stateSpecs: readonly StateSpec[];
  private readonly counters: CudaStats = { runs: 0, bytesIn: 0, bytesOut: 0 };
  private disposed = false;

  /** @internal Use `loadCuda`. */
  constructor(
    readonly manifest: CudaManifest,
    readonly device: CudaDeviceInfo,
    private readonly driver: CudaDriver,
    private readonly ordinal: number,
    private readonly module: bigint,
    private readonly fns: bigint[],
    private readonly mem: bigint,
    private readonly stateImage: Uint8Array | undefined = undefined,
  ) {
    const main: EntryPlan = { name: manifest.defaultEntry ?? 'main', inputs: manifest.inputs, outputs: manifest.outputs, flat: flattenSchedule(manifest.schedule) };
    this.plans = [main, ...Object.entries(manifest.entries ?? {}).map(([name, e]) => ({ name, inputs: e.inputs, outputs: e.outputs, flat: flattenSchedule(e.schedule) }))];
    this.name = main.name;
    this.inputs = Object.freeze(main.inputs.map(info));
    this.outputs = Object.freeze(main.outputs.map(info));
    this.entries = Object.freeze(this.plans.map((p) => p.name));
    this.stateSpecs = manifest.state ?? [];
    this.state = Object.freeze(this.stateSpecs.map(info));
    this.stateNames = Object.freeze(this.stateSpecs.map((s) => s.name));
    // The one time state travels to the device unasked: its initial values, at load.
    this.resetState();
  }

  /** A snapshot of the byte counters. */
  get stats(): CudaStats {
    return { ...this.counters };
  }

  async run(inputs: Record<string, TensorData>, options?: CudaRunOptions): Promise<Record<string, TensorData>> {
    return this.runSync(inputs, options);
  }

  /** A training step: the same as `run`; resident state is updated on the device, never copied out. */
  async step(batch: Record<string, TensorData>, options?: CudaRunOptions): Promise<Record<string, TensorData>> {
    return this.runSync(batch, options);
  }

  /** Copies inputs in, runs the entry's schedule, copies outputs out (fresh arrays the caller owns). */
  runSync(inputs: Record<string, TensorData>, options?: CudaRunOptions): Record<string, TensorData> {
    const o = checkCudaRunOptions('run()', options);
    this.checkLive();
    const plan = this.plan(o.entry);
    const whose = plan === this.plans[0] ? "the program's inputs are" : `entry '${plan.name}' takes`;
    for (const [t, data] of checkInputs(plan.inputs, inputs, whose)) this.write(t, data);
    this.counters.runs++;
    this.launch(plan.flat);
    const out: Record<string, TensorData> = {};
    for (const t of plan.outputs) out[t.name] = this.read(t);
    return out;
  }

  /** One entry point by name, to run without passing `{entry}` each time. */
  entry(name: string): CudaEntryPoint {
    const p = this.plan(name);
    const opts = { entry: name };
    return Object.freeze({
      name,
      inputs: Object.freeze(p.inputs.map(info)),
      outputs: Object.freeze(p.outputs.map(info)),
      run: (x: Record<string, TensorData>) => this.run(x, opts),
      runSync: (x: Record<string, TensorData>) => this.runSync(x, opts),
      step: (x: Record<string, TensorData>) => this.step(x, opts),
    });
  }

  /** Launches an entry's schedule (default entry) on the current device memory and waits (benchmarks time this). */
  launchAll(entry?: string): void {
    this.checkLive();
    this.launch(this.plan(entry).flat);
  }

  /** Copies state tensors out of device memory: all, one (by name) or the ones named. */
  getState(only?: string | readonly string[]): Record<string, TensorData> {
    this.checkLive();
    const out: Record<string, TensorData> = {};
    for (const s of checkStateNames(only, this.stateSpecs)) out[s.name] = this.read(s);
    return out;
  }

  /** Overwrites the named state tensors on the device; all are checked before any is written. */
  setState(partial: Record<string, TensorData>): void {
    this.checkLive();
    for (const [s, data] of checkStateValues(partial, this.stateSpecs)) this.write(s, data);
  }

  /** Restores every state tensor to its initial value (from the artifact's 'state' section, or zero). */
  resetState(): void {
    this.checkLive();
    for (const s of this.stateSpecs) {
      const n = bytesOf(s);
      const bytes = s.init === undefined ? new Uint8Array(n) : this.stateImage!.subarray(s.init, s.init + n);
      this.driver.memcpyHtoD(this.mem, s.offset, bytes);
    }
  }

  /**
   * Launches a schedule's kernels in order; loops and branches are walked on the host, each flag
   * read back with a small device-to-host copy (which waits for the kernels before it).
   */
  private launch(flat: FlatSchedule): void {
    const { kernels, cuda } = this.manifest;
    const flag = new Uint8Array(4);
    walkSchedule(flat, (step) => {
      const k = flat.steps[step]!;
      const l = cuda.launches[k]!;
      const work = kernels[k]!.work;
      if (work === 0 && l.threadsPerItem !== 0) return;
      this.driver.launch(this.fns[k]!, l.grid[0], l.grid[1], l.grid[2], l.block[0], l.block[1], l.block[2], 0, this.mem, 0, work);
    }, (offset, dt) => {
      const bytes = flag.subarray(0, dt === 1 ? 1 : 4);
      this.driver.memcpyDtoH(bytes, this.mem, offset);
      return flagValue(new DataView(flag.buffer), 0, dt);
    });
    this.driver.synchronize();
  }

  private plan(entry: unknown): EntryPlan {
    return this.plans[checkEntryName(entry, this.entries)]!;
  }

  private write(t: TensorSpec, data: TensorData): void {
    const bytes = new ArrayBuffer(bytesOf(t));
    writeTensor(bytes, 0, t.dtype, data);
    this.driver.memcpyHtoD(this.mem, t.offset, new Uint8Array(bytes));
    this.counters.bytesIn += bytes.byteLength;
  }

  private read(t: TensorSpec): TensorData {
    const bytes = new Uint8Array(bytesOf(t));
    this.driver.memcpyDtoH(bytes, this.mem, t.offset);
    this.counters.bytesOut += bytes.length;
    return readTensor(bytes.buffer, 0, t.dtype, elementCount(t.shape));
  }

  private checkLive(): void {
    if (this.disposed) throw new KilnRuntimeError('this CUDA program was disposed');
  }

  /** Frees the device memory and unloads the module. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.driver.memFree(this.mem);
    this.driver.moduleUnload(this.module);
    this.driver.contextRelease(this.ordinal);
  }
}

function driverError(e: unknown): KilnRuntimeError {
  const msg = e instanceof Error ? e.message : String(e);
  return new KilnRuntimeError(msg);
}

/** Loads a "cuda" artifact onto a GPU. */
export async function loadCuda(bytes: Uint8Array | ArrayBuffer, options?: CudaLoadOptions): Promise<CudaProgram> {
  checkBytes('loadCuda(bytes)', bytes);
  const opts = checkOptions('loadCuda() options', options, LOAD_OPTIONS) as CudaLoadOptions;
  if (opts.device !== undefined && opts.device !== 'cuda') throw new KilnRuntimeError(`loadCuda() options: device must be 'cuda', got ${describe(opts.device)}`);
  checkInteger('loadCuda() options: ordinal', opts.ordinal, 0, 2 ** 31 - 1);
  if (opts.addonPath !== undefined && (typeof opts.addonPath !== 'string' || opts.addonPath === '')) {
    throw new KilnRuntimeError(`loadCuda() options: addonPath must be the path of kiln_cuda.node (a non-empty string), got ${describe(opts.addonPath)}`);
  }
  if (opts.driver !== undefined && (typeof opts.driver !== 'object' || opts.driver === null)) {
    throw new KilnRuntimeError(`loadCuda() options: driver must be a CudaDriver object, got ${describe(opts.driver)}`);
  }
  const art = readArtifact(bytes);
  const m = checkCudaManifest(art.manifest, art.sections);
  const driver = opts.driver ?? (await loadAddon(opts.addonPath));
  const ordinal = opts.ordinal ?? 0;
  let devices: number;
  try {
    devices = driver.init().devices;
  } catch (e) {
    throw driverError(e);
  }
  if (ordinal >= devices) {
    throw new KilnRuntimeError(`loadCuda() options: ordinal must be a device index in [0, ${devices}) (the driver reports ${devices} CUDA device${devices === 1 ? '' : 's'}), got ${ordinal}`);
  }
  const device = driver.device(ordinal);
  if (device.major * 10 + device.minor < m.cuda.sm) {
    throw new KilnRuntimeError(`artifact was compiled for sm_${m.cuda.sm} but device ${ordinal} (${device.name}) is sm_${device.major}${device.minor}; compile with an older sm`);
  }
  driver.contextCreate(ordinal);
  const ptx = new TextDecoder().decode(art.sections['ptx']!);
  let module: bigint;
  try {
    module = driver.moduleLoad(ptx);
  } catch (e) {
    driver.contextRelease(ordinal);
    throw new KilnRuntimeError(`the driver could not load the artifact's PTX: ${(e as Error).message}`);
  }
  let mem: bigint | undefined;
  try {
    const fns = m.kernels.map((k) => driver.getFunction(module, k.name));
    mem = driver.memAlloc(m.cuda.memoryBytes);
    if (m.weights && m.weights.length > 0) {
      let w = art.sections['weights'] ?? new Uint8Array(0);
      if (m.weights.encoding) {
        // Encoded weights (version 5) are decoded on the host, then uploaded like raw ones.
        const decoded = new Uint8Array(m.weights.length);
        decodeWeights(w, m.weights.encoding, decoded);
        w = decoded;
      }
      if (w.length !== m.weights.length) throw new KilnRuntimeError(`invalid artifact manifest: weights.length is ${m.weights.length} but the 'weights' section has ${w.length} bytes`);
      driver.memcpyHtoD(mem, m.weights.offset, w);
    }
    return new CudaProgram(m, device, driver, ordinal, module, fns, mem, art.sections['state']);
  } catch (e) {
    if (mem !== undefined) driver.memFree(mem);
    driver.moduleUnload(module);
    driver.contextRelease(ordinal);
    throw e instanceof KilnRuntimeError ? e : driverError(e);
  }
}
