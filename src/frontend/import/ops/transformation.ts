/**
 * Shape and data movement: Reshape, Squeeze, ExpandDims, Transpose, ConcatV2, Pack/Unpack,
 * Pad/PadV2/MirrorPad, Slice, StridedSlice (all five masks, negative strides), Split/SplitV,
 * GatherV2/GatherNd, Tile, BroadcastTo. Shapes, axes, paddings and slice bounds must be static.
 */
import * as k from '../../ops.js';
import type { Tensor } from '../../tensor.js';
import { fail, input, staticScalar, staticValues, type OpContext, type OpTable } from './types.js';

function pairs(ctx: OpContext, i: number, rank: number): number[][] {
  const v = staticValues(ctx, i, 'paddings');
  if (v.length !== 2 * rank) fail(ctx, `paddings must be [${rank}, 2] for a rank-${rank} input, got ${v.length} values`);
  return Array.from({ length: rank }, (_, d) => [v[2 * d]!, v[2 * d + 1]!]);
}

/** Concatenation of the data inputs; `axisAt` says which input holds the axis. */
function concat(axisAt: 'first' | 'last') {
  return (ctx: OpContext): Tensor => {
    const n = ctx.inputs.length;
    const axis = staticScalar(ctx, axisAt === 'last' ? n - 1 : 0, 'axis');
    const xs = axisAt === 'last' ? ctx.inputs.slice(0, n - 1) : ctx.inputs.slice(1);
    return k.concat(xs, axis);
  };
}

/**
 * TensorFlow's StridedSlice: the sparse spec (with ellipsis and new axes) is expanded to one
 * [begin, end, stride] per input dim; each dim becomes a list of indices, taken by a slice when
 * the stride is positive and by a gather with static indices when it is negative; a final
 * reshape inserts new axes and drops shrunk ones.
 */
function stridedSlice(ctx: OpContext): Tensor {
  const x = input(ctx, 0);
  const begin = staticValues(ctx, 1, 'begin'), end = staticValues(ctx, 2, 'end');
  const strides = ctx.inputs.length > 3 ? staticValues(ctx, 3, 'strides') : begin.map(() => 1);
  const a = ctx.attrs;
  let ellipsis = a.int('ellipsis_mask', 0);
  const beginMask = a.int('begin_mask', 0), endMask = a.int('end_mask', 0);
  const newAxis = a.int('new_axis_mask', 0), shrink = a.int('shrink_axis_mask', 0);
  let n = begin.length;
  if (end.length !== n || strides.length !== n) fail(ctx, `begin [${begin}], end [${end}] and strides [${strides}] must have the same length`);
  if (!ellipsis) {
    ellipsis = 1 << n; // an implicit ellipsis at the end covers the remaining dims
    n += 1;
  }
  const at = [...Array(n).keys()];
  const ellipsisAt = at.find((i) => ellipsis & (1 << i))!;
  const newAfterEllipsis = at.filter((i) => i > ellipsisAt && newAxis & (1 << i)).length;
  interface Dim { lo: number; hi: number; stride: number; bm: boolean; em: boolean; shrink: boolean }
  const dense: Dim[] = [];
  // Output shape plan: 'new' (a 1), a dense dim index (kept), or skipped (shrunk).
  const plan: (number | 'new')[] = [];
  for (let i = 0; i < n; i++) {
    if (ellipsis & (1 << i)) {
      const next = Math.min(x.rank - (n - i) + 1 + newAfterEllipsis, x.rank);
      while (dense.length < next) {
        plan.push(dense.length);
        dense.push({ lo: 0, hi: 0, stride: 1, bm: true, em: true, shrink: false });
      }
    } else if (newAxis & (1 << i)) {
      plan.push('new');
    } else {
      if (dense.length >= x.rank) fail(ctx, `the slice spec indexes more dims than ${x.describe()} has`);
      const s = !!(shrink & (1 << i));
      if (!s) plan.push(dense.length);
      dense.push({ lo: begin[i]!, hi: end[i]!, stride: strides[i]!, bm: !!(beginMask & (1 << i)), em: !!(endMask & (1 << i)), shrink: s });
    }
  }
  while (dense.length < x.rank) {
    plan.push(dense.length);
    dense.push({ lo: 0, hi: 0, stride: 1, bm: true, em: true, shrink: false });
  }
  const lists = dense.map((d, i): number[] => {
    const size = x.shape[i]!;
    const canon = (v: number) => (v < 0 ? v + size : v);
    if (d.stride === 0) fail(ctx, `stride of dimension ${i} is 0`);
    if (d.shrink) {
      const j = canon(d.lo);
      if (j < 0 || j >= size) fail(ctx, `index ${d.lo} of dimension ${i} is out of range for ${x.describe()}`);
      return [j];
    }
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    const out: number[] = [];
    if (d.stride > 0) {
      const lo = d.bm ? 0 : clamp(canon(d.lo), 0, size), hi = d.em ? size : clamp(canon(d.hi), 0, size);
      for (let j = lo; j < hi; j += d.stride) out.push(j);
    } else {
      const lo = d.bm ? size - 1 : clamp(canon(d.lo), -1, size - 1), hi = d.em ? -1 : clamp(canon(d.hi), -1, size - 1);
      for (let j = lo; j > hi; j += d.stride) out.push(j);
    }
    return out;
  });
  let y = x;
  const positive = lists.map((l, i) => dense[i]!.stride > 0 || l.length <= 1);
  const sb = lists.map((l, i) => (positive[i] ? l[0] ?? 0 : 0));
  const se = lists.map((l, i) => (positive[i] ? (l.length ? l[l.length - 1]! + 1 : 0) : x.shape[i]!));
  const ss = lists.map((l, i) => (positive[i] && l.length > 1 ? dense[i]!.stride : 1));
  y = k.stridedSlice(y, sb, se, ss);
  lists.forEach((l, i) => {
    if (!positive[i]) y = k.gather(y, l, i);
  });
  return k.reshape(y, plan.map((p) => (p === 'new' ? 1 : lists[p]!.length)));
}

