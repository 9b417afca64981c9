/**
 * Resizing with Keras's semantics (tf.image.resize: half-pixel centers; cropToAspectRatio crops
 * the centered box of the target aspect ratio first) against tf.image.resizeBilinear /
 * resizeNearestNeighbor with halfPixelCenters and tf.slice: predictions; input gradients against
 * the same resize written as two interpolation-matrix products (tfjs-core's resize gradients
 * are wrong for non-square images);
 * unbatched images, config round trip, a tfjs-layers-saved model loaded by kiln.loadLayersModel
 * (against the Keras reference, since tfjs-layers 4.22's own Resizing passes
 * alignCorners = !cropToAspectRatio and never crops), the compiled artifact.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { input } from '../engine/input.js';
import { loadLayersModel } from '../saving/load.js';
import { tensorFromData, type Tensor } from '../backend.js';
import { maxAbsDiff, randomData, randomTensor, toTf, useCpuBackend } from '../test_util.js';
import { aspectRatioCropBox, resizing, type ResizingArgs } from './resizing.js';
import { captureArtifacts, compiledDiff, loadKeras3Sequential, cudaAssembles, hasPtxas, resizeByMatrices, expectConfigRoundTrip, gradientDiffs, predictionDiff, type LayerCase } from './layer_testkit.js';

beforeAll(useCpuBackend);

function crop(x: tf.Tensor, args: ResizingArgs): tf.Tensor4D {
  if (!args.cropToAspectRatio) return x as tf.Tensor4D;
  const [top, left, ch, cw] = aspectRatioCropBox(x.shape[1]!, x.shape[2]!, args.height, args.width);
  return tf.slice(x as tf.Tensor4D, [0, top, left, 0], [-1, ch, cw, -1]);
}

/** Keras's Resizing as tf.image computes it (forward only: tfjs-core 4.22's resize gradients are wrong for non-square images). */
const tfImage = (args: ResizingArgs) => (x: tf.Tensor): tf.Tensor => {
  const size: [number, number] = [args.height, args.width];
  return args.interpolation === 'nearest' ? tf.image.resizeNearestNeighbor(crop(x, args), size, false, true) : tf.image.resizeBilinear(crop(x, args), size, false, true);
};

/** The same resize as two interpolation-matrix products (differentiable by tfjs-core): the gradient reference. */
const matrices = (args: ResizingArgs) => (x: tf.Tensor): tf.Tensor =>
  resizeByMatrices(crop(x, args), [args.height, args.width], { nearest: args.interpolation === 'nearest', halfPixelCenters: true });

