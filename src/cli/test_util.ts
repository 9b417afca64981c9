/**
 * Test helpers for src/cli: run `kiln` in-process with captured output, temp directories,
 * seeded data, a hand-written GraphModel. Tests only (models built with Keras: test_models.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from './main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `kiln ...argv` in `cwd`; resolves to its exit code and everything it printed. */
export async function kiln(argv: readonly string[], cwd: string, env: Record<string, string | undefined> = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env,
    cwd,
  });
  return { code, stdout, stderr };
}

/** A fresh temp directory and a function that removes it. */
export function tempDir(prefix = 'kiln-cli-'): { dir: string; path: (name: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Seeded uniform values in [lo, hi) (mulberry32). */
export function randomData(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), s | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    out[i] = lo + (hi - lo) * (((x ^ (x >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

export function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * A tiny TensorFlow.js GraphModel written by hand in tfjs-converter's format into `dir`:
 * y = relu(x @ W + b), x: float32 [-1, 4] (unknown batch), W [4, 3], b [3]; with `refused`, a
 * Where node (data-dependent shape, which Kiln refuses) reads y and is the graph's only sink.
 */
export function writeTinyGraphModel(dir: string, file = 'model.json', refused = false): { json: Record<string, unknown>; weightData: ArrayBuffer; W: Float32Array; b: Float32Array } {
  const W = Float32Array.from(randomData(12, 21));
  const b = Float32Array.from(randomData(3, 22));
  const f = { type: 'DT_FLOAT' };
  const dims = (...d: number[]) => ({ dim: d.map((size) => ({ size: String(size) })) });
  const node = [
    { name: 'x', op: 'Placeholder', attr: { dtype: f, shape: { shape: dims(-1, 4) } } },
    { name: 'W', op: 'Const', attr: { dtype: f, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dims(4, 3) } } } },
    { name: 'b', op: 'Const', attr: { dtype: f, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dims(3) } } } },
    { name: 'mm', op: 'MatMul', input: ['x', 'W'], attr: { T: f, transpose_a: { b: false }, transpose_b: { b: false } } },
    { name: 'ba', op: 'BiasAdd', input: ['mm', 'b'], attr: { T: f, data_format: { s: Buffer.from('NHWC').toString('base64') } } },
    { name: 'y', op: 'Relu', input: ['ba'], attr: { T: f } },
    ...(refused ? [{ name: 'where', op: 'Where', input: ['y'], attr: { T: f } }] : []),
  ];
  const json: Record<string, unknown> = {
    format: 'graph-model',
    generatedBy: '2.15.0',
    convertedBy: 'hand-written for kiln tests',
    modelTopology: { node, library: {}, versions: { producer: 1700 } },
    weightsManifest: [{ paths: ['tiny.bin'], weights: [{ name: 'W', shape: [4, 3], dtype: 'float32' }, { name: 'b', shape: [3], dtype: 'float32' }] }],
    signature: {
      inputs: { 'x:0': { name: 'x:0', dtype: 'DT_FLOAT', tensorShape: dims(-1, 4) } },
      ...(refused ? {} : { outputs: { 'y:0': { name: 'y:0', dtype: 'DT_FLOAT', tensorShape: dims(-1, 3) } } }),
    },
  };
  const weightData = new Uint8Array(15 * 4);
  weightData.set(new Uint8Array(W.buffer), 0);
  weightData.set(new Uint8Array(b.buffer), 48);
  writeFileSync(join(dir, 'tiny.bin'), weightData);
  writeFileSync(join(dir, file), JSON.stringify(json));
  return { json, weightData: weightData.buffer, W, b };
}
