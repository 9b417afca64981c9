/**
 * The WebAssembly executor: `load` turns artifact bytes into a Program. It
 * picks the module variant, creates the linear memory (shared when the
 * artifact was compiled for threads and the host allows it; otherwise the
 * module is patched to import a plain memory and runs on one thread),
 * copies the weights in, builds each entry point's schedule, and starts the
 * worker threads once. Buffer addresses are baked into the code by the
 * compiler, so a run passes nothing but (start, end) to kernels.
 */
import { checkBytes, checkChoice, checkInteger, checkOptions, describe } from './args.js';
import { readArtifact } from './artifact.js';
import { KilnRuntimeError } from './errors.js';
import { canBlock, hardwareThreads, isNode, relaxedSimdAvailable, threadsAvailable } from './host.js';
import type { EntrySpec, Manifest } from './manifest.js';
import { Program, type EntryPlan, type SpawnWorkers } from './program.js';
import { MAX_THREADS, startWorkers, type KernelFn } from './threads.js';
import { validateWasm } from './validate.js';
import { flattenSchedule } from './schedule.js';
import { unshareMemoryImport } from './wasm_patch.js';
import { decodeWeights } from './weights_codec.js';

export interface LoadOptions {
  /**
   * Threads to run on, the caller included: an integer in [1, MAX_THREADS]
   * (64; more is refused). Default: the artifact's threads.default (0 = the
   * host's parallelism), capped at DEFAULT_MAX_THREADS and the host's
   * parallelism (navigator.hardwareConcurrency / os.availableParallelism).
   * An explicit value may exceed the host's parallelism (threads then share
   * cores). Hosts without shared memory or workers (a browser page without
   * cross-origin isolation) get 1, and asking them for more is an error.
   */
  threads?: number;
  /** false forces the plain-SIMD module even when the host has relaxed SIMD. */
  relaxedSimd?: boolean;
  /**
   * 'cuda' loads a CUDA artifact through kiln/runtime/cuda (Node with an NVIDIA driver); the
   * WebAssembly executor is the default ('wasm').
   */
  device?: 'wasm' | 'cuda';
  /** device 'cuda' only: the GPU's ordinal (default 0). */
  ordinal?: number;
  /** device 'cuda' only: path of kiln_cuda.node (default: KILN_CUDA_ADDON, then the package's build). */
  addonPath?: string;
}

const WASM_OPTIONS = ['threads', 'relaxedSimd', 'device'] as const;
const CUDA_OPTIONS = ['device', 'ordinal', 'addonPath'] as const;
const LOAD_OPTIONS = [...WASM_OPTIONS, 'ordinal', 'addonPath'] as const;

/** Default cap: batch-1 inference rarely gains past this many threads. */
export const DEFAULT_MAX_THREADS = 8;

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
  if (!shared) {
    if (requested !== undefined && requested > 1) {
      throw new KilnRuntimeError(
        `threads: ${requested} was requested, but artifact '${m.name ?? '(unnamed)'}' was compiled without threads (its memory is not shared); load it with threads: 1 or recompile it for threads`,
      );
    }
    return 1;
  }
  if (!threadsAvailable()) {
    if (requested !== undefined && requested > 1) {
      throw new KilnRuntimeError(
        `threads: ${requested} was requested, but this host cannot run threads (no SharedArrayBuffer or workers; a browser page must be cross-origin isolated: serve it with COOP: same-origin and COEP: require-corp); load with threads: 1 to run single-threaded`,
      );
    }
    return 1;
  }
  if (requested !== undefined) return requested;
  const hw = await hardwareThreads();
  const preferred = m.threads?.default || hw;
  return Math.max(1, Math.min(preferred, hw, DEFAULT_MAX_THREADS));
}

/** Checks load()'s arguments; every refusal names the argument, the expected and the received value. */
function checkLoadArgs(bytes: unknown, options: unknown): LoadOptions {
  checkBytes('load(bytes)', bytes);
  const o = checkOptions('load() options', options, LOAD_OPTIONS) as LoadOptions;
  const device = checkChoice('load() options: device', o.device, ['wasm', 'cuda'] as const) ?? 'wasm';
  const own: readonly string[] = device === 'cuda' ? CUDA_OPTIONS : WASM_OPTIONS;
  for (const k of Object.keys(o)) {
    if (!own.includes(k) && o[k as keyof LoadOptions] !== undefined) {
      throw new KilnRuntimeError(`load() options: '${k}' applies to device '${device === 'cuda' ? 'wasm' : 'cuda'}' only, and this load is for device '${device}'`);
    }
  }
  checkInteger('load() options: threads', o.threads, 1, MAX_THREADS, ` (the runtime's limit is MAX_THREADS = ${MAX_THREADS})`);
  if (o.relaxedSimd !== undefined && typeof o.relaxedSimd !== 'boolean') {
    throw new KilnRuntimeError(`load() options: relaxedSimd must be a boolean, got ${describe(o.relaxedSimd)}`);
  }
  return o;
}

