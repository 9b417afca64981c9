import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { Builder } from '../builder.js';
import { literal, type Literal } from '../literal.js';
import { parseFunc } from '../parse.js';
import { printFunc } from '../print.js';
import { interpret, literalToTensor } from '../interpreter.js';
import { numel, tensorType } from '../types.js';
import { getOp } from '../registry.js';
import { verify } from '../verify.js';
import { vjpFunc } from '../../passes/autodiff.js';
import './index.js';
import { multiplyByQuantizedMultiplier, roundingDivideByPOT, srdhm } from './quant.js';
import { kilnErrorMessage, randomLiteral, ravel, runOp, unravel } from './testkit.js';

/**
 * The int8 ops against independent oracles: a literal BigInt transcription of gemmlowp's
 * fixedpoint.h (SaturatingRoundingDoublingHighMul, RoundingDivideByPOT) and TFLite's
 * MultiplyByQuantizedMultiplier; tfjs-core for dequantize; a per-element transcription of TFLite's
 * quantize (std::round) for quantize.
 */

const MIN = -2147483648, MAX = 2147483647;

// gemmlowp fixedpoint.h, int32 specialization, transcribed with BigInt.
function gemmlowpSRDHM(a: number, b: number): number {
  const overflow = a === b && a === MIN;
  const ab = BigInt(a) * BigInt(b);
  const nudge = ab >= 0n ? 1n << 30n : 1n - (1n << 30n);
  const abx2High32 = (ab + nudge) / (1n << 31n); // BigInt division truncates toward zero, like C++
  return overflow ? MAX : Number(abx2High32);
}
function gemmlowpRDBP(x: number, exponent: number): number {
  const mask = (1n << BigInt(exponent)) - 1n;
  const X = BigInt(x);
  const remainder = X & mask; // two's complement semantics of BigInt &
  const threshold = (mask >> 1n) + (X < 0n ? 1n : 0n);
  return Number((X >> BigInt(exponent)) + (remainder > threshold ? 1n : 0n));
}
// TFLite reference MultiplyByQuantizedMultiplier(int32 x, int32 m, int shift).
function tfliteMBQM(x: number, m: number, shift: number): number {
  const left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
  return gemmlowpRDBP(gemmlowpSRDHM(Number(BigInt.asIntN(32, BigInt(x) * (1n << BigInt(left)))), m), right);
}

/** Deterministic 32-bit words. */
function words(n: number, seed: number): number[] {
  const out: number[] = [];
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    let t = s ^ (s >>> 13);
    t = Math.imul(t, 0x5bd1e995) ^ (t >>> 15);
    out.push(t | 0);
  }
  return out;
}

const EDGE = [MIN, MIN + 1, -(2 ** 30) - 1, -(2 ** 30), -65537, -65536, -65535, -32769, -3, -2, -1, 0, 1, 2, 3, 32767, 65535, 65536, 2 ** 30 - 1, 2 ** 30, MAX - 1, MAX];

