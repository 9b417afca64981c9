/**
 * Reductions over axes (sum, mean, max, min, prod), the statistics built on them (variance,
 * moments) and argMax/argMin. All lower to the IR's `reduce`; keepDims is a reshape afterwards.
 */
import { isFloat } from '../ir/dtype.js';
import { KilnError } from '../ir/types.js';
import { fill, iota } from './creation.js';
import { emit } from './emit.js';
import { add, asTensor, broadcastTo, cast, div, equal, mul, square, sub, where, type TensorOrNumber } from './elementwise.js';
import { normAxes, normAxis, reshape } from './manipulation.js';
import { Tensor } from './tensor.js';

type Axis = number | readonly number[];

function reduce(op: 'sum' | 'max' | 'min' | 'prod', name: string, x: TensorOrNumber, axis: Axis | undefined, keepDims: boolean): Tensor {
  let t = asTensor(x, 'f32', name);
  const axes = normAxes(name, axis, t);
  // Like tf.sum, summing booleans counts them.
  if (t.dtype === 'bool' && (op === 'sum' || op === 'prod')) t = cast(t, 'i32');
  if ((op === 'max' || op === 'min') && axes.some((a) => t.shape[a] === 0)) {
    throw new KilnError(`${name}: cannot reduce over an empty axis of ${t.describe()} (axes [${axes.join(',')}])`);
  }
  const r = axes.length === 0 ? t : emit('reduce', [t], { op, axes });
  return keepDims ? reshape(r, t.shape.map((d, i) => (axes.includes(i) ? 1 : d))) : r;
}

export function sum(x: TensorOrNumber, axis?: Axis, keepDims = false): Tensor {
  return reduce('sum', 'sum', x, axis, keepDims);
}
export function max(x: TensorOrNumber, axis?: Axis, keepDims = false): Tensor {
  return reduce('max', 'max', x, axis, keepDims);
}
export function min(x: TensorOrNumber, axis?: Axis, keepDims = false): Tensor {
  return reduce('min', 'min', x, axis, keepDims);
}
export function prod(x: TensorOrNumber, axis?: Axis, keepDims = false): Tensor {
  return reduce('prod', 'prod', x, axis, keepDims);
}

export function mean(x: TensorOrNumber, axis?: Axis, keepDims = false): Tensor {
  const t = asTensor(x, 'f32', 'mean');
  const axes = normAxes('mean', axis, t);
  const count = axes.reduce((n, a) => n * t.shape[a]!, 1);
  const s = sum(t, axes, keepDims);
  // Integer means are computed in f32, as tf.mean does for int inputs.
  const f = isFloat(s.dtype) ? s : cast(s, 'f32');
  return div(f, count);
}

/** Population variance (divides by N), like tf.moments. */
export function variance(x: TensorOrNumber, axis?: Axis, keepDims = false): Tensor {
  const t = asTensor(x, 'f32', 'variance');
  const axes = normAxes('variance', axis, t);
  return mean(square(sub(t, mean(t, axes, true))), axes, keepDims);
}

export function moments(x: TensorOrNumber, axes?: Axis, keepDims = false): { mean: Tensor; variance: Tensor } {
  const t = asTensor(x, 'f32', 'moments');
  const ax = normAxes('moments', axes, t);
  const m = mean(t, ax, true);
  const v = mean(square(sub(t, m)), ax, keepDims);
  return { mean: keepDims ? m : reshape(m, t.shape.filter((_, i) => !ax.includes(i))), variance: v };
}

function argReduce(op: 'max' | 'min', name: string, x: Tensor, axis: number): Tensor {
  const a = normAxis(name, axis, x.rank, x);
  const n = x.shape[a]!;
  if (n === 0) throw new KilnError(`${name}: axis ${a} of ${x.describe()} is empty`);
  // The first index where x equals its extreme: replace other positions by n, then take the min.
  const extreme = reduce(op, name, x, a, true);
  const hit = equal(x, broadcastTo(extreme, x.shape));
  const idx = iota(x.shape, a, 'i32');
  const candidates = where(hit, idx, fill(x.shape, n, 'i32'));
  return emit('reduce', [candidates], { op: 'min', axes: [a] });
}

/** Index (i32) of the largest element along `axis`; the first one on ties, like tf.argMax. */
export function argMax(x: Tensor, axis = 0): Tensor {
  return argReduce('max', 'argMax', x, axis);
}

export function argMin(x: Tensor, axis = 0): Tensor {
  return argReduce('min', 'argMin', x, axis);
}

/** log(sum(exp(x))) computed stably (the max is subtracted first). */
export function logSumExp(x: TensorOrNumber, axis?: Axis, keepDims = false): Tensor {
  const t = asTensor(x, 'f32', 'logSumExp');
  const axes = normAxes('logSumExp', axis, t);
  const m = max(t, axes, true);
  const s = emit('log', [sum(emit('exp', [sub(t, m)]), axes, true)]);
  const r = emit('add', [s, m]);
  return keepDims ? r : reshape(r, t.shape.filter((_, i) => !axes.includes(i)));
}

/**
 * Batch normalization with given statistics, like tf.batchNorm:
 * (x - mean) * rsqrt(variance + eps) * scale + offset, every argument broadcasting against x.
 */
export function batchNorm(
  x: Tensor, mean: TensorOrNumber, variance: TensorOrNumber, offset?: TensorOrNumber, scale?: TensorOrNumber, varianceEpsilon = 0.001,
): Tensor {
  let inv = emit('rsqrt', [asTensor(add(variance, varianceEpsilon), x.dtype, 'batchNorm')]);
  if (scale !== undefined) inv = mul(inv, scale);
  const y = mul(sub(x, mean), inv);
  return offset === undefined ? y : add(y, offset);
}
