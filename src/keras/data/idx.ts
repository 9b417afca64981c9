/**
 * IDX files (the MNIST / Fashion-MNIST format, gzip'd or not): a big-endian header of two zero
 * bytes, a type byte (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64), the number of
 * dimensions, one u32 per dimension; then the values, big-endian. `idx({xs, ys})` pairs an
 * images file with a labels file; `readIdx` decodes one file.
 */
import type { DType, HostArray } from '../../ir/dtype.js';
import { KilnError } from '../../ir/types.js';
import type { Tensor } from '../backend.js';
import { fromArrays } from './arrays.js';
import { maybeGunzip, readBytes, type ByteSource } from './bytes.js';
import type { Dataset } from './dataset.js';
import { viewTensor, type Element } from './element.js';

export interface IdxArray { shape: number[]; dtype: DType; data: HostArray }

const TYPES: Record<number, { name: string; bytes: number; dtype: DType }> = {
  0x08: { name: 'u8', bytes: 1, dtype: 'u8' }, 0x09: { name: 'i8', bytes: 1, dtype: 'i8' },
  0x0b: { name: 'i16', bytes: 2, dtype: 'i32' }, 0x0c: { name: 'i32', bytes: 4, dtype: 'i32' },
  0x0d: { name: 'f32', bytes: 4, dtype: 'f32' }, 0x0e: { name: 'f64', bytes: 8, dtype: 'f32' },
};

/** Decode IDX bytes (already gunzipped): u8/i8 stay bytes (u8/i8), i16/i32 become i32, f32/f64 f32. */
export function decodeIdx(bytes: Uint8Array, where = 'IDX data'): IdxArray {
  if (bytes.length < 4) throw new KilnError(`${where}: ${bytes.length} bytes is too short for an IDX header (4 bytes at least)`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] !== 0 || bytes[1] !== 0) throw new KilnError(`${where}: not an IDX file: the first two bytes are ${bytes[0]}, ${bytes[1]}, expected 0, 0`);
  const t = TYPES[bytes[2]!];
  if (!t) throw new KilnError(`${where}: unknown IDX type byte 0x${bytes[2]!.toString(16)}, expected one of ${Object.keys(TYPES).map((k) => `0x${Number(k).toString(16)}`).join(', ')}`);
  const rank = bytes[3]!;
  const head = 4 + 4 * rank;
  if (bytes.length < head) throw new KilnError(`${where}: the header of ${rank} dimensions needs ${head} bytes, the data has ${bytes.length}`);
  const shape = Array.from({ length: rank }, (_, i) => v.getUint32(4 + 4 * i));
  const n = shape.reduce((a, b) => a * b, 1);
  const want = head + n * t.bytes;
  if (bytes.length !== want) throw new KilnError(`${where}: shape [${shape.join(',')}] of ${t.name} needs ${want} bytes, the data has ${bytes.length}`);
  let data: HostArray;
  if (t.dtype === 'u8') data = bytes.slice(head);
  else if (t.dtype === 'i8') data = new Int8Array(bytes.slice(head).buffer);
  else {
    data = t.dtype === 'i32' ? new Int32Array(n) : new Float32Array(n);
    const get = t.bytes === 2 ? (o: number) => v.getInt16(o) : t.name === 'i32' ? (o: number) => v.getInt32(o) : t.bytes === 4 ? (o: number) => v.getFloat32(o) : (o: number) => v.getFloat64(o);
    for (let i = 0; i < n; i++) data[i] = get(head + i * t.bytes);
  }
  return { shape, dtype: t.dtype, data };
}

/** Read one IDX file (path, URL or bytes; gzip'd or not). */
export async function readIdx(source: ByteSource): Promise<IdxArray> {
  const where = typeof source === 'string' ? source : 'IDX data';
  return decodeIdx(await maybeGunzip(await readBytes('data.idx', source)), where);
}

export interface IdxOptions {
  /** Divide u8 images by 255 into f32 (default false: u8 as stored). */
  normalize?: boolean;
  /** Add a trailing channel axis to 3-D images ([n, 28, 28] -> [n, 28, 28, 1]). Default false. */
  channelsLast?: boolean;
}

/**
 * A dataset of IDX arrays sliced along their first axis: one file, or several keyed
 * (`{xs: 'train-images-idx3-ubyte.gz', ys: 'train-labels-idx1-ubyte.gz'}`). Labels (u8) become
 * i32 so sparse losses take them directly.
 */
export async function idx(source: ByteSource | Readonly<Record<string, ByteSource>>, options: IdxOptions = {}): Promise<Dataset<Element>> {
  const bad = Object.keys(options).find((k) => k !== 'normalize' && k !== 'channelsLast');
  if (bad) throw new KilnError(`data.idx: unknown option '${bad}' (valid: normalize, channelsLast)`);
  const tensor = (a: IdxArray): Tensor => {
    let shape = a.shape;
    let dtype = a.dtype;
    let data = a.data;
    if (shape.length === 1 && dtype === 'u8') { data = Int32Array.from(data); dtype = 'i32'; }
    if (shape.length >= 3 && options.normalize && dtype === 'u8') {
      const f = new Float32Array(data.length);
      for (let i = 0; i < f.length; i++) f[i] = data[i]! / 255;
      data = f;
      dtype = 'f32';
    }
    if (shape.length === 3 && options.channelsLast) shape = [...shape, 1];
    return viewTensor(shape, dtype, data);
  };
  if (typeof source === 'string' || source instanceof Uint8Array || source instanceof ArrayBuffer) return fromArrays(tensor(await readIdx(source)));
  const entries = await Promise.all(Object.entries(source).map(async ([k, s]) => [k, tensor(await readIdx(s as ByteSource))] as const));
  return fromArrays(Object.fromEntries(entries));
}