describe('fixed-point arithmetic against gemmlowp (BigInt transcription)', () => {
  it('SaturatingRoundingDoublingHighMul: edge values, INT32_MIN * INT32_MIN, random words', () => {
    const xs = [...EDGE, ...words(200, 7)];
    let checked = 0;
    for (const a of xs) for (const b of [...EDGE, ...words(20, a)]) {
      if (srdhm(a, b) !== gemmlowpSRDHM(a, b)) expect.fail(`srdhm(${a}, ${b}) = ${srdhm(a, b)}, gemmlowp ${gemmlowpSRDHM(a, b)}`);
      checked++;
    }
    expect(srdhm(MIN, MIN)).toBe(MAX);
    expect(checked).toBeGreaterThan(9000);
  });

  it('SRDHM ties: products exactly at +-0.5 units of 2^31 round away from zero', () => {
    // a * b = 2^30 * odd: (ab)/2^31 = odd/2, a tie; positive rounds up, negative rounds down (away).
    for (const [a, b] of [[2 ** 15, 2 ** 15], [3 * 2 ** 15, 2 ** 15], [-(2 ** 15), 2 ** 15], [-3 * 2 ** 15, 2 ** 15], [2 ** 30, 1], [-(2 ** 30), 1], [1, 2 ** 30], [1, -(2 ** 30)]] as const) {
      expect(srdhm(a, b), `${a} * ${b}`).toBe(gemmlowpSRDHM(a, b));
    }
    expect(srdhm(2 ** 30, 1)).toBe(1); // 0.5 -> 1
    // gemmlowp's nudge 1 - 2^30 makes a negative tie round toward zero in SRDHM (-0.5 -> 0); the
    // away-from-zero rounding of negative values happens in RoundingDivideByPOT.
    expect(srdhm(-(2 ** 30), 1)).toBe(0);
    expect(srdhm(-(2 ** 30) - 1, 1)).toBe(-1);
  });

  it('RoundingDivideByPOT: every exponent 0..31, ties of both signs, INT32 extremes', () => {
    for (let e = 0; e <= 31; e++) {
      const p = 2 ** e;
      const xs = [...EDGE, ...words(60, e + 1)];
      if (e >= 1) for (const k of [-5, -1, 0, 1, 4]) {
        const tie = k * p + p / 2;
        if (tie >= MIN && tie <= MAX) xs.push(tie, -tie, tie - 1, tie + 1);
      }
      for (const x of xs) {
        if (x < MIN || x > MAX) continue;
        if (roundingDivideByPOT(x, e) !== gemmlowpRDBP(x, e)) expect.fail(`rdbp(${x}, ${e}) = ${roundingDivideByPOT(x, e)}, gemmlowp ${gemmlowpRDBP(x, e)}`);
      }
    }
    expect(roundingDivideByPOT(6, 2)).toBe(2); // 1.5 -> 2
    expect(roundingDivideByPOT(-6, 2)).toBe(-2); // -1.5 -> -2
    expect(roundingDivideByPOT(-5, 2)).toBe(-1); // -1.25 -> -1
  });

  it('MultiplyByQuantizedMultiplier: Q31 multipliers, shifts -31..0 and small left shifts', () => {
    const ms = [2 ** 30, 2 ** 30 + 1, 1518500250, MAX, ...words(30, 99).map((w) => 2 ** 30 + ((w >>> 0) % 2 ** 30))];
    for (const x of [...EDGE, ...words(80, 5)]) {
      for (const m of ms) {
        for (const s of [0, -1, -2, -7, -15, -16, -30, -31]) {
          if (multiplyByQuantizedMultiplier(x, m, s) !== tfliteMBQM(x, m, s)) expect.fail(`mbqm(${x}, ${m}, ${s})`);
        }
      }
    }
    for (const x of [-1000, -3, 0, 5, 123456]) for (const s of [1, 3]) expect(multiplyByQuantizedMultiplier(x, 2 ** 30 + 12345, s)).toBe(tfliteMBQM(x, 2 ** 30 + 12345, s));
  });
});

function requantRef(x: Literal, m: readonly number[], s: readonly number[], axis: number, zp: number, lo: number, hi: number): number[] {
  const shape = x.type.shape;
  return Array.from(x.data, (v, i) => {
    const c = axis === -1 ? 0 : unravel(i, shape)[axis]!;
    return Math.min(hi, Math.max(lo, tfliteMBQM(v, m[c]!, s[c]!) + zp));
  });
}

describe('requantize', () => {
  it('per tensor: wide accumulators, clamp, zero point', () => {
    const acc = literal([4, 6], 'i32', [...EDGE, 1 << 20, -(1 << 20)]);
    const attrs = { multiplier: [1518500250], shift: [-12], zero_point: -7, min: -128, max: 127 };
    const y = runOp('requantize', [acc], attrs);
    expect(y.type).toEqual(tensorType([4, 6], 'i8'));
    expect(Array.from(y.data)).toEqual(requantRef(acc, [1518500250], [-12], -1, -7, -128, 127));
  });

  it('per channel along the last and a middle axis; ReLU6-style clamps', () => {
    const acc = literal([2, 3, 5], 'i32', words(30, 3).map((w) => w >> 8));
    for (const [axis, n] of [[2, 5], [1, 3]] as const) {
      const m = words(n, axis).map((w) => 2 ** 30 + ((w >>> 0) % 2 ** 30));
      const s = Array.from({ length: n }, (_, i) => -8 - i * 3);
      const y = runOp('requantize', [acc], { multiplier: m, shift: s, axis, zero_point: 3, min: 3, max: 90 });
      expect(Array.from(y.data)).toEqual(requantRef(acc, m, s, axis, 3, 3, 90));
    }
  });

  it('ties round away from zero (2.5 -> 3, -2.5 -> -3 in the output domain)', () => {
    // multiplier 2^30 = 0.5 in Q31, shift -1: x / 4. x = 10 -> 2.5 -> 3; -10 -> -3; 6 -> 1.5 -> 2; -6 -> -2.
    const y = runOp('requantize', [literal([4], 'i32', [10, -10, 6, -6])], { multiplier: [2 ** 30], shift: [-1] });
    expect(Array.from(y.data)).toEqual([3, -3, 2, -2]);
  });
});

