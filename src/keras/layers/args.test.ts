/**
 * The Keras boundary of every layer: unknown arguments refused with the closest valid name,
 * missing required arguments named, values Kiln cannot honour refused naming the layer, field
 * and value; Keras spellings accepted (dtype 'float32', 'channels_last', 'SAME', snake_case
 * activations); and every layer's getConfig holds every key tfjs-layers' getConfig writes for
 * the same layer, so a Kiln-saved config carries what tfjs-layers reads.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { KilnError } from '../../ir/types.js';
import { deserializeLayer, type Layer } from '../engine/layer.js';
import { l2 } from '../regularizers.js';
import * as tfc from '@tensorflow/tfjs-core';
import { maxAbsDiff, randomTensor, toTf, useCpuBackend } from '../test_util.js';
import * as L from './index.js';
import { closestName } from './args.js';

beforeAll(useCpuBackend);

describe('argument checking', () => {
  it('refuses unknown arguments with the closest valid name', () => {
    expect(() => L.conv2d({ name: 'c1', filters: 2, kernelSise: 3 } as never)).toThrow(KilnError);
    expect(() => L.conv2d({ name: 'c1', filters: 2, kernelSize: 3, kernelSise: 3 } as never)).toThrow("Conv2D 'c1': unknown argument 'kernelSise' (did you mean 'kernelSize'?)");
    expect(() => L.dense({ name: 'd1', units: 2, activaton: 'relu' } as never)).toThrow("Dense 'd1': unknown argument 'activaton' (did you mean 'activation'?)");
    // snake_case given to the camelCase API points at the camelCase name
    expect(() => L.dense({ name: 'd2', units: 2, use_bias: false } as never)).toThrow("Dense 'd2': unknown argument 'use_bias' (did you mean 'useBias'?)");
    expect(() => L.batchNormalization({ name: 'bn', momentun: 0.9 } as never)).toThrow("BatchNormalization 'bn': unknown argument 'momentun' (did you mean 'momentum'?)");
    expect(() => L.maxPooling2d({ name: 'p', poolSise: 2 } as never)).toThrow("MaxPooling2D 'p': unknown argument 'poolSise' (did you mean 'poolSize'?)");
    expect(() => L.flatten({ name: 'f', foo: 1 } as never)).toThrow(/Flatten 'f': unknown argument 'foo' \(valid: name, trainable, .*dataFormat\)/);
    expect(() => L.add({ name: 'a', axis: 1 } as never)).toThrow(/Add 'a': unknown argument 'axis'/);
  });

  it('names missing required arguments instead of failing later', () => {
    expect(() => L.conv2d({ name: 'conv2d_x', filters: 4 } as never)).toThrow("Conv2D 'conv2d_x': kernelSize is required");
    expect(() => L.conv2d({ name: 'conv2d_y', kernelSize: 3 } as never)).toThrow("Conv2D 'conv2d_y': filters is required");
    expect(() => L.dense({ name: 'd' } as never)).toThrow("Dense 'd': units is required");
    expect(() => L.depthwiseConv2d({ name: 'dw' } as never)).toThrow("DepthwiseConv2D 'dw': kernelSize is required");
    expect(() => L.dropout({ name: 'dr' } as never)).toThrow("Dropout 'dr': rate is required");
    expect(() => L.reshape({ name: 'r' } as never)).toThrow("Reshape 'r': targetShape is required");
    expect(() => L.activation({ name: 'act' } as never)).toThrow("Activation 'act': activation is required");
    expect(() => L.conv2d(undefined as never)).toThrow(/Conv2D 'conv2d(_\d+)?': filters is required/);
    expect(() => L.dense(null as never)).toThrow(/Dense 'dense(_\d+)?': expected an arguments object with units, got null/);
  });

  it('refuses values it cannot honour, naming layer, field and value', () => {
    expect(() => L.conv2d({ name: 'c', filters: 2, kernelSize: 3, dataFormat: 'channels_first' as never })).toThrow(
      `Conv2D 'c': dataFormat "channels_first" is not supported (Kiln layers are channels-last (NHWC); transpose the input to NHWC and use channelsLast)`);
    expect(() => L.maxPooling2d({ name: 'mp', dataFormat: 'channelsFirst' as never })).toThrow(/MaxPooling2D 'mp': dataFormat "channelsFirst" is not supported/);
    expect(() => L.globalAveragePooling2d({ name: 'g', dataFormat: 'channels_first' as never })).toThrow(/GlobalAveragePooling2D 'g': dataFormat "channels_first"/);
    expect(() => L.conv2d({ name: 'g2', filters: 4, kernelSize: 3, groups: 2 })).toThrow(`Conv2D 'g2': groups 2 is not supported (Kiln supports 1)`);
    expect(() => L.batchNormalization({ name: 'rn', renorm: true })).toThrow(`BatchNormalization 'rn': renorm true is not supported (Kiln supports false)`);
    expect(() => L.dense({ name: 'lo', units: 2, loraRank: 4 as never })).toThrow(`Dense 'lo': loraRank 4 is not supported (Kiln supports null)`);
    expect(() => L.dense({ name: 'ua', units: 2, activation: 'relu7' as never })).toThrow(`Dense 'ua': unknown activation 'relu7' (did you mean 'relu'?)`);
    expect(() => L.activation({ name: 'ub', activation: 'leaky' as never })).toThrow(/Activation 'ub': unknown activation 'leaky' \(valid: linear, relu/);
    expect(() => L.dense({ name: 'dt', units: 2, dtype: 'float64' as never })).toThrow(/Dense 'dt': dtype: unknown dtype "float64" \(expected one of 'f32'\/'float32'/);
    expect(() => L.conv2d({ name: 'pd', filters: 2, kernelSize: 3, padding: 'causal' as never })).toThrow(`Conv2D 'pd': padding must be 'same' or 'valid', got "causal"`);
    expect(() => L.dense({ name: 'kr', units: 2, kernelRegularizer: 'l3' as never })).toThrow(`Dense 'kr': kernelRegularizer: unknown regularizer 'l3' (did you mean 'l1'?)`);
    expect(() => L.dense({ name: 'kc', units: 2, kernelConstraint: 'nonNegative' as never })).toThrow(/Dense 'kc': kernelConstraint: unknown constraint 'nonNegative'/);
    expect(() => L.dense({ name: 'ki', units: 2, kernelInitializer: 'glorotUnifrom' as never })).toThrow(`Dense 'ki': kernelInitializer: unknown initializer 'glorotUnifrom' (did you mean 'glorotUniform'?)`);
  });

  it('accepts Keras spellings: float32, channels_last, SAME, snake_case activations, null optional fields', () => {
    const c = L.conv2d({ filters: 2, kernelSize: 3, dtype: 'float32', dataFormat: 'channels_last', padding: 'SAME', activation: 'hard_sigmoid', groups: 1, kernelRegularizer: null, biasConstraint: null });
    expect(c.dtype).toBe('f32');
    expect(c.padding).toBe('same');
    expect(c.getConfig()).toMatchObject({ activation: 'hardSigmoid', dataFormat: 'channelsLast', padding: 'same', kernelRegularizer: null, biasConstraint: null });
    expect(L.dense({ units: 1, dtype: 'f32', activation: 'log_softmax' }).activation).toBe('logSoftmax');
    expect(L.batchNormalization({ axis: [3], renorm: false, fused: true, renormClipping: null, virtualBatchSize: null, adjustment: null }).axis).toBe(3);
    expect(L.dropout({ rate: 0.5, seed: null, noiseShape: null }).seed).toBeUndefined();
    expect(L.flatten({ dataFormat: 'channels_last' }).getConfig()).toMatchObject({ dataFormat: 'channelsLast' });
    expect(L.averagePooling2d({ padding: 'VALID', dataFormat: 'channels_last' }).padding).toBe('valid');
    expect(L.conv2d({ filters: 1, kernelSize: [3], strides: [2] }).getConfig()).toMatchObject({ kernelSize: [3, 3], strides: [2, 2] });
    expect(() => L.conv2d({ name: 'ks', filters: 1, kernelSize: [3, 3, 3] })).toThrow("Conv2D 'ks': kernelSize must be a positive integer or a pair of them, got [3,3,3]");
  });

  it('closestName prefers the nearest, case-insensitive, and gives up when nothing is close', () => {
    expect(closestName('kernel_size', ['kernelSize', 'filters'])).toBe('kernelSize');
    expect(closestName('xyz', ['kernelSize', 'filters'])).toBeUndefined();
  });
});

/** Kiln layer and the tfjs-layers twin built with the same arguments. */
const twins: [string, () => Layer, () => tfl.layers.Layer, number[]][] = [
  ['Dense', () => L.dense({ units: 3, kernelRegularizer: l2() }), () => tfl.layers.dense({ units: 3 }), [2, 4]],
  ['Conv2D', () => L.conv2d({ filters: 2, kernelSize: 3 }), () => tfl.layers.conv2d({ filters: 2, kernelSize: 3 }), [1, 5, 5, 2]],
  ['DepthwiseConv2D', () => L.depthwiseConv2d({ kernelSize: 3 }), () => tfl.layers.depthwiseConv2d({ kernelSize: 3 }), [1, 5, 5, 2]],
  ['BatchNormalization', () => L.batchNormalization(), () => tfl.layers.batchNormalization({}), [2, 3]],
  ['Activation', () => L.activation({ activation: 'relu' }), () => tfl.layers.activation({ activation: 'relu' }), [2, 3]],
  ['ReLU', () => L.reLU({ maxValue: 6 }), () => tfl.layers.reLU({ maxValue: 6 }), [2, 3]],
  ['Dropout', () => L.dropout({ rate: 0.3 }), () => tfl.layers.dropout({ rate: 0.3 }), [2, 3]],
  ['Flatten', () => L.flatten(), () => tfl.layers.flatten({}), [2, 3, 2]],
  ['Reshape', () => L.reshape({ targetShape: [6] }), () => tfl.layers.reshape({ targetShape: [6] }), [2, 3, 2]],
  ['MaxPooling2D', () => L.maxPooling2d({ poolSize: 2 }), () => tfl.layers.maxPooling2d({ poolSize: 2 }), [1, 4, 4, 2]],
  ['AveragePooling2D', () => L.averagePooling2d({ poolSize: 2 }), () => tfl.layers.averagePooling2d({ poolSize: 2 }), [1, 4, 4, 2]],
  ['GlobalAveragePooling2D', () => L.globalAveragePooling2d(), () => tfl.layers.globalAveragePooling2d({}), [1, 4, 4, 2]],
  ['ZeroPadding2D', () => L.zeroPadding2d({ padding: 1 }), () => tfl.layers.zeroPadding2d({ padding: 1 }), [1, 4, 4, 2]],
  ['UpSampling2D', () => L.upSampling2d(), () => tfl.layers.upSampling2d({}), [1, 4, 4, 2]],
];

