/**
 * Convolutions and pooling on NHWC tensors, with TensorFlow's padding arithmetic: 'valid' pads
 * nothing, 'same' gives ceil(in / stride) outputs and splits the needed padding with the extra
 * row/column at the end; explicit padding is [[top, bottom], [left, right]] (or the 4-pair
 * NHWC form of tfjs). Depthwise convolution is a grouped conv (one group per input channel);
 * average pooling divides by the number of unpadded elements in each window, as TF does.
 */
import { KilnError } from '../ir/types.js';
import { ones } from './creation.js';
import { emit } from './emit.js';
import { div } from './elementwise.js';
import { gather, reshape, transpose } from './manipulation.js';
import { Tensor } from './tensor.js';

export type Padding = 'same' | 'valid' | readonly (readonly number[])[];
type Pair = number | readonly [number, number] | readonly number[];

function pair(op: string, what: string, v: Pair): [number, number] {
  const p = typeof v === 'number' ? [v, v] : [...v];
  if (p.length !== 2 || !p.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new KilnError(`${op}: ${what} must be a positive integer or a pair of them, got ${JSON.stringify(v)}`);
  }
  return [p[0]!, p[1]!];
}

/** Low/high padding per spatial dim for `padding`, given sizes, window (already dilated) and strides. */
export function spatialPadding(
  op: string, padding: Padding, input: readonly [number, number], window: readonly [number, number], strides: readonly [number, number],
): { lo: [number, number]; hi: [number, number] } {
  if (padding === 'valid') return { lo: [0, 0], hi: [0, 0] };
  if (padding === 'same') {
    const lo: [number, number] = [0, 0], hi: [number, number] = [0, 0];
    for (let i = 0; i < 2; i++) {
      const out = Math.ceil(input[i]! / strides[i]!);
      const total = Math.max((out - 1) * strides[i]! + window[i]! - input[i]!, 0);
      lo[i] = Math.floor(total / 2);
      hi[i] = total - lo[i]!;
    }
    return { lo, hi };
  }
  if (Array.isArray(padding)) {
    const all = padding as readonly (readonly number[])[];
    const pairs = all.length === 4 ? all.slice(1, 3) : all;
    const ok = pairs.length === 2 && pairs.every((p) => p.length === 2 && p.every((v) => Number.isInteger(v) && v >= 0));
    const outerOk = all.length !== 4 || [all[0]!, all[3]!].every((p) => p.length === 2 && p[0] === 0 && p[1] === 0);
    if (ok && outerOk) return { lo: [pairs[0]![0]!, pairs[1]![0]!], hi: [pairs[0]![1]!, pairs[1]![1]!] };
  }
  throw new KilnError(`${op}: padding must be 'same', 'valid' or [[top, bottom], [left, right]] of non-negative integers, got ${JSON.stringify(padding)}`);
}

function checkImage(op: string, x: Tensor): void {
  if (!(x instanceof Tensor)) throw new KilnError(`${op}: x must be a Tensor`);
  if (x.rank !== 4 && x.rank !== 3) throw new KilnError(`${op}: x must be NHWC (rank 4) or HWC (rank 3), got ${x.describe()}`);
}

/** Accept NHWC, or HWC (a batch of one, removed again afterwards) like tfjs. */
function asBatched(op: string, x: Tensor): { x4: Tensor; unbatch: (y: Tensor) => Tensor } {
  checkImage(op, x);
  if (x.rank === 4) return { x4: x, unbatch: (y) => y };
  return { x4: reshape(x, [1, ...x.shape]), unbatch: (y) => reshape(y, y.shape.slice(1)) };
}

function convCore(
  op: string, x: Tensor, filter: Tensor, strides: Pair, padding: Padding, dilations: Pair, groups: number, filterDesc: string,
): Tensor {
  const { x4, unbatch } = asBatched(op, x);
  const s = pair(op, 'strides', strides), d = pair(op, 'dilations', dilations);
  const [kh, kw] = filter.shape as [number, number];
  const window: [number, number] = [(kh - 1) * d[0] + 1, (kw - 1) * d[1] + 1];
  const inHW: [number, number] = [x4.shape[1]!, x4.shape[2]!];
  const { lo, hi } = spatialPadding(op, padding, inHW, window, s);
  for (let i = 0; i < 2; i++) {
    if (inHW[i]! + lo[i]! + hi[i]! < window[i]!) {
      throw new KilnError(`${op}: the ${filterDesc} window (${window[i]} after dilation) is larger than the padded input along ${i === 0 ? 'height' : 'width'}: x ${x.describe()}, padding ${JSON.stringify(padding)}`);
    }
  }
  return unbatch(emit('conv', [x4, filter], {
    strides: s, pad_lo: lo, pad_hi: hi, lhs_dilation: [1, 1], rhs_dilation: d, groups,
  }));
}

