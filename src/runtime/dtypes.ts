/**
 * Element types at the runtime boundary: how many bytes each dtype takes in
 * linear memory, which TypedArray carries it in and out of `run`, and the
 * f16/bf16 <-> f32 conversions (those two travel as Float32Array because JS
 * has no 16-bit float array everywhere yet).
 */
import { KilnRuntimeError } from './errors.js';

export type DType = 'f32' | 'f16' | 'bf16' | 'i32' | 'i8' | 'u8' | 'bool';

/** The arrays `run` accepts and returns. */
export type TensorData = Float32Array | Int32Array | Int8Array | Uint8Array;

type ArrayCtor = Float32ArrayConstructor | Int32ArrayConstructor | Int8ArrayConstructor | Uint8ArrayConstructor;

const BYTES: Record<DType, number> = { f32: 4, f16: 2, bf16: 2, i32: 4, i8: 1, u8: 1, bool: 1 };
const HOST_ARRAY: Record<DType, ArrayCtor> = {
  f32: Float32Array,
  f16: Float32Array,
  bf16: Float32Array,
  i32: Int32Array,
  i8: Int8Array,
  u8: Uint8Array,
  bool: Uint8Array,
};

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(BYTES, s);
}

export function dtypeBytes(dt: DType): number {
  return BYTES[dt];
}

export function hostArrayOf(dt: DType): ArrayCtor {
  return HOST_ARRAY[dt];
}

export function hostArrayName(dt: DType): string {
  return HOST_ARRAY[dt].name;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE binary16 bits of `x`, rounded to nearest even (overflow -> inf, NaN kept). */
export function f32ToF16Bits(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the mantissa with its implicit 1 into place.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && (r & 1))) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // Carry out of the mantissa correctly bumps the exponent (and can reach inf).
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1))) r++;
  return sign | r;
}

export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** bfloat16 bits of `x`: the high half of the f32, rounded to nearest even. */
export function f32ToBf16Bits(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0]!;
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16BitsToF32(h: number): number {
  u32Scratch[0] = (h & 0xffff) << 16;
  return f32Scratch[0]!;
}

/**
 * Writes `data` (already checked to be the right host array and length) as
 * `dtype` into `mem` at byte `offset`.
 */
export function writeTensor(mem: ArrayBuffer | SharedArrayBuffer, offset: number, dtype: DType, data: TensorData): void {
  if (dtype === 'f16' || dtype === 'bf16') {
    const dst = new Uint16Array(mem, offset, data.length);
    const conv = dtype === 'f16' ? f32ToF16Bits : f32ToBf16Bits;
    for (let i = 0; i < data.length; i++) dst[i] = conv(data[i]!);
    return;
  }
  const Ctor = HOST_ARRAY[dtype];
  // The constructors accept SharedArrayBuffer too; TS's union typing does not say so.
  new Ctor(mem as ArrayBuffer, offset, data.length).set(data as never);
}

/** Copies `count` elements of `dtype` at `offset` out of `mem` into a fresh host array. */
export function readTensor(mem: ArrayBuffer | SharedArrayBuffer, offset: number, dtype: DType, count: number): TensorData {
  if (dtype === 'f16' || dtype === 'bf16') {
    const src = new Uint16Array(mem, offset, count);
    const out = new Float32Array(count);
    const conv = dtype === 'f16' ? f16BitsToF32 : bf16BitsToF32;
    for (let i = 0; i < count; i++) out[i] = conv(src[i]!);
    return out;
  }
  const Ctor = HOST_ARRAY[dtype];
  return new Ctor(new Ctor(mem as ArrayBuffer, offset, count));
}

export function checkDType(s: unknown, where: string): DType {
  if (!isDType(s)) {
    throw new KilnRuntimeError(`${where}: unknown dtype ${JSON.stringify(s)} (expected one of ${Object.keys(BYTES).join(', ')})`);
  }
  return s;
}
