/**
 * VJP rules of the structured ops: dot_general, conv and reduce_window (attached in dot.ts,
 * conv.ts and window.ts). They follow JAX's transpose rules: a dot's operand cotangent is a
 * dot of the cotangent with the other operand plus a transpose; a conv's input cotangent is a conv
 * of the cotangent with the spatially reversed, in/out-swapped kernel (lhs dilation = strides), and
 * its kernel cotangent a conv of the input with the cotangent that contracts over the batch (groups
 * folded into the feature dim, so grouped and depthwise convs stay one grouped conv). Max pooling
 * routes each window's cotangent to the first maximal element in row-major window order, as
 * tf.grads of tf.maxPool does; it is written with slices, compares and interior pads (a
 * select-and-scatter from primitive ops), so fusion and every backend see only ordinary ops.
 */
import type { Builder } from '../builder.js';
import type { Value } from '../function.js';
import { literal } from '../literal.js';
import { attr, type VjpRule } from '../registry.js';
import { numel } from '../types.js';
import { binary, castTo, compare, maskBy, reshapeTo, transposeBy, unary } from './vjp_common.js';

const range = (start: number, n: number): number[] => Array.from({ length: n }, (_, i) => start + i);
const argsort = (xs: readonly number[]): number[] => xs.map((_, i) => i).sort((i, j) => xs[i]! - xs[j]!);
function freeDimsOf(rank: number, batch: readonly number[], contract: readonly number[]): number[] {
  return range(0, rank).filter((i) => !batch.includes(i) && !contract.includes(i));
}

/**
 * Cotangent of one dot_general operand ("me") given the other: contract g's dims that came from the
 * other operand's free dims with those dims, batch with batch, then transpose into my dim order.
 */
function dotOperandVjp(
  b: Builder, g: Value, me: Value, other: Value, meIsLhs: boolean,
  batchMe: readonly number[], contractMe: readonly number[], batchOther: readonly number[], contractOther: readonly number[],
): Value {
  const keptMe = freeDimsOf(me.shape.length, batchMe, contractMe);
  const keptOther = freeDimsOf(other.shape.length, batchOther, contractOther);
  const nb = batchMe.length;
  // g's dims: batch, lhs free, rhs free.
  const gOther = meIsLhs ? range(nb + keptMe.length, keptOther.length) : range(nb, keptOther.length);
  const contractSorted = argsort(contractOther).map((i) => contractMe[i]!);
  // dot(other, g) gives batch, my contracting dims, my free dims: when that is already my dim
  // order (a weight [in, out] as the rhs of x·W), emit it so, with no transpose after the dot
  // (a transposed cotangent would be read across rows by every consumer, e.g. the sum of an
  // RNN's per-step weight gradients).
  const swapped = argsort([...batchMe, ...contractSorted, ...keptMe]);
  if (swapped.some((d, i) => d !== i) === false) {
    return b.op('dot_general', [other, castTo(b, g, me.dtype)], {
      lhs_batch: batchOther, rhs_batch: range(0, nb), lhs_contract: keptOther, rhs_contract: gOther,
    });
  }
  const dot = b.op('dot_general', [castTo(b, g, me.dtype), other], {
    lhs_batch: range(0, nb), rhs_batch: batchOther, lhs_contract: gOther, rhs_contract: keptOther,
  });
  // dot's dims: batch, my free dims, then my contracting dims ordered as their partners in `other`.
  return transposeBy(b, dot, argsort([...batchMe, ...keptMe, ...contractSorted]));
}

export function dotGeneralVjp(b: Builder, node: Value, g: Value): (Value | null)[] {
  const [l, r] = node.inputs as [Value, Value];
  const lb = attr.ints(node.attrs, 'lhs_batch'), rb = attr.ints(node.attrs, 'rhs_batch');
  const lc = attr.ints(node.attrs, 'lhs_contract'), rc = attr.ints(node.attrs, 'rhs_contract');
  return [dotOperandVjp(b, g, l, r, true, lb, lc, rb, rc), dotOperandVjp(b, g, r, l, false, rb, rc, lb, lc)];
}

/** Reverse `x` along `axes` (a gather with constant descending indices; the IR has no reverse op). */
function reverseAxes(b: Builder, x: Value, axes: readonly number[]): Value {
  let out = x;
  for (const a of axes) {
    const n = x.shape[a]!;
    if (n <= 1) continue;
    const idx = b.constant(literal([n], 'i32', range(0, n).map((i) => n - 1 - i)));
    out = b.op('gather', [out, idx], { axis: a });
  }
  return out;
}

const dilated = (n: number, d: number): number => (n > 0 ? (n - 1) * d + 1 : 0);

