/**
 * GEMM operands packed once per program: a B operand (a weight read by every time step of an
 * unrolled recurrence, forward as x·W and backward as g·Wᵀ) is packed into its panel layout by the
 * first GEMM that reads it in that layout, and every later GEMM of the same lowering reads those
 * panels instead of packing again. Keyed by the IR value (not its buffer: in a loop body a buffer
 * holds a new value every iteration, a value is computed once where it is defined) and by the
 * panel view. The first GEMM's pack kernel is scheduled before it, and the packed buffer's
 * liveness runs to the last GEMM that reads it (the memory planner sees the reads).
 *
 * Inside a loop body (a compiled scan or while), an operand that is loop-invariant (a carried
 * value the body passes through unchanged: a captured weight) is packed by a kernel that runs once
 * before the loop: control.ts lowers the body inside `lowerLoopBody` and schedules the hoisted
 * pack kernels ahead of the loop.
 *
 * A group whose lowering fails after packing (LoweringError, then split into single ops) drops its
 * kernels, pack kernel included: `withPackRollback` forgets what that group registered.
 */
import type { Value } from '../ir/function.js';
import type { Kernel } from './kernel_ir.js';
import type { PanelView } from './wasm/pack.js';

interface LoopFrame {
  readonly invariant: ReadonlySet<Value>;
  readonly hoisted: Kernel[];
}

/** The loop bodies being lowered, innermost last. */
const loops: LoopFrame[] = [];

/**
 * Lower a loop body with `invariant` (its parameters that hold the same value in every iteration):
 * returns what `lower` returned and the pack kernels hoisted out of the body, to run before the loop.
 */
export function lowerLoopBody<T>(invariant: ReadonlySet<Value>, lower: () => T): { result: T; hoisted: Kernel[] } {
  const frame: LoopFrame = { invariant, hoisted: [] };
  loops.push(frame);
  try {
    return { result: lower(), hoisted: frame.hoisted };
  } finally {
    loops.pop();
  }
}

/**
 * Where the kernel packing `v` goes when `v` is invariant in the innermost loop being lowered (and
 * not computed by the group itself): that loop's hoisted kernels. Undefined: with the GEMM.
 */
export function hoistedPackSink(v: Value, groupValues: readonly Value[]): ((k: Kernel) => void) | undefined {
  const frame = loops[loops.length - 1];
  if (!frame || !frame.invariant.has(v) || groupValues.includes(v)) return undefined;
  return (k) => { frame.hoisted.push(k); };
}

interface Scope {
  readonly packs: Map<Value, Map<string, number>>;
  /** Registered by the group being lowered (forgotten if it fails). */
  readonly pending: [Value, string][];
  /** Nested group lowerings in progress (int8 lowering lowers parts of its group as groups). */
  depth: number;
}

const scopes = new WeakMap<object, Scope>();

function scopeOf(ctx: object): Scope {
  let s = scopes.get(ctx);
  if (!s) scopes.set(ctx, (s = { packs: new Map(), pending: [], depth: 0 }));
  return s;
}

const viewKey = (dtype: string, view: PanelView): string => `${dtype}|${view.kDims}|${view.kAxes}|${view.jDims}|${view.jAxes}`;

/** The buffer `v` was already packed into with `view` in this lowering context, if any. */
export function packedBefore(ctx: object, v: Value, view: PanelView): number | undefined {
  return scopes.get(ctx)?.packs.get(v)?.get(viewKey(v.dtype, view));
}

/** Record that `buf` holds `v` packed with `view` (by a kernel of the group being lowered). */
export function rememberPacked(ctx: object, v: Value, view: PanelView, buf: number): void {
  const s = scopeOf(ctx);
  let byView = s.packs.get(v);
  if (!byView) s.packs.set(v, (byView = new Map()));
  const key = viewKey(v.dtype, view);
  byView.set(key, buf);
  s.pending.push([v, key]);
}

/** Run one group's lowering; if it throws, the packs it registered are forgotten. */
export function withPackRollback<T>(ctx: object, lower: () => T): T {
  const s = scopeOf(ctx);
  const mark = s.pending.length;
  const frame = loops[loops.length - 1];
  const hoistedMark = frame?.hoisted.length ?? 0;
  s.depth++;
  try {
    const out = lower();
    // Kept until the outermost group succeeds: an enclosing group that fails drops these kernels too.
    if (s.depth === 1) s.pending.length = 0;
    return out;
  } catch (e) {
    for (const [v, key] of s.pending.splice(mark)) s.packs.get(v)?.delete(key);
    if (frame) frame.hoisted.length = hoistedMark;
    throw e;
  } finally {
    s.depth--;
  }
}
