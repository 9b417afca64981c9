/**
 * Models for src/cli tests, built with Kiln's Keras API next to their tfjs-layers twins (kept
 * apart from test_util.ts so tests that need no model do not load tfjs-layers). Tests only.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { randomizeWeights, toTf, useCpuBackend } from '../keras/test_util.js';
import { sequential, type Sequential } from '../keras/engine/sequential.js';
import { conv2d } from '../keras/layers/conv2d.js';
import { maxPooling2d } from '../keras/layers/max_pooling2d.js';
import { flatten } from '../keras/layers/flatten.js';
import { dense } from '../keras/layers/dense.js';
import { toFunc, type Compilable } from '../compile.js';
import { printFunc } from '../ir/print.js';

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


/**
 * Saves a tfjs-layers model into `dir` through tfjs's own save path (tf.io.withSaveHandler),
 * written the way tfjs's file handlers lay it out: model.json (topology, weightsManifest with
 * one shard) and the shard beside it.
 */
export async function saveWithTfjs(model: tfl.LayersModel, dir: string, file = 'model.json'): Promise<void> {
  await model.save(tf.io.withSaveHandler(async (a) => {
    const shard = `${file.replace(/\.json$/, '')}.weights.bin`;
    writeFileSync(join(dir, shard), new Uint8Array(a.weightData as ArrayBuffer));
    writeFileSync(join(dir, file), JSON.stringify({
      modelTopology: a.modelTopology, format: a.format ?? 'layers-model', generatedBy: a.generatedBy, convertedBy: a.convertedBy ?? null,
      weightsManifest: [{ paths: [shard], weights: a.weightSpecs }],
    }));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
}
