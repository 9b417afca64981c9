/**
 * Fusion policy: whether a producer may join the kernel (group) of its consumers, and why.
 *
 * This file holds no traversal (that is fusion_plan.ts). It answers two questions, each with a
 * reason that `explainPlan` prints:
 * - `describeGroup(members)`: what kernel a set of values would form (loop, row-kernel reduction,
 *   dot/conv with prologue and epilogue, ...) or why no single kernel can compute it;
 * - `shouldFuse(producer, consumer, ctx)`: the verdict for one producer joining one consumer group,
 *   XLA style: cheap ops are duplicated into several consumers within a cost budget, expensive ops
 *   (dot, conv, reduce, reduce_window, gather, scatter) never are.
 */
import { isInt } from '../ir/dtype.js';
import type { Value } from '../ir/function.js';
import { attr, getOp, type OpKind } from '../ir/registry.js';
import { numel, shapesEqual, typeToString, type Shape } from '../ir/types.js';
import type { GroupKind } from './fusion_plan.js';
import { foldedTransposeOf } from './layout_policy.js';

export interface FusionOptions {
  /**
   * Extra work allowed when a cheap producer is copied into several consumer groups, in cost
   * units (`(copies - 1) * opCost`; a cheap elementwise op costs 1, a transcendental one 8,
   * movement ops 0). Default 8: `exp` may be computed twice, `add` up to 9 times.
   */
  maxDuplicationCost?: number;
}

export const DEFAULT_FUSION_OPTIONS: Required<FusionOptions> = { maxDuplicationCost: 8 };

export interface Verdict {
  fuse: boolean;
  why: string;
}

/** What the plan knows when asking whether `producer` may join the group holding `consumer`. */
export interface FusionContext {
  /** Members of the consumer group the producer would join. */
  readonly group: ReadonlySet<Value>;
  /** How many distinct groups consume the producer (the producer joins all of them or none). */
  readonly groups: number;
  /**
   * Extra cost already charged to the duplicated cone the producer would extend: the largest
   * `duplicationCost` of its users that were themselves copied into several groups (0 if none).
   * Charging it again bounds the whole duplicated chain by the budget, not each op in it: a chain
   * of cheap ops each read by the next step and by one other group (an LSTM's cell-state gradient
   * over 64 time steps) would otherwise be recomputed in every later step's kernel.
   */
  readonly inheritedDuplication?: number;
  /**
   * How many members of the consumer group are stored (read by other groups or results), when the
   * plan knows it. A GEMM stores one output: a dot joining a group that stores several would run
   * as a generic dot kernel, so it stays a GEMM of its own instead.
   */
  readonly groupStores?: number;
  /** The producer is a function result (it must be stored whatever happens). */
  readonly isResult: boolean;
  readonly opts: Required<FusionOptions>;
  /** Body position of every value (members are ordered by it). */
  readonly order: ReadonlyMap<Value, number>;
  /** Memo for `rowKeyOf`, shared across one planning run. */
  readonly rowKeys: Map<Value, ReduceKey | null>;
}

/**
 * Extra work of copying `p` into `ctx.groups` groups, in cost units: its own copies plus the extra
 * work already charged to the duplicated consumers it would be recomputed inside (transitive).
 */
export function duplicationCost(p: Value, ctx: Pick<FusionContext, 'groups' | 'inheritedDuplication'>): number {
  if (ctx.groups <= 1) return 0;
  return (ctx.groups - 1) * opCost(p) + (ctx.inheritedDuplication ?? 0);
}

/** `exp %7` */
export function label(v: Value): string {
  return `${v.op} %${v.id}`;
}

export function opKind(v: Value): OpKind {
  return v.op === 'parameter' ? 'source' : getOp(v.op).kind;
}

const ANCHOR_KINDS: Partial<Record<OpKind, GroupKind>> = {
  reduction: 'reduction', dot: 'dot', conv: 'conv', window: 'window', gather: 'gather', scatter: 'scatter',
};

/** The group kind an expensive op anchors, or null for ops that fuse freely (elementwise, movement, rng). */
export function anchorKind(v: Value): GroupKind | null {
  return ANCHOR_KINDS[opKind(v)] ?? null;
}

/** Movement ops whose output reads its input at a shifted or bounds-checked index. */
const SHIFTED_INDEX_OPS = new Set(['pad', 'concat', 'slice']);

