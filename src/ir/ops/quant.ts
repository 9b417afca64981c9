import * as tf from '@tensorflow/tfjs-core';
import type { Attrs } from '../function.js';
import { attr, type OpDef, type VjpRule } from '../registry.js';
import { KilnError, numel, opError, tensorType, type TensorType } from '../types.js';
import { zerosOf } from './common.js';

/**
 * Int8 quantization ops (TFLite's scheme; docs/quantization.md and the shared spec):
 * - `quantize(x: f32) -> i8`: q = clamp(roundHalfAwayFromZero(f32(x / f32(scale))) + zp, -128, 127);
 *   NaN maps to zp. `scale`/`zero_point` have one entry (per tensor, `axis` = -1) or one per
 *   index of dim `axis` (per channel).
 * - `dequantize(q: i8) -> f32`: x = f32((q - zp) * f32(scale)), one f32 multiply of the exact integer q - zp.
 * - `requantize(acc: i32) -> i8`: out = clamp(MultiplyByQuantizedMultiplier(acc, multiplier, shift)
 *   + zero_point, min, max), gemmlowp / TFLite reference arithmetic, bit for bit. `multiplier` is
 *   Q31 in [2^30, 2^31), `shift` positive = left; per tensor or per channel along `axis`.
 *
 * Integer products are `dot_general` / `conv` with i8 operands and `dtype: 'i32'` (ops/dot.ts,
 * ops/conv.ts). The kernels here compute in doubles that stay exact (every intermediate below 2^53),
 * not BigInt: the interpreter runs whole quantized models during calibration checks and tests.
 */

export const INT32_MIN = -2147483648;
export const INT32_MAX = 2147483647;
const TWO31 = 2147483648;

/** C's std::round on a double: half away from zero. */
export function roundHalfAway(y: number): number {
  return y < 0 ? -Math.floor(-y + 0.5) : Math.floor(y + 0.5);
}

/** quantize's scalar rule (x an f32 value, scale any positive number, used as f32). */
export function quantizeScalar(x: number, scale: number, zp: number): number {
  if (Number.isNaN(x)) return zp;
  const q = roundHalfAway(Math.fround(x / Math.fround(scale))) + zp;
  return q < -128 ? -128 : q > 127 ? 127 : q;
}

/** dequantize's scalar rule. */
export function dequantizeScalar(q: number, scale: number, zp: number): number {
  return Math.fround((q - zp) * Math.fround(scale));
}

/**
 * gemmlowp's SaturatingRoundingDoublingHighMul for int32 a, b: (a*b + nudge) / 2^31 truncated
 * toward zero, nudge = 2^30 when a*b >= 0 else 1 - 2^30; INT32_MIN * INT32_MIN saturates to
 * INT32_MAX. The 62-bit product is split (b = bh*2^16 + bl) so every step is exact in a double.
 */
export function srdhm(a: number, b: number): number {
  if (a === INT32_MIN && b === INT32_MIN) return INT32_MAX;
  const bl = b & 0xffff; // b = bh * 2^16 + bl, bl in [0, 2^16)
  const bh = (b - bl) / 65536;
  const P = a * bh; // |P| < 2^46
  const nonneg = (a >= 0) === (b >= 0) || a === 0 || b === 0;
  const Q = a * bl + (nonneg ? 1073741824 : 1 - 1073741824); // |Q| < 2^48
  // N = ab + nudge = P * 2^16 + Q = p1 * 2^31 + R, with P = p1 * 2^15 + p0.
  const p1 = Math.floor(P / 32768);
  const R = (P - p1 * 32768) * 65536 + Q;
  const fr = Math.floor(R / TWO31);
  const floor = p1 + fr;
  const rem = R - fr * TWO31;
  // Truncate toward zero: a negative quotient with a remainder rounds up.
  return floor < 0 && rem !== 0 ? floor + 1 : floor;
}

/** gemmlowp's RoundingDivideByPOT: x / 2^e rounded half away from zero (0 <= e <= 31). */
export function roundingDivideByPOT(x: number, e: number): number {
  if (e === 0) return x;
  const p = 2 ** e;
  const floor = Math.floor(x / p);
  const remainder = x - floor * p; // x & mask
  const threshold = p / 2 - 1 + (x < 0 ? 1 : 0); // (mask >> 1) + (x < 0), mask = p - 1
  return floor + (remainder > threshold ? 1 : 0);
}

