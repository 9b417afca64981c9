/**
 * layout: the layout pass (issue 10, point 1), run in the standard pipeline before fusion.
 *
 * Invariant after the pass (in the function and its regions):
 * 1. No `transpose` of a `constant` remains, whatever the constant's size: each was replaced by a
 *    constant holding the transposed elements, computed at compile time with plain typed-array loops
 *    over precomputed strides (no interpreter call, no per-element index objects). Unlike `fold`, no
 *    size limit applies: a transposed weight is as large as the weight it replaces.
 * 2. Transposes are sunk toward their consumers, where they cancel or fold: no elementwise op (not a
 *    per-axis quantize) reads only transposes by one perm, each read by that op alone, plus splats of
 *    scalars or constants; it computes in the operands' own layout and one transpose follows it. No
 *    `reduce` reads a transpose that only it reads: it reduces the untransposed operand (the axes
 *    mapped through the perm) and the smaller result is transposed, or not at all when the kept axes
 *    keep their order. A sunk transpose meets the next one (simplify composes a transpose chain, and
 *    drops an identity), a constant folds (1), or fusion folds it into a kernel's operand read
 *    (layout_policy.ts: conv weights are read by the pack at any index). Sinking never copies work:
 *    the transposes it moves had no other reader, so their count never grows, and each rewrite
 *    moves a transpose strictly later in the data flow, so the fixpoint ends.
 *
 * The per-target layout constraints and the fold-or-materialize decision for each transpose live
 * in layout_policy.ts (policy); this file only rewrites the IR (mechanism). Results equal the
 * interpreter's on the original function element for element (transposes only move data).
 */
import type { Func, Value } from '../ir/function.js';
import { makeValue } from '../ir/builder.js';
import { literal, type Literal } from '../ir/literal.js';
import { attr, getOp } from '../ir/registry.js';
import { numel } from '../ir/types.js';
import { KilnError } from '../ir/types.js';
import type { Pass } from './manager.js';
import { runInRegions } from './regions.js';

/** `lit` transposed by `perm` (output axis d is input axis perm[d]), with typed-array loops. */
export function transposeLiteral(lit: Literal, perm: readonly number[]): Literal {
  const shape = lit.type.shape;
  const rank = shape.length;
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new KilnError(`transposeLiteral: perm [${perm.join(', ')}] is not a permutation of the ${rank} axes of shape [${shape.join(', ')}]`);
  }
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let d = rank - 1; d >= 0; d--) { inStrides[d] = s; s *= shape[d]!; }
  const out = literal(outShape, lit.type.dtype);
  const src = lit.data, dst = out.data;
  if (s === 0) return out;
  // Walk the output row-major with an odometer; the innermost axis is a strided copy.
  const srcStride = perm.map((p) => inStrides[p]!);
  const inner = rank === 0 ? 1 : outShape[rank - 1]!, innerStride = rank === 0 ? 0 : srcStride[rank - 1]!;
  const idx = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  let base = 0;
  for (let o = 0; o < s; o += inner) {
    for (let i = 0, q = base; i < inner; i++, q += innerStride) dst[o + i] = src[q]!;
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]!++;
      base += srcStride[d]!;
      if (idx[d]! < outShape[d]!) break;
      base -= idx[d]! * srcStride[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

function foldConstantTransposes(fn: Func): boolean {
  let changed = false;
  for (const v of [...fn.body]) {
    if (v.op !== 'transpose') continue;
    const x = v.inputs[0]!;
    if (x.op !== 'constant') continue;
    const c: Value = makeValue('constant', [], { value: transposeLiteral(x.attrs['value'] as Literal, attr.ints(v.attrs, 'perm')) });
    fn.insertBefore(v, c);
    fn.replaceAllUses(v, c);
    fn.body.splice(fn.body.indexOf(v), 1);
    changed = true;
  }
  return changed;
}

/** Elementwise ops whose meaning depends on an axis (per-channel quantization) do not commute with a transpose. */
const AXIS_ELEMENTWISE = new Set(['quantize', 'dequantize', 'requantize']);

const isPerm = (v: Value, perm: readonly number[]): boolean =>
  v.op === 'transpose' && attr.ints(v.attrs, 'perm').every((p, i) => p === perm[i]);

/** The inverse permutation: inv[perm[d]] = d. */
function inverse(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, d) => { inv[p] = d; });
  return inv;
}

