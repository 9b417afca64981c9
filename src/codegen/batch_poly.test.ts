/**
 * Shape-polymorphic batch: one artifact compiled with maxBatch runs every batch from 1 to max,
 * equal to artifacts specialized for that batch (a CNN, an MLP, and a functional model with
 * batch norm, max/average pooling and concat), on one and two threads; kernels scale their work
 * with the batch; bad batches and functions that mix batch items are refused, naming what.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as kiln from '../index.js';
import { KilnError } from '../ir/types.js';
import { KilnRuntimeError } from '../runtime/errors.js';
import { load, type Program } from '../runtime/index.js';
import type { Manifest } from '../runtime/manifest.js';
import { firstMismatch } from './wasm/test_util.js';
import * as tf from '@tensorflow/tfjs-core';
import { cnnPair, saveWithTfjs } from '../cli/test_models.js';
import { kiln as kilnCli, tempDir } from '../cli/test_util.js';

const L = kiln.layers;
const MAX = 64;
const SIZES = [1, 3, 17, 64];

function cnn(): kiln.Sequential {
  return kiln.sequential({ name: 'cnn', layers: [
    L.conv2d({ filters: 8, kernelSize: 3, activation: 'relu', inputShape: [12, 12, 3] }),
    L.maxPooling2d({ poolSize: 2 }),
    L.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu' }),
    L.flatten(),
    L.dense({ units: 10, activation: 'softmax' }),
  ] });
}

function mlp(): kiln.Sequential {
  return kiln.sequential({ name: 'mlp', layers: [
    L.dense({ units: 32, activation: 'relu', inputShape: [20] }),
    L.dense({ units: 16, activation: 'tanh' }),
    L.dense({ units: 5 }),
  ] });
}

function bnPoolConcat(): kiln.Functional {
  const x = kiln.input({ shape: [10, 10, 4] });
  const c = L.conv2d({ filters: 6, kernelSize: 3, padding: 'same' }).apply(x) as kiln.KerasTensor;
  const b = L.batchNormalization().apply(c) as kiln.KerasTensor;
  const p = L.maxPooling2d({ poolSize: 2 }).apply(b) as kiln.KerasTensor;
  const q = L.averagePooling2d({ poolSize: 2 }).apply(b) as kiln.KerasTensor;
  const j = L.concatenate().apply([p, q]) as kiln.KerasTensor;
  const g = L.globalAveragePooling2d().apply(j) as kiln.KerasTensor;
  const y = L.dense({ units: 3 }).apply(g) as kiln.KerasTensor;
  return kiln.model({ name: 'bn_pool_concat', inputs: x, outputs: y }) as kiln.Functional;
}

/** Deterministic inputs in [-1, 1). */
function data(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; out[i] = (s / 2 ** 32) * 2 - 1; }
  return out;
}

const programs: Program[] = [];
afterAll(() => { for (const p of programs) p.dispose(); });

async function loaded(bytes: Uint8Array, threads: number): Promise<Program> {
  const p = await load(bytes, { threads });
  programs.push(p);
  return p;
}

type Model = kiln.Sequential | kiln.Functional;

async function checkModel(make: () => Model, itemShape: number[]) {
  const model = make();
  const poly = kiln.compile(model, { maxBatch: MAX });
  expect(poly.manifest.batch?.max).toBe(MAX);
  expect(poly.manifest.inputs[0]!.shape).toEqual([MAX, ...itemShape]);
  // Kernels that compute per batch item scale their work; at least the anchors do.
  expect(poly.manifest.kernels.filter((k) => k.batch !== undefined).length).toBeGreaterThan(0);
  const per = itemShape.reduce((a, b) => a * b, 1);
  const specialized = new Map(SIZES.map((n) => [n, kiln.compile(model, { inputShapes: [[n, ...itemShape]] }).bytes]));
  for (const threads of [1, 2]) {
    const prog = await loaded(poly.bytes, threads);
    expect(prog.maxBatch).toBe(MAX);
    // Descending and repeated sizes: the work counts are reset each time the batch changes.
    for (const n of [...SIZES, ...[...SIZES].reverse()]) {
      const sp = await load(specialized.get(n)!, { threads });
      const x = data(n * per, 7 + n);
      const got = prog.runSync({ input: x });
      const want = sp.runSync({ input: x });
      const name = poly.manifest.outputs[0]!.name;
      expect(got[name]!.length).toBe(want[name]!.length);
      expect(firstMismatch(`${model.name} batch ${n} threads ${threads}`, got[name]!, want[name]!, 1e-5, 1e-6)).toBeUndefined();
      sp.dispose();
    }
  }
  return poly;
}