/**
 * A shifted-index op a GEMM epilogue still reads per vector: a unit-stride slice whose elements
 * are one contiguous block of its input (one time step of a time-major sequence), so the read is
 * the output's index plus a fixed offset.
 */
function isShiftedForGemm(v: Value): boolean {
  if (!SHIFTED_INDEX_OPS.has(v.op)) return false;
  if (v.op !== 'slice') return true;
  if (attr.ints(v.attrs, 'strides').some((s) => s !== 1)) return true;
  const full = v.inputs[0]!.shape;
  // Dims after the first partial one are whole; dims before it are single.
  const first = v.shape.findIndex((n, d) => n !== full[d]);
  return first >= 0 && v.shape.some((n, d) => (d < first ? n !== 1 : d > first && n !== full[d]));
}

const TRANSCENDENTAL = new Set(['exp', 'log', 'log1p', 'tanh', 'logistic', 'sin', 'cos', 'erf', 'pow']);
const MEDIUM = new Set(['div', 'sqrt', 'rsqrt']);
/** Cost at or above which recomputing an op for every element of a broadcast is refused. */
const EXPENSIVE = 8;

/** Rough per-element cost, used for the duplication budget and the recompute check. */
export function opCost(v: Value): number {
  const k = opKind(v);
  if (k === 'movement') return 0;
  if (k === 'source') return v.op === 'parameter' || v.op === 'constant' ? 0 : 16; // rng: 20 Threefry rounds
  if (k !== 'elementwise') return Infinity;
  if (TRANSCENDENTAL.has(v.op)) return EXPENSIVE;
  return MEDIUM.has(v.op) ? 2 : 1;
}

/**
 * Free values are copied into every group that uses them and cost nothing to recompute: scalar
 * constants, iota, and broadcasts/reshapes of them (splats). Bigger constants are group inputs.
 */
export function isFree(v: Value): boolean {
  if (v.op === 'constant') return numel(v.shape) <= 1;
  if (v.op === 'iota') return true;
  if (v.op === 'broadcast_in_dim' || v.op === 'reshape' || v.op === 'transpose' || v.op === 'slice') {
    return v.inputs.every(isFree);
  }
  return false;
}

/** cond, while, scan and get_result: each control node is a group of its own with its get_results. */
export function isControl(v: Value): boolean {
  return v.op !== 'parameter' && getOp(v.op).kind === 'control';
}

/** Scans of at most this many steps, with bodies fusion can merge across steps, are unrolled. */
export const MAX_UNROLL_STEPS = 4;

/** How a control node runs: unrolled into the enclosing function, or as a loop/branch entry of the schedule. */
export interface ControlDecision {
  readonly node: Value;
  readonly unroll: boolean;
  readonly why: string;
}

/**
 * Unroll a scan when it is short and its body is cheap, fusable ops (elementwise, movement,
 * reductions): unrolled, fusion merges the steps (and the slicing and stacking) into a few kernels,
 * where a loop runs the body's kernels plus per-step slice/stack/carry/counter kernels each step.
 * A body with a dot/conv/gather or nested control flow would only be copied, so it stays a loop;
 * so does every while (data-dependent trip count) and cond (a branch).
 */
export function controlDecision(node: Value): ControlDecision {
  const l = label(node);
  if (node.op === 'cond') return { node, unroll: false, why: `${l}: branch entry; the predicate picks one region's kernels at run time` };
  if (node.op === 'while') return { node, unroll: false, why: `${l}: loop entry ended by a flag (the trip count is data-dependent)` };
  const steps = attr.int(node.attrs, 'length');
  if (steps === 0 || steps > MAX_UNROLL_STEPS) return { node, unroll: false, why: `${l}: loop entry of ${steps} steps (only 1 to ${MAX_UNROLL_STEPS} steps are unrolled; the body's kernels run once per step)` };
  const heavy = node.regions[0]!.body.find((v) => isControl(v) || (anchorKind(v) !== null && anchorKind(v) !== 'reduction'));
  if (heavy) return { node, unroll: false, why: `${l}: loop entry of ${steps} steps; the body has ${label(heavy)}, which unrolling would copy without merging` };
  return { node, unroll: true, why: `${l}: unrolled (${steps} steps <= ${MAX_UNROLL_STEPS}, body of elementwise/movement/reduction ops: fusion merges the steps instead of running per-step kernels)` };
}

/** Values that are never group members: parameters and non-free constants (they are inputs). */
export function isInput(v: Value): boolean {
  return v.op === 'parameter' || (v.op === 'constant' && !isFree(v));
}

