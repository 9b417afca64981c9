/**
 * The CUDA executor: `loadCuda(bytes)` turns a "cuda" artifact into a CudaProgram. Load checks
 * the manifest, initializes the driver through the kiln_cuda addon, JIT-loads the PTX section,
 * allocates one device memory image per program (the same layout as WebAssembly linear memory:
 * weights and the planned arena at the manifest's byte offsets) and copies the weights in once.
 * Each run copies the inputs in, launches the kernels in schedule order with their manifest
 * launch configuration and work range [0, work), synchronizes, and copies the outputs out.
 */
import { readArtifact } from '../artifact.js';
import { dtypeBytes, hostArrayName, hostArrayOf, readTensor, writeTensor, type DType, type TensorData } from '../dtypes.js';
import { KilnRuntimeError } from '../errors.js';
import { elementCount, specToString, type TensorSpec } from '../manifest.js';
import { loadAddon, type CudaDriver } from './addon.js';
import { checkCudaManifest, type CudaManifest } from './manifest.js';

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

function describe(x: unknown): string {
  if (ArrayBuffer.isView(x)) return `${x.constructor.name}(${(x as unknown as ArrayLike<number>).length})`;
  return x === null ? 'null' : Array.isArray(x) ? `Array(${x.length})` : typeof x;
}

export class CudaProgram {
  readonly inputs: readonly CudaTensorInfo[];
  readonly outputs: readonly CudaTensorInfo[];
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
  ) {
    const info = (t: TensorSpec): CudaTensorInfo => Object.freeze({ name: t.name, shape: Object.freeze([...t.shape]), dtype: t.dtype });
    this.inputs = Object.freeze(manifest.inputs.map(info));
    this.outputs = Object.freeze(manifest.outputs.map(info));
  }

  async run(inputs: Record<string, TensorData>): Promise<Record<string, TensorData>> {
    return this.runSync(inputs);
  }

  /** Copies inputs in, runs every kernel, copies outputs out (fresh arrays the caller owns). */
  runSync(inputs: Record<string, TensorData>): Record<string, TensorData> {
    this.checkLive();
    const m = this.manifest;
    if (typeof inputs !== 'object' || inputs === null) throw new KilnRuntimeError(`run expects an object of named inputs (${m.inputs.map((t) => t.name).join(', ')})`);
    for (const name of Object.keys(inputs)) {
      if (!m.inputs.some((t) => t.name === name)) throw new KilnRuntimeError(`unknown input '${name}' (inputs: ${m.inputs.map((t) => `${t.name}: ${specToString(t)}`).join(', ')})`);
    }
    for (const t of m.inputs) this.writeInput(t, inputs[t.name]);
    this.launchAll();
    const out: Record<string, TensorData> = {};
    for (const t of m.outputs) {
      const bytes = new Uint8Array(elementCount(t.shape) * dtypeBytes(t.dtype));
      this.driver.memcpyDtoH(bytes, this.mem, t.offset);
      out[t.name] = readTensor(bytes.buffer, 0, t.dtype, elementCount(t.shape));
    }
    return out;
  }

  /** Launches the whole schedule on the current device memory and waits (benchmarks time this). */
  launchAll(): void {
    this.checkLive();
    const { kernels, schedule, cuda } = this.manifest;
    for (const k of schedule) {
      const l = cuda.launches[k]!;
      const work = kernels[k]!.work;
      if (work === 0 && l.threadsPerItem !== 0) continue;
      this.driver.launch(this.fns[k]!, l.grid[0], l.grid[1], l.grid[2], l.block[0], l.block[1], l.block[2], 0, this.mem, 0, work);
    }
    this.driver.synchronize();
  }

  private writeInput(t: TensorSpec, data: TensorData | undefined): void {
    if (data === undefined) throw new KilnRuntimeError(`missing input '${t.name}' (${specToString(t)})`);
    const Ctor = hostArrayOf(t.dtype);
    const n = elementCount(t.shape);
    if (!(data instanceof Ctor)) throw new KilnRuntimeError(`input '${t.name}' (${specToString(t)}) must be a ${hostArrayName(t.dtype)}, got ${describe(data)}`);
    if (data.length !== n) throw new KilnRuntimeError(`input '${t.name}' (${specToString(t)}) needs ${n} elements, got ${data.length}`);
    const bytes = new ArrayBuffer(n * dtypeBytes(t.dtype));
    writeTensor(bytes, 0, t.dtype, data);
    this.driver.memcpyHtoD(this.mem, t.offset, new Uint8Array(bytes));
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
export async function loadCuda(bytes: Uint8Array | ArrayBuffer, opts: CudaLoadOptions = {}): Promise<CudaProgram> {
  if (opts.device !== undefined && opts.device !== 'cuda') throw new KilnRuntimeError(`loadCuda: device must be 'cuda', got ${JSON.stringify(opts.device)}`);
  const art = readArtifact(bytes);
  const m = checkCudaManifest(art.manifest, new Set(Object.keys(art.sections)));
  const driver = opts.driver ?? (await loadAddon(opts.addonPath));
  const ordinal = opts.ordinal ?? 0;
  let devices: number;
  try {
    devices = driver.init().devices;
  } catch (e) {
    throw driverError(e);
  }
  if (ordinal >= devices) throw new KilnRuntimeError(`CUDA device ${ordinal} requested but the driver reports ${devices} device(s)`);
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
      const w = art.sections['weights']!;
      if (w.length !== m.weights.length) throw new KilnRuntimeError(`invalid artifact manifest: weights.length is ${m.weights.length} but the 'weights' section has ${w.length} bytes`);
      driver.memcpyHtoD(mem, m.weights.offset, w);
    }
    return new CudaProgram(m, device, driver, ordinal, module, fns, mem);
  } catch (e) {
    if (mem !== undefined) driver.memFree(mem);
    driver.moduleUnload(module);
    driver.contextRelease(ordinal);
    throw e instanceof KilnRuntimeError ? e : driverError(e);
  }
}
