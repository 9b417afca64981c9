/**
 * Model artifact I/O: weights decoded exactly as tfjs-core's io.decodeWeights decodes the same
 * bytes (float32, int32, bool, uint8/uint16 quantized with and without original_dtype, float16),
 * encoded and sharded as tfjs-layers writes them, and read from every kind of source (path,
 * directory, file:// URL, a local http server, a tfjs IOHandler, ModelArtifacts), with errors
 * that name the file, the weight and the sizes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import { decodeWeights, encodeWeights, shardWeights } from './weights.js';
import { readModelArtifacts, writeModelArtifacts } from './source.js';
import type { WeightSpec } from './formats.js';
import { useCpuBackend } from '../../keras/test_util.js';
import { KilnError } from '../../ir/types.js';

beforeAll(useCpuBackend);

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** Bytes for `specs` as tfjs stores them, each value drawn from its stored range. */
function storedBytes(specs: WeightSpec[], seed: number): Uint8Array {
  const r = lcg(seed);
  const parts: Uint8Array[] = [];
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const stored = s.quantization?.dtype ?? s.dtype;
    if (stored === 'float32') parts.push(new Uint8Array(Float32Array.from({ length: n }, () => r() * 4 - 2).buffer));
    else if (stored === 'int32') parts.push(new Uint8Array(Int32Array.from({ length: n }, () => Math.floor(r() * 2000) - 1000).buffer));
    else if (stored === 'bool' || stored === 'uint8') parts.push(Uint8Array.from({ length: n }, () => Math.floor(r() * (stored === 'bool' ? 2 : 256))));
    else if (stored === 'uint16') parts.push(new Uint8Array(Uint16Array.from({ length: n }, () => Math.floor(r() * 65536)).buffer));
    else if (stored === 'float16') {
      // Finite halves: exponent 0..30, every mantissa and sign.
      parts.push(new Uint8Array(Uint16Array.from({ length: n }, () => (Math.floor(r() * 2) << 15) | (Math.floor(r() * 31) << 10) | Math.floor(r() * 1024)).buffer));
    }
  }
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

const SPECS: WeightSpec[] = [
  { name: 'dense/kernel', shape: [3, 5], dtype: 'float32' },
  { name: 'ids', shape: [7], dtype: 'int32' },
  { name: 'mask', shape: [4], dtype: 'bool' },
  { name: 'q8', shape: [2, 9], dtype: 'float32', quantization: { dtype: 'uint8', min: -0.46612293439752917, scale: 0.003377702423170501, original_dtype: 'float32' } },
  { name: 'q8_plain', shape: [11], dtype: 'float32', quantization: { dtype: 'uint8', min: -1.5, scale: 0.0117 } },
  { name: 'q16', shape: [13], dtype: 'float32', quantization: { dtype: 'uint16', min: -3.25, scale: 1e-4, original_dtype: 'float32' } },
  { name: 'q_int', shape: [6], dtype: 'int32', quantization: { dtype: 'uint8', min: -20, scale: 0.37, original_dtype: 'int32' } },
  { name: 'half', shape: [64], dtype: 'float32', quantization: { dtype: 'float16', original_dtype: 'float32' } },
  { name: 'half_plain', shape: [8], dtype: 'float32', quantization: { dtype: 'float16' } },
];