describe('maxBatch: one artifact for every batch size', () => {
  it('a CNN equals specialized artifacts at N = 1, 3, 17, 64 (1 and 2 threads)', async () => {
    const poly = await checkModel(cnn, [12, 12, 3]);
    // The conv kernels run one work item per output row of each batch item.
    const conv = poly.manifest.kernels.find((k) => k.note?.startsWith('conv '))!;
    expect(conv.batch).toBe(conv.work / MAX);
    expect(poly.explain()).toContain(`batch: one program for every batch from 1 to ${MAX}`);
    expect(poly.explain()).toContain(`  ${conv.name}: ${conv.work / MAX} * n`);
  }, 60_000);

  it('an MLP equals specialized artifacts (GEMM row blocks of 4 rows: work steps at 4-row boundaries)', async () => {
    const poly = await checkModel(mlp, [20]);
    const gemm = poly.manifest.kernels.find((k) => k.note?.startsWith('gemm 64x32'))!;
    expect(gemm.work).toBe(16);
    expect(Array.isArray(gemm.batch) ? gemm.batch.slice(0, 9) : gemm.batch).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 3].map((w) => w * (gemm.work / 16)));
  }, 60_000);

  it('batch norm, max/average pooling and concat equal specialized artifacts', async () => {
    await checkModel(bnPoolConcat, [10, 10, 4]);
  }, 60_000);

  it('a function of tensors: inputShapes lead with maxBatch; a batch-independent operand is fine', async () => {
    const w = kiln.tensor(data(12, 3), [4, 3]);
    const f = (x: kiln.Tensor) => kiln.relu(kiln.add(kiln.matmul(x, w), 0.5));
    const poly = kiln.compile(f, { inputShapes: [[8, 4]], maxBatch: 8 });
    const prog = await loaded(poly.bytes, 1);
    for (const n of [1, 5, 8]) {
      const x = data(n * 4, n);
      const want = (await loaded(kiln.compile(f, { inputShapes: [[n, 4]] }).bytes, 1)).runSync({ [poly.manifest.inputs[0]!.name]: x });
      const got = prog.runSync({ [poly.manifest.inputs[0]!.name]: x });
      const o = poly.manifest.outputs[0]!.name;
      expect(firstMismatch(`f batch ${n}`, got[o]!, want[o]!, 1e-6, 1e-7)).toBeUndefined();
    }
    expect(() => kiln.compile(f, { inputShapes: [[4, 4]], maxBatch: 8 })).toThrow(/with maxBatch 8, every input's leading dimension is the batch: inputShapes\[0\] is \[4, 4\], give \[8, 4\]/);
  });

  it('the runtime refuses a batch above maxBatch, a partial batch item, and inputs that disagree', async () => {
    const prog = await loaded(kiln.compile(mlp(), { maxBatch: 4 }).bytes, 1);
    const err = (f: () => unknown) => { try { f(); } catch (e) { expect(e).toBeInstanceOf(KilnRuntimeError); return (e as Error).message; } throw new Error('no error'); };
    expect(err(() => prog.runSync({ input: new Float32Array(5 * 20) }))).toBe("input 'input' has 100 elements; it takes shape [N, 20] (20 elements per batch item) with batch N from 1 to maxBatch 4");
    expect(err(() => prog.runSync({ input: new Float32Array(30) }))).toMatch(/^input 'input' has 30 elements; it takes shape \[N, 20\]/);
    expect(err(() => prog.runSync({ input: new Float32Array(0) }))).toMatch(/has 0 elements/);
    const two = kiln.compile((a: kiln.Tensor, b: kiln.Tensor) => kiln.add(a, b), { inputShapes: [[4, 2], [4, 2]], maxBatch: 4 });
    const p2 = await loaded(two.bytes, 1);
    const [a, b] = two.manifest.inputs.map((i) => i.name) as [string, string];
    expect(err(() => p2.runSync({ [a]: new Float32Array(4), [b]: new Float32Array(6) }))).toBe(`inputs disagree on the batch size: '${a}' has 2 batch items, '${b}' has 3`);
    expect(Array.from(p2.runSync({ [a]: Float32Array.of(1, 2), [b]: Float32Array.of(10, 20) })[two.manifest.outputs[0]!.name]!)).toEqual([11, 22]);
  });

  it('a wide dense layer splits its columns across work items while few row blocks are live (batch 1 on threads), rows from then on; equal to specialized artifacts', async () => {
    const model = kiln.sequential({ name: 'wide', layers: [L.dense({ units: 256, activation: 'relu', inputShape: [64] }), L.dense({ units: 3 })] });
    const poly = kiln.compile(model, { maxBatch: 64 });
    const gemm = poly.manifest.kernels.find((k) => k.note === 'gemm 64x256x64')!;
    const table = gemm.batch as number[];
    // 8 column chunks per live row block below 4 blocks (batch 1..12), one item per row block from batch 13.
    expect([table[0], table[3], table[4], table[11], table[12], table[63]]).toEqual([8, 8, 16, 24, 4, 16]);
    for (const threads of [1, 2]) {
      const prog = await loaded(poly.bytes, threads);
      for (const n of [1, 5, 13, 64, 2]) {
        const sp = await load(kiln.compile(model, { inputShapes: [[n, 64]] }).bytes, { threads });
        const x = data(n * 64, 60 + n);
        const name = poly.manifest.outputs[0]!.name;
        expect(firstMismatch(`wide batch ${n} threads ${threads}`, prog.runSync({ input: x })[name]!, sp.runSync({ input: x })[name]!, 1e-5, 1e-6)).toBeUndefined();
        sp.dispose();
      }
    }
  });

  it('the batch on a non-leading axis (time-major [T, B, F], merged into [T*B, F] for one GEMM): kernels writing it run in full, the rest scale; equal to specialized artifacts', async () => {
    const w = kiln.tensor(data(4 * 5, 3), [4, 5]);
    // What an unrolled recurrent layer does: time-major, one projection GEMM over every step, back to batch-major.
    const f = (x: kiln.Tensor) => {
      const tm = kiln.transpose(x, [1, 0, 2]);
      const proj = kiln.reshape(kiln.matmul(kiln.reshape(tm, [3 * x.shape[0]!, 4]), w), [3, x.shape[0]!, 5]);
      return kiln.tanh(kiln.transpose(proj, [1, 0, 2]));
    };
    const poly = kiln.compile(f, { inputShapes: [[8, 3, 4]], maxBatch: 8, relaxedSimd: false });
    const scaled = poly.manifest.kernels.filter((k) => k.batch !== undefined).length;
    expect(scaled).toBeGreaterThan(0);
    expect(scaled).toBeLessThan(poly.manifest.kernels.length);
    // The projection GEMM over [T*B, 4] rows: T segments, each running only its first items at batch n.
    const seg = poly.manifest.kernels.find((k) => k.note?.startsWith('gemm'))!.batchSegments;
    expect(seg?.count).toBe(3);
    expect(poly.explain()).toMatch(/3 segments of \d+: .* per segment/);
    const prog = await loaded(poly.bytes, 1);
    for (const n of [1, 5, 8, 2]) {
      const sp = await load(kiln.compile(f, { inputShapes: [[n, 3, 4]], relaxedSimd: false }).bytes, { threads: 1 });
      const x = data(n * 12, 40 + n);
      const got = Object.values(prog.runSync({ [prog.inputs[0]!.name]: x }))[0]!;
      const want = Object.values(sp.runSync({ [sp.inputs[0]!.name]: x }))[0]!;
      expect(got.length).toBe(n * 15);
      expect(firstMismatch(`time-major batch ${n}`, got, want, 1e-6, 1e-7)).toBeUndefined();
      sp.dispose();
    }
  });

  it('refuses functions that mix batch items, naming the op', () => {
    const refused = (f: (x: kiln.Tensor) => kiln.Tensor, re: RegExp) => {
      try { kiln.compile(f, { inputShapes: [[6, 4]], maxBatch: 6 }); } catch (e) { expect(e).toBeInstanceOf(KilnError); expect((e as Error).message).toMatch(re); return; }
      throw new Error('compiled');
    };
    refused((x) => kiln.sub(x, kiln.mean(x, 0, true)), /maxBatch 6: 'main' cannot run every batch size with one program: reduce %\d+ \(f32\[4\]\) combines the batch items/);
    refused((x) => kiln.transpose(x), /transpose %\d+ \(f32\[4,6\]\) is result 0 with the batch on axis 1; results lead with the batch/);
    refused((x) => kiln.matmul(kiln.transpose(x), x), /dot_general %\d+ \(f32\[4,4\]\) combines the batch items/);
    refused((x) => kiln.reshape(kiln.transpose(kiln.reshape(x, [x.shape[0]!, 2, 2]), [1, 0, 2]), [x.shape[0]!, 4]), /reshape %\d+ \(f32\[6,4\]\) splits the batch across dimensions/);
    refused((x) => kiln.concat([x, x], 0), /concatenates along the batch axis/);
    refused((x) => kiln.slice(x, [1, 0], [5, 4]), /maxBatch 6: .*slice %\d+/);
    // explain() says why instead of throwing, and says so when it works.
    const why = kiln.explain((x: kiln.Tensor) => kiln.transpose(x), { inputShapes: [[6, 4]], maxBatch: 6, print: null });
    expect(why).toMatch(/^fusion plan for /);
    expect(why).toMatch(/\nmaxBatch 6: 'main' cannot run every batch size with one program: transpose %\d+ \(f32\[4,6\]\) is result 0/);
    expect(kiln.explain(mlp(), { maxBatch: 6, print: null })).toContain('maxBatch 6: one program runs every batch from 1 to 6');
    expect(kiln.toFunc(mlp(), { maxBatch: 6 }).params[0]!.shape).toEqual([6, 20]);
    // A value computed from the batch size at trace time would be wrong at every other size.
    refused((x) => kiln.div(x, x.shape[0]!), /constant %\d+ \(f32\[\]\) holds values that depend on the batch size \(element 0 is 6 at one batch size and 7 at the other\)/);
  });

  it('option checks: maxBatch must be a positive integer; a Func, compileEntries and CUDA refuse it', () => {
    expect(() => kiln.compile(mlp(), { maxBatch: 0 })).toThrow("compile: option 'maxBatch' must be an integer from 1 to 4096, got number 0");
    expect(() => kiln.compile(mlp(), { maxBatch: 2.5 })).toThrow(/must be an integer from 1 to 4096, got number 2.5/);
    const fn = kiln.toFunc(mlp(), { inputShapes: [[2, 20]] });
    expect(() => kiln.compile(fn, { maxBatch: 2 })).toThrow(/option 'maxBatch' needs a Keras model or a function of tensors .* Func 'mlp\S*' has fixed shapes/);
    expect(() => kiln.compileEntries([{ name: 'main', func: fn }], [], { maxBatch: 2 })).toThrow(/option 'maxBatch' does not apply/);
    expect(() => kiln.compile(mlp(), { maxBatch: 2, target: 'cuda' })).toThrow(/option 'maxBatch' is not supported for target 'cuda' yet/);
    const fixed = kiln.sequential({ layers: [L.dense({ units: 2, batchInputShape: [3, 4] })] });
    expect(() => kiln.compile(fixed, { maxBatch: 3 })).toThrow(/needs an unknown \(null\) leading dimension, but model '.*' input 0 has shape \[3, 4\]/);
  });

  it('kiln compile --max-batch: the artifact runs batches 1..N, and kiln run takes any batch up to N, equal to the tfjs-layers twin; N out of range and CUDA are refused', async () => {
    const t = tempDir();
    try {
      const { twin } = await cnnPair(5);
      await saveWithTfjs(twin, t.dir);
      const r = await kilnCli(['compile', 'model.json', '-o', 'poly.kiln', '--max-batch', '8'], t.dir);
      expect(r.stderr).not.toMatch(/error|note: unknown/);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('poly.kiln: wasm (threads), ');
      expect(r.stdout).toContain('batch 1 to 8, artifact ');
      const { readFileSync } = await import('node:fs');
      const prog = await loaded(new Uint8Array(readFileSync(t.path('poly.kiln'))), 1);
      for (const n of [1, 3, 8]) {
        const x = data(n * 8 * 8 * 3, n);
        const got = Object.values(prog.runSync({ [prog.inputs[0]!.name]: x }))[0]!;
        const want = (twin.predict(tf.tensor(x, [n, 8, 8, 3])) as tf.Tensor).dataSync();
        expect(firstMismatch(`cli batch ${n}`, got, want, 1e-4, 1e-5)).toBeUndefined();
      }
      const ins = await kilnCli(['inspect', 'poly.kiln'], t.dir);
      expect(ins.stdout).toContain('  batch: any from 1 to 8 (leading dims listed at 8; kernels scale their work with it)');
      expect(ins.stdout).toMatch(/work \d+ +\d+ per batch item +conv /);
      // kiln run: the .npy's leading dim is the batch; outputs follow it.
      const { writeNpy, readNpy } = await import('../cli/npy.js');
      const { writeFileSync } = await import('node:fs');
      const x3 = data(3 * 8 * 8 * 3, 3);
      writeFileSync(t.path('x3.npy'), writeNpy(x3, [3, 8, 8, 3]));
      const run = await kilnCli(['run', 'poly.kiln', '--input', 'x3.npy', '--output', 'y3.npy'], t.dir);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/f32\[3,5\]/);
      const y3 = readNpy(new Uint8Array(readFileSync(t.path('y3.npy'))));
      expect(y3.shape).toEqual([3, 5]);
      expect(firstMismatch('kiln run batch 3', y3.data, (twin.predict(tf.tensor(x3, [3, 8, 8, 3])) as tf.Tensor).dataSync(), 1e-4, 1e-5)).toBeUndefined();
      writeFileSync(t.path('x9.npy'), writeNpy(data(9 * 8 * 8 * 3, 9), [9, 8, 8, 3]));
      const big = await kilnCli(['run', 'poly.kiln', '--input', 'x9.npy'], t.dir);
      expect(big.code).not.toBe(0);
      expect(big.stderr).toContain("has leading dimension 9, more than this artifact's maxBatch 8");
      const bad = await kilnCli(['compile', 'model.json', '-o', 'x.kiln', '--max-batch', '0'], t.dir);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toContain("--max-batch '0' is not an integer in [1, 4096]");
      const cuda = await kilnCli(['compile', 'model.json', '-o', 'x.kiln', '--max-batch', '4', '--target', 'cuda'], t.dir);
      expect(cuda.stderr).toContain('--max-batch applies to --target wasm');
    } finally {
      t.remove();
    }
  }, 30_000);

  it('the loader checks the batch fields of the manifest', async () => {
    const { readArtifact, writeArtifact } = await import('../runtime/index.js');
    const art = kiln.compile(mlp(), { maxBatch: 4 });
    const edit = async (f: (m: Manifest) => void) => {
      const { manifest, sections } = readArtifact(art.bytes);
      const m = JSON.parse(JSON.stringify(manifest)) as Manifest;
      f(m);
      try { await load(writeArtifact({ manifest: { ...m, sections: undefined }, sections }), { threads: 1 }); } catch (e) { expect(e).toBeInstanceOf(KilnRuntimeError); return (e as Error).message; }
      throw new Error('loaded');
    };
    expect(await edit((m) => { m.kernels[0]!.batch = [1, 2]; })).toMatch(/manifest\.kernels\[0\]\.batch must be work counts for batch 1\.\.4, each at most work/);
    expect(await edit((m) => { m.inputs[0]!.shape[0] = 5; })).toMatch(/'input'\.shape\[0\] must be batch \* batch\.max = 4/);
    expect(await edit((m) => { m.batch!.slot = 3; })).toMatch(/manifest\.batch\.slot must be an aligned i32 in memory/);
  });

  it('a pretrained model (esrgan-slim x4, pixel shuffle): one artifact for batch 1..3 equals specialized artifacts', async () => {
    const { existsSync } = await import('node:fs');
    const path = new URL('../../test/fixtures/models/esrgan-slim/x4/model.json', import.meta.url).pathname;
    if (!existsSync(path)) throw new Error(`fixture ${path} is missing: run \`npm run fixtures\` to fetch the pretrained test models`);
    const model = await kiln.loadLayersModel(`file://${path}`);
    const poly = kiln.compile(model, { maxBatch: 3, inputShapes: [[3, 12, 10, 3]] });
    const prog = await loaded(poly.bytes, 2);
    const name = prog.inputs[0]!.name;
    for (const n of [1, 3]) {
      const x = data(n * 12 * 10 * 3, n).map((v) => (v + 1) * 127.5);
      const sp = await loaded(kiln.compile(model, { inputShapes: [[n, 12, 10, 3]] }).bytes, 2);
      const got = Object.values(prog.runSync({ [name]: x }))[0]!;
      const want = Object.values(sp.runSync({ [name]: x }))[0]!;
      expect(got.length).toBe(n * 48 * 40 * 3);
      expect(firstMismatch(`esrgan batch ${n}`, got, want, 1e-5, 1e-4)).toBeUndefined();
    }
  }, 30_000);
});