/**
 * TFLite's MultiplyByQuantizedMultiplier(x, m, s): the left shift (s > 0) wraps like an int32
 * multiply (the quantize pass never emits one that overflows), then SRDHM, then the rounding right shift.
 */
export function multiplyByQuantizedMultiplier(x: number, m: number, s: number): number {
  const left = s > 0 ? s : 0;
  const right = s > 0 ? 0 : -s;
  const shifted = left > 0 ? Math.imul(x, 2 ** left) : x;
  return roundingDivideByPOT(srdhm(shifted, m), right);
}

/** requantize's scalar rule. */
export function requantizeScalar(acc: number, m: number, s: number, zp: number, min: number, max: number): number {
  const y = multiplyByQuantizedMultiplier(acc, m, s) + zp;
  return y < min ? min : y > max ? max : y;
}

/** The parameters of quantize / dequantize, checked. */
export interface QuantParams {
  readonly scale: readonly number[];
  readonly zeroPoint: readonly number[];
  /** -1: per tensor. */
  readonly axis: number;
}

export function quantParams(attrs: Attrs): QuantParams {
  return { scale: attr.floats(attrs, 'scale'), zeroPoint: attr.ints(attrs, 'zero_point'), axis: attr.int(attrs, 'axis') };
}

/** Check that a per-tensor / per-channel list has the right length for `axis` of `x`. */
function checkChannels(op: string, ins: readonly TensorType[], x: TensorType, axis: number, lists: readonly (readonly [string, readonly number[]])[]): void {
  const rank = x.shape.length;
  if (axis !== -1 && (axis < 0 || axis >= rank)) opError(op, ins, `attribute 'axis' = ${axis} must be -1 (per tensor) or a dim in [0, ${rank})`);
  const want = axis === -1 ? 1 : x.shape[axis]!;
  for (const [name, list] of lists) {
    if (list.length !== want) {
      opError(op, ins, axis === -1
        ? `attribute '${name}' has ${list.length} entries but needs 1 (per tensor, axis = -1)`
        : `attribute '${name}' has ${list.length} entries but needs ${want} (one per index of dim ${axis}, axis = ${axis})`);
    }
  }
}

function checkInt8(op: string, ins: readonly TensorType[], name: string, list: readonly number[]): void {
  list.forEach((v, i) => {
    if (v < -128 || v > 127) opError(op, ins, `attribute '${name}' entry ${i} is ${v} but must be an int8 in [-128, 127]`);
  });
}

function inferQuantDequant(op: 'quantize' | 'dequantize') {
  return (ins: readonly TensorType[], attrs: Attrs): TensorType => {
    const x = ins[0]!;
    const from = op === 'quantize' ? 'f32' : 'i8';
    if (x.dtype !== from) opError(op, ins, `needs an ${from} operand, got ${x.dtype}${op === 'quantize' ? '; cast first' : ''}`);
    const p = quantParams(attrs);
    checkChannels(op, ins, x, p.axis, [['scale', p.scale], ['zero_point', p.zeroPoint]]);
    p.scale.forEach((s, i) => {
      if (!(s > 0) || !Number.isFinite(s) || !(Math.fround(s) > 0) || !Number.isFinite(Math.fround(s))) {
        opError(op, ins, `attribute 'scale' entry ${i} is ${s} but must be a positive finite f32`);
      }
    });
    checkInt8(op, ins, 'zero_point', p.zeroPoint);
    return tensorType(x.shape, op === 'quantize' ? 'i8' : 'f32');
  };
}

