/**
 * Weights in TensorFlow.js's binary layout: the manifest's tensors back to back, little-endian,
 * over the concatenation of every group's shards. Decoding dequantizes exactly as tfjs-core's
 * io.decodeWeights does (uint8/uint16: `q * scale + min` in float32; an int32 original dtype is
 * rounded; float16 widened); encoding writes float32/int32/bool and cuts the bytes into shards of
 * at most 4 MB, `group1-shardNofM.bin`, as tfjs-layers' `model.save` does.
 */
import type { DType } from '../../ir/dtype.js';
import { KilnError } from '../../ir/types.js';
import type { WeightGroup, WeightSpec } from './formats.js';
import { f16BitsToF32 } from '../../runtime/dtypes.js';

export interface DecodedWeight {
  dtype: DType;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

const STORED_BYTES: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/** Bytes one spec takes in the weight data. */
export function storedBytes(w: WeightSpec, who: string): number {
  const stored = w.quantization?.dtype ?? w.dtype;
  const size = STORED_BYTES[stored];
  if (size === undefined) throw new KilnError(`${who}: weight '${w.name}' is stored as '${stored}'; supported: ${Object.keys(STORED_BYTES).join(', ')}`);
  if (!Array.isArray(w.shape) || !w.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new KilnError(`${who}: weight '${w.name}' has shape ${JSON.stringify(w.shape)}; expected a list of non-negative integers`);
  }
  return w.shape.reduce((p, d) => p * d, 1) * size;
}


/**
 * Weight values by name, in manifest order over `bytes` (all shards concatenated). `who` prefixes
 * errors (e.g. "loadLayersModel: model.json"). The total must match: a manifest that needs more
 * bytes than given, or leaves bytes over, names the weight and the sizes.
 */
export function decodeWeights(specs: readonly WeightSpec[], bytes: Uint8Array, who: string): Map<string, DecodedWeight> {
  const out = new Map<string, DecodedWeight>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  for (const w of specs) {
    const n = w.shape?.reduce((p, d) => p * d, 1) ?? 0;
    const stored = w.quantization?.dtype ?? w.dtype;
    const total = storedBytes(w, who);
    const size = total / Math.max(n, 1);
    if (at + total > bytes.byteLength) {
      throw new KilnError(`${who}: weight '${w.name}' [${w.shape.join(',')}] ${stored} needs bytes ${at}..${at + total} but the weight files hold ${bytes.byteLength} bytes`);
    }
    const q = w.quantization;
    if (q && q.dtype !== 'float16' && !(Number.isFinite(q.scale) && Number.isFinite(q.min))) {
      throw new KilnError(`${who}: weight '${w.name}' is quantized as ${q.dtype} without a finite scale and min (got scale ${q.scale}, min ${q.min})`);
    }
    const code = (o: number): number => (stored === 'uint8' ? view.getUint8(o) : view.getUint16(o, true));
    let data: Float32Array | Int32Array | Uint8Array;
    let dtype: DType;
    if (w.dtype === 'float32') {
      dtype = 'f32';
      const f = new Float32Array(n);
      if (stored === 'float32') {
        // Weight files are little-endian, as is every host WebAssembly runs on: copy the bytes.
        if (LITTLE_ENDIAN) new Uint8Array(f.buffer).set(bytes.subarray(at, at + n * 4));
        else for (let i = 0; i < n; i++) f[i] = view.getFloat32(at + i * 4, true);
      }
      else if (stored === 'float16') for (let i = 0; i < n; i++) f[i] = f16BitsToF32(view.getUint16(at + i * 2, true));
      else {
        // As tfjs: q * scale + min in double precision, rounded once to float32 on store.
        const { scale, min } = q as { scale: number; min: number };
        for (let i = 0; i < n; i++) f[i] = code(at + i * size) * scale + min;
      }
      data = f;
    } else if (w.dtype === 'int32') {
      dtype = 'i32';
      const d = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const o = at + i * size;
        d[i] = stored === 'int32' ? view.getInt32(o, true) : Math.round(code(o) * q!.scale! + q!.min!);
      }
      data = d;
    } else if (w.dtype === 'bool') {
      dtype = 'bool';
      data = bytes.slice(at, at + n);
    } else {
      throw new KilnError(`${who}: weight '${w.name}' has dtype '${w.dtype}'; supported: float32, int32, bool`);
    }
    if (out.has(w.name)) throw new KilnError(`${who}: the weights manifest names '${w.name}' twice`);
    out.set(w.name, { dtype, shape: [...w.shape], data });
    at += total;
  }
  if (at !== bytes.byteLength) {
    throw new KilnError(`${who}: the weights manifest describes ${at} bytes but the weight files hold ${bytes.byteLength}; the manifest and the .bin files do not belong together`);
  }
  return out;
}

/** One tensor to encode. */
export interface NamedWeight {
  name: string;
  shape: readonly number[];
  dtype: DType;
  data: ArrayLike<number>;
  group?: WeightSpec['group'];
}

/** tfjs-layers' shard size. */
export const SHARD_BYTES = 4 * 1024 * 1024;

/** Encode tensors as float32/int32/bool: the specs and the concatenated bytes. */
export function encodeWeights(weights: readonly NamedWeight[], who: string): { specs: WeightSpec[]; data: Uint8Array } {
  const specs: WeightSpec[] = [];
  let total = 0;
  for (const w of weights) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    if (w.data.length !== n) throw new KilnError(`${who}: weight '${w.name}' has shape [${w.shape.join(',')}] but ${w.data.length} values`);
    const dtype = w.dtype === 'i32' ? 'int32' : w.dtype === 'bool' ? 'bool' : 'float32';
    if (!['f32', 'f16', 'bf16', 'i32', 'bool'].includes(w.dtype)) throw new KilnError(`${who}: weight '${w.name}' has dtype ${w.dtype}; tfjs weight files hold float32, int32 or bool`);
    specs.push({ name: w.name, shape: [...w.shape], dtype, ...(w.group ? { group: w.group } : {}) });
    total += n * (dtype === 'bool' ? 1 : 4);
  }
  const data = new Uint8Array(total);
  const view = new DataView(data.buffer);
  let at = 0;
  weights.forEach((w, k) => {
    const dtype = specs[k]!.dtype;
    for (let i = 0; i < w.data.length; i++) {
      const v = w.data[i]!;
      if (dtype === 'float32') view.setFloat32(at + i * 4, v, true);
      else if (dtype === 'int32') view.setInt32(at + i * 4, v, true);
      else data[at + i] = v ? 1 : 0;
    }
    at += w.data.length * (dtype === 'bool' ? 1 : 4);
  });
  return { specs, data };
}

/** Cut weight bytes into tfjs-style shards: one group, `group1-shardNofM.bin`, each at most 4 MB. */
export function shardWeights(specs: WeightSpec[], data: Uint8Array, shardBytes = SHARD_BYTES): { manifest: WeightGroup[]; shards: { path: string; data: Uint8Array }[] } {
  const count = Math.max(1, Math.ceil(data.byteLength / shardBytes));
  const shards = Array.from({ length: count }, (_, i) => ({
    path: `group1-shard${i + 1}of${count}.bin`,
    data: data.subarray(i * shardBytes, Math.min(data.byteLength, (i + 1) * shardBytes)),
  }));
  return { manifest: [{ paths: shards.map((s) => s.path), weights: specs }], shards };
}

/** Concatenate byte chunks (shards, ArrayBuffer lists) into one array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