// ---------------------------------------------------------------------------------------------
// Row kernels: a reduction group reduces the same axes of the same input shape ("rows"); its
// values live either in the full input shape or in the per-row (reduced or keepdims) shape.

export interface ReduceKey {
  readonly shape: Shape;
  readonly axes: readonly number[];
}

export function reduceKey(r: Value): ReduceKey {
  const axes = [...attr.ints(r.attrs, 'axes')].sort((a, b) => a - b);
  return { shape: r.inputs[0]!.shape, axes };
}

export function keyString(k: ReduceKey): string {
  return `[${k.shape.join(',')}] axes [${k.axes.join(',')}]`;
}

/** The reduced shape, or the keepdims shape (size 1 on the reduced axes). */
export function isRowShaped(s: Shape, k: ReduceKey): boolean {
  const kept = k.shape.filter((_, i) => !k.axes.includes(i));
  if (shapesEqual(s, kept)) return true;
  return s.length === k.shape.length && s.every((d, i) => (k.axes.includes(i) ? d === 1 : d === k.shape[i]));
}

/** A broadcast that copies a per-row value back over the full row (softmax's `x - max(x)`). */
export function isRowToFull(b: Value, k: ReduceKey): boolean {
  if (b.op !== 'broadcast_in_dim' || !shapesEqual(b.shape, k.shape)) return false;
  const src = b.inputs[0]!.shape;
  const dims = attr.ints(b.attrs, 'dims');
  const kept = k.shape.map((_, i) => i).filter((i) => !k.axes.includes(i));
  if (src.length === kept.length && isRowShaped(src, k)) return dims.every((d, i) => d === kept[i]);
  if (src.length === k.shape.length && isRowShaped(src, k)) return dims.every((d, i) => d === i);
  return false;
}

/**
 * The row key of a per-row value derived from a reduce by elementwise ops and
 * reshapes, else null. Lets a transcendental per-row op (layer norm's rsqrt) fuse through the
 * broadcast back to the full row: in a row kernel it is computed once per row, not per element.
 */
export function rowKeyOf(v: Value, memo: Map<Value, ReduceKey | null>): ReduceKey | null {
  const known = memo.get(v);
  if (known !== undefined) return known;
  // Iterative (deep elementwise chains would overflow a recursive walk): visit the unknown
  // operands first, then decide each value from its operands' keys.
  const stack: Value[] = [v];
  while (stack.length > 0) {
    const x = stack[stack.length - 1]!;
    if (memo.has(x)) { stack.pop(); continue; }
    const kind = opKind(x);
    const walks = kind === 'elementwise' || x.op === 'reshape';
    const pending = walks ? x.inputs.filter((i) => !memo.has(i)) : [];
    if (pending.length > 0) { stack.push(...pending); continue; }
    stack.pop();
    let key: ReduceKey | null = kind === 'reduction' ? reduceKey(x) : null;
    if (walks) for (const i of x.inputs) key ??= memo.get(i) ?? null;
    memo.set(x, key);
  }
  return memo.get(v)!;
}

// ---------------------------------------------------------------------------------------------
// Prologues of dot/conv: only ops that are cheap to recompute at every reuse of an operand.

/** A cast from an integer type, or scale/shift arithmetic on one (dequantize). */
export function isDequantizeLike(v: Value): boolean {
  if (v.op === 'cast') return isInt(v.inputs[0]!.dtype);
  if (v.op === 'mul' || v.op === 'sub' || v.op === 'add') return v.inputs.some(isDequantizeLike);
  return false;
}

/** A zero pad on H/W only, feeding a conv's input: it folds into the conv's own padding. */
export function isConvPaddingPad(p: Value, conv: Value): boolean {
  if (p.op !== 'pad' || conv.inputs[0] !== p || p.shape.length !== 4) return false;
  const low = attr.ints(p.attrs, 'low'), high = attr.ints(p.attrs, 'high'), interior = attr.ints(p.attrs, 'interior');
  return attr.float(p.attrs, 'value') === 0 && interior.every((d) => d === 0) &&
    [...low, ...high].every((d) => d >= 0) && low[0] === 0 && high[0] === 0 && low[3] === 0 && high[3] === 0;
}

// ---------------------------------------------------------------------------------------------

export interface GroupShape {
  kind: GroupKind;
  /** The expensive ops: one dot/conv/window/gather/scatter, or the reduces of a row kernel. */
  anchors: Value[];
  /** Members the anchors depend on (members order). */
  ancestors: Value[];
  /** Members depending on an anchor (members order). */
  dependents: Value[];
  /** Why these members cannot form one kernel; absent when they can. */
  error?: string;
}