/** TFLite's AffineQuantize transcription: std::round(x / scale) + zp, clamped; scale and the quotient in f32. */
function quantizeRef(x: number, scale: number, zp: number): number {
  if (Number.isNaN(x)) return zp;
  const q = Math.fround(Math.fround(x) / Math.fround(scale));
  const r = Math.sign(q) * Math.round(Math.abs(q)); // Math.round rounds .5 up: on |q| that is away from zero
  return Math.min(127, Math.max(-128, r + zp)) + 0;
}

describe('quantize and dequantize', () => {
  it('quantize: ties away from zero, clamps, NaN and infinities, per tensor', () => {
    const xs = [0.25, -0.25, 0.75, -0.75, 0.125, 1e9, -1e9, Infinity, -Infinity, NaN, 0, -0, 31.74, -32.01];
    const y = runOp('quantize', [literal([xs.length], 'f32', xs)], { scale: [0.5], zero_point: [-3] });
    expect(Array.from(y.data)).toEqual(xs.map((x) => quantizeRef(x, 0.5, -3)));
    // 0.25 / 0.5 = 0.5 -> 1, -0.5 -> -1 (not to even)
    expect(y.data[0]).toBe(-2);
    expect(y.data[1]).toBe(-4);
  });

  it('quantize: the quotient is an f32 division (scale 0.1 is f32(0.1))', () => {
    const x = randomLiteral([300], 'f32', 4, -15, 15);
    const y = runOp('quantize', [x], { scale: [0.1], zero_point: [5] });
    expect(Array.from(y.data)).toEqual(Array.from(x.data, (v) => quantizeRef(v, 0.1, 5)));
  });

  it('quantize / dequantize per channel along axis 0 and 3', () => {
    const x = randomLiteral([3, 2, 2, 4], 'f32', 9, -3, 3);
    for (const axis of [0, 3]) {
      const n = x.type.shape[axis]!;
      const scale = Array.from({ length: n }, (_, i) => Math.fround(0.01 + 0.007 * i));
      const zp = Array.from({ length: n }, (_, i) => i * 11 - 20);
      const q = runOp('quantize', [x], { scale, zero_point: zp, axis });
      const want = Array.from(x.data, (v, i) => { const c = unravel(i, x.type.shape)[axis]!; return quantizeRef(v, scale[c]!, zp[c]!); });
      expect(Array.from(q.data)).toEqual(want);
      const d = runOp('dequantize', [q], { scale, zero_point: zp, axis });
      // Oracle: tfjs-core (q - zp) * scale in float32, broadcasting the per-channel vectors.
      const bshape = x.type.shape.map((s, i) => (i === axis ? s : 1));
      const ref = tf.mul(tf.cast(tf.sub(literalToTensor(q), tf.tensor(zp, bshape, 'int32')), 'float32'), tf.tensor(scale, bshape, 'float32'));
      expect(Array.from(d.data)).toEqual(Array.from(ref.dataSync()));
    }
  });

  it('dequantize covers every int8 value exactly', () => {
    const q = literal([256], 'i8', Array.from({ length: 256 }, (_, i) => i - 128));
    const d = runOp('dequantize', [q], { scale: [0.0123], zero_point: [17] });
    const ref = tf.mul(tf.cast(tf.sub(tf.tensor(Array.from(q.data), [256], 'int32'), 17), 'float32'), Math.fround(0.0123));
    expect(Array.from(d.data)).toEqual(Array.from(ref.dataSync()));
  });
});