describe('weights', () => {
  it('decode exactly as tf.io.decodeWeights on the same bytes (every stored format)', () => {
    const bytes = storedBytes(SPECS, 3);
    const ours = decodeWeights(SPECS, bytes, 'test');
    const theirs = tf.io.decodeWeights(bytes.buffer as ArrayBuffer, SPECS as tf.io.WeightsManifestEntry[]);
    for (const s of SPECS) {
      const a = ours.get(s.name)!;
      const b = theirs[s.name]!;
      expect(a.shape).toEqual(b.shape);
      expect(Array.from(a.data), s.name).toEqual(Array.from(b.dataSync()));
    }
  });

  it('encode float32/int32/bool so tfjs decodes the same values; shards cut at the byte limit', () => {
    const r = lcg(9);
    const w = [
      { name: 'a/kernel', shape: [5, 3], dtype: 'f32' as const, data: Float32Array.from({ length: 15 }, () => r()) },
      { name: 'b', shape: [4], dtype: 'i32' as const, data: Int32Array.of(1, -2, 3, 2 ** 30) },
      { name: 'c', shape: [3], dtype: 'bool' as const, data: Uint8Array.of(1, 0, 1) },
    ];
    const { specs, data } = encodeWeights(w, 'test');
    const back = tf.io.decodeWeights(data.buffer as ArrayBuffer, specs as tf.io.WeightsManifestEntry[]);
    expect(Array.from(back['a/kernel']!.dataSync())).toEqual(Array.from(w[0]!.data));
    expect(Array.from(back['b']!.dataSync())).toEqual(Array.from(w[1]!.data));
    expect(Array.from(back['c']!.dataSync())).toEqual([1, 0, 1]);
    const { manifest, shards } = shardWeights(specs, data, 16);
    expect(shards.map((s) => s.path)).toEqual(['group1-shard1of5.bin', 'group1-shard2of5.bin', 'group1-shard3of5.bin', 'group1-shard4of5.bin', 'group1-shard5of5.bin']);
    expect(shards.map((s) => s.data.length)).toEqual([16, 16, 16, 16, data.length - 64]);
    expect(manifest[0]!.paths).toHaveLength(5);
  });

  it('refuse manifests that disagree with the bytes, naming the weight and sizes', () => {
    const bytes = storedBytes(SPECS, 1);
    expect(() => decodeWeights(SPECS, bytes.subarray(0, bytes.length - 3), 'model.json')).toThrow(/weight 'half_plain' \[8\] float16 needs bytes .* hold/);
    expect(() => decodeWeights(SPECS.slice(0, 2), bytes, 'model.json')).toThrow(/describes 88 bytes but the weight files hold/);
    expect(() => decodeWeights([{ name: 'x', shape: [2], dtype: 'complex64' }], new Uint8Array(16), 'm')).toThrow(/weight 'x' is stored as 'complex64'/);
    expect(() => decodeWeights([{ name: 'q', shape: [2], dtype: 'float32', quantization: { dtype: 'uint8' } }], new Uint8Array(2), 'm')).toThrow(/quantized as uint8 without a finite scale and min/);
  });
});

