/**
 * Image ops on NHWC tensors with TensorFlow's semantics: depthToSpace / spaceToDepth (DCR order,
 * as tf.depthToSpace), bilinear and nearest-neighbour resizing with TF's alignCorners and
 * halfPixelCenters coordinate rules, mirrorPad (reflect / symmetric) and gatherNd. Sizes are
 * static, so every op is a composition of existing IR ops with index tables computed here at
 * trace time: resizing gathers rows and columns at constant indices and blends them with
 * constant weights (separable: height, then width), mirror padding gathers at reflected
 * indices, and gatherNd linearizes its index tuples into one gather. Gradients come from the
 * IR's VJPs of gather, reshape, transpose and the elementwise ops.
 */
import { KilnError, numel } from '../ir/types.js';
import { tensor } from './creation.js';
import { add, mul, sub } from './elementwise.js';
import { gather, reshape, transpose } from './manipulation.js';
import { sum } from './reduction.js';
import { Tensor } from './tensor.js';

export type ImageDataFormat = 'NHWC';

function checkNHWC(op: string, x: Tensor, dataFormat: string): void {
  if (!(x instanceof Tensor)) throw new KilnError(`${op}: x must be a Tensor`);
  if (dataFormat !== 'NHWC') throw new KilnError(`${op}: dataFormat must be 'NHWC', got '${dataFormat}'; transpose NCHW input to NHWC first`);
  if (x.rank !== 4) throw new KilnError(`${op}: x must be NHWC (rank 4), got ${x.describe()}`);
}

function checkBlock(op: string, blockSize: number): void {
  if (!Number.isInteger(blockSize) || blockSize < 2) throw new KilnError(`${op}: blockSize must be an integer >= 2, got ${blockSize}`);
}

/**
 * Move depth into blocks of space: out[n, h*b + i, w*b + j, c] = x[n, h, w, (i*b + j)*C' + c]
 * with C' = C / b^2 (TensorFlow's DCR order).
 */
export function depthToSpace(x: Tensor, blockSize: number, dataFormat: ImageDataFormat = 'NHWC'): Tensor {
  checkNHWC('depthToSpace', x, dataFormat);
  checkBlock('depthToSpace', blockSize);
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const b = blockSize;
  if (c % (b * b) !== 0) throw new KilnError(`depthToSpace: channels (${c}) of ${x.describe()} must be divisible by blockSize^2 = ${b * b}`);
  const cOut = c / (b * b);
  const blocks = reshape(x, [n, h, w, b, b, cOut]);
  return reshape(transpose(blocks, [0, 1, 3, 2, 4, 5]), [n, h * b, w * b, cOut]);
}

/** The inverse of depthToSpace: out[n, h, w, (i*b + j)*C + c] = x[n, h*b + i, w*b + j, c]. */
export function spaceToDepth(x: Tensor, blockSize: number, dataFormat: ImageDataFormat = 'NHWC'): Tensor {
  checkNHWC('spaceToDepth', x, dataFormat);
  checkBlock('spaceToDepth', blockSize);
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const b = blockSize;
  if (h % b !== 0 || w % b !== 0) {
    throw new KilnError(`spaceToDepth: height (${h}) and width (${w}) of ${x.describe()} must be divisible by blockSize ${b}`);
  }
  const blocks = reshape(x, [n, h / b, b, w / b, b, c]);
  return reshape(transpose(blocks, [0, 1, 3, 2, 4, 5]), [n, h / b, w / b, b * b * c]);
}

function checkSize(op: string, x: Tensor, size: readonly number[]): [number, number] {
  if (!Array.isArray(size) || size.length !== 2 || !size.every((d) => Number.isInteger(d) && d > 0)) {
    throw new KilnError(`${op}: size must be [newHeight, newWidth] of positive integers, got ${JSON.stringify(size)} for ${x.describe()}`);
  }
  return [size[0]!, size[1]!];
}

function checkFlags(op: string, alignCorners: boolean, halfPixelCenters: boolean): void {
  if (alignCorners && halfPixelCenters) {
    throw new KilnError(`${op}: alignCorners and halfPixelCenters cannot both be true (TensorFlow refuses this combination)`);
  }
}

/** TF's scale from output to input coordinates along one axis. */
function resizeScale(inSize: number, outSize: number, alignCorners: boolean): number {
  const effIn = alignCorners && outSize > 1 ? inSize - 1 : inSize;
  const effOut = alignCorners && outSize > 1 ? outSize - 1 : outSize;
  return effIn / effOut;
}

