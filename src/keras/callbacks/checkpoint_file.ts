/**
 * The training-state checkpoint file (what BackupAndRestore writes): ONE file, so that an atomic
 * write (temp name, fsync, rename, directory sync) replaces the whole state at once and a crash
 * leaves either the previous checkpoint or the new one, never a mix of two.
 *
 *   bytes 0..8    magic "KILNSTAT"
 *   bytes 8..12   u32 LE: header length H (bytes of UTF-8 JSON)
 *   bytes 12..16  u32 LE: CRC-32 of the header bytes
 *   bytes 16..16+H  the header (TrainingStateHeader, JSON)
 *   then zero padding to a multiple of 8, then the data: every tensor little-endian at its offset
 *
 * The header records the data's length and CRC-32, so a truncated, extended or damaged file is
 * refused with a KilnError naming the file and what is wrong. `crc32` is the IEEE polynomial
 * (zlib's), shared with the weights checkpoints of ModelCheckpoint.
 */
import { KilnError } from '../../ir/types.js';
import { writeFileAtomic } from '../../frontend/io/atomic.js';
import type { StateTensor, TrainingState } from '../engine/training_state.js';
import type { CallbackState } from './callback.js';
import { nodeHost } from '../../host/node.js';

const MAGIC = 'KILNSTAT';

/** Where one tensor lives in the data section. */
interface TensorEntry {
  group: 'weights' | 'optimizer' | 'metrics';
  name: string;
  shape: number[];
  dtype: 'f32' | 'i32';
  offset: number;
}

/** The JSON header of a training-state file. */
export interface TrainingStateHeader {
  format: 'kiln-training-state';
  version: 1;
  dataLength: number;
  dataCrc32: number;
  tensors: TensorEntry[];
  learningRate: number;
  position?: { epoch: number; step: number; rngState: number };
  callbacks: Record<string, CallbackState>;
}

let table: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, as zlib's crc32) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const align8 = (n: number): number => (n + 7) & ~7;
const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** The file's bytes for `state`. */
export function encodeTrainingState(state: TrainingState): Uint8Array {
  const groups = [['weights', state.weights], ['optimizer', state.optimizer], ['metrics', state.metrics]] as const;
  const tensors: TensorEntry[] = [];
  const parts: { at: number; bytes: Uint8Array }[] = [];
  let at = 0;
  for (const [group, list] of groups) {
    for (const t of list) {
      tensors.push({ group, name: t.name, shape: [...t.shape], dtype: t.dtype, offset: at });
      parts.push({ at, bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) });
      at += t.data.byteLength;
    }
  }
  const data = new Uint8Array(at);
  for (const p of parts) data.set(p.bytes, p.at);
  const header: TrainingStateHeader = {
    format: 'kiln-training-state', version: 1, dataLength: data.length, dataCrc32: crc32(data), tensors,
    learningRate: state.learningRate, ...(state.position ? { position: state.position } : {}), callbacks: state.callbacks,
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const dataAt = align8(16 + json.length);
  const file = new Uint8Array(dataAt + data.length);
  file.set(new TextEncoder().encode(MAGIC), 0);
  const view = new DataView(file.buffer);
  view.setUint32(8, json.length, true);
  view.setUint32(12, crc32(json), true);
  file.set(json, 16);
  file.set(data, dataAt);
  return file;
}

/** Parse and verify a training-state file's bytes; `path` names it in errors. */
export function decodeTrainingState(bytes: Uint8Array, path: string): TrainingState {
  const fail = (what: string): never => {
    throw new KilnError(`readTrainingState: '${path}' ${what}; the checkpoint is damaged or not a Kiln training state (delete it to start over)`);
  };
  if (bytes.length < 16) fail(`is ${bytes.length} bytes long, shorter than the 16-byte preamble`);
  if (new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) fail(`does not start with '${MAGIC}'`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = view.getUint32(8, true);
  if (16 + hlen > bytes.length) fail(`is truncated: its header needs ${16 + hlen} bytes, the file has ${bytes.length}`);
  const json = bytes.subarray(16, 16 + hlen);
  const hcrc = crc32(json);
  if (hcrc !== view.getUint32(12, true)) fail(`has a damaged header (CRC-32 ${hcrc}, expected ${view.getUint32(12, true)})`);
  let header: TrainingStateHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(json)) as TrainingStateHeader;
  } catch (e) {
    return fail(`has a header that is not JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || header.format !== 'kiln-training-state') fail(`has format '${String((header as { format?: unknown })?.format)}', expected 'kiln-training-state'`);
  if (header.version !== 1) fail(`has version ${String(header.version)}; this Kiln reads version 1`);
  const dataAt = align8(16 + hlen);
  if (!Number.isInteger(header.dataLength) || bytes.length !== dataAt + header.dataLength) {
    fail(`is ${bytes.length} bytes long, its header says ${dataAt} + ${String(header.dataLength)} bytes (truncated or extended)`);
  }
  const data = bytes.slice(dataAt);
  const dcrc = crc32(data);
  if (dcrc !== header.dataCrc32) fail(`has damaged data (CRC-32 ${dcrc}, expected ${String(header.dataCrc32)})`);
  if (!Array.isArray(header.tensors)) fail('has no tensor list');
  const state: TrainingState = {
    weights: [], optimizer: [], metrics: [], learningRate: header.learningRate, callbacks: header.callbacks ?? {},
    ...(header.position ? { position: header.position } : {}),
  };
  for (const t of header.tensors) {
    const okShape = Array.isArray(t.shape) && t.shape.every((d) => Number.isInteger(d) && d >= 0);
    if (!okShape || (t.dtype !== 'f32' && t.dtype !== 'i32') || !(t.group in { weights: 1, optimizer: 1, metrics: 1 })) {
      fail(`has a bad tensor entry ${JSON.stringify(t)}`);
    }
    const n = numel(t.shape);
    if (!Number.isInteger(t.offset) || t.offset < 0 || t.offset % 4 !== 0 || t.offset + 4 * n > data.length) {
      fail(`has tensor '${t.name}' at offset ${String(t.offset)} (+${4 * n} bytes) outside its ${data.length}-byte data`);
    }
    const values = t.dtype === 'f32' ? new Float32Array(data.buffer, t.offset, n).slice() : new Int32Array(data.buffer, t.offset, n).slice();
    const st: StateTensor = { name: t.name, shape: t.shape, dtype: t.dtype, data: values };
    state[t.group].push(st);
  }
  return state;
}

/** Write `state` to `path` atomically (temp name, fsync, rename, directory sync). */
export async function writeTrainingState(path: string, state: TrainingState): Promise<void> {
  const { mkdir } = nodeHost('a checkpoint file').fsp;
  const { dirname } = nodeHost('a checkpoint file').path;
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, encodeTrainingState(state));
}

/** Read and verify a training-state file (KilnError when it is missing a part or damaged). */
export async function readTrainingState(path: string): Promise<TrainingState> {
  const { readFile } = nodeHost('a checkpoint file').fsp;
  const raw = await readFile(path);
  return decodeTrainingState(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength), path);
}
