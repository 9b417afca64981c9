/**
 * Work counts that scale with the batch given at run time (a program compiled with maxBatch, see
 * passes/batch_poly.ts). Every kernel is planned and emitted at maxBatch; at run time with batch n
 * a kernel that writes batch-carrying buffers runs only the work items [0, t(n)) that write their
 * first n batch items (the rest of its rows are never read by a result for batch n). t comes
 * from the kernel itself: the first element each work item stores (its loops at their start), or
 * the row block of a GEMM or window statement, found by binary search (work items store in
 * increasing row order in every lowering: the work item is the outermost output index).
 * Buffers are planned at maxBatch size, so offsets do not move with n.
 */
import { numel, KilnError } from '../ir/types.js';
import type { BatchFactors } from '../passes/batch_poly.js';
import type { Value } from '../ir/function.js';
import type { Kernel } from './kernel_ir.js';
import { GEMM_MR, GEMM_NR, GEMM_SPLIT_BELOW } from './kernel_ir.js';
import { readBuffers, walk, writtenBuffers } from './kernel_buffers.js';
import { evalSym } from './symbolic.js';
import type { Program } from './program.js';

/**
 * Work items of a kernel at batch n = 1..maxBatch: a number p means p*n; an array lists them
 * (entry n-1 for batch n). Absent: the kernel does not depend on the batch (full work always).
 */
export type BatchWork = number | number[];

export interface BatchPlan {
  /** The program with the batch slot added (an i32 after the arena) and its GEMMs computing live rows only. */
  readonly program: Program;
  /** Byte offset of the batch slot: the runtime writes the run's batch size there. */
  readonly slot: number;
  /** The slot's buffer id in `program` (its offset moves when compileEntries relocates the arena). */
  readonly slotBuffer: number;
  readonly maxBatch: number;
  /** Per kernel (program order). */
  readonly work: (BatchWork | undefined)[];
  /** Buffer id -> elements per batch item, for batch-carrying buffers. */
  readonly perItem: ReadonlyMap<number, number>;
  /** Per kernel: kernels writing strided values whose work splits into segments of batch items (KernelSpec.batchSegments). */
  readonly segments: ({ count: number; work: BatchWork } | undefined)[];
}

/** The first element of buffer `buf` that work item w stores, per store statement of the kernel. */
function firstStores(k: Kernel, buf: number): ((w: number) => number)[] {
  const out: ((w: number) => number)[] = [];
  walk(k.body, (s) => {
    if (s.k === 'store' && s.buf === buf) {
      const at = s.at;
      let cur = 0;
      const env = new Proxy({}, { get: (_, name) => (name === 'w' ? cur : 0) }) as Record<string, number>;
      out.push((w) => { cur = w; return evalSym(at, env); });
    } else if (s.k === 'storex' && s.buf === buf) {
      throw new KilnError(`kernel '${k.name}' stores at data-dependent indices into a batch-carrying buffer, which maxBatch does not support`);
    } else if (s.k === 'gemm' && s.g.out === buf) {
      const { N } = s.g, split = s.g.nSplit ?? 1;
      out.push((w) => Math.floor(w / split) * GEMM_MR * N);
    } else if (s.k === 'conv2d' && s.c.out === buf) {
      const per = s.c.OW * s.c.Cout;
      out.push((w) => w * per);
    }
  });
  return out;
}

