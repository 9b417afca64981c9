/**
 * The artifact manifest (format versions 1 to 5): its TypeScript shape. The
 * checks that turn a malformed one into a KilnRuntimeError naming the field
 * live in validate.ts. docs/artifact-format.md is the
 * normative description; keep the two in step.
 */
import type { DType } from './dtypes.js';

/**
 * The newest format this runtime reads. Version 2 added resident state and
 * named entry points; version 3 the header checksum and the manifest-to-code
 * binding; version 4 loop and branch schedule entries (ScheduleEntry);
 * version 5 encoded weights (WeightsEncoding). writeArtifact writes version 5
 * only when the weights are encoded, else 4 only when a schedule holds a loop
 * or a branch, else 3, so artifacts still load in the oldest runtime that
 * understands them; older ones refuse them as "newer than this runtime".
 * Versions 1 and 2 are still read, verified structurally only (no checksum).
 */
export const FORMAT_VERSION = 5;
/** The version written for artifacts with loops or branches and raw weights. */
export const CONTROL_FORMAT_VERSION = 4;
/** The version written for artifacts whose schedules are kernel indices only. */
export const PLAIN_FORMAT_VERSION = 3;
export const WASM_PAGE_BYTES = 65536;

/** A program input or output living at a fixed byte offset in linear memory. */
export interface TensorSpec {
  name: string;
  shape: number[];
  dtype: DType;
  /** Byte offset in the module's linear memory; a multiple of the element size. */
  offset: number;
  /**
   * Batch-polymorphic artifacts (manifest.batch): the leading dimension is `batch` times the run's
   * batch size (shape[0] = batch * manifest.batch.max as listed); absent: fixed shape.
   */
  batch?: number;
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

/**
 * A scalar in memory that decides a branch or ends a loop: zero is false,
 * anything else (NaN included) true. Written by a kernel earlier in the
 * schedule; read by the runtime (the CUDA executor copies it to the host).
 */
export interface FlagSpec {
  /** Byte offset in memory; a multiple of the element size. */
  offset: number;
  dtype: 'bool' | 'u8' | 'i8' | 'i32' | 'f32';
}

/**
 * Version 4: repeat { run `head`; stop if `flag` is zero; run `body` } at
 * most `count` times (a static trip count), or until the flag stops it (a
 * data-dependent one), or both (a while loop with a maximum). A loop has a
 * count, a flag or both.
 */
export interface LoopSpec {
  count?: number;
  head?: ScheduleEntry[];
  flag?: FlagSpec;
  body: ScheduleEntry[];
  /** Informational: what the compiler made this loop from (e.g. "while %12"). */
  note?: string;
}

/** Version 4: run `then` if the flag is nonzero, else `else`. */
export interface BranchSpec {
  flag: FlagSpec;
  then: ScheduleEntry[];
  else: ScheduleEntry[];
  note?: string;
}

/** A kernel index, or (version 4) a loop or a branch over nested schedules. */
export type ScheduleEntry = number | { loop: LoopSpec } | { branch: BranchSpec };

/** A named schedule over the shared kernels, memory and state (e.g. "eval_step"). */
export interface EntrySpec {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  schedule: ScheduleEntry[];
}

/**
 * Version 5: the "weights" section encoded, decoded once at load into the weights region
 * (docs/artifact-format.md, "Encoded weights"). Segments are in increasing `at` order and do not
 * overlap; region bytes no segment covers are zero. Each segment's encoded bytes follow the
 * previous segment's in the section, aligned to its element size (weights_codec.ts, encodedStart;
 * zero padding between).
 */
export interface WeightsEncoding {
  segments: WeightSegment[];
}

/**
 * One stretch of the weights region. `at`: its byte offset in the region (a multiple of 4 except
 * for raw). `count`: f32 elements decoded (4 bytes each); raw segments give `bytes` instead.
 * - raw: the bytes as they are (any dtype).
 * - f16: IEEE binary16 values, 2 bytes each, widened exactly.
 * - affine: unsigned codes of `bits` (8 or 16) bits, value = fround(code * scale + min) computed
 *   in double precision (tfjs's dequantization of uint8/uint16 weights); code `zero`, when given,
 *   decodes to +0 instead.
 * - q8: blocks of `block` values: first every block's f32 scale, then every value as an int8
 *   code q; value = fround(q * scale). Lossy (int8-weights).
 * Non-raw segments may give `width` and `stride` (elements): the values then fill rows of `width`,
 * row r starting at element r * stride, zeros between (a packed GEMM panel's padding columns
 * cost nothing); `count` is a multiple of `width` and the segment spans count / width * stride
 * elements.
 */
export type WeightSegment =
  | { enc: 'raw'; at: number; bytes: number }
  | ({ enc: 'f16'; at: number; count: number } & Rows)
  | ({ enc: 'affine'; at: number; count: number; bits: 8 | 16; scale: number; min: number; zero?: number } & Rows)
  | ({ enc: 'q8'; at: number; count: number; block: number } & Rows);

interface Rows {
  width?: number;
  stride?: number;
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
  /**
   * Batch-polymorphic artifacts: the work items at batch n, as `batch * n` (a number) or
   * `batch[n - 1]` (an array of manifest.batch.max counts). Absent: always `work`.
   */
  batch?: number | number[];
  /**
   * Batch-polymorphic artifacts, a kernel that writes a value whose batch items are not a prefix
   * (time-major [T, B, F]): its work is `count` equal segments (one per outer index), and at
   * batch n only the first `work` (as `batch` reads: work * n, or work[n - 1]) items of each
   * segment need to run. A host may ignore it and run all `work` items (correct, slower).
   */
  batchSegments?: { count: number; work: number | number[] };
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
  /**
   * Where the weights go in linear memory at load: `length` bytes at `offset`. Without `encoding`
   * the "weights" section is those bytes; with it (version 5) the section holds them encoded.
   */
  weights?: { offset: number; length: number; encoding?: WeightsEncoding };
  kernels: KernelSpec[];
  /** Kernel indices in execution order (a kernel may appear more than once), with loops and branches from version 4. */
  schedule: ScheduleEntry[];
  threads?: { default?: number; minWorkPerThread?: number };
  /** Version 2: tensors resident between runs; initial values in the "state" section. */
  state?: StateSpec[];
  /** Version 2: further entry points; the top-level inputs/outputs/schedule are the default one. */
  entries?: Record<string, EntrySpec>;
  /** Version 2: the default entry's name (default "main"). */
  defaultEntry?: string;
  sections: SectionEntry[];
  /**
   * A batch-polymorphic artifact: it runs any batch from 1 to `max` (inputs and outputs with a
   * `batch` field scale their leading dimension, kernels with one their work). Memory is laid out
   * for `max`.
   */
  batch?: {
    max: number;
    /** Byte offset of an i32 the runtime sets to the run's batch size before running (kernels read it). */
    slot: number;
  };
  meta?: Record<string, unknown>;
}

/** The manifest the writer takes: `sections` is filled in by writeArtifact. */
export type ManifestInput = Omit<Manifest, 'sections'> & { sections?: SectionEntry[] };

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Work items of kernel `k` at batch n (its full work when it does not scale with the batch). */
export function workAtBatch(k: Pick<KernelSpec, 'work' | 'batch'>, n: number): number {
  if (k.batch === undefined) return k.work;
  return typeof k.batch === 'number' ? k.batch * n : k.batch[n - 1]!;
}

/** A batch-polymorphic tensor's spec at batch n (others unchanged). */
export function specAtBatch(s: TensorSpec, n: number): TensorSpec {
  return s.batch === undefined ? s : { ...s, shape: [s.batch * n, ...s.shape.slice(1)] };
}

export function specToString(s: TensorSpec): string {
  return `${s.dtype}[${s.shape.join(',')}]`;
}