/** Classify `members` (in body order) as one kernel, or say why they cannot be one. */
export function describeGroup(members: readonly Value[]): GroupShape {
  const set = new Set(members);
  const anchors = members.filter((v) => anchorKind(v) !== null);
  const dependents: Value[] = [];
  const dep = new Set<Value>(anchors);
  for (const v of members) {
    if (!dep.has(v) && v.inputs.some((i) => dep.has(i))) { dep.add(v); dependents.push(v); }
  }
  const anc = new Set<Value>();
  for (let i = members.length - 1; i >= 0; i--) {
    const v = members[i]!;
    if (anchors.includes(v) || anc.has(v)) for (const x of v.inputs) if (set.has(x)) anc.add(x);
  }
  const ancestors = members.filter((v) => anc.has(v) && !anchors.includes(v));
  const shape = (kind: GroupKind, error?: string): GroupShape =>
    error === undefined ? { kind, anchors, ancestors, dependents } : { kind, anchors, ancestors, dependents, error };

  if (members.some(isControl)) return shape('control');
  if (anchors.length === 0) {
    const onlyRng = members.every((v) => isFree(v) || opKind(v) === 'source');
    return shape(onlyRng && !members.every(isFree) ? 'source' : 'loop');
  }
  const kind = anchorKind(anchors[0]!)!;
  for (const a of anchors.slice(1)) {
    if (anchorKind(a) !== kind || kind !== 'reduction') {
      return shape(kind, `${label(a)} cannot share a kernel with ${label(anchors[0]!)} (one dot/conv/window/gather/scatter per kernel, never next to a reduction)`);
    }
  }
  if (kind === 'reduction') return shape(kind, checkRowKernel(anchors, dependents, dep));
  return shape(kind, checkAnchored(anchors[0]!, kind, ancestors, dependents, set));
}

function checkRowKernel(reduces: readonly Value[], dependents: readonly Value[], dep: ReadonlySet<Value>): string | undefined {
  const key = reduceKey(reduces[0]!);
  for (const r of reduces.slice(1)) {
    const k = reduceKey(r);
    if (keyString(k) !== keyString(key)) {
      return `${label(r)} reduces ${keyString(k)} but ${label(reduces[0]!)} reduces ${keyString(key)} (reduce->reduce only within the same rows)`;
    }
  }
  for (const d of dependents) {
    const kind = opKind(d);
    if (kind === 'elementwise') continue; // operands share d's shape, so d stays in its operands' space
    const fromRow = d.inputs.filter((i) => dep.has(i));
    if (d.op === 'broadcast_in_dim' && isRowToFull(d, key)) continue;
    if (d.op === 'reshape' && fromRow.every((i) => isRowShaped(i.shape, key)) && isRowShaped(d.shape, key)) continue;
    if ((d.op === 'reshape' || d.op === 'broadcast_in_dim') && fromRow.every((i) => shapesEqual(i.shape, d.shape))) continue;
    return `${label(d)}: ${typeToString(d.type)} of a reduction's result is not computable row by row over ${keyString(key)}`;
  }
  return undefined;
}

function checkAnchored(
  anchor: Value, kind: GroupKind, ancestors: readonly Value[], dependents: readonly Value[], set: ReadonlySet<Value>,
): string | undefined {
  const what = anchor.op;
  for (const d of dependents) {
    if (kind === 'scatter') return `a scatter's result is complete only after all updates; ${label(d)} cannot fuse into it`;
    if (opKind(d) === 'elementwise') continue;
    if (d.op === 'reshape') continue; // row-major reshape keeps the linear order of the anchor's output
    const isBitcastBroadcast = d.op === 'broadcast_in_dim' && numel(d.shape) === numel(d.inputs[0]!.shape) &&
      attr.ints(d.attrs, 'dims').every((x, i, a) => i === 0 || x > a[i - 1]!);
    if (isBitcastBroadcast) continue;
    return `${label(d)} on the ${what}'s output is not an elementwise epilogue`;
  }
  for (const a of ancestors) {
    if (isFree(a)) continue;
    if (kind === 'dot' || kind === 'conv') {
      if (kind === 'conv' && isConvPaddingPad(a, anchor)) continue;
      // Layout (layout_policy.ts): a transpose the kernel reads at permuted indices; what it reads stays stored.
      if (foldedTransposeOf(a, anchor)) continue;
      const folded = [...set].find((u) => u.inputs.includes(a) && foldedTransposeOf(u, anchor));
      if (folded) return `layout: ${label(a)} is stored in its own layout [${a.shape.join(',')}], read at permuted indices by ${label(folded)} folded into ${label(anchor)} (computed inside, it would be walked in the transposed order)`;
      if (isDequantizeLike(a)) continue;
      const users = [...set].filter((u) => u.inputs.includes(a));
      if (a.op === 'broadcast_in_dim' && users.every(isDequantizeLike)) continue;
      return `${what} takes only ${kind === 'conv' ? 'zero H/W pad and ' : ''}dequantize prologues; ${label(a)} would be recomputed for every reuse of the operand`;
    }
    if (kind === 'window') return `reduce_window reads each input element once per overlapping window; ${label(a)} would be recomputed`;
    if (opCost(a) > 1) return `${what} absorbs only cheap prologues; ${label(a)} (cost ${opCost(a)}) would be recomputed per element`;
  }
  return undefined;
}

