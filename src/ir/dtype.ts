import { KilnError } from './types.js';
/** Element types of the IR. Floats narrower than f32 are stored widened in host memory. */
export type DType = 'f32' | 'f16' | 'bf16' | 'i32' | 'i8' | 'u8' | 'bool';

/** A dtype as users may write it: Kiln's short name or the Keras / TensorFlow.js name. */
export type DTypeLike = DType | 'float32' | 'float16' | 'bfloat16' | 'int32' | 'int8' | 'uint8';

export const DTYPES: readonly DType[] = ['f32', 'f16', 'bf16', 'i32', 'i8', 'u8', 'bool'];

export function isDType(s: string): s is DType {
  return (DTYPES as readonly string[]).includes(s);
}
/** Keras / TensorFlow.js spellings of each dtype (what model.json and tfjs users write). */
const KERAS_NAMES: Readonly<Record<DType, string>> = {
  f32: 'float32', f16: 'float16', bf16: 'bfloat16', i32: 'int32', i8: 'int8', u8: 'uint8', bool: 'bool',
};
const FROM_KERAS = new Map<string, DType>(Object.entries(KERAS_NAMES).map(([k, v]) => [v, k as DType]));

/** The Keras / TensorFlow.js name of a dtype: f32 -> 'float32'. */
export function kerasDTypeName(d: DType): string {
  return KERAS_NAMES[d];
}

/**
 * A dtype as users write it: Kiln's short names ('f32') or Keras/TensorFlow.js names
 * ('float32', 'int32', 'bool', ...). Anything else is refused naming `where` and the value.
 */
export function parseDType(name: unknown, where: string): DType {
  if (typeof name === 'string') {
    if (isDType(name)) return name;
    const d = FROM_KERAS.get(name);
    if (d) return d;
  }
  const known = DTYPES.map((d) => `'${d}'/'${KERAS_NAMES[d]}'`).join(', ');
  throw new KilnError(`${where}: unknown dtype ${JSON.stringify(name)} (expected one of ${known})`);
}

export function isFloat(d: DType): boolean {
  return d === 'f32' || d === 'f16' || d === 'bf16';
}
export function isInt(d: DType): boolean {
  return d === 'i32' || d === 'i8' || d === 'u8';
}
/** Bytes per element in a packed buffer (artifacts, device memory). */
export function byteSize(d: DType): number {
  switch (d) {
    case 'f32': case 'i32': return 4;
    case 'f16': case 'bf16': return 2;
    case 'i8': case 'u8': case 'bool': return 1;
  }
}

/** Host-side storage for a dtype: f16/bf16 widen to f32, i8/u8 keep their width. */
export type HostArray = Float32Array | Int32Array | Int8Array | Uint8Array;

export function hostArray(d: DType, n: number): HostArray {
  switch (d) {
    case 'f32': case 'f16': case 'bf16': return new Float32Array(n);
    case 'i32': return new Int32Array(n);
    case 'i8': return new Int8Array(n);
    case 'u8': case 'bool': return new Uint8Array(n);
  }
}

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** Round an f32 value to the nearest bf16 (round to nearest even), returned as f32. */
export function roundBf16(x: number): number {
  f32buf[0] = x;
  const u = u32buf[0]!;
  if ((u & 0x7f800000) === 0x7f800000) return x; // inf / nan
  const rounded = (u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000;
  u32buf[0] = rounded >>> 0;
  return f32buf[0]!;
}

/** Round an f32 value to the nearest IEEE half (round to nearest even), returned as f32. */
export function roundF16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  if (a >= 65520) return x > 0 ? Infinity : -Infinity;
  // Spacing of representable halves around a: 2^(e-10), subnormal floor 2^-24.
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  const ulp = Math.pow(2, e - 10);
  const q = a / ulp;
  let r = Math.round(q);
  if (Math.abs(q - Math.trunc(q) - 0.5) < 1e-12 && r % 2 === 1) r -= 1; // ties to even
  return Math.sign(x) * r * ulp;
}

/** Convert a number to the value a dtype can hold (wrapping integers like a C cast). */
export function castScalar(x: number, d: DType): number {
  switch (d) {
    case 'f32': return Math.fround(x);
    case 'f16': return roundF16(Math.fround(x));
    case 'bf16': return roundBf16(x);
    case 'i32': return Number.isFinite(x) ? Math.trunc(x) | 0 : 0;
    case 'i8': return (Number.isFinite(x) ? Math.trunc(x) : 0) << 24 >> 24;
    case 'u8': return (Number.isFinite(x) ? Math.trunc(x) : 0) & 0xff;
    case 'bool': return x !== 0 ? 1 : 0;
  }
}