export function convVjp(b: Builder, node: Value, g0: Value): (Value | null)[] {
  const [x, w] = node.inputs as [Value, Value];
  if (numel(node.shape) === 0 || numel(x.shape) === 0) return [null, null];
  const strides = attr.ints(node.attrs, 'strides'), padLo = attr.ints(node.attrs, 'pad_lo'), padHi = attr.ints(node.attrs, 'pad_hi');
  const lhsDil = attr.ints(node.attrs, 'lhs_dilation'), rhsDil = attr.ints(node.attrs, 'rhs_dilation');
  const groups = attr.int(node.attrs, 'groups');
  const g = castTo(b, g0, x.dtype);
  const [n, h, wd, c] = x.shape as [number, number, number, number];
  const [kh, kw, ci, co] = w.shape as [number, number, number, number];
  const inSize = [h, wd], kSize = [kh, kw], outSize = [node.shape[1]!, node.shape[2]!];
  const inD = [0, 1].map((i) => dilated(inSize[i]!, lhsDil[i]!));
  const kD = [0, 1].map((i) => dilated(kSize[i]!, rhsDil[i]!));
  const outD = [0, 1].map((i) => dilated(outSize[i]!, strides[i]!));

  // Input: conv of g with the reversed kernel whose in/out roles swap within each group:
  // [kh,kw,I,O] -> [kh,kw,I,G,O/G] -> [kh,kw,O/G,G,I] -> [kh,kw,O/G,G*I].
  let wt = groups === 1
    ? transposeBy(b, w, [0, 1, 3, 2])
    : reshapeTo(b, transposeBy(b, reshapeTo(b, w, [kh, kw, ci, groups, co / groups]), [0, 1, 4, 3, 2]), [kh, kw, co / groups, c]);
  wt = reverseAxes(b, wt, [0, 1]);
  const before = [0, 1].map((i) => kD[i]! - padLo[i]! - 1);
  const after = [0, 1].map((i) => inD[i]! + kD[i]! - 1 - outD[i]! - before[i]!);
  const dx = b.op('conv', [g, wt], {
    strides: lhsDil, pad_lo: before, pad_hi: after, lhs_dilation: strides, rhs_dilation: rhsDil, groups,
  });

  // Kernel: the batch becomes the contraction. x -> [I, H, W, G*N] (group-major features),
  // g -> [oh, ow, N, O] as a kernel; the grouped conv pairs feature group k with output group k.
  const xt = groups === 1
    ? transposeBy(b, x, [3, 1, 2, 0])
    : reshapeTo(b, transposeBy(b, reshapeTo(b, x, [n, h, wd, groups, ci]), [4, 1, 2, 3, 0]), [ci, h, wd, groups * n]);
  const gt = transposeBy(b, g, [1, 2, 0, 3]);
  const hi = [0, 1].map((i) => outD[i]! - inD[i]! + kD[i]! - padLo[i]! - 1);
  const dwt = b.op('conv', [xt, gt], {
    strides: rhsDil, pad_lo: padLo, pad_hi: hi, lhs_dilation: lhsDil, rhs_dilation: strides, groups,
  });
  return [dx, transposeBy(b, dwt, [1, 2, 0, 3])];
}

/** Row-major multi-index of window offset number f. */
function windowOffset(f: number, window: readonly number[]): number[] {
  const off = new Array<number>(window.length);
  for (let d = window.length - 1; d >= 0; d--) {
    off[d] = f % window[d]!;
    f = Math.floor(f / window[d]!);
  }
  return off;
}

function windowSumVjp(b: Builder, node: Value, g: Value, window: readonly number[], strides: readonly number[], padLo: readonly number[]): Value {
  const x = node.inputs[0]!;
  const before = window.map((k, d) => k - padLo[d]! - 1);
  const after = x.shape.map((n, d) => n + window[d]! - 1 - dilated(node.shape[d]!, strides[d]!) - before[d]!);
  const spread = b.op('pad', [g], { low: before, high: after, interior: strides.map((s) => s - 1) });
  return b.op('reduce_window', [spread], { op: 'sum', window, strides: window.map(() => 1), pad_lo: window.map(() => 0), pad_hi: window.map(() => 0) });
}

/**
 * Select-and-scatter for max pooling: for each window offset (row-major), the strided slice of
 * the padded input that the offset reads in every window; a window sends its cotangent to the
 * first offset whose element equals the window's max, scattered back with an interior pad.
 */
function windowMaxVjp(b: Builder, node: Value, g: Value, window: readonly number[], strides: readonly number[], padLo: readonly number[], padHi: readonly number[]): Value {
  const x = node.inputs[0]!;
  const padded = padLo.some((p) => p > 0) || padHi.some((p) => p > 0);
  const xp = padded ? b.op('pad', [x], { low: padLo, high: padHi, interior: padLo.map(() => 0), value: -Infinity }) : x;
  let taken: Value | undefined;
  let acc: Value | undefined;
  for (let f = 0; f < numel(window); f++) {
    const off = windowOffset(f, window);
    const span = node.shape.map((o, d) => dilated(o, strides[d]!));
    const part = b.op('slice', [xp], { start: off, limit: off.map((s, d) => s + span[d]!), strides });
    const isMax = compare(b, 'eq', part, node);
    const first = taken ? binary(b, 'and', isMax, unary(b, 'not', taken)) : isMax;
    taken = taken ? binary(b, 'or', taken, isMax) : isMax;
    const spread = b.op('pad', [maskBy(b, first, g)], {
      low: off, high: xp.shape.map((n, d) => n - off[d]! - span[d]!), interior: strides.map((s) => s - 1),
    });
    acc = acc ? binary(b, 'add', acc, spread) : spread;
  }
  if (!padded) return acc!;
  return b.op('slice', [acc!], { start: padLo, limit: x.shape.map((n, d) => padLo[d]! + n), strides: x.shape.map(() => 1) });
}

export function reduceWindowVjp(b: Builder, node: Value, g: Value): (Value | null)[] {
  if (numel(node.shape) === 0 || numel(node.inputs[0]!.shape) === 0) return [null];
  const window = attr.ints(node.attrs, 'window'), strides = attr.ints(node.attrs, 'strides');
  const padLo = attr.ints(node.attrs, 'pad_lo'), padHi = attr.ints(node.attrs, 'pad_hi');
  if (attr.str(node.attrs, 'op') === 'sum') return [windowSumVjp(b, node, g, window, strides, padLo)];
  return [windowMaxVjp(b, node, g, window, strides, padLo, padHi)];
}

export const structuredVjp: Record<string, VjpRule> = {
  dot_general: dotGeneralVjp,
  conv: convVjp,
  reduce_window: reduceWindowVjp,
};
