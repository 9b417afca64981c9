/**
 * Static memory planning over a kernel schedule: every intermediate buffer gets an offset in one
 * arena such that two buffers live at the same step never overlap.
 *
 * A buffer is live from the step that writes it (`def`) to the last step that reads it
 * (`lastUse`, inclusive; Infinity for outputs, which nothing may overwrite). At step s a kernel
 * reads its inputs while writing its output, so a buffer dying at s and one born at s overlap in
 * time, unless an in-place hint says the kernel may write its output over that input.
 *
 * Offsets come from greedy best-fit: buffers are placed one by one at the smallest gap between
 * already-placed, time-overlapping buffers that holds them. Two orders are tried, largest first
 * (TFLite's greedy-by-size) and by definition step (a free list walking the schedule); the plan with
 * the lower peak wins.
 */
import { byteSize } from '../ir/dtype.js';
import type { Value } from '../ir/function.js';
import { KilnError, numel, shapesEqual } from '../ir/types.js';
import { opKind } from './fusion.js';
import type { FusionPlan } from './fusion_plan.js';

export interface PlanBuffer {
  id: number;
  bytes: number;
  /** Step that writes it. */
  def: number;
  /** Last step that reads it; Infinity if it is an output. */
  lastUse: number;
}

/** At `step` the output buffer may reuse the input buffer's memory, when the input dies at this step. */
export interface InPlaceHint {
  step: number;
  input: number;
  output: number;
}

export interface MemoryPlan {
  /** Byte offset of every buffer in the arena. */
  offsets: Map<number, number>;
  /** Arena size: the highest end offset of any buffer. */
  peakBytes: number;
  /** Total of all buffers' aligned sizes: the arena size without any reuse. */
  sumBytes: number;
  alignment: number;
}

export interface MemoryPlanOptions {
  /** Byte alignment of every offset and size (default 64: a cache line, enough for SIMD and CUDA vector loads). */
  alignment?: number;
  inPlace?: InPlaceHint[];
}

/** Buffers sharing memory through in-place reuse: one interval, one offset. */
interface Slot {
  members: PlanBuffer[];
  size: number;
  def: number;
  lastUse: number;
  offset: number;
}

export function planMemory(buffers: PlanBuffer[], opts: MemoryPlanOptions = {}): MemoryPlan {
  const alignment = opts.alignment ?? 64;
  if (!Number.isInteger(alignment) || alignment < 1) {
    throw new KilnError(`planMemory: alignment must be a positive integer, got ${alignment}`);
  }
  const byId = new Map<number, PlanBuffer>();
  for (const b of buffers) {
    const what = `planMemory: buffer ${b.id} (bytes ${b.bytes}, def ${b.def}, lastUse ${b.lastUse})`;
    if (byId.has(b.id)) throw new KilnError(`planMemory: buffer id ${b.id} appears twice`);
    if (!Number.isInteger(b.bytes) || b.bytes < 0) throw new KilnError(`${what}: bytes must be a non-negative integer`);
    if (!Number.isFinite(b.def)) throw new KilnError(`${what}: def must be a finite step`);
    if (!(b.lastUse >= b.def)) throw new KilnError(`${what}: lastUse must be >= def (use Infinity for outputs)`);
    byId.set(b.id, b);
  }
  const aligned = (n: number) => Math.ceil(n / alignment) * alignment;

  // In-place hints chain buffers into slots. A hint applies when the input is the latest buffer of
  // its slot, dies exactly at the hint's step, the output is born there and fits.
  const slotOf = new Map<number, Slot>();
  for (const b of buffers) slotOf.set(b.id, { members: [b], size: aligned(b.bytes), def: b.def, lastUse: b.lastUse, offset: 0 });
  const hints = [...(opts.inPlace ?? [])].sort((a, b) => a.step - b.step);
  for (const h of hints) {
    const input = byId.get(h.input), output = byId.get(h.output);
    if (!input || !output) throw new KilnError(`planMemory: in-place hint at step ${h.step} names unknown buffer ${!input ? h.input : h.output}`);
    const slot = slotOf.get(input.id)!;
    const target = slotOf.get(output.id)!;
    const usable = slot !== target && target.members.length === 1 && input.lastUse === h.step && output.def === h.step &&
      slot.lastUse === h.step && aligned(output.bytes) <= slot.size;
    if (!usable) continue; // a hint is permission, not an obligation
    slot.members.push(output);
    slot.lastUse = output.lastUse;
    slotOf.set(output.id, slot);
  }
  const slots = [...new Set(slotOf.values())];

  const bySize = [...slots].sort((a, b) => b.size - a.size || a.def - b.def || (b.lastUse - b.def) - (a.lastUse - a.def));
  const byDef = [...slots].sort((a, b) => a.def - b.def || b.size - a.size);
  const peakA = assign(bySize);
  const offsetsA = slots.map((s) => s.offset);
  const peakB = assign(byDef);
  if (peakA <= peakB) slots.forEach((s, i) => (s.offset = offsetsA[i]!));

  const offsets = new Map<number, number>();
  for (const s of slots) for (const b of s.members) offsets.set(b.id, s.offset);
  const sumBytes = buffers.reduce((acc, b) => acc + aligned(b.bytes), 0);
  return { offsets, peakBytes: Math.min(peakA, peakB), sumBytes, alignment };
}

