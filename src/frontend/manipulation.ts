/**
 * Shape and data-movement ops: reshape, transpose, expand/squeeze, concat/stack/split, slicing,
 * padding, gather and tile. Arguments follow tfjs (negative axes, -1 sizes); they are checked
 * and normalized here so the IR only ever sees explicit, in-range attributes.
 */
import { KilnError, numel } from '../ir/types.js';
import { tensor } from './creation.js';
import { emit } from './emit.js';
import { asTensor, type TensorOrNumber } from './elementwise.js';
import { Tensor } from './tensor.js';

/** Normalize a possibly negative axis of a rank-`rank` tensor, or throw naming the op. */
export function normAxis(op: string, axis: number, rank: number, x: Tensor): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new KilnError(`${op}: axis ${axis} is out of range for ${x.describe()} (rank ${rank})`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Normalized, sorted, de-duplicated axes; undefined means all. */
export function normAxes(op: string, axis: number | readonly number[] | undefined, x: Tensor): number[] {
  if (axis === undefined) return x.shape.map((_, i) => i);
  const list = typeof axis === 'number' ? [axis] : axis;
  return [...new Set(list.map((a) => normAxis(op, a, x.rank, x)))].sort((a, b) => a - b);
}

export function reshape(x: TensorOrNumber, shape: readonly number[]): Tensor {
  const t = asTensor(x, 'f32', 'reshape');
  const holes = shape.filter((d) => d === -1).length;
  if (holes > 1 || shape.some((d) => !Number.isInteger(d) || d < -1)) {
    throw new KilnError(`reshape: shape [${shape.join(',')}] for ${t.describe()} must be non-negative integers with at most one -1`);
  }
  let target = [...shape];
  if (holes === 1) {
    const known = numel(shape.filter((d) => d !== -1));
    if (known === 0 || t.size % known !== 0) {
      throw new KilnError(`reshape: cannot infer the -1 in [${shape.join(',')}] for ${t.describe()} (${t.size} elements)`);
    }
    target = shape.map((d) => (d === -1 ? t.size / known : d));
  }
  if (numel(target) !== t.size) {
    throw new KilnError(`reshape: ${t.describe()} has ${t.size} elements but shape [${shape.join(',')}] holds ${numel(target)}`);
  }
  if (target.length === t.rank && target.every((d, i) => d === t.shape[i])) return t;
  return emit('reshape', [t], { shape: target });
}

/** Permute dimensions: output dim i is input dim perm[i]; the default reverses them. */
export function transpose(x: TensorOrNumber, perm?: readonly number[]): Tensor {
  const t = asTensor(x, 'f32', 'transpose');
  const p = perm ? perm.map((a) => (a < 0 ? a + t.rank : a)) : t.shape.map((_, i) => t.rank - 1 - i);
  const valid = p.length === t.rank && new Set(p).size === p.length && p.every((a) => Number.isInteger(a) && a >= 0 && a < t.rank);
  if (!valid) throw new KilnError(`transpose: perm [${perm?.join(',')}] is not a permutation of the ${t.rank} dims of ${t.describe()}`);
  if (p.every((a, i) => a === i)) return t;
  return emit('transpose', [t], { perm: p });
}

export function expandDims(x: TensorOrNumber, axis = 0): Tensor {
  const t = asTensor(x, 'f32', 'expandDims');
  const a = normAxis('expandDims', axis, t.rank + 1, t);
  const shape = [...t.shape];
  shape.splice(a, 0, 1);
  return reshape(t, shape);
}

/** Remove size-1 dims (all of them, or the given axes, which must have size 1). */
export function squeeze(x: TensorOrNumber, axis?: number | readonly number[]): Tensor {
  const t = asTensor(x, 'f32', 'squeeze');
  const drop = axis === undefined ? t.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : normAxes('squeeze', axis, t);
  for (const a of drop) {
    if (t.shape[a] !== 1) throw new KilnError(`squeeze: dimension ${a} of ${t.describe()} has size ${t.shape[a]}, not 1`);
  }
  return reshape(t, t.shape.filter((_, i) => !drop.includes(i)));
}

export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new KilnError('concat: needs at least one tensor');
  const first = xs[0]!;
  const a = normAxis('concat', axis, first.rank, first);
  const list = () => xs.map((t) => t.describe()).join(', ');
  for (const t of xs) {
    if (t.dtype !== first.dtype) throw new KilnError(`concat: dtypes differ: ${list()}; cast them to one dtype`);
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new KilnError(`concat: shapes must agree except along axis ${a}: ${list()}`);
    }
  }
  if (xs.length === 1) return first;
  return emit('concat', xs, { axis: a });
}

