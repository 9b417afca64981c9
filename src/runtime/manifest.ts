/**
 * The artifact manifest (format versions 1 and 2): its TypeScript shape and the
 * checks that turn a malformed one into a KilnRuntimeError naming the field,
 * before any of it is used to address memory. docs/artifact-format.md is the
 * normative description; keep the two in step.
 */
import { KilnRuntimeError } from './errors.js';
import { checkDType, dtypeBytes, type DType } from './dtypes.js';

/**
 * The newest format this runtime reads. Version 2 adds resident state and
 * named entry points; writeArtifact still writes 1 when a manifest uses
 * neither, so inference artifacts stay readable by older runtimes, while an
 * old runtime refuses a training artifact instead of running it without its
 * initial state.
 */
export const FORMAT_VERSION = 2;
export const WASM_PAGE_BYTES = 65536;

/** A program input or output living at a fixed byte offset in linear memory. */
export interface TensorSpec {
  name: string;
  shape: number[];
  dtype: DType;
  /** Byte offset in the module's linear memory; a multiple of the element size. */
  offset: number;
}

/**
 * A tensor that lives in linear memory across runs (weights, optimizer
 * slots, metric accumulators, step counters). `init` is the byte offset of
 * its initial value in the "state" section; without it the tensor starts at
 * zero. resetState() restores these values.
 */
export interface StateSpec extends TensorSpec {
  init?: number;
}

/** A named schedule over the shared kernels, memory and state (e.g. "eval_step"). */
export interface EntrySpec {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  schedule: number[];
}

export interface SectionEntry {
  name: string;
  /** Byte offset from the start of the file; a multiple of 16. */
  offset: number;
  length: number;
}

export interface KernelSpec {
  /** Name of the WebAssembly export `(start: i32, end: i32) -> void`. */
  name: string;
  /** Number of independent work items; the runtime splits [0, work) across threads. */
  work: number;
  /** Fewest work items worth giving one thread (overrides threads.minWorkPerThread). */
  minWorkPerThread?: number;
  note?: string;
}

export interface MemorySpec {
  /** Linear memory size in 64 KiB pages (initial = maximum). */
  pages: number;
  /** True when the module imports a shared memory (compiled for threads). */
  shared?: boolean;
  arenaOffset?: number;
  arenaBytes?: number;
  peakBytes?: number;
  sumIntermediateBytes?: number;
}

export interface Manifest {
  format: 'kiln';
  version: number;
  target: string;
  name?: string;
  createdBy?: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  memory: MemorySpec;
  /** Where the "weights" section is copied in linear memory at load. */
  weights?: { offset: number; length: number };
  kernels: KernelSpec[];
  /** Kernel indices in execution order; a kernel may appear more than once. */
  schedule: number[];
  threads?: { default?: number; minWorkPerThread?: number };
  /** Version 2: tensors resident between runs; initial values in the "state" section. */
  state?: StateSpec[];
  /** Version 2: further entry points; the top-level inputs/outputs/schedule are the default one. */
  entries?: Record<string, EntrySpec>;
  /** Version 2: the default entry's name (default "main"). */
  defaultEntry?: string;
  sections: SectionEntry[];
  meta?: Record<string, unknown>;
}

/** The format version a manifest needs: 2 when it uses state or entries, else 1. */
export function versionFor(m: Pick<Manifest, 'state' | 'entries' | 'defaultEntry'>): number {
  return m.state !== undefined || m.entries !== undefined || m.defaultEntry !== undefined ? 2 : 1;
}

/** The manifest the writer takes: `sections` is filled in by writeArtifact. */
export type ManifestInput = Omit<Manifest, 'sections'> & { sections?: SectionEntry[] };

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function specToString(s: TensorSpec): string {
  return `${s.dtype}[${s.shape.join(',')}]`;
}

function fail(msg: string): never {
  throw new KilnRuntimeError(`invalid artifact manifest: ${msg}`);
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0;
}

