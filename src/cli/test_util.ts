/**
 * Test helpers for src/cli: run `kiln` in-process with captured output, and temp directories.
 * Tests only.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as tfl from '@tensorflow/tfjs-layers';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from './main.js';
import { randomData, randomizeWeights, toTf, useCpuBackend } from '../keras/test_util.js';
import { sequential, type Sequential } from '../keras/engine/sequential.js';
import { conv2d } from '../keras/layers/conv2d.js';
import { maxPooling2d } from '../keras/layers/max_pooling2d.js';
import { flatten } from '../keras/layers/flatten.js';
import { dense } from '../keras/layers/dense.js';
import { toFunc, type Compilable } from '../compile.js';
import { printFunc } from '../ir/print.js';

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

/**
 * A small CNN built with Kiln's Keras API and its tfjs-layers twin holding the same (seeded,
 * randomized) weights: conv 3x3 relu -> max pool -> flatten -> dense softmax, input [8, 8, 3].
 */
export async function cnnPair(seed = 3): Promise<{ model: Sequential; twin: tfl.Sequential }> {
  await useCpuBackend();
  const model = sequential({ layers: [
    conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [8, 8, 3] }),
    maxPooling2d({ poolSize: 2 }),
    flatten(),
    dense({ units: 5, activation: 'softmax' }),
  ] });
  randomizeWeights(model, seed, -0.5, 0.5);
  const twin = tfl.sequential({ layers: [
    tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [8, 8, 3] }),
    tfl.layers.maxPooling2d({ poolSize: 2 }),
    tfl.layers.flatten(),
    tfl.layers.dense({ units: 5, activation: 'softmax' }),
  ] });
  twin.setWeights(model.getWeights().map(toTf));
  return { model, twin };
}

/** Writes a model's traced IR (weights included as literals) as the IR text file `path`. */
export function writeIr(model: Compilable, inputShapes: readonly (readonly number[])[], path: string): void {
  writeFileSync(path, printFunc(toFunc(model, { inputShapes })));
}

/** Seeded uniform values in [lo, hi). */
export { randomData };

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