/** A broadcast of a one-element value (a splat): it looks the same in every layout. */
function isSplat(v: Value): boolean {
  return v.op === 'broadcast_in_dim' && v.inputs[0]!.shape.length === 0;
}

/** Constants up to this many elements are copied into the operands' layout when a transpose sinks past them. */
const MAX_CONSTANT_COPY = 65536;

const sinkableOp = (v: Value): boolean =>
  v.op !== 'parameter' && getOp(v.op).kind === 'elementwise' && !AXIS_ELEMENTWISE.has(v.op) && v.inputs.length > 0 && v.shape.length > 0;

/**
 * Elementwise ops that compute in their operands' own layout once the transposes they read are
 * sunk past them, each with the perm of the transpose that then follows it. An op qualifies when
 * every operand is a transpose by one perm, a qualifying op with that perm, a splat or a constant;
 * then the set shrinks until every transpose it reads is read only by members (else the transpose
 * would stay for its other readers and sinking would add one), and a connected cone is kept only if
 * it ends in no more transposes than it reads.
 */
function sinkingCones(fn: Func): Map<Value, number[]> {
  const users = fn.users();
  const results = new Set(fn.results);
  const perms = new Map<Value, number[]>();
  for (const v of fn.body) {
    if (!sinkableOp(v)) continue;
    let perm: number[] | undefined;
    let ok = true;
    for (const x of v.inputs) {
      const p = x.op === 'transpose' ? attr.ints(x.attrs, 'perm') : perms.get(x);
      if (p === undefined) {
        // Splats look the same in every layout; small constants are transposed at compile time.
        if (!isSplat(x) && !(x.op === 'constant' && numel(x.shape) <= MAX_CONSTANT_COPY)) { ok = false; break; }
        continue;
      }
      if (perm === undefined) perm = [...p];
      else if (p.some((d, i) => d !== perm![i])) { ok = false; break; }
    }
    if (ok && perm !== undefined) perms.set(v, perm);
  }
  // Shrink to the greatest set where every transpose read is read only by members.
  for (let changed = true; changed;) {
    changed = false;
    for (const v of [...perms.keys()]) {
      const keep = v.inputs.every((x) => {
        if (x.op === 'transpose') return !results.has(x) && (users.get(x) ?? []).every((u) => perms.has(u));
        if (sinkableOp(x) && !isSplat(x) && x.op !== 'constant') return perms.has(x);
        return true;
      });
      if (!keep) { perms.delete(v); changed = true; }
    }
  }
  // Connected cones (through shared transposes and member-to-member edges): keep those that end in
  // no more transposes (members read outside the cone, or results) than they read.
  const parent = new Map<Value, Value>();
  const find = (v: Value): Value => { let r = v; while (parent.get(r) !== r) r = parent.get(r)!; parent.set(v, r); return r; };
  const union = (a: Value, b: Value) => { parent.set(find(a), find(b)); };
  for (const v of perms.keys()) parent.set(v, v);
  for (const v of perms.keys()) {
    for (const x of v.inputs) {
      if (perms.has(x)) union(v, x);
      else if (x.op === 'transpose') { if (!parent.has(x)) parent.set(x, x); union(v, x); }
    }
  }
  const ins = new Map<Value, number>(), outs = new Map<Value, number>();
  for (const [x] of parent) if (x.op === 'transpose' && !perms.has(x)) ins.set(find(x), (ins.get(find(x)) ?? 0) + 1);
  for (const v of perms.keys()) {
    if (results.has(v) || (users.get(v) ?? []).some((u) => !perms.has(u))) outs.set(find(v), (outs.get(find(v)) ?? 0) + 1);
  }
  for (const v of [...perms.keys()]) if ((outs.get(find(v)) ?? 0) > (ins.get(find(v)) ?? 0)) perms.delete(v);
  return perms;
}