export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new KilnError('stack: needs at least one tensor');
  const first = xs[0]!;
  for (const t of xs) {
    if (t.rank !== first.rank || t.shape.some((d, i) => d !== first.shape[i])) {
      throw new KilnError(`stack: all shapes must be equal: ${xs.map((u) => u.describe()).join(', ')}`);
    }
  }
  const a = normAxis('stack', axis, first.rank + 1, first);
  return concat(xs.map((t) => expandDims(t, a)), a);
}

/** Split into `n` equal parts, or parts of the given sizes (one may be -1), along `axis`. */
export function split(x: Tensor, numOrSizeSplits: number | readonly number[], axis = 0): Tensor[] {
  const a = normAxis('split', axis, x.rank, x);
  const dim = x.shape[a]!;
  let sizes: number[];
  if (typeof numOrSizeSplits === 'number') {
    if (!Number.isInteger(numOrSizeSplits) || numOrSizeSplits <= 0 || dim % numOrSizeSplits !== 0) {
      throw new KilnError(`split: ${x.describe()} axis ${a} (size ${dim}) does not split into ${numOrSizeSplits} equal parts`);
    }
    sizes = new Array<number>(numOrSizeSplits).fill(dim / numOrSizeSplits);
  } else {
    const known = numOrSizeSplits.filter((s) => s !== -1).reduce((p, s) => p + s, 0);
    sizes = numOrSizeSplits.map((s) => (s === -1 ? dim - known : s));
    if (sizes.some((s) => s < 0) || sizes.reduce((p, s) => p + s, 0) !== dim || numOrSizeSplits.filter((s) => s === -1).length > 1) {
      throw new KilnError(`split: sizes [${numOrSizeSplits.join(',')}] do not add up to ${dim}, the size of axis ${a} of ${x.describe()}`);
    }
  }
  let at = 0;
  return sizes.map((s) => {
    const begin = x.shape.map((_, i) => (i === a ? at : 0));
    const size = x.shape.map((d, i) => (i === a ? s : d));
    at += s;
    return slice(x, begin, size);
  });
}

export function unstack(x: Tensor, axis = 0): Tensor[] {
  const a = normAxis('unstack', axis, x.rank, x);
  return split(x, Math.max(x.shape[a]!, 1), a).slice(0, x.shape[a]).map((t) => squeeze(t, a));
}

/** tfjs slice: `begin` per dim (missing dims start at 0), `size` per dim with -1 = to the end. */
export function slice(x: Tensor, begin: number | readonly number[], size?: number | readonly number[]): Tensor {
  const b = typeof begin === 'number' ? [begin] : [...begin];
  const s = size === undefined ? [] : typeof size === 'number' ? [size] : [...size];
  if (b.length > x.rank || s.length > x.rank) {
    throw new KilnError(`slice: begin [${b.join(',')}] / size [${s.join(',')}] have more entries than ${x.describe()} has dims`);
  }
  const start = x.shape.map((_, i) => b[i] ?? 0);
  const limit = x.shape.map((d, i) => {
    const sz = s[i] ?? -1;
    return sz === -1 ? d : start[i]! + sz;
  });
  x.shape.forEach((d, i) => {
    if (!Number.isInteger(start[i]) || !Number.isInteger(limit[i]) || start[i]! < 0 || limit[i]! < start[i]! || limit[i]! > d) {
      throw new KilnError(`slice: begin [${b.join(',')}] size [${s.join(',')}] is out of bounds for ${x.describe()} (dimension ${i})`);
    }
  });
  if (start.every((v) => v === 0) && limit.every((v, i) => v === x.shape[i])) return x;
  return emit('slice', [x], { start, limit, strides: x.shape.map(() => 1) });
}

/**
 * Python-style strided slice with tfjs's arguments: negative indices count from the end, bounds
 * are clamped, `beginMask`/`endMask` bits mean "from the start"/"to the end", and
 * `shrinkAxisMask` bits drop the dim (taking the single element at `begin`). Strides must be
 * positive; ellipsisMask and newAxisMask are not supported (use expandDims / reshape).
 */
