/**
 * The command line on a real pretrained model (test/fixtures/models, fetched by `npm run
 * fixtures`): esrgan-slim x4, a LayersModel with unknown spatial size, compiled by `kiln compile`
 * with --input-shape choosing height and width, run by `kiln run` on an .npy image, and compared
 * with tfjs-layers' own loadLayersModel + predict on the same files.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, describe, expect, it } from 'vitest';
import { readNpy, writeNpy } from './npy.js';
import { kiln, randomData, tempDir } from './test_util.js';

const t = tempDir();
afterAll(t.remove);
const MODEL = join(__dirname, '../../test/fixtures/models/esrgan-slim/x4/model.json');

async function tfjsModel(path: string): Promise<tfl.LayersModel> {
  const json = JSON.parse(readFileSync(path, 'utf8')) as { modelTopology: object; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
  const buffers = json.weightsManifest.flatMap((g) => g.paths.map((p) => new Uint8Array(readFileSync(join(dirname(path), p)))));
  const all = new Uint8Array(buffers.reduce((n, b) => n + b.byteLength, 0));
  buffers.reduce((at, b) => (all.set(b, at), at + b.byteLength), 0);
  return tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((g) => g.weights), weightData: all.buffer }));
}

describe('kiln on a pretrained model', () => {
  it('esrgan-slim x4: compile with --input-shape 1,12,10,3, run, equal to tfjs-layers within 1e-4 relative', async () => {
    if (!existsSync(MODEL)) throw new Error(`fixture ${MODEL} is missing: run \`npm run fixtures\` to fetch the pretrained test models`);
    await tf.setBackend('cpu');
    const c = await kiln(['compile', MODEL, '-o', 'es.kiln', '--input-shape', '1,12,10,3'], t.dir);
    expect(c.stderr).not.toMatch(/error/);
    expect(c.code).toBe(0);
    expect(c.stderr).toMatch(/LayersModel '\S+' from .*model.json \(inputs: \S+ f32\[\?,\?,\?,3\]\)/);
    const x = randomData(12 * 10 * 3, 77, 0, 255);
    writeFileSync(t.path('img.npy'), writeNpy(x, [1, 12, 10, 3]));
    const r = await kiln(['run', 'es.kiln', '--input', 'img.npy', '--output', 'up.npy', '--threads', '2'], t.dir);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const y = readNpy(new Uint8Array(readFileSync(t.path('up.npy'))));
    expect(y.shape).toEqual([1, 48, 40, 3]);
    const want = ((await tfjsModel(MODEL)).predict(tf.tensor(x, [1, 12, 10, 3])) as tf.Tensor).dataSync();
    let num = 0;
    let den = 0;
    for (let i = 0; i < want.length; i++) {
      num = Math.max(num, Math.abs(y.data[i]! - want[i]!));
      den = Math.max(den, Math.abs(want[i]!));
    }
    expect(den).toBeGreaterThan(1);
    expect(num / den).toBeLessThan(1e-4);
  }, 60_000);
});