/** 2-D convolution: x NHWC, filter HWIO [kh, kw, inChannels, outChannels]. */
export function conv2d(x: Tensor, filter: Tensor, strides: Pair = 1, padding: Padding = 'valid', dilations: Pair = 1): Tensor {
  checkImage('conv2d', x);
  const what = () => `x ${x.describe()} and filter ${filter.describe()}`;
  if (!(filter instanceof Tensor) || filter.rank !== 4) throw new KilnError(`conv2d: filter must be HWIO (rank 4): ${what()}`);
  const c = x.shape[x.rank - 1];
  if (c !== filter.shape[2]) throw new KilnError(`conv2d: input channels (${c}) differ from the filter's in-channels (dim 2 = ${filter.shape[2]}): ${what()}`);
  if (x.dtype !== filter.dtype) throw new KilnError(`conv2d: dtypes differ: ${what()}`);
  return convCore('conv2d', x, filter, strides, padding, dilations, 1, 'filter');
}

/** Depthwise convolution: filter [kh, kw, C, multiplier]; output channel c*multiplier + m. */
export function depthwiseConv2d(x: Tensor, filter: Tensor, strides: Pair = 1, padding: Padding = 'valid', dilations: Pair = 1): Tensor {
  checkImage('depthwiseConv2d', x);
  const what = () => `x ${x.describe()} and filter ${filter.describe()}`;
  if (!(filter instanceof Tensor) || filter.rank !== 4) throw new KilnError(`depthwiseConv2d: filter must be [kh, kw, C, multiplier] (rank 4): ${what()}`);
  const c = x.shape[x.rank - 1]!;
  if (c !== filter.shape[2]) throw new KilnError(`depthwiseConv2d: input channels (${c}) differ from the filter's channels (dim 2 = ${filter.shape[2]}): ${what()}`);
  if (x.dtype !== filter.dtype) throw new KilnError(`depthwiseConv2d: dtypes differ: ${what()}`);
  const [kh, kw, , mult] = filter.shape as [number, number, number, number];
  const grouped = reshape(filter, [kh, kw, 1, c * mult]);
  return convCore('depthwiseConv2d', x, grouped, strides, padding, dilations, c, 'filter');
}

/**
 * Transposed convolution (the input gradient of conv2d), as tf.conv2dTranspose: x NHWC, filter
 * [kh, kw, outChannels, inChannels], `outputShape` NHWC (or HWC) of the result. It is one `conv`
 * with the input dilated by the strides (lhs_dilation) and the spatially reversed kernel with its
 * channel roles swapped, so it lowers to the conv kernels and differentiates by the conv VJP.
 * `padding` is that of the forward conv2d from outputShape to x.
 */