/** Accept NHWC or HWC (a batch of one, removed again afterwards), like tfjs. */
function batched(op: string, x: Tensor): { x4: Tensor; unbatch: (y: Tensor) => Tensor } {
  if (!(x instanceof Tensor)) throw new KilnError(`${op}: x must be a Tensor`);
  if (x.rank === 4) return { x4: x, unbatch: (y) => y };
  if (x.rank === 3) return { x4: reshape(x, [1, ...x.shape]), unbatch: (y) => reshape(y, y.shape.slice(1)) };
  throw new KilnError(`${op}: x must be NHWC (rank 4) or HWC (rank 3), got ${x.describe()}`);
}

/** Source rows (or columns) and blend weights of TF's linear interpolation along one axis. */
function lerpTable(inSize: number, outSize: number, alignCorners: boolean, halfPixelCenters: boolean): { lo: number[]; hi: number[]; frac: number[] } {
  const scale = resizeScale(inSize, outSize, alignCorners);
  const lo: number[] = [], hi: number[] = [], frac: number[] = [];
  for (let o = 0; o < outSize; o++) {
    const src = halfPixelCenters ? scale * (o + 0.5) - 0.5 : scale * o;
    const floor = Math.max(0, Math.floor(src));
    lo.push(floor);
    hi.push(Math.min(inSize - 1, Math.ceil(src)));
    frac.push(src - floor);
  }
  return { lo, hi, frac };
}

/**
 * Bilinear resize of NHWC (or HWC) `x` to `size` = [newHeight, newWidth], as
 * tf.image.resizeBilinear. The four corners of every output pixel are gathered straight from x
 * flattened over (H, W), one gather each with static indices, and blended as TF does (left/right,
 * then top/bottom). Gathering from x itself keeps each gather a plain copy kernel with the blend
 * fused after it (a gather of an already blended axis would recompute that blend per element).
 */
export function resizeBilinear(x: Tensor, size: readonly [number, number] | readonly number[], alignCorners = false, halfPixelCenters = false): Tensor {
  const { x4, unbatch } = batched('resizeBilinear', x);
  const [oh, ow] = checkSize('resizeBilinear', x, size);
  checkFlags('resizeBilinear', alignCorners, halfPixelCenters);
  if (x.dtype !== 'f32') throw new KilnError(`resizeBilinear: x must be f32, got ${x.describe()}; cast it first`);
  const [n, h, w, c] = x4.shape as [number, number, number, number];
  const ys = lerpTable(h, oh, alignCorners, halfPixelCenters), xs = lerpTable(w, ow, alignCorners, halfPixelCenters);
  const flat = reshape(x4, [n, h * w, c]);
  const corner = (rows: number[], cols: number[]): Tensor => {
    const idx: number[] = [];
    for (const r of rows) for (const q of cols) idx.push(r * w + q);
    if (idx.length === h * w && idx.every((v, i) => v === i)) return x4;
    return reshape(gather(flat, idx, 1), [n, oh, ow, c]);
  };
  const sameX = xs.lo.every((v, i) => v === xs.hi[i]), sameY = ys.lo.every((v, i) => v === ys.hi[i]);
  const row = (rows: number[]): Tensor => {
    const left = corner(rows, xs.lo);
    return sameX ? left : add(left, mul(sub(corner(rows, xs.hi), left), tensor(xs.frac, [1, 1, ow, 1])));
  };
  const top = row(ys.lo);
  if (sameY) return unbatch(top);
  return unbatch(add(top, mul(sub(row(ys.hi), top), tensor(ys.frac, [1, oh, 1, 1]))));
}

function nearestIndices(inSize: number, outSize: number, alignCorners: boolean, halfPixelCenters: boolean): number[] {
  const scale = resizeScale(inSize, outSize, alignCorners);
  const out: number[] = [];
  for (let o = 0; o < outSize; o++) {
    const src = halfPixelCenters ? scale * (o + 0.5) : scale * o;
    let i = Math.min(inSize - 1, alignCorners ? Math.round(src) : Math.floor(src));
    if (halfPixelCenters) i = Math.max(0, i);
    out.push(i);
  }
  return out;
}