describe('Resizing', () => {
  const cases: [string, ResizingArgs][] = [
    ['bilinear up', { height: 7, width: 9 }],
    ['bilinear down', { height: 3, width: 2 }],
    ['nearest up and down', { height: 9, width: 3, interpolation: 'nearest' }],
    ['bilinear, cropToAspectRatio (wider target)', { height: 4, width: 8, cropToAspectRatio: true }],
    ['nearest, cropToAspectRatio (taller target)', { height: 6, width: 2, interpolation: 'nearest', cropToAspectRatio: true }],
  ];
  for (const [what, args] of cases) {
    const c: LayerCase = { kiln: () => resizing(args), oracle: tfImage(args), input: [2, 5, 6, 3] };
    const g: LayerCase = { ...c, oracle: matrices(args) };
    it(`${what}: predictions match tf.image with halfPixelCenters, input gradients its matrix form; compiled artifact equals the interpreter`, async () => {
      expect(predictionDiff(c)).toBeLessThanOrEqual(1e-5);
      expect(predictionDiff(g)).toBeLessThanOrEqual(1e-5);
      expect(gradientDiffs(g).input).toBeLessThanOrEqual(1e-5);
      expect(await compiledDiff(c)).toBeLessThanOrEqual(1e-5);
    });
  }

  it("Keras's crop box (integer truncation), and an unbatched image", () => {
    expect(aspectRatioCropBox(5, 6, 4, 8)).toEqual([1, 0, 3, 6]);
    expect(aspectRatioCropBox(5, 6, 6, 2)).toEqual([0, 2, 5, 1]);
    expect(aspectRatioCropBox(10, 10, 3, 3)).toEqual([0, 0, 10, 10]);
    const img = randomTensor([5, 6, 2], 3);
    const y = resizing({ height: 4, width: 8, cropToAspectRatio: true }).apply(img);
    expect(y.shape).toEqual([4, 8, 2]);
    expect(maxAbsDiff(y, tf.squeeze(tfImage({ height: 4, width: 8, cropToAspectRatio: true })(tf.expandDims(toTf(img), 0)), [0]))).toBeLessThanOrEqual(1e-5);
  });

  it('a tfjs-layers-saved model loads and predicts as Keras defines Resizing', async () => {
    for (const args of [{ height: 7, width: 4 }, { height: 3, width: 6, interpolation: 'nearest' as const, cropToAspectRatio: true }]) {
      const inp = tfl.input({ shape: [5, 6, 2] });
      const tm = tfl.model({ inputs: inp, outputs: tfl.layers.resizing(args).apply(inp) as tfl.SymbolicTensor });
      const km = await loadLayersModel(await captureArtifacts((h) => tm.save(h)) as never);
      const x = randomData(2 * 5 * 6 * 2, 8);
      km.runEagerly = true;
      expect(maxAbsDiff(km.predict(tensorFromData(x, [2, 5, 6, 2])) as Tensor, tfImage(args)(tf.tensor(x, [2, 5, 6, 2])))).toBeLessThanOrEqual(1e-5);
    }
  });

  it.skipIf(!hasPtxas)('bilinear Resizing with cropToAspectRatio compiles for the CUDA target (sm_80) to PTX that ptxas assembles', () => {
    const r = cudaAssembles({ kiln: () => resizing({ height: 4, width: 8, cropToAspectRatio: true }), input: [2, 5, 6, 3] });
    expect(r.ok, r.log).toBe(true);
    expect(r.kernels).toBeGreaterThan(0);
  });

  it('loads from a Keras 3 model.json (all of its Resizing fields)', async () => {
    const config = { height: 4, width: 8, interpolation: 'bilinear', crop_to_aspect_ratio: true, pad_to_aspect_ratio: false, fill_mode: 'constant', fill_value: 0.0, antialias: false, data_format: 'channels_last' };
    const m = await loadKeras3Sequential([{ class_name: 'Resizing', config }], [2, 5, 6, 3]);
    const x = randomTensor([2, 5, 6, 3], 6);
    expect(maxAbsDiff(m.predict(x) as never, tfImage({ height: 4, width: 8, cropToAspectRatio: true })(toTf(x)))).toBeLessThanOrEqual(1e-5);
  });

  it('output shapes, config round trip, errors', () => {
    expect(resizing({ height: 4, width: 3 }).apply(input({ shape: [null, null, 3] as unknown as number[] })).shape).toEqual([null, 4, 3, 3]);
    const l = resizing({ height: 4, width: 3, interpolation: 'nearest', cropToAspectRatio: true });
    expect(expectConfigRoundTrip(l, tfl.layers.resizing({ height: 4, width: 3 }))).toMatchObject({ height: 4, width: 3, interpolation: 'nearest', cropToAspectRatio: true });
    expect(() => resizing({ height: 4, width: 3, interpolation: 'bicubic' as 'nearest', name: 'r' })).toThrow(`Resizing 'r': interpolation "bicubic" is not supported (Kiln supports 'bilinear' and 'nearest')`);
    expect(() => resizing({ height: 4, width: 3, padToAspectRatio: true, name: 'r' })).toThrow("Resizing 'r': padToAspectRatio true is not supported (Kiln supports false)");
    expect(() => resizing({ height: 0, width: 3, name: 'r' })).toThrow("Resizing 'r': height must be a positive integer, got 0");
    expect(() => resizing({ height: 2, width: 3, name: 'r' }).apply(randomTensor([2, 3], 1))).toThrow("Resizing 'r': expected a 4-D NHWC input [batch, height, width, channels] or one 3-D image, got f32[2,3]");
  });
});