export function conv2dTranspose(
  x: Tensor, filter: Tensor, outputShape: readonly number[], strides: Pair = 1, padding: Padding = 'valid', dilations: Pair = 1,
): Tensor {
  const op = 'conv2dTranspose';
  checkImage(op, x);
  const what = () => `x ${x.describe()}, filter ${filter.describe()} and outputShape ${JSON.stringify(outputShape)}`;
  if (!(filter instanceof Tensor) || filter.rank !== 4) throw new KilnError(`${op}: filter must be [kh, kw, outChannels, inChannels] (rank 4): ${what()}`);
  const { x4, unbatch } = asBatched(op, x);
  const [n, h, w, c] = x4.shape as [number, number, number, number];
  const [kh, kw, oc, ic] = filter.shape as [number, number, number, number];
  if (c !== ic) throw new KilnError(`${op}: input channels (${c}) differ from the filter's in-channels (dim 3 = ${ic}): ${what()}`);
  if (x.dtype !== filter.dtype) throw new KilnError(`${op}: dtypes differ: ${what()}`);
  const out = outputShape.length === x.rank ? [...outputShape] : [];
  const [on, oh, ow, occ] = (out.length === 3 ? [1, ...out] : out) as number[];
  if (out.length === 0 || on !== n || occ !== oc || !Number.isInteger(oh) || !Number.isInteger(ow) || oh! < 1 || ow! < 1) {
    throw new KilnError(`${op}: outputShape must be [${x.rank === 4 ? `${n}, ` : ''}height, width, ${oc}] (batch and channels of x and filter), got ${JSON.stringify(outputShape)}: ${what()}`);
  }
  const s = pair(op, 'strides', strides), d = pair(op, 'dilations', dilations);
  const kD: [number, number] = [(kh - 1) * d[0] + 1, (kw - 1) * d[1] + 1];
  const outHW: [number, number] = [oh!, ow!];
  const { lo, hi } = spatialPadding(op, padding, outHW, kD, s);
  const before: number[] = [], after: number[] = [];
  for (let i = 0; i < 2; i++) {
    const fwd = Math.floor((outHW[i]! + lo[i]! + hi[i]! - kD[i]!) / s[i]!) + 1;
    const inSize = i === 0 ? h : w;
    if (outHW[i]! + lo[i]! + hi[i]! < kD[i]! || fwd !== inSize) {
      throw new KilnError(`${op}: a conv2d from outputShape ${JSON.stringify(outputShape)} (strides ${JSON.stringify(s)}, padding ${JSON.stringify(padding)}, dilations ${JSON.stringify(d)}) gives ${fwd} along ${i === 0 ? 'height' : 'width'}, not x's ${inSize}: ${what()}`);
    }
    // As the conv VJP for the input: full correlation of the strided-dilated x with the reversed kernel.
    before.push(kD[i]! - lo[i]! - 1);
    after.push(outHW[i]! + kD[i]! - 1 - ((inSize - 1) * s[i]! + 1) - before[i]!);
  }
  const rev = (t: Tensor, axis: number, len: number) => (len === 1 ? t : gather(t, Array.from({ length: len }, (_, i) => len - 1 - i), axis));
  const wt = rev(rev(transpose(filter, [0, 1, 3, 2]), 0, kh), 1, kw);
  return unbatch(emit('conv', [x4, wt], {
    strides: [1, 1], pad_lo: before, pad_hi: after, lhs_dilation: s, rhs_dilation: d, groups: 1,
  }));
}

function pool(op: string, kind: 'max' | 'sum', x: Tensor, poolSize: Pair, strides: Pair | undefined, padding: Padding): { y: Tensor; x4: Tensor; lo: number[]; hi: number[]; win: [number, number]; s: [number, number]; unbatch: (y: Tensor) => Tensor } {
  const { x4, unbatch } = asBatched(op, x);
  const win = pair(op, 'poolSize', poolSize);
  const s = pair(op, 'strides', strides ?? win);
  const { lo, hi } = spatialPadding(op, padding, [x4.shape[1]!, x4.shape[2]!], win, s);
  for (let i = 0; i < 2; i++) {
    if (x4.shape[1 + i]! + lo[i]! + hi[i]! < win[i]!) {
      throw new KilnError(`${op}: poolSize [${win.join(',')}] is larger than the padded input ${x.describe()} (padding ${JSON.stringify(padding)})`);
    }
  }
  const y = emit('reduce_window', [x4], {
    op: kind, window: [1, ...win, 1], strides: [1, ...s, 1], pad_lo: [0, ...lo, 0], pad_hi: [0, ...hi, 0],
  });
  return { y, x4, lo: [0, ...lo, 0], hi: [0, ...hi, 0], win, s, unbatch };
}

/** Max over each window; padded positions never win. `strides` defaults to `poolSize`. */
export function maxPool(x: Tensor, poolSize: Pair, strides?: Pair, padding: Padding = 'valid'): Tensor {
  const { y, unbatch } = pool('maxPool', 'max', x, poolSize, strides, padding);
  return unbatch(y);
}

/** Mean over each window's unpadded elements. `strides` defaults to `poolSize`. */
export function avgPool(x: Tensor, poolSize: Pair, strides?: Pair, padding: Padding = 'valid'): Tensor {
  const { y, x4, lo, hi, win, s, unbatch } = pool('avgPool', 'sum', x, poolSize, strides, padding);
  if (lo.every((v) => v === 0) && hi.every((v) => v === 0)) return unbatch(div(y, win[0] * win[1]));
  // Count the real elements under each window by pooling ones over the same geometry; this is
  // concrete (evaluated now, captured as a constant under tracing).
  const counts = emit('reduce_window', [ones([1, x4.shape[1]!, x4.shape[2]!, 1], x4.dtype)], {
    op: 'sum', window: [1, ...win, 1], strides: [1, ...s, 1], pad_lo: lo, pad_hi: hi,
  });
  return unbatch(div(y, counts));
}