/** Nearest-neighbour resize of NHWC (or HWC) `x` to `size`, as tf.image.resizeNearestNeighbor. */
export function resizeNearestNeighbor(x: Tensor, size: readonly [number, number] | readonly number[], alignCorners = false, halfPixelCenters = false): Tensor {
  const { x4, unbatch } = batched('resizeNearestNeighbor', x);
  const [oh, ow] = checkSize('resizeNearestNeighbor', x, size);
  checkFlags('resizeNearestNeighbor', alignCorners, halfPixelCenters);
  const [, h, w] = x4.shape as [number, number, number, number];
  const rows = nearestIndices(h, oh, alignCorners, halfPixelCenters);
  const cols = nearestIndices(w, ow, alignCorners, halfPixelCenters);
  const identity = (idx: number[], n: number) => idx.length === n && idx.every((v, i) => v === i);
  let y = x4;
  if (!identity(cols, w)) y = gather(y, cols, 2);
  if (!identity(rows, h)) y = gather(y, rows, 1);
  return unbatch(y);
}

export type MirrorPadMode = 'reflect' | 'symmetric';

/**
 * Pad by mirroring `x` at its edges: 'reflect' excludes the edge element (a b c -> b | a b c | b),
 * 'symmetric' repeats it (a | a b c | c). `paddings` is [[before, after], ...] per dim; each must
 * be < size ('reflect') or <= size ('symmetric'), as TF requires.
 */
export function mirrorPad(x: Tensor, paddings: readonly (readonly number[])[], mode: MirrorPadMode): Tensor {
  if (!(x instanceof Tensor)) throw new KilnError('mirrorPad: x must be a Tensor');
  if (mode !== 'reflect' && mode !== 'symmetric') throw new KilnError(`mirrorPad: mode must be 'reflect' or 'symmetric', got '${String(mode)}'`);
  if (paddings.length !== x.rank || paddings.some((p) => p.length !== 2 || !p.every((v) => Number.isInteger(v) && v >= 0))) {
    throw new KilnError(`mirrorPad: paddings ${JSON.stringify(paddings)} must be ${x.rank} pairs of non-negative integers for ${x.describe()}`);
  }
  const shift = mode === 'reflect' ? 0 : 1;
  let y = x;
  paddings.forEach(([before, after], axis) => {
    const n = x.shape[axis]!;
    const limit = n - 1 + shift;
    if (before! > limit || after! > limit) {
      throw new KilnError(`mirrorPad: padding [${before}, ${after}] of dimension ${axis} exceeds ${limit} (${mode} mode, size ${n}) for ${x.describe()}`);
    }
    if (before === 0 && after === 0) return;
    const idx: number[] = [];
    for (let i = -before!; i < n + after!; i++) idx.push(i < 0 ? -i - shift : i >= n ? 2 * n - 2 + shift - i : i);
    y = gather(y, idx, axis);
  });
  return y;
}

/**
 * Gather slices of `x` at index tuples: `indices` (i32) has shape [..., K]; each K-tuple indexes
 * x's first K dims, so the result has shape indices.shape[:-1] + x.shape[K:]. The tuples are
 * linearized (static indices fold now, traced ones become a small multiply-add) into one gather
 * on x flattened over its first K dims. Out-of-range indices are clamped like gather's.
 */
export function gatherNd(x: Tensor, indices: Tensor | readonly (readonly number[])[] | readonly number[]): Tensor {
  if (!(x instanceof Tensor)) throw new KilnError('gatherNd: x must be a Tensor');
  const idx = indices instanceof Tensor ? indices : tensor(indices as number[][], undefined, 'i32');
  if (idx.dtype !== 'i32') throw new KilnError(`gatherNd: indices must be i32, got ${idx.describe()} (gathering from ${x.describe()}); cast them first`);
  if (idx.rank < 1) throw new KilnError(`gatherNd: indices must have rank >= 1, got ${idx.describe()}`);
  const k = idx.shape[idx.rank - 1]!;
  if (k < 1 || k > x.rank) {
    throw new KilnError(`gatherNd: the last dimension of indices ${idx.describe()} (${k}) must be between 1 and the rank of x ${x.describe()} (${x.rank})`);
  }
  const lead = x.shape.slice(0, k), rest = x.shape.slice(k);
  const strides = lead.map((_, i) => numel(lead.slice(i + 1)));
  const linear = k === 1 ? reshape(idx, idx.shape.slice(0, -1)) : sum(mul(idx, tensor(strides, [k], 'i32')), -1);
  return gather(reshape(x, [numel(lead), ...rest]), linear, 0);
}
