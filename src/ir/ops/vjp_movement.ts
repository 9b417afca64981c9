/**
 * VJP rules of the index-remapping ops (movement.ts), the reductions (reduce.ts) and
 * gather/scatter_add (gather.ts). Each is the op's linear transpose written in the same small op
 * set: broadcast <-> reduce sum, slice <-> pad with interior, gather <-> scatter_add. Reduce max
 * and min send the cotangent to every element equal to the result (ties all receive it, as
 * tf.grads of tf.max does); reduce prod divides by the element except around zeros, where it
 * counts them so a single zero still gets the product of the others.
 */
import type { Builder } from '../builder.js';
import type { Value } from '../function.js';
import { attr, type VjpRule } from '../registry.js';
import {
  binary, broadcastBack, compare, maskBy, reshapeTo, select, splat, sumOver, transposeBy, zerosLike,
} from './vjp_common.js';

function inversePerm(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => { inv[p] = i; });
  return inv;
}

/** Transpose of broadcast_in_dim: sum over the new and the expanded dims, then restore x's order and size-1 dims. */
export function broadcastVjp(b: Builder, node: Value, g: Value): (Value | null)[] {
  const x = node.inputs[0]!;
  const dims = attr.ints(node.attrs, 'dims');
  const out = node.shape;
  // x dims kept as they are (size equal to the output's), in output order.
  const kept = x.shape.map((_, i) => i).filter((i) => x.shape[i] === out[dims[i]!]).sort((i, j) => dims[i]! - dims[j]!);
  const keptOut = new Set(kept.map((i) => dims[i]!));
  const summed = sumOver(b, g, out.map((_, d) => d).filter((d) => !keptOut.has(d)));
  // summed's dims are x's kept dims in output order; put them in x's order, then reshape in the 1s.
  const order = [...kept].sort((i, j) => i - j);
  const moved = transposeBy(b, summed, order.map((i) => kept.indexOf(i)));
  return [reshapeTo(b, moved, x.shape)];
}

export function sliceVjp(b: Builder, node: Value, g: Value): (Value | null)[] {
  const x = node.inputs[0]!;
  const start = attr.ints(node.attrs, 'start'), strides = attr.ints(node.attrs, 'strides');
  const high = x.shape.map((n, i) => {
    const o = node.shape[i]!;
    const span = o > 0 ? (o - 1) * strides[i]! + 1 : 0;
    return n - start[i]! - span;
  });
  return [b.op('pad', [g], { low: start, high, interior: strides.map((s) => s - 1) })];
}

/** Undo the edge padding (negative pads become zero fill), then pick every (interior+1)-th element. */
export function padVjp(b: Builder, node: Value, g: Value): (Value | null)[] {
  const low = attr.ints(node.attrs, 'low'), high = attr.ints(node.attrs, 'high'), interior = attr.ints(node.attrs, 'interior');
  const unpadded = b.op('pad', [g], { low: low.map((l) => -l), high: high.map((h) => -h), interior: low.map(() => 0) });
  if (interior.every((k) => k === 0)) return [unpadded];
  return [b.op('slice', [unpadded], { start: low.map(() => 0), limit: unpadded.shape, strides: interior.map((k) => k + 1) })];
}

export function concatVjp(b: Builder, node: Value, g: Value): (Value | null)[] {
  const axis = attr.int(node.attrs, 'axis');
  let at = 0;
  return node.inputs.map((x) => {
    const start = g.shape.map((_, d) => (d === axis ? at : 0));
    const limit = g.shape.map((n, d) => (d === axis ? at + x.shape[axis]! : n));
    at += x.shape[axis]!;
    return b.op('slice', [g], { start, limit, strides: g.shape.map(() => 1) });
  });
}

export function reduceVjp(b: Builder, node: Value, g: Value): (Value | null)[] {
  const x = node.inputs[0]!;
  const axes = attr.ints(node.attrs, 'axes');
  const op = attr.str(node.attrs, 'op');
  const gb = broadcastBack(b, g, x.shape, axes);
  if (op === 'sum') return [gb];
  if (op === 'max' || op === 'min') {
    return [maskBy(b, compare(b, 'eq', x, broadcastBack(b, node, x.shape, axes)), gb)];
  }
  // prod: d/dx_i = product of the others. Without zeros that is y / x_i; with exactly one zero
  // only the zero's position gets the product of the non-zeros; with more, everything is 0.
  const zero = zerosLike(b, x);
  const isZero = compare(b, 'eq', x, zero);
  const nonZero = select(b, isZero, splat(b, 1, x.type), x);
  const prodNonZero = broadcastBack(b, b.op('reduce', [nonZero], { op: 'prod', axes }), x.shape, axes);
  const zeroCount = broadcastBack(b, b.op('reduce', [select(b, isZero, splat(b, 1, x.type), zero)], { op: 'sum', axes }), x.shape, axes);
  const noZeros = compare(b, 'eq', zeroCount, zero);
  const onlyZero = binary(b, 'and', compare(b, 'eq', zeroCount, splat(b, 1, x.type)), isZero);
  const others = select(b, noZeros, binary(b, 'div', prodNonZero, nonZero), maskBy(b, onlyZero, prodNonZero));
  return [binary(b, 'mul', gb, others)];
}

/** gather's indices clamped into [0, n-1], as the forward op reads them. */
function clampIndices(b: Builder, idx: Value, n: number): Value {
  const lo = splat(b, 0, idx.type), hi = splat(b, Math.max(n - 1, 0), idx.type);
  return b.op('min', [b.op('max', [idx, lo]), hi]);
}

export function gatherVjp(b: Builder, node: Value, g: Value): (Value | null)[] {
  const [x, idx] = node.inputs as [Value, Value];
  const axis = attr.int(node.attrs, 'axis');
  if (x.shape[axis] === 0) return [null, null];
  return [b.op('scatter_add', [zerosLike(b, x), clampIndices(b, idx, x.shape[axis]!), g], { axis }), null];
}

/** base: identity; updates: gather, zero where scatter_add dropped an out-of-range index. */
export function scatterAddVjp(b: Builder, node: Value, g: Value): (Value | null)[] {
  const [base, idx, upd] = node.inputs as [Value, Value, Value];
  const axis = attr.int(node.attrs, 'axis');
  const n = base.shape[axis]!;
  if (n === 0) return [g, null, null];
  const picked = b.op('gather', [g, idx], { axis });
  const valid = binary(b, 'and', compare(b, 'ge', idx, splat(b, 0, idx.type)), compare(b, 'lt', idx, splat(b, n, idx.type)));
  const validUpd = b.op('broadcast_in_dim', [valid], { shape: upd.shape, dims: idx.shape.map((_, i) => axis + i) });
  return [g, null, maskBy(b, validUpd, picked)];
}

export const movementVjp: Record<string, VjpRule> = {
  broadcast_in_dim: broadcastVjp,
  reshape: (b, node, g) => [reshapeTo(b, g, node.inputs[0]!.shape)],
  transpose: (b, node, g) => [transposeBy(b, g, inversePerm(attr.ints(node.attrs, 'perm')))],
  slice: sliceVjp,
  pad: padVjp,
  concat: concatVjp,
};
