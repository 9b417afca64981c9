/**
 * The WebAssembly executor: `load` turns artifact bytes into a Program. It
 * picks the module variant, creates the linear memory (shared when the
 * artifact was compiled for threads and the host allows it; otherwise the
 * module is patched to import a plain memory and runs on one thread),
 * instantiates, warms the kernels up (see warmUp), builds each entry point's
 * schedule, and starts the worker threads once, writing the weights while
 * they start. Buffer addresses are baked into the code by the compiler, so a
 * run passes nothing but (start, end) to kernels.
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
   * Cold start (default true; batch-polymorphic artifacts skip it): at load, before the weights are written, each kernel with at
   * least WARMUP_MIN_WORK work items runs once on its first item, which makes V8 (and other
   * engines with budget-based tiering) start compiling it with the optimizing tier in the
   * background; linear memory is zeroed again afterwards, so nothing of it remains. false
   * skips it (load is shorter by that time, the first run slower).
   */
  warmup?: boolean;
  /**
   * How many runs of each entry point, from the first, call every kernel in pieces (up to
   * COLD_PIECES calls per thread) instead of once over its whole share: an integer in [0, 1000],
   * default COLD_RUNS (2). WebAssembly has no on-stack replacement, so a kernel still in baseline
   * code at its start stays there until its next call; pieces let optimized code take over
   * mid-kernel. 0 dispatches whole shares from the first run. Results do not depend on it.
   */
  chunkedRuns?: number;
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

const WASM_OPTIONS = ['threads', 'relaxedSimd', 'device', 'warmup', 'chunkedRuns'] as const;
const CUDA_OPTIONS = ['device', 'ordinal', 'addonPath'] as const;
const LOAD_OPTIONS = [...WASM_OPTIONS, 'ordinal', 'addonPath'] as const;

/** Default cap: batch-1 inference rarely gains past this many threads. */
export const DEFAULT_MAX_THREADS = 8;

/** Runs of each entry dispatched in pieces by default (the second run still finds kernels whose optimized code is not ready). */
export const COLD_RUNS = 2;
/** Pieces per thread's share in a cold run: enough that a kernel switches to optimized code soon after it is ready, few enough that the calls cost nothing measurable. */
export const COLD_PIECES = 64;
/** Kernels with fewer work items are not warmed up at load: one item would be too large a share of their work. */
export const WARMUP_MIN_WORK = 4;

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
  for (const k of ['relaxedSimd', 'warmup'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') throw new KilnRuntimeError(`load() options: ${k} must be a boolean, got ${describe(o[k])}`);
  }
  checkInteger('load() options: chunkedRuns', o.chunkedRuns, 0, 1000);
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
  const instance = await instantiate(mod, memory, section, pages, shared);
  if (options.warmup !== false) warmUp(instance, m, memory);
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
      // [count, length] of each step's batchSegments ([0, 0]: none), for executeSchedule.
      ...(m.batch ? { segs: steps.flatMap((k) => { const { batchSegments: g, work } = m.kernels[k]!; return g ? [g.count, work / g.count] : [0, 0]; }) } : {}),
      grain: Int32Array.from(steps, (k) => Math.max(1, m.kernels[k]!.minWorkPerThread ?? m.threads?.minWorkPerThread ?? 1)),
      coldRuns: options.chunkedRuns ?? COLD_RUNS,
      coldPieces: COLD_PIECES,
    };
  });
  let spawn: SpawnWorkers | undefined;
  if (shared && threadsAvailable()) {
    const entryPlans = plans.map((p) => ({ schedule: p.schedule, work: p.work, grain: Array.from(p.grain), code: p.code && Array.from(p.code), segs: p.segs }));
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
  // Worker threads start (each boots its own JS engine instance) while this thread writes the weights.
  const starting = prog.startWorkers();
  try {
    if (m.weights && m.weights.length > 0) {
      const w = art.sections['weights'] ?? new Uint8Array(0);
      const region = new Uint8Array(memory.buffer, m.weights.offset, m.weights.length);
      if (m.weights.encoding) decodeWeights(w, m.weights.encoding, region);
      else if (w.length !== m.weights.length) {
        throw new KilnRuntimeError(`invalid artifact manifest: weights.length is ${m.weights.length} but the 'weights' section has ${w.length} bytes`);
      } else region.set(w);
    }
  } catch (e) {
    await starting.catch(() => undefined);
    prog.dispose();
    throw e;
  }
  await starting;
  return prog;
}

async function instantiate(mod: WebAssembly.Module, memory: WebAssembly.Memory, section: string, pages: number, shared: boolean): Promise<WebAssembly.Instance> {
  try {
    return await WebAssembly.instantiate(mod, { env: { memory } });
  } catch (e) {
    throw new KilnRuntimeError(
      `could not instantiate the '${section}' module: ${(e as Error).message} (the runtime gave it a memory of ${pages} pages, shared: ${shared}, as the manifest says; the module's memory import must match)`,
    );
  }
}

/**
 * Starts the optimizing compiler on every kernel before the first run. Engines compile
 * WebAssembly with a baseline tier first and optimize a function once it has run enough
 * (V8: a per-function budget of executed code); a kernel of a real model exhausts it within
 * one work item. Called on a fresh memory, before anything is written to it: the kernels read
 * zeros and write garbage (a trap is ignored; kernel loops have static bounds), then the
 * memory is zeroed, so the program starts from exactly the memory it would have had.
 * The pages touched here would be touched by the weights copy and the first run anyway.
 * Skipped for batch-polymorphic artifacts (see below).
 */
function warmUp(instance: WebAssembly.Instance, m: Manifest, memory: WebAssembly.Memory): void {
  // A batch-polymorphic artifact's arena is sized for its largest batch; zeroing it all would
  // touch pages that runs at small batches never do.
  if (m.batch) return;
  let ran = false;
  for (const k of m.kernels) {
    if (k.work < WARMUP_MIN_WORK) continue;
    try {
      (instance.exports[k.name] as KernelFn)(0, 1);
    } catch {
      // A kernel that traps on zeros (an integer division, an index check) is simply not warmed up.
    }
    ran = true;
  }
  // All of it, the weights region included (its pages are resident by now: ~1 ms for 14 MB),
  // so this holds whatever is written into memory afterwards and where.
  if (ran) new Uint8Array(memory.buffer).fill(0);
}

/** `a` on a SharedArrayBuffer when memory is shared (workers then see updates), else itself. */
function shareable(a: Int32Array, shared: boolean): Int32Array {
  if (!shared || typeof SharedArrayBuffer === 'undefined') return a;
  const s = new Int32Array(new SharedArrayBuffer(a.byteLength));
  s.set(a);
  return s;
}