function checkCount(x: unknown, where: string): number {
  if (!isCount(x)) fail(`${where} must be a non-negative integer, got ${JSON.stringify(x)}`);
  return x;
}

/** Checks the container-level fields every target shares (format, version, sections). */
export function checkManifestHeader(m: unknown): Manifest {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) fail('not a JSON object');
  const o = m as Record<string, unknown>;
  if (o.format !== 'kiln') fail(`format must be "kiln", got ${JSON.stringify(o.format)}`);
  if (!Array.isArray(o.sections)) fail('sections must be an array');
  o.sections.forEach((s: unknown, i) => {
    const e = s as Partial<SectionEntry> | null;
    if (typeof e !== 'object' || e === null || typeof e.name !== 'string') fail(`sections[${i}] needs a string name`);
    checkCount(e.offset, `sections[${i}] ('${e.name}').offset`);
    checkCount(e.length, `sections[${i}] ('${e.name}').length`);
  });
  return o as unknown as Manifest;
}

function checkTensors(list: unknown, kind: string, memBytes: number): TensorSpec[] {
  if (!Array.isArray(list)) fail(`${kind} must be an array`);
  const seen = new Set<string>();
  return list.map((t: Partial<TensorSpec> | null, i) => {
    const where = `${kind}[${i}]`;
    if (typeof t !== 'object' || t === null || typeof t.name !== 'string') fail(`${where} needs a string name`);
    if (seen.has(t.name)) fail(`duplicate name '${t.name}' in ${kind}`);
    seen.add(t.name);
    if (!Array.isArray(t.shape) || !t.shape.every(isCount)) fail(`${where} ('${t.name}').shape must be an array of non-negative integers`);
    const dtype = checkDType(t.dtype, `invalid artifact manifest: ${where} ('${t.name}')`);
    const offset = checkCount(t.offset, `${where} ('${t.name}').offset`);
    const size = dtypeBytes(dtype);
    if (offset % size !== 0) fail(`${where} ('${t.name}').offset ${offset} is not a multiple of the ${dtype} size ${size}`);
    const end = offset + elementCount(t.shape) * size;
    if (end > memBytes) fail(`${where} ('${t.name}') ends at byte ${end}, past the ${memBytes}-byte memory`);
    return { name: t.name, shape: [...t.shape], dtype, offset };
  });
}

const byteRange = (t: TensorSpec): [number, number] => [t.offset, t.offset + elementCount(t.shape) * dtypeBytes(t.dtype)];

function checkSchedule(schedule: unknown, where: string, kernelCount: number): number[] {
  if (!Array.isArray(schedule)) fail(`${where} must be an array of kernel indices`);
  schedule.forEach((k: unknown, i) => {
    if (!isCount(k) || k >= kernelCount) fail(`${where}[${i}] = ${JSON.stringify(k)} is not a kernel index (there are ${kernelCount} kernels)`);
  });
  return schedule as number[];
}

/**
 * State tensors must not overlap one another or any entry's inputs (a run
 * writes inputs, which would clobber resident state); outputs may alias
 * state, e.g. to return a step counter.
 */
function checkState(list: unknown, memBytes: number, stateBytes: number, inputs: TensorSpec[]): StateSpec[] {
  const specs = checkTensors(list, 'state', memBytes);
  return specs.map((t, i) => {
    const init = (list as StateSpec[])[i]!.init;
    const [lo, hi] = byteRange(t);
    if (init !== undefined) {
      checkCount(init, `state[${i}] ('${t.name}').init`);
      if (init + hi - lo > stateBytes) {
        fail(`state[${i}] ('${t.name}') initial value [${init}, ${init + hi - lo}) lies outside the ${stateBytes}-byte 'state' section`);
      }
    }
    for (const o of [...specs.slice(0, i), ...inputs]) {
      const [a, b] = byteRange(o);
      if (lo < b && a < hi && hi > lo && b > a) {
        fail(`state '${t.name}' [${lo}, ${hi}) overlaps ${specs.includes(o) ? 'state' : 'input'} '${o.name}' [${a}, ${b})`);
      }
    }
    return init === undefined ? t : { ...t, init };
  });
}

