/**
 * The artifact manifest (format version 1): its TypeScript shape and the
 * checks that turn a malformed one into a KilnRuntimeError naming the field,
 * before any of it is used to address memory. docs/artifact-format.md is the
 * normative description; keep the two in step.
 */
import { KilnRuntimeError } from './errors.js';
import { checkDType, dtypeBytes, type DType } from './dtypes.js';

export const FORMAT_VERSION = 1;
export const WASM_PAGE_BYTES = 65536;

/** A program input or output living at a fixed byte offset in linear memory. */
export interface TensorSpec {
  name: string;
  shape: number[];
  dtype: DType;
  /** Byte offset in the module's linear memory; a multiple of the element size. */
  offset: number;
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
  sections: SectionEntry[];
  meta?: Record<string, unknown>;
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

function checkTensors(list: unknown, kind: 'inputs' | 'outputs', memBytes: number): TensorSpec[] {
  if (!Array.isArray(list)) fail(`${kind} must be an array`);
  const seen = new Set<string>();
  return list.map((t: Partial<TensorSpec> | null, i) => {
    const where = `${kind}[${i}]`;
    if (typeof t !== 'object' || t === null || typeof t.name !== 'string') fail(`${where} needs a string name`);
    if (seen.has(t.name)) fail(`duplicate ${kind.slice(0, -1)} name '${t.name}'`);
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

/** Full check of a "wasm" target manifest against the sections actually present. */
export function checkWasmManifest(m: Manifest, sectionNames: ReadonlySet<string>): Manifest {
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
  if (!Array.isArray(m.schedule)) fail('schedule must be an array of kernel indices');
  m.schedule.forEach((k: unknown, i) => {
    if (!isCount(k) || k >= m.kernels.length) fail(`schedule[${i}] = ${JSON.stringify(k)} is not a kernel index (there are ${m.kernels.length} kernels)`);
  });
  if (m.threads?.default !== undefined) checkCount(m.threads.default, 'threads.default');
  if (m.threads?.minWorkPerThread !== undefined) checkCount(m.threads.minWorkPerThread, 'threads.minWorkPerThread');
  return { ...m, inputs, outputs };
}