describe('getConfig keys cover tfjs-layers getConfig', () => {
  it.each(twins)('%s', (_, kiln, tfjs, shape) => {
    const k = kiln();
    k.apply(randomTensor(shape, 1));
    const cfg = k.getConfig() as unknown as Record<string, unknown>;
    const want = Object.keys(tfjs().getConfig());
    expect(want.filter((key) => !(key in cfg))).toEqual([]);
    // The config rebuilds an equal layer (every key it writes is one the constructor accepts).
    const again = (k.constructor as unknown as { fromConfig(c: object): Layer }).fromConfig({ ...cfg, name: `${k.name}_again` });
    expect({ ...again.getConfig(), name: k.name }).toEqual(cfg);
    // tfjs-layers builds the same layer from Kiln's config (dtype in its spelling, as the saver
    // writes it): same outputs with the same weights.
    const entry = tfc.serialization.SerializationMap.getMap().classNameMap[k.className]!;
    const tl = entry[1](entry[0], { ...cfg, dtype: 'float32', name: `${k.name}_tfjs` }) as unknown as tfl.layers.Layer;
    const x = randomTensor(shape, 2);
    tl.apply(toTf(x));
    tl.setWeights(k.getWeights().map(toTf));
    expect(maxAbsDiff(k.apply(x) as never, tl.apply(toTf(x)) as tfc.Tensor)).toBeLessThan(1e-5);
  });

  it('Concatenate and Add', () => {
    expect(Object.keys(L.concatenate({ axis: -1 }).getConfig())).toEqual(expect.arrayContaining(Object.keys(tfl.layers.concatenate({ axis: -1 }).getConfig())));
    expect(Object.keys(L.add().getConfig())).toEqual(expect.arrayContaining(Object.keys(tfl.layers.add({}).getConfig())));
  });
});

/** Keras snake_case keys to camelCase, recursively (values untouched), as the importer does. */
function camelKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(camelKeys);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()), camelKeys(x)]));
}

describe('configs of real Keras models', () => {
  it('every built-in layer of the esrgan fixtures builds from its converter-written config', () => {
    const files = ['test/fixtures/models/esrgan-slim/x4/model.json', 'test/fixtures/models/esrgan-legacy/psnr-small/model.json', 'test/fixtures/models/esrgan-legacy/gans/model.json'];
    const custom = new Set(['InputLayer', 'MultiplyBeta', 'PixelShuffle4x']);
    let built = 0;
    for (const f of files) {
      if (!existsSync(f)) throw new Error(`fixture ${f} is missing: run \`npm run fixtures\``);
      const topo = JSON.parse(readFileSync(f, 'utf8')).modelTopology;
      for (const l of (topo.model_config ?? topo).config.layers as { class_name: string; config: object }[]) {
        if (custom.has(l.class_name)) continue;
        const layer = deserializeLayer({ className: l.class_name, config: camelKeys(l.config) as object });
        expect(layer.dtype).toBe('f32'); // 'float32' in the file
        built++;
      }
    }
    expect(built).toBeGreaterThan(500);
  });
});