/** Work items needed for the first n batch items: the first w whose stores all start at or past n*E. */
function neededWork(k: Kernel, firsts: readonly ((w: number) => number)[], limit: number): number {
  let lo = 0, hi = k.work;
  const past = (w: number) => firsts.every((f) => f(w) >= limit);
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (past(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * `strided`: batch-carrying values whose batch items are not a prefix of their buffer (passes/batch_poly.ts);
 * a kernel that writes one runs its full work at every batch.
 */
export function planBatchWork(program: Program, factors: BatchFactors, maxBatch: number, strided: ReadonlyMap<Value, number> = new Map()): BatchPlan {
  const perItem = new Map<number, number>();
  const full = new Set<number>();
  /** Strided buffers: how many segments of items they hold (0: unknown, computed in full). */
  const outer = new Map<number, number>();
  for (const b of program.buffers) {
    if (b.value && (factors.get(b.value) ?? 0) > 0) perItem.set(b.id, numel(b.shape) / maxBatch);
    if (b.value && strided.has(b.value)) {
      full.add(b.id);
      outer.set(b.id, strided.get(b.value)!);
    }
  }
  const segments: BatchPlan['segments'] = program.kernels.map(() => undefined);
  const work = program.kernels.map((k, ki): BatchWork | undefined => {
    const reads = [...readBuffers(k)].filter((id) => perItem.has(id) || full.has(id));
    const writes = writtenBuffers(k);
    // Scratch written from a strided value is laid out like it: strided too.
    if ([...readBuffers(k)].some((id) => full.has(id))) for (const id of writes) if (!program.buffers[id]!.value) full.add(id);
    if (writes.some((id) => full.has(id))) {
      segments[ki] = segmentWork(k, writes, perItem, full, outer, program, maxBatch);
      return undefined;
    }
    // A scratch buffer (no IR value: a padded conv input) written from batch-carrying ones carries the batch too.
    if (reads.length > 0) {
      for (const id of writes) {
        const b = program.buffers[id]!;
        if (perItem.has(id) || b.value) continue;
        const n = numel(b.shape);
        if (n % maxBatch !== 0) throw new KilnError(`maxBatch ${maxBatch}: kernel '${k.name}' writes scratch buffer '${b.note ?? id}' of shape [${b.shape}] from batch-carrying inputs, and its size is not a multiple of the batch`);
        perItem.set(id, n / maxBatch);
      }
    }
    const batchWrites = writes.filter((id) => perItem.has(id));
    if (batchWrites.length === 0) {
      if (reads.length > 0) throw new KilnError(`maxBatch ${maxBatch}: kernel '${k.name}' (${k.note}) reads batch-carrying buffers but writes none: it would combine batch items`);
      return undefined;
    }
    if (k.work === 0) return 0;
    const firsts = batchWrites.map((id) => ({ per: perItem.get(id)!, firsts: firstStores(k, id) }));
    const needed = (n: number) => {
      let t = 0;
      for (const f of firsts) t = Math.max(t, neededWork(k, f.firsts, n * f.per));
      return Math.min(k.work, t);
    };
    // Most kernels need p*n items; checking that guess costs two probes per n instead of a binary
    // search (model.predict compiles with maxBatch up to thousands, for every kernel).
    const p1 = needed(1);
    const past = (f: (typeof firsts)[number], w: number, n: number) => f.firsts.every((g) => g(w) >= n * f.per);
    const exactly = (n: number, t: number) =>
      t < k.work && firsts.every((f) => past(f, t, n)) && (t === 0 || firsts.some((f) => !past(f, t - 1, n)));
    const table: number[] = [];
    for (let n = 1; n <= maxBatch; n++) {
      if (n === maxBatch) table.push(k.work);
      else table.push(exactly(n, p1 * n) ? p1 * n : needed(n));
    }
    const p = table[0]!;
    return table.every((t, i) => t === p * (i + 1)) ? p : table;
  });
  // The batch slot: one i32 past the arena, never reused by the planner.
  const slotOffset = program.arenaOffset + Math.ceil(program.arenaBytes / 64) * 64;
  const slot = program.buffers.length;
  program.buffers.push({ id: slot, kind: 'temp', dtype: 'i32', shape: [1], bytes: 4, offset: slotOffset, note: 'batch size (written by the runtime)' });
  // GEMMs over batch rows compute only the live rows of a partial row block (batch 1: one row, not GEMM_MR).
  program.kernels.forEach((k, i) => {
    const s = k.body[0];
    const seg = segments[i];
    if (seg && k.body.length === 1 && s?.k === 'gemm' && !s.g.a.transA && (s.g.nSplit ?? 1) === 1) {
      // Per segment of a time-major GEMM (its rows hold the batch once per segment): live rows counted within the segment.
      const rows = s.g.M / seg.count;
      if (Number.isInteger(rows) && rows % GEMM_MR === 0 && rows % maxBatch === 0) {
        program.kernels[i] = { ...k, body: [{ k: 'gemm', g: { ...s.g, live: { slot, rowsPerItem: rows / maxBatch, segmentRows: rows } } }] };
      }
      return;
    }
    if (work[i] === undefined || k.body.length !== 1 || s?.k !== 'gemm' || s.g.a.transA || !perItem.has(s.g.out) || s.g.M % maxBatch !== 0) return;
    const rowsPerItem = s.g.M / maxBatch;
    // Few live row blocks (batch 1): split the columns too so threads share the product, as a
    // GEMM specialized for that batch does (lower.ts); the work mapping switches at run time.
    const blocks = (n: number) => Math.ceil((n * rowsPerItem) / GEMM_MR);
    const panels = Math.ceil(s.g.N / GEMM_NR);
    const S = Math.ceil(panels / Math.ceil(panels / Math.min(8, panels)));
    if ((s.g.nSplit ?? 1) === 1 && S > 1 && s.g.K * s.g.N >= 16384 && blocks(maxBatch) >= GEMM_SPLIT_BELOW) {
      const table = Array.from({ length: maxBatch }, (_, j) => (blocks(j + 1) < GEMM_SPLIT_BELOW ? blocks(j + 1) * S : blocks(j + 1)));
      work[i] = table;
      program.kernels[i] = { ...k, work: Math.max(...table), body: [{ k: 'gemm', g: { ...s.g, live: { slot, rowsPerItem, smallSplit: S } } }] };
      return;
    }
    program.kernels[i] = { ...k, body: [{ k: 'gemm', g: { ...s.g, live: { slot, rowsPerItem } } }] };
  });
  const arenaBytes = slotOffset + 64 - program.arenaOffset;
  return { program: { ...program, arenaBytes, totalBytes: program.arenaOffset + arenaBytes }, slot: slotOffset, slotBuffer: slot, maxBatch, work, perItem, segments };
}

/**
 * A kernel that writes strided values (time-major [T, B, F]: T segments of maxBatch items) whose
 * work items split evenly into one run of items per segment, each run storing its segment's items
 * in order: at batch n only the first t(n) items of every segment run (the same t for every
 * segment, checked on the first, middle and last). Undefined where that does not hold: full work.
 */
function segmentWork(k: Kernel, writes: readonly number[], perItem: ReadonlyMap<number, number>, full: ReadonlySet<number>, outer: ReadonlyMap<number, number>, program: Program, maxBatch: number): { count: number; work: BatchWork } | undefined {
  if (writes.some((id) => perItem.has(id) || !outer.get(id))) return undefined;
  const count = outer.get(writes[0]!)!;
  if (count <= 1 || writes.some((id) => outer.get(id) !== count) || k.work % count !== 0) return undefined;
  const len = k.work / count;
  let firsts: { per: number; firsts: ((w: number) => number)[] }[];
  try {
    firsts = writes.map((id) => ({ per: numel(program.buffers[id]!.shape) / (count * maxBatch), firsts: firstStores(k, id) }));
  } catch {
    return undefined;
  }
  if (firsts.some((f) => f.firsts.length === 0 || !Number.isInteger(f.per))) return undefined;
  // Items needed in segment s for batch n: the first i whose stores all start at or past item n of the segment.
  const needed = (s: number, n: number) => {
    let t = 0;
    for (const f of firsts) {
      const base = s * maxBatch * f.per, limit = base + n * f.per;
      let lo = 0, hi = len;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (f.firsts.every((g) => g(s * len + mid) >= limit)) hi = mid;
        else lo = mid + 1;
      }
      t = Math.max(t, lo);
    }
    return t;
  };
  const table: number[] = [];
  const probes = [...new Set([0, count >> 1, count - 1])];
  for (let n = 1; n <= maxBatch; n++) {
    const t = n === maxBatch ? len : needed(0, n);
    if (n < maxBatch && probes.some((s) => needed(s, n) !== t)) return undefined;
    table.push(t);
  }
  const p = table[0]!;
  return { count, work: table.every((t, i) => t === p * (i + 1)) ? p : table };
}

/** Work items of a kernel at batch n (the runtime computes the same from the manifest). */
export function workAt(full: number, w: BatchWork | undefined, n: number): number {
  if (w === undefined) return full;
  return typeof w === 'number' ? w * n : w[n - 1]!;
}

/** For explain(): which kernels follow the run's batch and how, and which always run in full. */
export function describeBatchWork(program: Program, plan: BatchPlan): string {
  const lines = [`batch: one program for every batch from 1 to ${plan.maxBatch} (memory planned at ${plan.maxBatch}); work items at batch n:`];
  program.kernels.forEach((k, i) => {
    const w = plan.work[i];
    const seg = plan.segments[i];
    const how = seg ? `${seg.count} segments of ${k.work / seg.count}: ${typeof seg.work === 'number' ? `${seg.work} * n` : `${seg.work[0]} at n = 1 ... ${k.work / seg.count} at n = ${plan.maxBatch}`} per segment (a value with the batch inside)`
      : w === undefined ? `${k.work} always (does not depend on the batch)`
      : typeof w === 'number' ? `${w} * n`
      : `${w[0]} at n = 1 ... ${w[w.length - 1]} at n = ${plan.maxBatch} (${k.body[0]?.k === 'gemm' && k.body[0].g.live?.smallSplit ? `${k.body[0].g.live.smallSplit} column chunks per row block while fewer than ${GEMM_SPLIT_BELOW} are live, then row blocks` : 'blocks of rows'})`;
    lines.push(`  ${k.name}: ${how}`);
  });
  return lines.join('\n');
}