describe('int8 structured ops interpret exactly', () => {
  it('reduce_window max on i8 (padding never wins, even at -128)', () => {
    const x = randomLiteral([1, 5, 7, 3], 'i8', 5, -128, 128);
    x.data[0] = -128;
    const attrs = { op: 'max', window: [1, 3, 3, 1], strides: [1, 2, 2, 1], pad_lo: [0, 1, 1, 0], pad_hi: [0, 1, 1, 0] };
    const y = runOp('reduce_window', [x], attrs);
    expect(y.type.dtype).toBe('i8');
    const shape = y.type.shape;
    const want = Array.from({ length: numel(shape) }, (_, f) => {
      const o = unravel(f, shape);
      let m = -Infinity;
      for (let u = 0; u < 3; u++) for (let v = 0; v < 3; v++) {
        const h = o[1]! * 2 + u - 1, w = o[2]! * 2 + v - 1;
        if (h >= 0 && h < 5 && w >= 0 && w < 7) m = Math.max(m, x.data[ravel([o[0]!, h, w, o[3]!], x.type.shape)]!);
      }
      return m;
    });
    expect(Array.from(y.data)).toEqual(want);
  });

  it('pad on i8 with value = a zero point (-128, 127, -5)', () => {
    const x = randomLiteral([1, 2, 3, 2], 'i8', 6, -128, 128);
    for (const value of [-128, 127, -5]) {
      const y = runOp('pad', [x], { low: [0, 1, 2, 0], high: [0, 2, 1, 0], interior: [0, 0, 0, 0], value });
      const shape = y.type.shape;
      const want = Array.from({ length: numel(shape) }, (_, f) => {
        const [n, h, w, c] = unravel(f, shape) as [number, number, number, number];
        const hh = h - 1, ww = w - 2;
        return hh >= 0 && hh < 2 && ww >= 0 && ww < 3 ? x.data[ravel([n, hh, ww, c], x.type.shape)]! : value;
      });
      expect(Array.from(y.data)).toEqual(want);
    }
  });

  it('quantized dense: i8 dot (dtype i32) + i32 bias + requantize equals the integer reference', () => {
    const f = parseFunc(`func @dense(%x: i8[3,5], %w: i8[5,4], %b: i32[4]) -> (y: i8[3,4]) {
  %0 = dot_general(%x, %w) {lhs_batch = [], rhs_batch = [], lhs_contract = [1], rhs_contract = [0], dtype = i32} : i32[3,4]
  %1 = broadcast_in_dim(%b) {shape = [3, 4], dims = [1]} : i32[3,4]
  %2 = add(%0, %1) : i32[3,4]
  %3 = requantize(%2) {multiplier = [1100000000, 1300000000, 1500000000, 2000000000], shift = [-7, -8, -9, -10], axis = 1, zero_point = -4, min = -4, max = 127} : i8[3,4]
  return %3
}`);
    const x = randomLiteral([3, 5], 'i8', 1, -128, 128), w = randomLiteral([5, 4], 'i8', 2, -127, 128), b = randomLiteral([4], 'i32', 3, -5000, 5000);
    const y = interpret(f, [x, w, b])[0]!;
    const m = [1100000000, 1300000000, 1500000000, 2000000000], s = [-7, -8, -9, -10];
    const want: number[] = [];
    for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) {
      let acc = b.data[j]!;
      for (let k = 0; k < 5; k++) acc += x.data[i * 5 + k]! * w.data[k * 4 + j]!;
      want.push(Math.min(127, Math.max(-4, tfliteMBQM(acc, m[j]!, s[j]!) - 4)));
    }
    expect(Array.from(y.data)).toEqual(want);
  });
});

