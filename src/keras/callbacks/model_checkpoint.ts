/**
 * ModelCheckpoint: save the model's weights after each epoch (or only when `monitor` improved).
 * The file pair is the TensorFlow.js weights layout: `<path>` is JSON holding a tfjs
 * `weightsManifest` (one group naming each weight's name, shape and dtype) plus the epoch and
 * its logs, and the binary it points to (`<path without .json>.bin`) holds the values
 * back to back, little-endian, in getWeights order; the JSON records the binary's length and
 * CRC-32. Both files are written atomically (temp name, fsync, rename, directory sync), the
 * binary first. The weights come from the model's Variables,
 * which fit keeps in step with the training program at each epoch end. `readCheckpoint` reads a
 * pair back. Node only (node:fs, imported when a file is written).
 */
import { KilnError } from '../../ir/types.js';
import { literal } from '../../ir/literal.js';
import { Tensor } from '../backend.js';
import { writeFilesAtomic } from '../../frontend/io/atomic.js';
import { Callback, jsonNumber, monitorIsMax, stateNumber, type CallbackState, type Logs } from './callback.js';
import { crc32 } from './checkpoint_file.js';
import { nodeHost } from '../../host/node.js';

export interface ModelCheckpointArgs {
  /** The JSON path; may hold {epoch}, {epoch:02d} and log values such as {val_loss:.4f}. */
  filepath: string;
  /** Default 'val_loss' (used with saveBestOnly). */
  monitor?: string;
  /** Save only when `monitor` improved on the best value so far. Default false. */
  saveBestOnly?: boolean;
  mode?: 'auto' | 'min' | 'max';
  /** 1: print a line per save. Default 0. */
  verbose?: 0 | 1;
}

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
}

export interface CheckpointFile {
  format: 'kiln-weights';
  /** 2 adds byteLength and crc32 (version 1 files are read with the length check only). */
  version: 1 | 2;
  epoch: number;
  logs: Logs;
  /** Bytes of the binary (version 2). */
  byteLength?: number;
  /** CRC-32 of the binary (version 2). */
  crc32?: number;
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}

/** Keras-style placeholders: {epoch} (1-based), {epoch:03d}, {loss:.4f}. */
export function formatCheckpointPath(template: string, epoch: number, logs: Logs): string {
  return template.replace(/\{(\w+)(?::([^}]*))?\}/g, (whole, key: string, spec: string | undefined) => {
    const v = key === 'epoch' ? epoch + 1 : logs[key];
    if (v === undefined) throw new KilnError(`ModelCheckpoint: filepath '${template}' names '${key}', which is not in the epoch logs (${Object.keys(logs).join(', ')})`);
    if (!spec) return String(v);
    const fixed = /^\.(\d+)f$/.exec(spec);
    if (fixed) return v.toFixed(Number(fixed[1]));
    const int = /^(0?)(\d+)d$/.exec(spec);
    if (int) return String(Math.round(v)).padStart(Number(int[2]), int[1] ? '0' : ' ');
    throw new KilnError(`ModelCheckpoint: unsupported format '${whole}' in filepath (use {name}, {name:.4f} or {name:02d})`);
  });
}

const binPath = (json: string): string => `${json.replace(/\.json$/, '')}.bin`;
const baseName = (p: string): string => p.slice(p.lastIndexOf('/') + 1);

export class ModelCheckpoint extends Callback {
  readonly filepath: string;
  readonly monitor: string;
  readonly saveBestOnly: boolean;
  readonly verbose: 0 | 1;
  private readonly max: boolean;
  private best = Infinity;
  /** Paths written so far, in order. */
  readonly saved: string[] = [];

  constructor(args: ModelCheckpointArgs) {
    super();
    if (!args || typeof args.filepath !== 'string' || args.filepath === '') throw new KilnError('ModelCheckpoint: give a filepath');
    this.filepath = args.filepath;
    this.monitor = args.monitor ?? 'val_loss';
    this.saveBestOnly = args.saveBestOnly ?? false;
    this.verbose = args.verbose ?? 0;
    this.max = monitorIsMax('ModelCheckpoint', args.mode ?? 'auto', this.monitor);
  }

  override onTrainBegin(): void {
    this.best = this.max ? -Infinity : Infinity;
  }

  override getCheckpointState(): CallbackState {
    return { best: jsonNumber(this.best) };
  }

  override setCheckpointState(state: CallbackState): void {
    this.best = stateNumber('ModelCheckpoint', state, 'best');
  }

  override async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    if (this.saveBestOnly) {
      const v = logs[this.monitor];
      if (v === undefined) throw new KilnError(`ModelCheckpoint: monitor '${this.monitor}' is not in the epoch logs (${Object.keys(logs).join(', ')})`);
      if (!(this.max ? v > this.best : v < this.best)) return;
      this.best = v;
    }
    const path = formatCheckpointPath(this.filepath, epoch, logs);
    const values = this.model!.getWeights(); // in step with the training program
    await writeCheckpoint(path, this.model!.weights.map((w, i) => ({ name: w.name, value: values[i]! })), epoch, logs);
    this.saved.push(path);
    if (this.verbose) console.error(`Epoch ${epoch + 1}: saved weights to ${path}`);
  }
}

