/**
 * Elementwise ops with NumPy broadcasting. The IR never broadcasts implicitly, so binary ops
 * align shapes from the right and insert `broadcast_in_dim` where an operand is smaller. JS
 * numbers adopt the dtype of the tensor they meet; two tensors of different dtypes are an error.
 */
import { parseDType, type DType, type DTypeLike } from '../ir/dtype.js';
import { isFloat } from '../ir/dtype.js';
import { literal } from '../ir/literal.js';
import { KilnError, shapesEqual } from '../ir/types.js';
import { emit } from './emit.js';
import { Tensor } from './tensor.js';

/** Where a tensor goes, a JS number is accepted too. */
export type TensorOrNumber = Tensor | number;

function label(name: string, t: Tensor): string {
  return `${name} ${t.describe()}`;
}

/** A tensor argument, or a number as a scalar of `dtype` (f32 unless given). */
export function asTensor(x: TensorOrNumber, dtype: DType = 'f32', op = 'op'): Tensor {
  if (x instanceof Tensor) return x;
  if (typeof x !== 'number') throw new KilnError(`${op}: expected a Tensor or a number, got ${typeof x}`);
  return Tensor.concrete(literal([], dtype, [x]));
}

/** NumPy broadcast of shapes; `names` and `tensors` only serve the error message. */
export function broadcastShapes(op: string, shapes: readonly (readonly number[])[], what: () => string): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (let k = 1; k <= rank; k++) {
    let size = 1;
    for (const s of shapes) {
      const d = s.length - k >= 0 ? s[s.length - k]! : 1;
      if (d === 1) continue;
      if (size !== 1 && d !== size) {
        throw new KilnError(`${op}: shapes do not broadcast: ${what()} (dimension -${k}: ${size} vs ${d})`);
      }
      size = d;
    }
    out[rank - k] = size;
  }
  return out;
}

/** `x` broadcast (NumPy rules, right-aligned) to `shape`; no node when it already has it. */
export function broadcastTo(x: TensorOrNumber, shape: readonly number[]): Tensor {
  const t = asTensor(x, 'f32', 'broadcastTo');
  if (shapesEqual(t.shape, shape)) return t;
  const offset = shape.length - t.rank;
  const bad = offset < 0 || t.shape.some((d, i) => d !== 1 && d !== shape[offset + i]);
  if (bad) throw new KilnError(`broadcastTo: cannot broadcast ${t.describe()} to shape [${shape.join(',')}]`);
  return emit('broadcast_in_dim', [t], { shape: [...shape], dims: t.shape.map((_, i) => offset + i) });
}

/** Resolve a pair of operands: numbers adopt the tensor's dtype, dtypes must agree, shapes broadcast. */
export function binaryOperands(op: string, a: TensorOrNumber, b: TensorOrNumber): [Tensor, Tensor] {
  const dtype = a instanceof Tensor ? a.dtype : b instanceof Tensor ? b.dtype : 'f32';
  const x = asTensor(a, dtype, op), y = asTensor(b, dtype, op);
  const what = () => `${label('a', x)} and ${label('b', y)}`;
  if (x.dtype !== y.dtype) {
    throw new KilnError(`${op}: dtypes differ: ${what()}; cast one with kiln.cast(x, dtype)`);
  }
  const shape = broadcastShapes(op, [x.shape, y.shape], what);
  return [broadcastTo(x, shape), broadcastTo(y, shape)];
}

function binary(irOp: string, name: string) {
  return (a: TensorOrNumber, b: TensorOrNumber): Tensor => emit(irOp, binaryOperands(name, a, b));
}

function unary(irOp: string, name: string) {
  return (x: TensorOrNumber): Tensor => emit(irOp, [asTensor(x, 'f32', name)]);
}

function compare(dir: string, name: string) {
  return (a: TensorOrNumber, b: TensorOrNumber): Tensor => emit('compare', binaryOperands(name, a, b), { dir });
}

export const add = binary('add', 'add');
export const sub = binary('sub', 'sub');
export const mul = binary('mul', 'mul');
/** Division; on integers it truncates toward zero. */
export const div = binary('div', 'div');
export const pow = binary('pow', 'pow');
export const maximum = binary('max', 'maximum');
export const minimum = binary('min', 'minimum');
export const logicalAnd = binary('and', 'logicalAnd');
export const logicalOr = binary('or', 'logicalOr');

