/**
 * The GraphModel object and loadGraphModel's sources and options: model.json from a path, a
 * file:// URL, an IOHandler or ModelArtifacts; inputs by name, in order, or as one tensor; int32
 * inputs; compiled predict, kiln.compile and kiln.explain; execute on other nodes. Outputs are
 * checked against tfjs-converter running the same graph.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfconv from '@tensorflow/tfjs-converter';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../../index.js';
import { expectClose, randValues } from '../test_util.js';
import type { Tensor } from '../tensor.js';

const b64 = (s: string) => btoa(s);
const shapeAttr = (dims: number[]) => ({ shape: { dim: dims.map((d) => ({ size: String(d) })) } });

/** relu(a * w + b) and a + b, with a f32 [2,3], b i32 [3] cast to f32, w a weight. */
function twoInputGraph() {
  const w = randValues(3, 5, -1, 1);
  const nodes = [
    { name: 'a', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: shapeAttr([-1, 3]) } },
    { name: 'b', op: 'Placeholder', attr: { dtype: { type: 'DT_INT32' }, shape: shapeAttr([3]) } },
    { name: 'w', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' } } },
    { name: 'bf', op: 'Cast', input: ['b'], attr: { SrcT: { type: 'DT_INT32' }, DstT: { type: 'DT_FLOAT' } } },
    { name: 'aw', op: 'Mul', input: ['a', 'w'], attr: { T: { type: 'DT_FLOAT' } } },
    { name: 'sum', op: 'AddV2', input: ['aw', 'bf', '^w'], attr: { T: { type: 'DT_FLOAT' } } },
    { name: 'out', op: 'Relu', input: ['sum'], attr: { T: { type: 'DT_FLOAT' } } },
    { name: 'out2', op: 'AddV2', input: ['a', 'bf'], attr: { T: { type: 'DT_FLOAT' } } },
  ];
  const weightData = Float32Array.from(w).buffer;
  const weightSpecs = [{ name: 'w', shape: [3], dtype: 'float32' as const }];
  const modelTopology = { node: nodes, versions: { producer: 1 } };
  return { modelTopology, weightSpecs, weightData, format: 'graph-model', w };
}

const A = randValues(6, 1), B = [3, -1, 2];