/** Best-fit placement in the given order; returns the arena size. */
function assign(order: readonly Slot[]): number {
  const placed: Slot[] = [];
  let peak = 0;
  for (const s of order) {
    if (s.size === 0) { s.offset = 0; continue; }
    const busy = placed
      .filter((p) => p.def <= s.lastUse && s.def <= p.lastUse)
      .sort((a, b) => a.offset - b.offset);
    let best = -1, bestGap = Infinity, cursor = 0;
    for (const p of busy) {
      const gap = p.offset - cursor;
      if (gap >= s.size && gap < bestGap) { best = cursor; bestGap = gap; }
      cursor = Math.max(cursor, p.offset + p.size);
    }
    s.offset = best >= 0 ? best : cursor;
    placed.push(s);
    peak = Math.max(peak, s.offset + s.size);
  }
  return peak;
}

/**
 * The buffers of a fusion plan's schedule: one per group output (step = group position), live
 * until the last group reading it, forever for function results. In-place hints are given for
 * purely elementwise loop groups, where element i of the output depends on element i of the input
 * only, so a kernel may overwrite an input of the same byte size as it goes.
 */
export function scheduleBuffers(plan: FusionPlan): { buffers: PlanBuffer[]; inPlace: InPlaceHint[] } {
  const results = new Set(plan.func.results);
  const buffers = new Map<Value, PlanBuffer>();
  plan.groups.forEach((g, step) => {
    for (const v of g.outputs) {
      buffers.set(v, { id: v.id, bytes: numel(v.shape) * byteSize(v.dtype), def: step, lastUse: results.has(v) ? Infinity : step });
    }
  });
  plan.groups.forEach((g, step) => {
    for (const i of g.inputs) {
      const b = buffers.get(i);
      if (b && b.lastUse !== Infinity) b.lastUse = Math.max(b.lastUse, step);
    }
  });
  const inPlace: InPlaceHint[] = [];
  plan.groups.forEach((g, step) => {
    if (g.kind !== 'loop' || g.outputs.length !== 1) return;
    const out = g.outputs[0]!;
    const members = new Set(g.values);
    for (const i of g.inputs) {
      const b = buffers.get(i);
      if (!b || b.lastUse !== step || b.bytes !== buffers.get(out)!.bytes || !shapesEqual(i.shape, out.shape)) continue;
      // Every member depending on the input must be elementwise, so element i is read only for element i.
      const dependsOn = new Set<Value>([i]);
      let elementwiseOnly = true;
      for (const v of g.values) {
        if (!v.inputs.some((x) => dependsOn.has(x))) continue;
        dependsOn.add(v);
        if (opKind(v) !== 'elementwise' || !shapesEqual(v.shape, out.shape)) elementwiseOnly = false;
      }
      if (elementwiseOnly && dependsOn.has(out) && members.has(out)) {
        inPlace.push({ step, input: i.id, output: out.id });
        break;
      }
    }
  });
  return { buffers: [...buffers.values()], inPlace };
}