/** Loads an artifact: on the WebAssembly executor, or with `device: 'cuda'` on the CUDA executor. */
export async function load(bytes: Uint8Array | ArrayBuffer, options?: LoadOptions): Promise<Program> {
  options = checkLoadArgs(bytes, options);
  if (options.device === 'cuda') {
    // A computed specifier keeps the CUDA executor (and its Node-only addon loader) out of
    // browser bundles of this runtime.
    const spec = './cuda/index.js';
    const cuda = (await import(/* @vite-ignore */ spec)) as { loadCuda(b: Uint8Array | ArrayBuffer, o?: object): Promise<unknown> };
    const { ordinal, addonPath } = options;
    return (await cuda.loadCuda(bytes, { device: 'cuda', ordinal, addonPath })) as Program;
  }
  const art = readArtifact(bytes);
  const m = validateWasm(art.manifest, art.sections);
  const useRelaxed = art.sections['wasm-relaxed'] !== undefined && options.relaxedSimd !== false && relaxedSimdAvailable();
  const section = useRelaxed ? 'wasm-relaxed' : 'wasm';
  const threads = await chooseThreads(m, options.threads);
  // A threads artifact on a host without threads runs on a plain memory.
  const shared = m.memory.shared === true && threadsAvailable();
  const code = m.memory.shared && !shared ? unshareMemoryImport(art.sections[section]!, section) : art.sections[section]!;
  const mod = await compileSection(code, section);
  checkModuleInterface(mod, m, section);

  const pages = m.memory.pages;
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared });
  if (m.weights && m.weights.length > 0) {
    const w = art.sections['weights'] ?? new Uint8Array(0);
    const region = new Uint8Array(memory.buffer, m.weights.offset, m.weights.length);
    if (m.weights.encoding) decodeWeights(w, m.weights.encoding, region);
    else if (w.length !== m.weights.length) {
      throw new KilnRuntimeError(`invalid artifact manifest: weights.length is ${m.weights.length} but the 'weights' section has ${w.length} bytes`);
    } else region.set(w);
  }
  let instance: WebAssembly.Instance;
  try {
    instance = await WebAssembly.instantiate(mod, { env: { memory } });
  } catch (e) {
    throw new KilnRuntimeError(
      `could not instantiate the '${section}' module: ${(e as Error).message} (the runtime gave it a memory of ${pages} pages, shared: ${shared}, as the manifest says; the module's memory import must match)`,
    );
  }
  const kernelNames = m.kernels.map((k) => k.name);
  const entries: [string, EntrySpec][] = [
    [m.defaultEntry ?? 'main', m],
    ...Object.entries(m.entries ?? {}),
  ];
  const plans: EntryPlan[] = entries.map(([name, e], index) => {
    const { steps, code } = flattenSchedule(e.schedule);
    return {
      index,
      name,
      inputs: e.inputs,
      outputs: e.outputs,
      schedule: steps,
      code,
      fns: steps.map((k) => instance.exports[kernelNames[k]!] as KernelFn),
      // Shared with the workers, so a batch-polymorphic run can set each step's work for its batch.
      work: shareable(Int32Array.from(steps, (k) => m.kernels[k]!.work), shared),
      ...(m.batch ? { batch: m.batch.max } : {}),
      grain: Int32Array.from(steps, (k) => Math.max(1, m.kernels[k]!.minWorkPerThread ?? m.threads?.minWorkPerThread ?? 1)),
    };
  });
  let spawn: SpawnWorkers | undefined;
  if (shared && threadsAvailable()) {
    const entryPlans = plans.map((p) => ({ schedule: p.schedule, work: p.work, grain: Array.from(p.grain), code: p.code && Array.from(p.code) }));
    spawn = (control, indices, onDeath) => startWorkers({ module: mod, memory, control, kernelNames, entries: entryPlans, threads }, indices, isNode, onDeath);
  }
  const prog = new Program({
    manifest: m,
    variant: useRelaxed ? 'relaxed-simd' : 'simd',
    threads,
    memory,
    sharedMemory: shared,
    plans,
    stateImage: art.sections['state'],
    callerCanWait: canBlock(),
    spawn,
  });
  await prog.startWorkers();
  return prog;
}

/** `a` on a SharedArrayBuffer when memory is shared (workers then see updates), else itself. */
function shareable(a: Int32Array, shared: boolean): Int32Array {
  if (!shared || typeof SharedArrayBuffer === 'undefined') return a;
  const s = new Int32Array(new SharedArrayBuffer(a.byteLength));
  s.set(a);
  return s;
}
