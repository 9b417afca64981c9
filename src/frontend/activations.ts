/**
 * Activation functions, written in primitive ops (never special IR ops: fusion recovers their
 * speed). softmax/logSoftmax subtract the max along the axis first, for numerical stability.
 * Every activation propagates NaN as TensorFlow's do (a NaN input gives a NaN output): a select
 * `x > 0 ? x : f(x)` does so only because f(NaN) is NaN, so keep such branches NaN-preserving.
 */
import { emit } from './emit.js';
import {
  abs, add, asTensor, div, erf, exp, greater, lessEqual, log, log1p, maximum, minimum, mul, neg, requireFloat, sub, tanh, where,
  type TensorOrNumber,
} from './elementwise.js';
import { normAxis } from './manipulation.js';
import { max, sum } from './reduction.js';
import { Tensor } from './tensor.js';

function floatArg(op: string, x: TensorOrNumber): Tensor {
  const t = asTensor(x, 'f32', op);
  requireFloat(op, t);
  return t;
}

/**
 * Written as a select so the gradient at exactly 0 is 0, as tf.relu's is (max would give 1). The
 * select tests `x <= 0` (false for NaN) so NaN passes through as in TensorFlow: relu(NaN) = NaN,
 * where `x > 0 ? x : 0` would hide a NaN input as 0.
 */
export function relu(x: TensorOrNumber): Tensor {
  const t = asTensor(x, 'f32', 'relu');
  return where(lessEqual(t, 0), 0, t);
}

/** relu then min(., 6); min propagates NaN on every path (tfjs Math.min, wasm f32.min, PTX min.NaN). */
export function relu6(x: TensorOrNumber): Tensor {
  return minimum(relu(asTensor(x, 'f32', 'relu6')), 6);
}

export function leakyRelu(x: TensorOrNumber, alpha = 0.2): Tensor {
  const t = floatArg('leakyRelu', x);
  return where(greater(t, 0), t, mul(t, alpha));
}

export function elu(x: TensorOrNumber, alpha = 1): Tensor {
  const t = floatArg('elu', x);
  const negative = sub(exp(minimum(t, 0)), 1);
  return where(greater(t, 0), t, alpha === 1 ? negative : mul(negative, alpha));
}

const SELU_ALPHA = 1.6732632423543772848170429916717;
const SELU_SCALE = 1.0507009873554804934193349852946;

export function selu(x: TensorOrNumber): Tensor {
  const t = floatArg('selu', x);
  const negative = mul(sub(exp(minimum(t, 0)), 1), SELU_ALPHA);
  return mul(where(greater(t, 0), t, negative), SELU_SCALE);
}

/** log(1 + exp(x)), as max(x, 0) + log1p(exp(-|x|)) so large |x| neither overflows nor loses bits. */
export function softplus(x: TensorOrNumber): Tensor {
  const t = floatArg('softplus', x);
  return add(maximum(t, 0), log1p(exp(neg(abs(t)))));
}

export function softsign(x: TensorOrNumber): Tensor {
  const t = floatArg('softsign', x);
  return div(t, add(abs(t), 1));
}

/** GELU: exact `x/2 (1 + erf(x/sqrt 2))`, or with `approximate` the tanh form. */
export function gelu(x: TensorOrNumber, approximate = false): Tensor {
  const t = floatArg('gelu', x);
  const half = mul(t, 0.5);
  if (!approximate) return mul(half, add(erf(mul(t, Math.SQRT1_2)), 1));
  const inner = mul(add(t, mul(mul(mul(t, t), t), 0.044715)), Math.sqrt(2 / Math.PI));
  return mul(half, add(tanh(inner), 1));
}

export function softmax(x: TensorOrNumber, axis = -1): Tensor {
  const t = floatArg('softmax', x);
  const a = normAxis('softmax', axis, t.rank, t);
  const e = exp(sub(t, max(t, a, true)));
  return div(e, sum(e, a, true));
}

export function logSoftmax(x: TensorOrNumber, axis = -1): Tensor {
  const t = floatArg('logSoftmax', x);
  const a = normAxis('logSoftmax', axis, t.rank, t);
  const shifted = sub(t, max(t, a, true));
  return sub(shifted, log(sum(emit('exp', [shifted]), a, true)));
}

/** Leaky ReLU with a learned slope: `alpha` broadcasts against x (per channel, usually). */
export function prelu(x: Tensor, alpha: TensorOrNumber): Tensor {
  const t = floatArg('prelu', x);
  return where(greater(t, 0), t, mul(t, alpha));
}