function inferRequantize(ins: readonly TensorType[], attrs: Attrs): TensorType {
  const op = 'requantize';
  const x = ins[0]!;
  if (x.dtype !== 'i32') opError(op, ins, `needs an i32 accumulator operand, got ${x.dtype}`);
  const m = attr.ints(attrs, 'multiplier'), s = attr.ints(attrs, 'shift'), axis = attr.int(attrs, 'axis');
  checkChannels(op, ins, x, axis, [['multiplier', m], ['shift', s]]);
  m.forEach((v, i) => {
    if (v < 2 ** 30 || v >= TWO31) opError(op, ins, `attribute 'multiplier' entry ${i} is ${v} but must be a Q31 multiplier in [2^30, 2^31) = [1073741824, 2147483647]`);
  });
  s.forEach((v, i) => {
    if (v < -31 || v > 30) opError(op, ins, `attribute 'shift' entry ${i} is ${v} but must be in [-31, 30] (positive = left shift)`);
  });
  const zp = attr.int(attrs, 'zero_point'), lo = attr.int(attrs, 'min'), hi = attr.int(attrs, 'max');
  checkInt8(op, ins, 'zero_point', [zp]);
  checkInt8(op, ins, 'min', [lo]);
  checkInt8(op, ins, 'max', [hi]);
  if (lo > hi) opError(op, ins, `attribute 'min' = ${lo} is greater than 'max' = ${hi}`);
  return tensorType(x.shape, 'i8');
}

/** Index along `axis` of each element of a row-major tensor, as a function of the flat index. */
function channelOf(shape: readonly number[], axis: number): (i: number) => number {
  if (axis === -1) return () => 0;
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const dim = shape[axis]!;
  return (i) => Math.floor(i / inner) % dim;
}

function elementwise(x: tf.Tensor, out: TensorType, axis: number, f: (v: number, c: number) => number): tf.Tensor {
  if (numel(out.shape) === 0) return zerosOf(out);
  const data = x.dataSync();
  const ch = channelOf(out.shape, axis);
  const res = out.dtype === 'f32' ? new Float32Array(data.length) : new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) res[i] = f(data[i] as number, ch(i));
  return tf.tensor(res, [...out.shape], out.dtype === 'f32' ? 'float32' : 'int32');
}

/** Post-training quantization ops have no gradient; quantization-aware training uses fake-quant in f32. */
function refuseVjp(op: string): VjpRule {
  return () => {
    throw new KilnError(`${op} has no gradient: int8 ops are for inference (post-training quantization runs after autodiff); differentiate the f32 model before quantizing`);
  };
}

const quantAttrs = {
  scale: { kind: 'floats' }, zero_point: { kind: 'ints' }, axis: { kind: 'int', default: -1 },
} as const;

export const quantOps: OpDef[] = [
  {
    name: 'quantize', kind: 'elementwise', arity: 1, attrs: quantAttrs,
    infer: inferQuantDequant('quantize'),
    interpret([x], attrs, out) {
      const p = quantParams(attrs);
      return elementwise(x!, out, p.axis, (v, c) => quantizeScalar(v, p.scale[c]!, p.zeroPoint[c]!));
    },
    vjp: refuseVjp('quantize'),
  },
  {
    name: 'dequantize', kind: 'elementwise', arity: 1, attrs: quantAttrs,
    infer: inferQuantDequant('dequantize'),
    interpret([x], attrs, out) {
      const p = quantParams(attrs);
      return elementwise(x!, out, p.axis, (v, c) => dequantizeScalar(v, p.scale[c]!, p.zeroPoint[c]!));
    },
    vjp: refuseVjp('dequantize'),
  },
  {
    name: 'requantize', kind: 'elementwise', arity: 1,
    attrs: {
      multiplier: { kind: 'ints' }, shift: { kind: 'ints' }, axis: { kind: 'int', default: -1 },
      zero_point: { kind: 'int', default: 0 }, min: { kind: 'int', default: -128 }, max: { kind: 'int', default: 127 },
    },
    infer: inferRequantize,
    interpret([x], attrs, out) {
      const m = attr.ints(attrs, 'multiplier'), s = attr.ints(attrs, 'shift');
      const zp = attr.int(attrs, 'zero_point'), lo = attr.int(attrs, 'min'), hi = attr.int(attrs, 'max');
      return elementwise(x!, out, attr.int(attrs, 'axis'), (v, c) => requantizeScalar(v, m[c]!, s[c]!, zp, lo, hi));
    },
    vjp: refuseVjp('requantize'),
  },
];
