/**
 * UpSampling2D against tfjs-layers' UpSampling2D (nearest and bilinear, square and non-square
 * factors, channelsFirst), input gradients against the resize as interpolation-matrix products,
 * compiled artifacts, tfjs-layers-saved models, inside a compiled model with unknown spatial size, config round
 * trips, refusals, and the UpSampling2D configs of the real esrgan fixtures (Keras snake_case
 * as written by tensorflowjs_converter, keys camelCased here as the importer does).
 */
import { existsSync, readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { input } from '../engine/input.js';
import { model } from '../engine/functional.js';
import { deserializeLayer } from '../engine/layer.js';
import { maxAbsDiff, randomTensor, toTf, useCpuBackend } from '../test_util.js';
import { conv2d } from './conv2d.js';
import { compiledDiff, gradientDiffs, predictionDiff, resizeByMatrices, tfjsSavedModelDiff, type LayerCase } from './layer_testkit.js';
import { UpSampling2D, upSampling2d, type UpSampling2DArgs } from './up_sampling2d.js';

beforeAll(useCpuBackend);

describe('UpSampling2D', () => {
  it.each([
    ['nearest 2x2', {}],
    ['nearest 2x3', { size: [2, 3] }],
    ['bilinear 2x2', { interpolation: 'bilinear' as const }],
    ['bilinear 3x2', { size: [3, 2], interpolation: 'bilinear' as const }],
    ['nearest channelsFirst', { size: 3, dataFormat: 'channelsFirst' as const }],
    ['bilinear channelsFirst', { size: [2, 3], dataFormat: 'channelsFirst' as const, interpolation: 'bilinear' as const }],
  ] as [string, UpSampling2DArgs][])('%s matches tfjs-layers', (_, args) => {
    const x = randomTensor([2, 3, 4, 5], 3);
    const size = typeof args.size === 'number' ? [args.size, args.size] : args.size; // tfjs takes pairs only
    const want = tfl.layers.upSampling2d({ ...args, size } as never).apply(toTf(x)) as tf.Tensor;
    const got = upSampling2d(args).apply(x);
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-6);
  });

  it.each([
    ['nearest 2x3', { size: [2, 3] }],
    ['bilinear 3x2', { size: [3, 2], interpolation: 'bilinear' as const }],
  ] as [string, UpSampling2DArgs][])('%s: input gradients match the interpolation-matrix form; compiled artifact equals the interpreter; a tfjs-layers-saved model loads', async (_, args) => {
    const size = args.size as [number, number];
    const c: LayerCase = {
      kiln: () => upSampling2d(args), tfjs: () => tfl.layers.upSampling2d(args as never), input: [2, 3, 4, 2],
      oracle: (x) => resizeByMatrices(x, [3 * size[0], 4 * size[1]], { nearest: args.interpolation !== 'bilinear', halfPixelCenters: false }),
    };
    expect(predictionDiff({ ...c, tfjs: undefined })).toBeLessThanOrEqual(1e-6);
    expect(gradientDiffs(c).input).toBeLessThanOrEqual(1e-5);
    expect(await compiledDiff(c)).toBeLessThanOrEqual(1e-6);
    expect(await tfjsSavedModelDiff(c)).toBeLessThanOrEqual(1e-6);
  });

  it('compiles inside a model with unknown spatial size (as esrgan-slim has), matching tfjs-layers', () => {
    const inp = input({ shape: [null, null, 2] as unknown as number[] });
    const c = conv2d({ filters: 3, kernelSize: 3, padding: 'same' });
    const up = upSampling2d({ size: 2 });
    const m = model({ inputs: inp, outputs: up.apply(c.apply(inp)) });
    expect(up.computeOutputShape([null, null, 7, 3])).toEqual([null, null, 14, 3]);
    const tin = tfl.input({ shape: [null, null, 2] });
    const tm = tfl.model({ inputs: tin, outputs: tfl.layers.upSampling2d({ size: [2, 2] }).apply(tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }).apply(tin)) as tfl.SymbolicTensor });
    tm.setWeights(m.getWeights().map(toTf));
    for (const hw of [[3, 4], [5, 2]]) {
      const x = randomTensor([1, hw[0]!, hw[1]!, 2], 9);
      expect(maxAbsDiff(m.predict(x) as never, tm.predict(toTf(x)) as tf.Tensor)).toBeLessThan(1e-5);
    }
  });

  it('config round-trips with tfjs-layers key names; refusals name the layer, field and value', () => {
    const l = upSampling2d({ name: 'up', size: [2, 3], interpolation: 'bilinear', dataFormat: 'channels_last' });
    const cfg = l.getConfig();
    const t = tfl.layers.upSampling2d({ size: [2, 3], interpolation: 'bilinear' }).getConfig();
    for (const k of Object.keys(t)) expect(Object.keys(cfg)).toContain(k);
    expect(cfg).toMatchObject({ size: [2, 3], dataFormat: 'channelsLast', interpolation: 'bilinear' });
    expect(UpSampling2D.fromConfig(cfg).getConfig()).toEqual(cfg);
    expect(() => upSampling2d({ name: 'u1', interpolation: 'bicubic' as 'nearest' })).toThrow(`UpSampling2D 'u1': interpolation "bicubic" is not supported (Kiln supports 'nearest' and 'bilinear')`);
    expect(() => upSampling2d({ name: 'u2', sise: 2 } as never)).toThrow(`UpSampling2D 'u2': unknown argument 'sise' (did you mean 'size'?)`);
    expect(() => upSampling2d({ name: 'u3', size: 0 })).toThrow(/UpSampling2D 'u3': size must be a positive integer or a pair of them, got 0/);
    expect(() => upSampling2d({ name: 'u4' }).apply(randomTensor([2, 3, 4], 1))).toThrow(/UpSampling2D 'u4': expected a 4-D NHWC \[batch, height, width, channels\] input, got f32\[2,3,4\]/);
  });

  it('builds from the UpSampling2D configs of the esrgan fixtures', () => {
    const files = ['test/fixtures/models/esrgan-slim/x4/model.json', 'test/fixtures/models/esrgan-legacy/psnr-small/model.json'];
    for (const f of files) {
      if (!existsSync(f)) throw new Error(`fixture ${f} is missing: run \`npm run fixtures\``);
      const topo = JSON.parse(readFileSync(f, 'utf8')).modelTopology;
      const layers = (topo.model_config ?? topo).config.layers as { class_name: string; config: Record<string, unknown> }[];
      const ups = layers.filter((l) => l.class_name === 'UpSampling2D');
      expect(ups.length).toBeGreaterThan(0);
      for (const u of ups) {
        const camel = Object.fromEntries(Object.entries(u.config).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), v]));
        const layer = deserializeLayer({ className: 'UpSampling2D', config: camel });
        const x = randomTensor([1, 3, 2, 4], 5);
        const want = tfl.layers.upSampling2d({ size: camel.size as number[], interpolation: camel.interpolation as 'nearest' }).apply(toTf(x)) as tf.Tensor;
        expect(maxAbsDiff(layer.apply(x) as never, want)).toBeLessThan(1e-6);
      }
    }
  });
});