/** Rewrite every cone member to compute in its operands' layout; members read outside get one transpose after them. */
function sinkTransposes(fn: Func): boolean {
  const perms = sinkingCones(fn);
  if (perms.size === 0) return false;
  const users = fn.users();
  const results = new Set(fn.results);
  const inner = new Map<Value, Value>();
  const after = new Map<Value, Value>();
  for (const v of fn.body.filter((x) => perms.has(x))) {
    const perm = perms.get(v)!;
    const src = inverse(perm).map((d) => v.shape[d]!); // the shape in the operands' own layout
    const pre: Value[] = [];
    const operands = v.inputs.map((x) => {
      const moved = inner.get(x);
      if (moved) return moved;
      if (x.op === 'transpose') return x.inputs[0]!;
      const y = isSplat(x)
        ? makeValue('broadcast_in_dim', [x.inputs[0]!], { shape: src, dims: [] })
        : makeValue('constant', [], { value: transposeLiteral(x.attrs['value'] as Literal, inverse(perm)) });
      pre.push(y);
      return y;
    });
    const w = makeValue(v.op, operands, v.attrs);
    inner.set(v, w);
    const tail: Value[] = [];
    if (results.has(v) || (users.get(v) ?? []).some((u) => !perms.has(u))) {
      const t = makeValue('transpose', [w], { perm: [...perm] });
      after.set(v, t);
      tail.push(t);
    }
    fn.insertBefore(v, ...pre, w, ...tail);
  }
  for (const [v, t] of after) fn.replaceAllUses(v, t);
  fn.body = fn.body.filter((v) => !perms.has(v));
  return true;
}

/**
 * reduce(transpose(x, p), axes) -> transpose(reduce(x, p[axes]), q) when the transpose is read by
 * this reduce alone; q orders the kept axes as the transposed operand did (no transpose when it is
 * the identity).
 */
function sinkThroughReduce(v: Value, uses: ReadonlyMap<Value, number>): Value[] | undefined {
  if (v.op !== 'reduce') return undefined;
  const t = v.inputs[0]!;
  if (t.op !== 'transpose' || (uses.get(t) ?? 0) !== 1) return undefined;
  const perm = attr.ints(t.attrs, 'perm');
  const axes = attr.ints(v.attrs, 'axes');
  const srcAxes = axes.map((a) => perm[a]!);
  const keptT = perm.map((_, d) => d).filter((d) => !axes.includes(d)).map((d) => perm[d]!); // source axes, transposed order
  const keptSrc = [...keptT].sort((a, b) => a - b);
  const q = keptT.map((a) => keptSrc.indexOf(a));
  const red = makeValue('reduce', [t.inputs[0]!], { ...v.attrs, axes: srcAxes });
  if (q.every((p, i) => p === i)) return [red];
  return [red, makeValue('transpose', [red], { perm: q })];
}

/** Reduces of single-use transposes, in body order. */
function sinkIntoReduces(fn: Func): boolean {
  let changed = false;
  const uses = fn.useCounts();
  for (const v of [...fn.body]) {
    const added = sinkThroughReduce(v, uses);
    if (!added) continue;
    fn.insertBefore(v, ...added);
    fn.replaceAllUses(v, added[added.length - 1]!);
    fn.body.splice(fn.body.indexOf(v), 1);
    changed = true;
  }
  return changed;
}

export const layout: Pass = {
  name: 'layout',
  run(fn: Func): boolean {
    // Regions first (each may hold regions of its own), then this function's body.
    const inner = runInRegions(fn, (r) => layout.run(r));
    const folded = foldConstantTransposes(fn);
    const sunk = sinkTransposes(fn);
    return sinkIntoReduces(fn) || sunk || folded || inner;
  },
};