describe('text, verification and gradients', () => {
  const text = `func @q(%x: f32[2,3]) -> (y: f32[2,3], r: i8[2,3]) {
  %0 = quantize(%x) {scale = [0.10000000149011612, 0.25, 3e-7], zero_point = [-3, 0, 127], axis = 1} : i8[2,3]
  %1 = dequantize(%0) {scale = [0.10000000149011612, 0.25, 3e-7], zero_point = [-3, 0, 127], axis = 1} : f32[2,3]
  %2 = cast(%0) {dtype = i32} : i32[2,3]
  %3 = requantize(%2) {multiplier = [1073741824], shift = [-1], zero_point = 5, min = 5, max = 120} : i8[2,3]
  return %1, %3
}`;

  it('prints and parses back to the same function; float lists keep every digit', () => {
    const f = parseFunc(text);
    verify(f);
    expect(printFunc(parseFunc(printFunc(f)))).toBe(printFunc(f));
    expect(printFunc(f)).toContain('scale=[0.10000000149011612, 0.25, 3e-7]');
    // defaults are omitted: per tensor axis -1
    expect(printFunc(f)).toContain('requantize(%2) {multiplier=[1073741824], shift=[-1], zero_point=5, min=5, max=120}');
    expect(() => parseFunc(text.replace('zero_point = [-3, 0, 127]', 'zero_point = [-3, 0.5, 127]'))).toThrow(/attribute 'zero_point' must be ints/);
  });

  it('refuses bad attributes and operand types naming the op, attribute, expected and received values', () => {
    const x = tensorType([2, 3], 'f32');
    const mk = (op: string, t = x, attrs: Record<string, number | number[]>) => () => {
      const b = new Builder('f');
      b.op(op, [b.param(t)], attrs);
    };
    expect(kilnErrorMessage(mk('quantize', tensorType([2, 3], 'i32'), { scale: [1], zero_point: [0] }))).toBe('quantize(i32[2,3]): needs an f32 operand, got i32; cast first');
    expect(kilnErrorMessage(mk('dequantize', x, { scale: [1], zero_point: [0] }))).toBe('dequantize(f32[2,3]): needs an i8 operand, got f32');
    expect(kilnErrorMessage(mk('quantize', x, { scale: [1, 2], zero_point: [0, 0] }))).toBe("quantize(f32[2,3]): attribute 'scale' has 2 entries but needs 1 (per tensor, axis = -1)");
    expect(kilnErrorMessage(mk('quantize', x, { scale: [1, 2], zero_point: [0, 0], axis: 1 }))).toBe("quantize(f32[2,3]): attribute 'scale' has 2 entries but needs 3 (one per index of dim 1, axis = 1)");
    expect(kilnErrorMessage(mk('quantize', x, { scale: [1], zero_point: [0], axis: 2 }))).toBe("quantize(f32[2,3]): attribute 'axis' = 2 must be -1 (per tensor) or a dim in [0, 2)");
    expect(kilnErrorMessage(mk('quantize', x, { scale: [0], zero_point: [0] }))).toBe("quantize(f32[2,3]): attribute 'scale' entry 0 is 0 but must be a positive finite f32");
    expect(kilnErrorMessage(mk('quantize', x, { scale: [1e-50], zero_point: [0] }))).toMatch(/entry 0 is 1e-50 but must be a positive finite f32/);
    expect(kilnErrorMessage(mk('quantize', x, { scale: [1], zero_point: [128] }))).toBe("quantize(f32[2,3]): attribute 'zero_point' entry 0 is 128 but must be an int8 in [-128, 127]");
    const acc = tensorType([2, 3], 'i32');
    expect(kilnErrorMessage(mk('requantize', x, { multiplier: [2 ** 30], shift: [0] }))).toBe('requantize(f32[2,3]): needs an i32 accumulator operand, got f32');
    expect(kilnErrorMessage(mk('requantize', acc, { multiplier: [2 ** 29], shift: [0] }))).toBe("requantize(i32[2,3]): attribute 'multiplier' entry 0 is 536870912 but must be a Q31 multiplier in [2^30, 2^31) = [1073741824, 2147483647]");
    expect(kilnErrorMessage(mk('requantize', acc, { multiplier: [2 ** 30], shift: [-32] }))).toBe("requantize(i32[2,3]): attribute 'shift' entry 0 is -32 but must be in [-31, 30] (positive = left shift)");
    expect(kilnErrorMessage(mk('requantize', acc, { multiplier: [2 ** 30], shift: [0], min: 10, max: 9 }))).toBe("requantize(i32[2,3]): attribute 'min' = 10 is greater than 'max' = 9");
    expect(kilnErrorMessage(mk('requantize', acc, { multiplier: [2 ** 30, 2 ** 30], shift: [0, 0], axis: 1 }))).toBe("requantize(i32[2,3]): attribute 'multiplier' has 2 entries but needs 3 (one per index of dim 1, axis = 1)");
  });

  it('has no gradient: the VJP rules refuse (autodiff itself stops at the i8 boundary, like a cast)', () => {
    const f = parseFunc(`func @g(%x: f32[3]) -> (y: f32[]) {
  %0 = quantize(%x) {scale = [0.1], zero_point = [0]} : i8[3]
  %1 = dequantize(%0) {scale = [0.1], zero_point = [0]} : f32[3]
  %2 = reduce(%1) {op = sum, axes = [0]} : f32[]
  return %2
}`);
    const g = vjpFunc(f); // no parameter reaches the result through float values: zero gradient
    expect(g.results.length).toBe(2);
    const b = new Builder('ct');
    for (const node of f.body.slice(0, 2)) {
      expect(kilnErrorMessage(() => getOp(node.op).vjp!(b, node, b.param(node.type)))).toMatch(new RegExp(`^${node.op} has no gradient: int8 ops are for inference`));
    }
  });
});
