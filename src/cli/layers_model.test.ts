/**
 * `kiln compile` on TensorFlow.js LayersModels saved by tfjs-layers itself (tf.io.withSaveHandler),
 * then `kiln run` on the artifact, against tfjs-layers' predict on the same model.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readArtifact } from '../runtime/index.js';
import { readNpy, writeNpy } from './npy.js';
import { kiln, maxAbs, randomData, tempDir } from './test_util.js';
import { saveWithTfjs } from './test_models.js';

const t = tempDir();
afterAll(t.remove);

let cnn: tfl.Sequential;
let two: tfl.LayersModel;

beforeAll(async () => {
  await tf.setBackend('cpu');
  cnn = tfl.sequential({ layers: [
    tfl.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [8, 8, 3], biasInitializer: 'randomNormal' }),
    tfl.layers.depthwiseConv2d({ kernelSize: 3, activation: 'relu6' }),
    tfl.layers.globalAveragePooling2d({}),
    tfl.layers.dense({ units: 4, activation: 'softmax' }),
  ] });
  await saveWithTfjs(cnn, t.dir, 'cnn.json');
  const a = tfl.input({ shape: [4], name: 'a' });
  const b = tfl.input({ shape: [2], name: 'b' });
  const y = tfl.layers.dense({ units: 3, activation: 'tanh' }).apply(tfl.layers.concatenate().apply([a, b]) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
  two = tfl.model({ inputs: [a, b], outputs: y });
  await saveWithTfjs(two, t.dir, 'two.json');
});

/** A custom layer as a tfjs user registers it: y = 0.2 x. */
class TflScale extends tfl.layers.Layer {
  static className = 'ScaleBy02';
  constructor(config?: object) { super(config ?? {}); }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.mul(Array.isArray(inputs) ? inputs[0]! : inputs, 0.2);
  }
}
tf.serialization.registerClass(TflScale);

/** The same layer for Kiln, in the module `kiln compile --layers` takes. */
const KILN_LAYERS = `export default function register(kiln) {
  class ScaleBy02 extends kiln.Layer {
    static className = 'ScaleBy02';
    call(x) { return kiln.mul(Array.isArray(x) ? x[0] : x, 0.2); }
  }
  kiln.registerLayer('ScaleBy02', ScaleBy02);
}
`;

const manifestOf = (file: string) => readArtifact(new Uint8Array(readFileSync(t.path(file)))).manifest;
const npy = (file: string) => readNpy(new Uint8Array(readFileSync(t.path(file))));