function split(ctx: OpContext, x: Tensor, sizes: number | number[], axis: number): Tensor[] {
  const out = k.split(x, sizes, axis);
  const num = ctx.attrs.int('num_split', out.length);
  if (num !== out.length) fail(ctx, `num_split is ${num} but the split gives ${out.length} parts`);
  return out;
}

export const transformationOps: OpTable = {
  Reshape: (ctx) => k.reshape(input(ctx, 0), staticValues(ctx, 1, 'shape')),
  Squeeze: (ctx) => {
    const dims = ctx.attrs.ints('squeeze_dims', []);
    return k.squeeze(input(ctx, 0), dims.length ? dims : undefined);
  },
  ExpandDims: (ctx) => k.expandDims(input(ctx, 0), staticScalar(ctx, 1, 'axis')),
  Transpose: (ctx) => k.transpose(input(ctx, 0), staticValues(ctx, 1, 'perm')),
  ConcatV2: concat('last'),
  Concat: concat('first'),
  Pack: (ctx) => k.stack(ctx.inputs, ctx.attrs.int('axis', 0)),
  Unpack: (ctx) => k.unstack(input(ctx, 0), ctx.attrs.int('axis', 0)),
  Pad: (ctx) => k.pad(input(ctx, 0), pairs(ctx, 1, input(ctx, 0).rank)),
  PadV2: (ctx) => k.pad(input(ctx, 0), pairs(ctx, 1, input(ctx, 0).rank), staticScalar(ctx, 2, 'constant_values')),
  MirrorPad: (ctx) => {
    const mode = ctx.attrs.string('mode').toLowerCase();
    if (mode !== 'reflect' && mode !== 'symmetric') fail(ctx, `mode '${mode}' is not supported (REFLECT or SYMMETRIC)`);
    return k.mirrorPad(input(ctx, 0), pairs(ctx, 1, input(ctx, 0).rank), mode);
  },
  Slice: (ctx) => k.slice(input(ctx, 0), staticValues(ctx, 1, 'begin'), staticValues(ctx, 2, 'size')),
  StridedSlice: stridedSlice,
  Split: (ctx) => split(ctx, input(ctx, 1), ctx.attrs.int('num_split'), staticScalar(ctx, 0, 'axis')),
  SplitV: (ctx) => split(ctx, input(ctx, 0), staticValues(ctx, 1, 'size_splits'), staticScalar(ctx, 2, 'axis')),
  GatherV2: (ctx) => {
    if (ctx.attrs.int('batch_dims', 0) !== 0) fail(ctx, `batch_dims ${ctx.attrs.int('batch_dims')} is not supported (only 0)`);
    return k.gather(input(ctx, 0), k.cast(input(ctx, 1), 'i32'), staticScalar(ctx, 2, 'axis'));
  },
  Gather: (ctx) => k.gather(input(ctx, 0), k.cast(input(ctx, 1), 'i32'), 0),
  GatherNd: (ctx) => k.gatherNd(input(ctx, 0), k.cast(input(ctx, 1), 'i32')),
  Tile: (ctx) => k.tile(input(ctx, 0), staticValues(ctx, 1, 'multiples')),
  BroadcastTo: (ctx) => k.broadcastTo(input(ctx, 0), staticValues(ctx, 1, 'shape')),
};