/** Whether `slice` reads `p` through group members that are reshapes only. */
function slicesThroughReshapes(slice: Value, p: Value, group: ReadonlySet<Value>): boolean {
  let x = slice.inputs[0]!;
  while (x !== p && x.op === 'reshape' && group.has(x)) x = x.inputs[0]!;
  return x === p;
}

/** `add(sum, dot)` at the dot's shape: one term of a running sum of dot products. */
function accumulatesDot(v: Value): boolean {
  return v.op === 'add' && v.inputs.some((x) => x.op === 'dot_general' && shapesEqual(x.shape, v.shape));
}

// ---------------------------------------------------------------------------------------------

/**
 * May `producer` join the group whose member `consumer` reads it? Verdicts carry a reason,
 * positive or negative. The producer joins all its consumer groups or none (ctx.groups counts them).
 */
export function shouldFuse(producer: Value, consumer: Value, ctx: FusionContext): Verdict {
  const p = producer;
  if (isControl(p)) return no(`producer ${label(p)} is control flow: the loop or branch writes its results to memory (its regions are fused on their own)`);
  if (isControl(consumer)) return no(`consumer ${label(consumer)} is control flow: it reads its operands from memory (its regions are fused on their own)`);
  const anchor = anchorKind(p);
  if (ctx.groups > 1) {
    if (anchor !== null) return no(`producer ${label(p)} is a ${anchor === 'reduction' ? 'reduction' : p.op} with consumers in ${ctx.groups} groups (never duplicate expensive ops)`);
    if (ctx.isResult) return no(`producer ${label(p)} is a function result used by ${ctx.groups} groups; it is stored once`);
    const extra = duplicationCost(p, ctx);
    if (extra > ctx.opts.maxDuplicationCost) {
      const chain = ctx.inheritedDuplication ? ` (${(ctx.groups - 1) * opCost(p)} for its copies + ${ctx.inheritedDuplication} already spent duplicating its consumers)` : '';
      return no(`duplicating ${label(p)} into ${ctx.groups} groups costs ${extra}${chain} > budget ${ctx.opts.maxDuplicationCost}`);
    }
  }
  if (anchor === null && ctx.groups === 1 && accumulatesDot(p) && accumulatesDot(consumer) && consumer.inputs.includes(p)) {
    return no(`${label(p)} and ${label(consumer)} each add a dot product to a running sum (a weight gradient summed over unrolled steps): ` +
      'each add stays the epilogue of its own GEMM (accumulator + previous sum), not one loop kernel reading every dot\'s output');
  }
  let groupAnchored = false;
  for (const m of ctx.group) if (anchorKind(m) !== null) { groupAnchored = true; break; }
  // Only groups with an anchor have a structure to check; plain loop merges skip the O(n log n) describe.
  const merged: GroupShape = anchor === null && !groupAnchored ? { kind: 'loop', anchors: [], ancestors: [], dependents: [] }
    : describeGroup([...ctx.group, p].sort((a, b) => ctx.order.get(a)! - ctx.order.get(b)!));
  if (merged.error !== undefined) return no(merged.error);

  const inGroupUsers = [...ctx.group].filter((u) => u.inputs.includes(p));
  if (opCost(p) >= EXPENSIVE && Number.isFinite(opCost(p))) {
    const rk = rowKeyOf(p, ctx.rowKeys);
    for (const u of inGroupUsers) {
      const expands = u.op === 'broadcast_in_dim' && numel(u.shape) > numel(p.shape);
      const perRow = rk !== null && isRowToFull(u, rk);
      if (expands && !perRow) {
        return no(`${label(p)} would be recomputed for each of the ${numel(u.shape) / numel(p.shape)} copies made by ${label(u)}`);
      }
    }
  }

  if (anchor === 'dot' && ctx.groups === 1 && (ctx.groupStores ?? 1) > 1) {
    return no(`the group of ${label(consumer)} stores ${ctx.groupStores} values; a GEMM stores one output, so ${label(p)} runs as a GEMM of its own (a generic dot kernel would compute the multi-output epilogue)`);
  }
  const anchorInGroup = merged.anchors.find((a) => a !== p);
  const dup = ctx.groups > 1 ? ` (duplicated into ${ctx.groups} groups, extra cost ${duplicationCost(p, ctx)})` : '';
  if (anchor === 'reduction' && anchorInGroup) return yes(`chained reduction over the same rows ${keyString(reduceKey(p))} (row-wise multi-pass)`);
  if (anchor !== null) {
    if (anchor === 'dot' || anchor === 'conv') {
      const shifted = [...ctx.group].find((m) => (anchor === 'dot' ? isShiftedForGemm(m) : SHIFTED_INDEX_OPS.has(m.op)) && !merged.ancestors.includes(m));
      // A channel-padded residual (BlazeFace's pad-then-add) would push the whole conv onto the
      // generic scalar path: GEMM and blocked-conv epilogues read operands at the output index.
      if (shifted) return no(`its epilogue reads ${label(shifted)} at a shifted or bounds-checked index, which GEMM and blocked-conv kernels cannot apply per vector`);
    }
    const epi = merged.dependents.filter((d) => !isFree(d)).map((d) => d.op);
    return yes(`${p.op} absorbs its ${anchor === 'reduction' ? 'row-wise ' : ''}epilogue (${epi.join(', ')})`);
  }
  if (anchorInGroup) {
    const ak = anchorKind(anchorInGroup)!;
    if (merged.ancestors.includes(p)) {
      if (ak === 'reduction') return yes(`input fusion into ${label(anchorInGroup)}${dup}`);
      if (ak === 'conv' && isConvPaddingPad(p, anchorInGroup)) return yes(`zero pad folds into the padding of ${label(anchorInGroup)} (prologue)`);
      const folded = foldedTransposeOf(p, anchorInGroup);
      if (folded) return yes(`layout: ${folded.why}`);
      return yes(`${isDequantizeLike(p) ? 'dequantize ' : ''}prologue of ${label(anchorInGroup)}${dup}`);
    }
    if (ctx.group.size > 0 && merged.dependents.length > 0 && !merged.dependents.includes(p)) {
      // A contiguous slice in a GEMM epilogue reads its block at an offset only if what it slices is
      // in memory (or reshaped from it): a transpose or other op computed under it would not be.
      const underSlice = ak === 'dot' && p.op !== 'reshape' && [...ctx.group].find((m) => m.op === 'slice' && slicesThroughReshapes(m, p, ctx.group));
      if (underSlice) return no(`${label(p)} would be computed under ${label(underSlice)} in the epilogue of ${label(anchorInGroup)}, which reads the sliced block from memory at an offset; it runs as its own kernel`);
      if ((ak === 'dot' && isShiftedForGemm(p)) || (ak === 'conv' && SHIFTED_INDEX_OPS.has(p.op))) {
        return no(`${p.op} would make the epilogue of ${label(anchorInGroup)} read an operand at a shifted or bounds-checked index, which GEMM and blocked-conv kernels cannot apply per vector; it runs as its own kernel`);
      }
      return yes(`${p.op} feeds the epilogue of ${label(anchorInGroup)}${dup}`);
    }
  }
  if (ctx.groups > 1) return yes(`cheap ${p.op}${dup}`);
  const n = inGroupUsers.length;
  if (n > 1) return yes(`all ${n} consumers of ${label(p)} are in one group`);
  if (ctx.isResult) return yes(`${label(p)} joins its only consumer's group and is also stored as a result (multi-output)`);
  return yes(`${opKind(p)} ${p.op} into its consumer ${label(consumer)} (loop fusion)`);
}

function yes(why: string): Verdict {
  return { fuse: true, why: `fused: ${why}` };
}
function no(why: string): Verdict {
  return { fuse: false, why: `not fused: ${why}` };
}