describe('kiln compile on LayersModels saved by tfjs-layers', () => {
  it('--input-shape fills the unknown batch; kiln run equals tfjs-layers predict', async () => {
    const r = await kiln(['compile', 'cnn.json', '-o', 'cnn.kiln', '--input-shape', '3,8,8,3'], t.dir);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`load .*LayersModel '${cnn.name}' from cnn.json \\(inputs: \\S+ f32\\[\\?,8,8,3\\]\\)`));
    expect(manifestOf('cnn.kiln').inputs[0]!.shape).toEqual([3, 8, 8, 3]);
    const x = randomData(3 * 8 * 8 * 3, 31);
    writeFileSync(t.path('x.npy'), writeNpy(x, [3, 8, 8, 3]));
    const run = await kiln(['run', 'cnn.kiln', '--input', 'x.npy', '--output', 'y.npy'], t.dir);
    expect(run.code).toBe(0);
    const want = (cnn.predict(tf.tensor(x, [3, 8, 8, 3])) as tf.Tensor).dataSync() as Float32Array;
    const y = npy('y.npy');
    expect(y.shape).toEqual([3, 4]);
    expect(maxAbs(y.data, want)).toBeLessThan(1e-5);
  });

  it('without --input-shape the batch is 1, and stderr says so', async () => {
    const r = await kiln(['compile', 'cnn.json', '-o', 'cnn1.kiln'], t.dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/note: unknown dimensions of '\S+' \[\?,8,8,3\] are compiled as 1; give --input-shape to choose/);
    expect(manifestOf('cnn1.kiln').inputs[0]!.shape).toEqual([1, 8, 8, 3]);
  });

  it('two inputs take one --input-shape each, in order; kiln run with named inputs equals predict', async () => {
    const r = await kiln(['compile', 'two.json', '-o', 'two.kiln', '--input-shape', '2,4', '--input-shape', '2,2'], t.dir);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const m = manifestOf('two.kiln');
    expect(m.inputs.map((i) => i.shape)).toEqual([[2, 4], [2, 2]]);
    const a = randomData(8, 41);
    const b = randomData(4, 42);
    writeFileSync(t.path('a.npy'), writeNpy(a, [2, 4]));
    writeFileSync(t.path('b.npy'), writeNpy(b, [2, 2]));
    const run = await kiln(['run', 'two.kiln', '--input', `${m.inputs[1]!.name}=b.npy`, '--input', `${m.inputs[0]!.name}=a.npy`, '--output', 'y2.npy'], t.dir);
    expect(run.stderr).not.toMatch(/error/);
    expect(run.code).toBe(0);
    const want = (two.predict([tf.tensor(a, [2, 4]), tf.tensor(b, [2, 2])]) as tf.Tensor).dataSync() as Float32Array;
    expect(maxAbs(npy('y2.npy').data, want)).toBeLessThan(1e-5);
  });

  it('--layers registers custom layers from a module; without it the unknown class is named with the flag to use', async () => {
    const m = tfl.sequential({ layers: [tfl.layers.dense({ units: 3, inputShape: [5], biasInitializer: 'ones' }), new TflScale()] });
    await saveWithTfjs(m, t.dir, 'custom.json');
    writeFileSync(t.path('layers.mjs'), KILN_LAYERS);
    const bare = await kiln(['compile', 'custom.json', '-o', 'custom.kiln'], t.dir);
    expect(bare.code).toBe(1);
    expect(bare.stderr).toMatch(/unknown layer class 'ScaleBy02'.*\(on the command line: --layers <module.mjs> whose default export/);
    const r = await kiln(['compile', 'custom.json', '-o', 'custom.kiln', '--layers', 'layers.mjs', '--input-shape', '2,5'], t.dir);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const x = randomData(10, 51);
    writeFileSync(t.path('cx.npy'), writeNpy(x, [2, 5]));
    const run = await kiln(['run', 'custom.kiln', '--input', 'cx.npy', '--output', 'cy.npy'], t.dir);
    expect(run.code).toBe(0);
    const want = (m.predict(tf.tensor(x, [2, 5])) as tf.Tensor).dataSync() as Float32Array;
    expect(maxAbs(npy('cy.npy').data, want)).toBeLessThan(1e-6);
    writeFileSync(t.path('notfn.mjs'), 'export default 42;\n');
    const bad = await kiln(['compile', 'custom.json', '-o', 'x.kiln', '--layers', 'notfn.mjs'], t.dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--layers module 'notfn.mjs': the default export must be a function \(kiln\) => void/);
    const missing = await kiln(['compile', 'custom.json', '-o', 'x.kiln', '--layers', 'nope.mjs'], t.dir);
    expect(missing.stderr).toMatch(/cannot read --layers module 'nope.mjs': no such file or directory/);
  });

  it('refuses --input-shape that does not fit the model (exit 2), naming the input', async () => {
    const cases: [string[], RegExp][] = [
      [['cnn.json', '--input-shape', '3,9,8,3'], /--input-shape #1 \[3,9,8,3\] for input '\S+' \[\?,8,8,3\]: dimension 1 is 9 but the model fixes it at 8/],
      [['two.json', '--input-shape', '2,4'], /1 --input-shape given, but 'two.json' has 2 inputs \(a f32\[\?,4\], b f32\[\?,2\]\)/],
      [['cnn.json', '--outputs', 'dense'], /--outputs cuts GraphModels; 'cnn.json' is a LayersModel/],
    ];
    for (const [argv, msg] of cases) {
      const r = await kiln(['compile', ...argv, '-o', 'bad.kiln'], t.dir);
      expect(r.stderr).toMatch(msg);
      expect(r.code).toBe(2);
    }
  });

  it('a LayersModel that cannot load exits 1 with the loader\'s reason', async () => {
    const json = JSON.parse(readFileSync(t.path('cnn.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
    json.weightsManifest[0]!.paths = ['gone.bin'];
    writeFileSync(t.path('noweights.json'), JSON.stringify(json));
    const r = await kiln(['compile', 'noweights.json', '-o', 'x.kiln'], t.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^kiln compile: error: cannot load LayersModel 'noweights.json': .*gone.bin/);
  });
});
