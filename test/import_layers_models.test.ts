/**
 * Real pretrained tfjs LayersModels from npm (@upscalerjs/esrgan-slim x4: Conv2D, Concatenate,
 * Add, UpSampling2D, float32, unknown spatial size; @upscalerjs/esrgan-legacy psnr-small:
 * uint8 weights, keras_version "2.3.0-tf"; gans: 154 Conv2D plus the custom layers MultiplyBeta
 * and PixelShuffle4x, uint8 weights) imported by kiln.loadLayersModel and checked against
 * tfjs-layers' own loadLayersModel on tfjs-backend-cpu with the same input: the interpreter path
 * and the compiled artifact on the runtime with 1 and 2 threads, within 1e-4 relative.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { load } from '../src/runtime/index.js';
import type { Tensor } from '../src/frontend/tensor.js';
import { randomData, useCpuBackend } from '../src/keras/test_util.js';
import { fixture, relError, tfjsArtifacts } from './fixtures/util.js';
import { kilnEsrganLayers, registerTfjsEsrganLayers } from './fixtures/esrgan_layers.js';

beforeAll(useCpuBackend);

/** tfjs-layers on the same files. */
async function tfjsModel(path: string): Promise<tfl.LayersModel> {
  return tfl.loadLayersModel(tf.io.fromMemory(tfjsArtifacts(path)));
}

registerTfjsEsrganLayers();
const { MultiplyBeta, PixelShuffle4x } = kilnEsrganLayers(kiln);

interface Case {
  name: string;
  file: string;
  input: number[];
  range: number;
  custom?: boolean;
}

const CASES: Case[] = [
  { name: 'esrgan-slim x4', file: 'esrgan-slim/x4/model.json', input: [1, 12, 10, 3], range: 255 },
  { name: 'esrgan-legacy psnr-small', file: 'esrgan-legacy/psnr-small/model.json', input: [1, 10, 12, 3], range: 255 },
  { name: 'esrgan-legacy gans (custom layers)', file: 'esrgan-legacy/gans/model.json', input: [1, 8, 8, 3], range: 1, custom: true },
];

describe('pretrained LayersModels from npm match tfjs-layers', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const path = fixture(c.file);
      if (c.custom) {
        await expect(kiln.loadLayersModel(path)).rejects.toThrow(/unknown layer class '(MultiplyBeta|PixelShuffle4x)' in layer .*kiln\.registerLayer/);
        kiln.registerLayer('MultiplyBeta', MultiplyBeta);
        kiln.registerLayer('PixelShuffle4x', PixelShuffle4x);
      }
      const t0 = performance.now();
      const model = await kiln.loadLayersModel(path);
      const loadMs = performance.now() - t0;
      const x = randomData(c.input.reduce((a, b) => a * b, 1), 17, 0, c.range);
      const tm = await tfjsModel(path);
      const want = (tm.predict(tf.tensor(x, c.input)) as tf.Tensor).dataSync() as Float32Array;

      model.runEagerly = true;
      const interp = (model.predict(kiln.tensor(x, c.input)) as Tensor).dataSync();
      const eInterp = relError(interp, want);
      expect(eInterp).toBeLessThanOrEqual(1e-4);

      const t1 = performance.now();
      const artifact = kiln.compile(model, { inputShapes: [c.input] });
      const compileMs = performance.now() - t1;
      const errs: number[] = [];
      for (const threads of [1, 2]) {
        const prog = await load(artifact.bytes, { threads });
        try {
          const out = prog.runSync({ [prog.inputs[0]!.name]: x });
          errs.push(relError(out[prog.outputs[0]!.name] as Float32Array, want));
        } finally {
          prog.dispose();
        }
      }
      for (const e of errs) expect(e).toBeLessThanOrEqual(1e-4);
      console.log(`${c.name}: load ${loadMs.toFixed(0)} ms, compile ${compileMs.toFixed(0)} ms, artifact ${(artifact.bytes.length / 1e6).toFixed(2)} MB, ` +
        `rel. error interpreter ${eInterp.toExponential(1)}, compiled 1t ${errs[0]!.toExponential(1)} 2t ${errs[1]!.toExponential(1)}`);
    });
  }
});