export function stridedSlice(
  x: Tensor, begin: readonly number[], end: readonly number[], strides?: readonly number[],
  beginMask = 0, endMask = 0, ellipsisMask = 0, newAxisMask = 0, shrinkAxisMask = 0,
): Tensor {
  const what = () => `begin [${begin.join(',')}] end [${end.join(',')}] strides [${strides?.join(',') ?? ''}] for ${x.describe()}`;
  if (ellipsisMask || newAxisMask) {
    throw new KilnError(`stridedSlice: ellipsisMask and newAxisMask are not supported (${what()}); use expandDims or reshape`);
  }
  if (begin.length > x.rank || end.length > x.rank || (strides && strides.length > x.rank)) {
    throw new KilnError(`stridedSlice: more entries than dims: ${what()}`);
  }
  const start: number[] = [], limit: number[] = [], step: number[] = [];
  for (let i = 0; i < x.rank; i++) {
    const d = x.shape[i]!;
    const st = strides?.[i] ?? 1;
    if (!Number.isInteger(st) || st <= 0) throw new KilnError(`stridedSlice: strides must be positive integers (negative strides are not supported): ${what()}`);
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
    let lo = i < begin.length && !(beginMask & (1 << i)) ? clamp(begin[i]!) : 0;
    let hi = i < end.length && !(endMask & (1 << i)) ? clamp(end[i]!) : d;
    if (shrinkAxisMask & (1 << i)) {
      const at = (begin[i] ?? 0) < 0 ? (begin[i] ?? 0) + d : (begin[i] ?? 0);
      if (at < 0 || at >= d) throw new KilnError(`stridedSlice: shrink index ${begin[i]} of dimension ${i} is out of range: ${what()}`);
      lo = at;
      hi = at + 1;
    }
    hi = Math.max(hi, lo);
    start.push(lo);
    limit.push(hi);
    step.push(st);
  }
  let out = x;
  const identity = start.every((v) => v === 0) && limit.every((v, i) => v === x.shape[i]) && step.every((v) => v === 1);
  if (!identity) out = emit('slice', [x], { start, limit, strides: step });
  if (shrinkAxisMask) out = reshape(out, out.shape.filter((_, i) => !(shrinkAxisMask & (1 << i))));
  return out;
}

/** Pad with `constantValue`; `paddings` is [[before, after], ...] per dim. */
export function pad(x: Tensor, paddings: readonly (readonly number[])[], constantValue = 0): Tensor {
  if (paddings.length !== x.rank || paddings.some((p) => p.length !== 2 || !p.every((v) => Number.isInteger(v) && v >= 0))) {
    throw new KilnError(`pad: paddings ${JSON.stringify(paddings)} must be ${x.rank} pairs of non-negative integers for ${x.describe()}`);
  }
  if (paddings.every((p) => p[0] === 0 && p[1] === 0)) return x;
  return emit('pad', [x], {
    low: paddings.map((p) => p[0]!), high: paddings.map((p) => p[1]!), interior: paddings.map(() => 0), value: constantValue,
  });
}

/** Take slices of `x` along `axis` at `indices` (i32): out shape = x[:axis] + indices + x[axis+1:]. */
export function gather(x: Tensor, indices: Tensor | readonly number[], axis = 0): Tensor {
  const idx = indices instanceof Tensor ? indices : tensor(indices as number[], undefined, 'i32');
  if (idx.dtype !== 'i32') throw new KilnError(`gather: indices must be i32, got ${idx.describe()} (gathering from ${x.describe()}); cast them first`);
  const a = normAxis('gather', axis, x.rank, x);
  return emit('gather', [x, idx], { axis: a });
}

/** Repeat `x` reps[i] times along dim i. */
export function tile(x: Tensor, reps: readonly number[]): Tensor {
  if (reps.length !== x.rank || reps.some((r) => !Number.isInteger(r) || r < 0)) {
    throw new KilnError(`tile: reps [${reps.join(',')}] must be ${x.rank} non-negative integers for ${x.describe()}`);
  }
  if (reps.every((r) => r === 1)) return x;
  // Broadcast to [r0, d0, r1, d1, ...] (a new leading dim per axis), then merge each pair.
  const wide = x.shape.flatMap((d, i) => [reps[i]!, d]);
  const b = emit('broadcast_in_dim', [x], { shape: wide, dims: x.shape.map((_, i) => 2 * i + 1) });
  return reshape(b, x.shape.map((d, i) => d * reps[i]!));
}