/** Write the JSON + binary pair for named tensors, each file atomically, the binary first. */
export async function writeCheckpoint(path: string, weights: readonly { name: string; value: Tensor }[], epoch: number, logs: Logs): Promise<void> {
  const { mkdir } = nodeHost('ModelCheckpoint').fsp;
  const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
  if (dir) await mkdir(dir, { recursive: true });
  const specs: WeightSpec[] = [];
  const chunks: Uint8Array[] = [];
  for (const { name, value } of weights) {
    if (value.dtype !== 'f32' && value.dtype !== 'i32') throw new KilnError(`ModelCheckpoint: weight '${name}' is ${value.describe()}; only f32 and i32 weights are saved`);
    const data = value.dataSync();
    const copy = value.dtype === 'f32' ? Float32Array.from(data) : Int32Array.from(data);
    chunks.push(new Uint8Array(copy.buffer));
    specs.push({ name, shape: [...value.shape], dtype: value.dtype === 'f32' ? 'float32' : 'int32' });
  }
  const bin = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) { bin.set(c, at); at += c.length; }
  const file: CheckpointFile = {
    format: 'kiln-weights', version: 2, epoch, logs: { ...logs }, byteLength: bin.length, crc32: crc32(bin),
    weightsManifest: [{ paths: [baseName(binPath(path))], weights: specs }],
  };
  // The JSON names the binary's length and CRC: should a crash fall between the two renames, the
  // reader sees a JSON that does not match its binary and refuses it (never mixes two epochs).
  await writeFilesAtomic([{ path: binPath(path), data: bin }, { path, data: JSON.stringify(file, null, 1) }]);
}

/**
 * Read a checkpoint pair: the manifest and the weights in order, as concrete tensors. A partial or
 * damaged pair (empty or cut JSON, a binary shorter or longer than the manifest says, a CRC
 * mismatch) is refused with a KilnError naming the file.
 */
export async function readCheckpoint(path: string): Promise<{ file: CheckpointFile; weights: { name: string; value: Tensor }[] }> {
  const { readFile } = nodeHost('ModelCheckpoint').fsp;
  const fail = (what: string): never => {
    throw new KilnError(`readCheckpoint: '${path}' ${what}; the checkpoint is partial or damaged`);
  };
  const text = await readFile(path, 'utf8');
  if (text.trim() === '') fail('is empty');
  let file: CheckpointFile;
  try {
    file = JSON.parse(text) as CheckpointFile;
  } catch (e) {
    return fail(`is not valid JSON (${(e as Error).message})`);
  }
  if (file === null || typeof file !== 'object' || file.format !== 'kiln-weights') {
    throw new KilnError(`readCheckpoint: '${path}' is not a Kiln weights file (format '${String((file as { format?: unknown } | null)?.format)}')`);
  }
  if (file.version !== 1 && file.version !== 2) fail(`has version ${String(file.version)}; this Kiln reads versions 1 and 2`);
  const groups = file.weightsManifest;
  if (!Array.isArray(groups) || groups.length !== 1 || !Array.isArray(groups[0]?.paths) || !Array.isArray(groups[0]?.weights)) {
    fail('has no weightsManifest with one group of {paths, weights}');
  }
  const group = groups[0]!;
  const bin = group.paths[0];
  if (typeof bin !== 'string' || bin === '' || bin.includes('/') || bin.includes('\\')) fail(`names the weights file ${JSON.stringify(bin)}; expected a file name beside the JSON`);
  let want = 0;
  for (const w of group.weights) {
    const okShape = Array.isArray(w?.shape) && w.shape.every((d) => Number.isInteger(d) && d >= 0);
    if (!okShape || (w.dtype !== 'float32' && w.dtype !== 'int32') || typeof w.name !== 'string') fail(`has a bad weight entry ${JSON.stringify(w)}`);
    want += 4 * w.shape.reduce((a, b) => a * b, 1);
  }
  if (file.version === 2 && file.byteLength !== want) fail(`says ${String(file.byteLength)} bytes of weights, its manifest needs ${want}`);
  const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/') + 1) : '';
  let raw: { buffer: ArrayBufferLike; byteOffset: number; byteLength: number };
  try {
    raw = await readFile(dir + bin);
  } catch (e) {
    return fail(`points to '${dir + bin}', which cannot be read (${(e as Error).message})`);
  }
  const bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength).slice();
  if (bytes.length !== want) fail(`needs ${want} bytes of weights in '${bin}', which has ${bytes.length} (truncated or from another save)`);
  if (file.version === 2 && crc32(bytes) !== file.crc32) fail(`does not match '${bin}' (CRC-32 ${crc32(bytes)}, expected ${String(file.crc32)})`);
  const weights: { name: string; value: Tensor }[] = [];
  let at = 0;
  for (const w of group.weights) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const data = w.dtype === 'float32' ? new Float32Array(bytes.buffer, at, n) : new Int32Array(bytes.buffer, at, n);
    at += n * 4;
    weights.push({ name: w.name, value: Tensor.concrete(literal(w.shape, w.dtype === 'float32' ? 'f32' : 'i32', data)) });
  }
  return { file, weights };
}