describe('sources', () => {
  let dir: string;
  let server: http.Server;
  let base: string;
  const topology = { class_name: 'Sequential', config: { name: 's', layers: [] } };
  const specs: WeightSpec[] = [{ name: 'w', shape: [3], dtype: 'float32' }, { name: 'v', shape: [2], dtype: 'int32' }];
  const bytes = new Uint8Array([...new Uint8Array(Float32Array.of(1, 2, 3).buffer), ...new Uint8Array(Int32Array.of(7, 8).buffer)]);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-io-'));
    fs.mkdirSync(path.join(dir, 'm'));
    // Two shards, as a converter writes a large model.
    fs.writeFileSync(path.join(dir, 'm', 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: topology, weightsManifest: [{ paths: ['a.bin', 'b.bin'], weights: specs }] }));
    fs.writeFileSync(path.join(dir, 'm', 'a.bin'), bytes.subarray(0, 5));
    fs.writeFileSync(path.join(dir, 'm', 'b.bin'), bytes.subarray(5));
    server = http.createServer((req, res) => {
      const file = path.join(dir, decodeURIComponent(req.url ?? '/'));
      if (!file.startsWith(dir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) { res.statusCode = 404; res.end(); return; }
      res.end(fs.readFileSync(file));
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((ok) => server.close(() => ok()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const check = (got: Awaited<ReturnType<typeof readModelArtifacts>>) => {
    expect(got.json.modelTopology).toEqual(topology);
    expect(got.specs).toEqual(specs);
    expect(Array.from(got.bytes)).toEqual(Array.from(bytes));
  };

  it('a path, a directory and a file:// URL', async () => {
    check(await readModelArtifacts(path.join(dir, 'm', 'model.json'), 't'));
    check(await readModelArtifacts(path.join(dir, 'm'), 't'));
    check(await readModelArtifacts(pathToFileURL(path.join(dir, 'm', 'model.json')).href, 't'));
  });

  it('an http URL (weights resolved against model.json, following the manifest paths)', async () => {
    check(await readModelArtifacts(`${base}/m/model.json`, 't'));
    await expect(readModelArtifacts(`${base}/nope/model.json`, 't')).rejects.toThrow(/fetching .*nope\/model.json failed: HTTP 404/);
  });

  it('a tfjs IOHandler and ModelArtifacts in memory', async () => {
    const handler = tf.io.fromMemory({ modelTopology: topology, weightSpecs: specs as tf.io.WeightsManifestEntry[], weightData: bytes.slice().buffer });
    check(await readModelArtifacts(handler as never, 't'));
    check(await readModelArtifacts({ modelTopology: topology, weightSpecs: specs, weightData: [bytes.slice(0, 4).buffer, bytes.slice(4).buffer] }, 't'));
  });

  it('clear errors: missing file, bad JSON, no topology, wrong source type', async () => {
    await expect(readModelArtifacts(path.join(dir, 'missing.json'), 'loadX')).rejects.toThrow(/loadX: .*missing.json does not exist/);
    fs.writeFileSync(path.join(dir, 'bad.json'), '{"modelTopology": ');
    await expect(readModelArtifacts(path.join(dir, 'bad.json'), 'loadX')).rejects.toThrow(/bad.json is not valid JSON/);
    fs.writeFileSync(path.join(dir, 'none.json'), '{"format": "layers-model"}');
    await expect(readModelArtifacts(path.join(dir, 'none.json'), 'loadX')).rejects.toThrow(/has no modelTopology/);
    await expect(readModelArtifacts(42 as never, 'loadX')).rejects.toThrow(KilnError);
    fs.mkdirSync(path.join(dir, 'lost'));
    fs.writeFileSync(path.join(dir, 'lost', 'model.json'), JSON.stringify({ modelTopology: topology, weightsManifest: [{ paths: ['gone.bin'], weights: specs }] }));
    await expect(readModelArtifacts(path.join(dir, 'lost'), 'loadX')).rejects.toThrow(/cannot read .*gone.bin: no such file/);
  });

  it('save to a directory (shards + model.json) and through an IOHandler', async () => {
    const out = path.join(dir, 'saved');
    await writeModelArtifacts(out, { modelTopology: topology, format: 'layers-model', weightSpecs: specs, weightData: bytes.slice().buffer }, 't');
    expect(fs.readdirSync(out).sort()).toEqual(['group1-shard1of1.bin', 'model.json']);
    check(await readModelArtifacts(out, 't'));
    let got: tf.io.ModelArtifacts | undefined;
    await writeModelArtifacts(tf.io.withSaveHandler(async (a) => { got = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }) as never,
      { modelTopology: topology, weightSpecs: specs, weightData: bytes.slice().buffer }, 't');
    expect(Array.from(new Uint8Array(got!.weightData as ArrayBuffer))).toEqual(Array.from(bytes));
    fs.writeFileSync(path.join(dir, 'afile'), 'x');
    await expect(writeModelArtifacts(path.join(dir, 'afile'), { modelTopology: topology }, 'save')).rejects.toThrow(/exists and is not a directory/);
    await expect(writeModelArtifacts('https://example.invalid/m', { modelTopology: topology }, 'save')).rejects.toThrow(/cannot save to https/);
  });
});
