/**
 * ModelCheckpoint: save the model's weights after each epoch (or only when `monitor` improved).
 * The file pair is the TensorFlow.js weights layout: `<path>` is JSON holding a tfjs
 * `weightsManifest` (one group naming each weight's name, shape and dtype) plus the epoch and
 * its logs, and the binary it points to (`<path without .json>.bin`) holds the values
 * back to back, little-endian, in getWeights order. The weights come from the model's Variables,
 * which fit keeps in step with the training program at each epoch end. `readCheckpoint` reads a
 * pair back. Node only (node:fs, imported when a file is written).
 */
import { KilnError } from '../../ir/types.js';
import { literal } from '../../ir/literal.js';
import { Tensor } from '../backend.js';
import { Callback, monitorIsMax, type Logs } from './callback.js';

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
  version: 1;
  epoch: number;
  logs: Logs;
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

/** Write the JSON + binary pair for named tensors. */
export async function writeCheckpoint(path: string, weights: readonly { name: string; value: Tensor }[], epoch: number, logs: Logs): Promise<void> {
  const { mkdir, writeFile } = await import('node:fs/promises');
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
  const file: CheckpointFile = { format: 'kiln-weights', version: 1, epoch, logs: { ...logs }, weightsManifest: [{ paths: [baseName(binPath(path))], weights: specs }] };
  await writeFile(binPath(path), bin);
  await writeFile(path, JSON.stringify(file, null, 1));
}

/** Read a checkpoint pair: the manifest and the weights in order, as concrete tensors. */
export async function readCheckpoint(path: string): Promise<{ file: CheckpointFile; weights: { name: string; value: Tensor }[] }> {
  const { readFile } = await import('node:fs/promises');
  const file = JSON.parse(await readFile(path, 'utf8')) as CheckpointFile;
  if (file.format !== 'kiln-weights') throw new KilnError(`readCheckpoint: '${path}' is not a Kiln weights file (format '${String(file.format)}')`);
  const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/') + 1) : '';
  const weights: { name: string; value: Tensor }[] = [];
  for (const group of file.weightsManifest) {
    const raw = await readFile(dir + group.paths[0]!);
    const bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength).slice();
    let at = 0;
    for (const w of group.weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      const data = w.dtype === 'float32' ? new Float32Array(bytes.buffer, at, n) : new Int32Array(bytes.buffer, at, n);
      at += n * 4;
      weights.push({ name: w.name, value: Tensor.concrete(literal(w.shape, w.dtype === 'float32' ? 'f32' : 'i32', data)) });
    }
  }
  return { file, weights };
}