export const neg = unary('neg', 'neg');
export const abs = unary('abs', 'abs');
export const sign = unary('sign', 'sign');
export const exp = unary('exp', 'exp');
export const log = unary('log', 'log');
export const log1p = unary('log1p', 'log1p');
export const sqrt = unary('sqrt', 'sqrt');
export const rsqrt = unary('rsqrt', 'rsqrt');
export const tanh = unary('tanh', 'tanh');
export const sigmoid = unary('logistic', 'sigmoid');
export const sin = unary('sin', 'sin');
export const cos = unary('cos', 'cos');
export const floor = unary('floor', 'floor');
export const ceil = unary('ceil', 'ceil');
/** Round half to even, like tf.round. */
export const round = unary('round', 'round');
export const erf = unary('erf', 'erf');
export const logicalNot = unary('not', 'logicalNot');

export const equal = compare('eq', 'equal');
export const notEqual = compare('ne', 'notEqual');
export const less = compare('lt', 'less');
export const lessEqual = compare('le', 'lessEqual');
export const greater = compare('gt', 'greater');
export const greaterEqual = compare('ge', 'greaterEqual');

export function square(x: TensorOrNumber): Tensor {
  const t = asTensor(x, 'f32', 'square');
  return emit('mul', [t, t]);
}

export function reciprocal(x: TensorOrNumber): Tensor {
  const t = asTensor(x, 'f32', 'reciprocal');
  return div(1, t);
}

export function squaredDifference(a: TensorOrNumber, b: TensorOrNumber): Tensor {
  const [x, y] = binaryOperands('squaredDifference', a, b);
  return square(emit('sub', [x, y]));
}

/** `cond ? a : b` elementwise, with all three broadcast together; `cond` must be bool. */
export function where(cond: Tensor, a: TensorOrNumber, b: TensorOrNumber): Tensor {
  if (!(cond instanceof Tensor) || cond.dtype !== 'bool') {
    const got = cond instanceof Tensor ? cond.describe() : typeof cond;
    throw new KilnError(`where: the condition must be a bool tensor, got ${got}; compare first (e.g. kiln.greater(x, 0))`);
  }
  const dtype = a instanceof Tensor ? a.dtype : b instanceof Tensor ? b.dtype : 'f32';
  const x = asTensor(a, dtype, 'where'), y = asTensor(b, dtype, 'where');
  const what = () => `${label('cond', cond)}, ${label('a', x)} and ${label('b', y)}`;
  if (x.dtype !== y.dtype) throw new KilnError(`where: dtypes differ: ${what()}; cast one with kiln.cast(x, dtype)`);
  const shape = broadcastShapes('where', [cond.shape, x.shape, y.shape], what);
  return emit('select', [broadcastTo(cond, shape), broadcastTo(x, shape), broadcastTo(y, shape)]);
}

/** Convert to `dtype` (float -> int truncates toward zero, any nonzero -> true). */
/** Convert to `dtype`, in Kiln's ('i32') or Keras/tfjs's ('int32') spelling. */
export function cast(x: TensorOrNumber, dtypeLike: DTypeLike): Tensor {
  const dtype = parseDType(dtypeLike, 'cast');
  const t = asTensor(x, 'f32', 'cast');
  if (t.dtype === dtype) return t;
  return emit('cast', [t], { dtype });
}

/** Throw unless `x` has a floating-point dtype (for composites that only make sense on floats). */
export function requireFloat(op: string, x: Tensor): void {
  if (!isFloat(x.dtype)) throw new KilnError(`${op}: needs a floating-point tensor (f32, f16, bf16), got ${x.describe()}; cast it first`);
}

export function clipByValue(x: TensorOrNumber, lo: number, hi: number): Tensor {
  const t = asTensor(x, 'f32', 'clipByValue');
  if (lo > hi) throw new KilnError(`clipByValue: lo (${lo}) is greater than hi (${hi}) for ${t.describe()}`);
  return minimum(maximum(t, lo), hi);
}

/** Division rounded toward negative infinity (tf.floorDiv), for floats and integers. */
export function floorDiv(a: TensorOrNumber, b: TensorOrNumber): Tensor {
  const [x, y] = binaryOperands('floorDiv', a, b);
  if (isFloat(x.dtype)) return floor(emit('div', [x, y]));
  // Integer div truncates toward zero: step down by one where the remainder and divisor differ in sign.
  const q = emit('div', [x, y]);
  const r = sub(x, mul(q, y));
  const adjust = logicalAnd(notEqual(r, 0), notEqual(less(r, 0), less(y, 0)));
  return where(adjust, sub(q, 1), q);
}

/** Remainder with the sign of the divisor (tf.mod): a - floorDiv(a, b) * b. */
export function mod(a: TensorOrNumber, b: TensorOrNumber): Tensor {
  const [x, y] = binaryOperands('mod', a, b);
  return sub(x, mul(floorDiv(x, y), y));
}