async function tfjsRef(outputs: string[]): Promise<tf.Tensor[]> {
  const g = twoInputGraph();
  const m = await tfconv.loadGraphModel(tf.io.fromMemory(g as tf.io.ModelArtifacts));
  const out = m.execute({ a: tf.tensor(A, [2, 3]), b: tf.tensor(B, [3], 'int32') }, outputs);
  return Array.isArray(out) ? out : [out];
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('loadGraphModel sources', () => {
  it('reads a path and a file:// URL (weights by the manifest paths), an IOHandler and ModelArtifacts', async () => {
    const g = twoInputGraph();
    const dir = mkdtempSync(join(tmpdir(), 'kiln-gm-'));
    writeFileSync(join(dir, 'model.json'), JSON.stringify({
      format: 'graph-model', modelTopology: g.modelTopology,
      weightsManifest: [{ paths: ['weights.bin'], weights: g.weightSpecs }],
    }));
    writeFileSync(join(dir, 'weights.bin'), new Uint8Array(g.weightData));
    const opts = { inputShapes: { a: [2, 3] }, outputs: ['out'] };
    const [want] = await tfjsRef(['out']);
    const a = kiln.tensor(A, [2, 3]), b = kiln.tensor(B, [3], 'i32');
    for (const source of [join(dir, 'model.json'), pathToFileURL(join(dir, 'model.json')).href, { load: async () => g }, g]) {
      const gm = await kiln.loadGraphModel(source, opts);
      gm.runEagerly = true;
      expectClose(gm.predict([a, b]) as Tensor, want!, 1e-6, String(typeof source));
    }
    // http(s): model.json and the shards through fetch, relative to the model's URL.
    const server = createServer((req, res) => {
      try {
        res.end(readFileSync(join(dir, decodeURIComponent(req.url!.split('/').pop()!))));
      } catch {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/models/model.json`;
      const gm = await kiln.loadGraphModel(url, opts);
      gm.runEagerly = true;
      expectClose(gm.predict([a, b]) as Tensor, want!, 1e-6, 'http');
      await expect(kiln.loadGraphModel(url.replace('model.json', 'nope.json'))).rejects.toThrow(/loadGraphModel: fetching http:.*nope\.json failed: HTTP 404/);
    } finally {
      server.close();
    }
    await expect(kiln.loadGraphModel(join(dir, 'missing.json'))).rejects.toThrow(/loadGraphModel: .*missing\.json does not exist/);
    await expect(kiln.loadGraphModel({ ...g, format: 'layers-model' })).rejects.toThrow(
      "loadGraphModel: the given ModelArtifacts has format 'layers-model', expected 'graph-model'; use kiln.loadLayersModel for it");
  });
});

describe('GraphModel', () => {
  it('describes inputs and outputs; predict takes a list or a record; int32 inputs; compiled by default', async () => {
    const gm = await kiln.loadGraphModel(twoInputGraph(), { inputShapes: [[2, 3], [3]], outputs: ['out', 'out2'], name: 'two' });
    expect(gm.name).toBe('two');
    expect(gm.inputs).toEqual([{ name: 'a', shape: [2, 3], dtype: 'f32' }, { name: 'b', shape: [3], dtype: 'i32' }]);
    expect(gm.outputs).toEqual([{ name: 'out', shape: [2, 3], dtype: 'f32' }, { name: 'out2', shape: [2, 3], dtype: 'f32' }]);
    const want = await tfjsRef(['out', 'out2']);
    const a = kiln.tensor(A, [2, 3]), b = kiln.tensor(B, [3], 'i32');
    const viaList = gm.predict([a, b]) as Tensor[];
    const viaRecord = gm.predict({ b, 'a:0': a }) as Tensor[];
    for (const got of [viaList, viaRecord]) got.forEach((t, i) => expectClose(t, want[i]!, 1e-6));
    gm.runEagerly = true;
    (gm.predict([a, b]) as Tensor[]).forEach((t, i) => expectClose(t, want[i]!, 1e-6));
    expectClose(gm.execute([a, b], ['aw'])[0]!, (await tfjsRef(['aw']))[0]!, 1e-6, 'execute aw');
    expect(() => gm.predict([a, kiln.tensor(B, [3])])).toThrow("predict: input 'b' of model 'two' must be i32[3] (-1 = any), got f32[3]");
    // 'a' is declared [-1, 3]: another batch size traces anew.
    const a4 = kiln.tensor(randValues(12, 9), [4, 3]);
    const m = await tfconv.loadGraphModel(tf.io.fromMemory(twoInputGraph() as tf.io.ModelArtifacts));
    const want4 = m.execute({ a: tf.tensor(a4.dataSync(), [4, 3]), b: tf.tensor(B, [3], 'int32') }, ['out', 'out2']) as tf.Tensor[];
    (gm.predict([a4, b]) as Tensor[]).forEach((t, i) => expectClose(t, want4[i]!, 1e-6, 'batch 4'));
    expect(() => gm.predict([kiln.tensor(randValues(8, 9), [2, 4]), b])).toThrow("predict: input 'a' of model 'two' must be f32[-1,3] (-1 = any), got f32[2,4]");
    expect(() => gm.predict({ a, c: b })).toThrow("predict: model 'two' has no input 'c'");
    expect(() => gm.predict([a])).toThrow("predict: model 'two' takes 2 input(s) (a, b), got 1");
  });

  it('inputShapes by signature key; the signature orders the inputs', async () => {
    const g = twoInputGraph();
    const dim = (d: number[]) => ({ dim: d.map((x) => ({ size: String(x) })) });
    const signature = { inputs: { ids: { name: 'b:0', dtype: 'DT_INT32', tensorShape: dim([3]) }, image: { name: 'a:0', dtype: 'DT_FLOAT', tensorShape: dim([-1, 3]) } } };
    const gm = await kiln.loadGraphModel({ ...g, signature }, { inputShapes: { image: [2, 3] }, outputs: ['out'] });
    expect(gm.inputs.map((i) => [i.name, i.shape])).toEqual([['b', [3]], ['a', [2, 3]]]);
    await expect(kiln.loadGraphModel({ ...g, signature }, { inputShapes: { imag: [2, 3] }, outputs: ['out'] })).rejects.toThrow(
      "loadGraphModel: inputShapes names 'imag', which is not an input of model 'graph_model'");
  });

  it('kiln.compile and kiln.explain take it like any model; the artifact runs on the runtime', async () => {
    const gm = await kiln.loadGraphModel(twoInputGraph(), { inputShapes: [[2, 3], [3]], outputs: ['out'] });
    expect(kiln.explain(gm)).toMatch(/fusion|group|kernel/i);
    const art = kiln.compile(gm);
    const { load } = await import('../../runtime/index.js');
    const prog = await load(art.bytes, { threads: 1 });
    const out = await prog.run({ [prog.inputs[0]!.name]: Float32Array.from(A), [prog.inputs[1]!.name]: Int32Array.from(B) });
    const [want] = await tfjsRef(['out']);
    expectClose(kiln.tensor(Array.from(out[prog.outputs[0]!.name]!), [2, 3]), want!, 1e-6, 'runtime');
  });
});