/** Full check of a "wasm" target manifest against the sections actually present (name -> byte length). */
export function checkWasmManifest(m: Manifest, sectionSizes: ReadonlyMap<string, number>): Manifest {
  const sectionNames = new Set(sectionSizes.keys());
  if (m.target !== 'wasm') {
    throw new KilnRuntimeError(`artifact targets '${String(m.target)}'; this executor runs 'wasm' artifacts`);
  }
  if (!sectionNames.has('wasm')) fail(`a 'wasm' artifact needs a 'wasm' section (has: ${[...sectionNames].join(', ') || 'none'})`);
  if (typeof m.memory !== 'object' || m.memory === null) fail('memory must be an object');
  const pages = checkCount(m.memory.pages, 'memory.pages');
  if (pages < 1 || pages > 65536) fail(`memory.pages must be in [1, 65536], got ${pages}`);
  const memBytes = pages * WASM_PAGE_BYTES;
  const inputs = checkTensors(m.inputs, 'inputs', memBytes);
  const outputs = checkTensors(m.outputs, 'outputs', memBytes);
  if (m.weights !== undefined) {
    const off = checkCount(m.weights.offset, 'weights.offset');
    const len = checkCount(m.weights.length, 'weights.length');
    if (off + len > memBytes) fail(`weights [${off}, ${off + len}) do not fit the ${memBytes}-byte memory`);
    if (len > 0 && !sectionNames.has('weights')) fail(`weights.length is ${len} but there is no 'weights' section`);
  }
  if (!Array.isArray(m.kernels)) fail('kernels must be an array');
  m.kernels.forEach((k: Partial<KernelSpec> | null, i) => {
    if (typeof k !== 'object' || k === null || typeof k.name !== 'string') fail(`kernels[${i}] needs a string name`);
    checkCount(k.work, `kernels[${i}] ('${k.name}').work`);
    if (k.minWorkPerThread !== undefined) checkCount(k.minWorkPerThread, `kernels[${i}] ('${k.name}').minWorkPerThread`);
  });
  checkSchedule(m.schedule, 'schedule', m.kernels.length);
  if (m.threads?.default !== undefined) checkCount(m.threads.default, 'threads.default');
  if (m.threads?.minWorkPerThread !== undefined) checkCount(m.threads.minWorkPerThread, 'threads.minWorkPerThread');
  if (m.version < versionFor(m)) fail(`state, entries and defaultEntry need format version 2, but the file says version ${m.version}`);
  const defaultEntry = m.defaultEntry ?? 'main';
  if (typeof defaultEntry !== 'string') fail(`defaultEntry must be a string, got ${JSON.stringify(defaultEntry)}`);
  let entries: Record<string, EntrySpec> | undefined;
  const allInputs = [...inputs];
  if (m.entries !== undefined) {
    if (typeof m.entries !== 'object' || m.entries === null || Array.isArray(m.entries)) fail('entries must be an object of named entry points');
    entries = {};
    for (const [name, e] of Object.entries(m.entries)) {
      if (name === defaultEntry) fail(`entries redefines '${name}', the name of the default entry (the top-level inputs/outputs/schedule)`);
      const where = `entries['${name}']`;
      if (typeof e !== 'object' || e === null) fail(`${where} must be an object {inputs, outputs, schedule}`);
      const ins = checkTensors(e.inputs, `${where}.inputs`, memBytes);
      allInputs.push(...ins);
      entries[name] = {
        inputs: ins,
        outputs: checkTensors(e.outputs, `${where}.outputs`, memBytes),
        schedule: checkSchedule(e.schedule, `${where}.schedule`, m.kernels.length),
      };
    }
  }
  const state = m.state === undefined ? undefined : checkState(m.state, memBytes, sectionSizes.get('state') ?? 0, allInputs);
  return { ...m, inputs, outputs, defaultEntry, ...(entries ? { entries } : {}), ...(state ? { state } : {}) };
}
