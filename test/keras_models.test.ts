/**
 * Kiln Keras models against tfjs-layers with the same weights: an MLP and a small CNN built as
 * Sequential and as Functional models must predict the same values (max abs diff <= 1e-5).
 * Also: one trace per input signature, summary/param counts, weight round-trips, configs, errors.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { layers, input, model, sequential, Functional, Sequential, type Model } from '../src/keras/index.js';
import { fn } from '../src/frontend/index.js';
import type { Tensor } from '../src/frontend/tensor.js';
import { KilnError } from '../src/ir/types.js';
import { maxAbsDiff, randomTensor, toTf, useCpuBackend } from '../src/keras/test_util.js';
import * as kiln from 'kiln';

beforeAll(useCpuBackend);

/** Seeded random weights; moving variances positive so batch norm stays finite. */
function randomizeModel(m: Model, seed: number): void {
  m.setWeights(m.weights.map((w, i) =>
    w.name.endsWith('moving_variance') ? randomTensor(w.value.shape, seed + i, 0.5, 1.5) : randomTensor(w.value.shape, seed + i, -0.5, 0.5)));
}

function predictOne(m: Model, x: Tensor): Tensor {
  const y = m.predict(x);
  if (Array.isArray(y)) throw new Error('expected one output');
  return y;
}

function tfPredict(m: tfl.LayersModel, x: Tensor | Tensor[]): tf.Tensor {
  return m.predict(Array.isArray(x) ? x.map(toTf) : toTf(x)) as tf.Tensor;
}

// ---- the MLP: [28, 28] -> flatten -> 64 relu -> 32 relu -> 10 softmax ----------------------------

function kilnMlpSequential(): Sequential {
  return sequential({
    layers: [
      layers.flatten({ inputShape: [28, 28] }),
      layers.dense({ units: 64, activation: 'relu' }),
      layers.dense({ units: 32, activation: 'relu' }),
      layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
}

function kilnMlpFunctional(): Functional {
  const x = input({ shape: [28, 28] });
  let h = layers.flatten().apply(x);
  h = layers.dense({ units: 64, activation: 'relu' }).apply(h);
  h = layers.dense({ units: 32, activation: 'relu' }).apply(h);
  return model({ inputs: x, outputs: layers.dense({ units: 10, activation: 'softmax' }).apply(h) });
}

function tfMlp(): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.flatten({ inputShape: [28, 28] }),
      tfl.layers.dense({ units: 64, activation: 'relu' }),
      tfl.layers.dense({ units: 32, activation: 'relu' }),
      tfl.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
}

// ---- the CNN --------------------------------------------------------------------------------------

/** zero pad, conv, batch norm, depthwise conv, max pool, 1x1 conv, avg pool, global avg pool, dense. */
function cnnSpec<L>(f: {
  zeroPadding2d: (a: { padding: number; inputShape?: number[] }) => L; conv2d: (a: { filters: number; kernelSize: number; activation?: 'relu' }) => L;
  batchNormalization: (a: object) => L; depthwiseConv2d: (a: { kernelSize: number; depthMultiplier: number; padding: 'same'; activation: 'relu' }) => L;
  maxPooling2d: (a: { poolSize: number }) => L; averagePooling2d: (a: { poolSize: number }) => L; globalAveragePooling2d: (a: object) => L;
  dense: (a: { units: number; activation: 'softmax' }) => L;
}): L[] {
  return [
    f.zeroPadding2d({ padding: 1, inputShape: [12, 12, 3] }),
    f.conv2d({ filters: 8, kernelSize: 3, activation: 'relu' }),
    f.batchNormalization({}),
    f.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'relu' }),
    f.maxPooling2d({ poolSize: 2 }),
    f.conv2d({ filters: 8, kernelSize: 1 }),
    f.averagePooling2d({ poolSize: 2 }),
    f.globalAveragePooling2d({}),
    f.dense({ units: 10, activation: 'softmax' }),
  ];
}

const kilnCnnSequential = (): Sequential => sequential({ layers: cnnSpec(layers as never) });
const tfCnnSequential = (): tfl.Sequential => tfl.sequential({ layers: cnnSpec(tfl.layers as never) });

/** A DAG: a flatten branch and a global-average branch joined by Concatenate. */
function cnnDag<L extends { apply(x: never): unknown }, T>(f: typeof layers | typeof tfl.layers, x: T): unknown {
  const l = f as unknown as Record<string, (a: object) => L>;
  const ap = (layer: L, t: unknown): unknown => layer.apply(t as never);
  let h = ap(l.zeroPadding2d!({ padding: [[1, 0], [0, 1]] }), x);
  h = ap(l.conv2d!({ filters: 6, kernelSize: 3, strides: 1, activation: 'relu' }), h);
  h = ap(l.batchNormalization!({}), h);
  h = ap(l.depthwiseConv2d!({ kernelSize: 3, padding: 'same', activation: 'relu' }), h);
  const m = ap(l.maxPooling2d!({ poolSize: 2 }), h);
  const flat = ap(l.flatten!({}), ap(l.averagePooling2d!({ poolSize: 2, strides: 2 }), m));
  const gap = ap(l.globalAveragePooling2d!({}), m);
  const cat = ap(l.concatenate!({}), [flat, gap]);
  return ap(l.dense!({ units: 5, activation: 'softmax' }), cat);
}

function kilnCnnFunctional(): Functional {
  const x = input({ shape: [10, 10, 3] });
  return model({ inputs: x, outputs: cnnDag(layers, x) as never });
}
function tfCnnFunctional(): tfl.LayersModel {
  const x = tfl.input({ shape: [10, 10, 3] });
  return tfl.model({ inputs: x, outputs: cnnDag(tfl.layers, x) as tfl.SymbolicTensor });
}

function expectSameAsTf(k: Model, t: tfl.LayersModel, xShape: number[], seed: number): void {
  randomizeModel(k, seed);
  t.setWeights(k.getWeights().map(toTf));
  const x = randomTensor(xShape, seed + 1000);
  const got = predictOne(k, x);
  const want = tfPredict(t, x);
  expect(got.shape).toEqual(want.shape);
  // Not a vacuous comparison: the outputs vary across the batch.
  expect(new Set(Array.from(got.dataSync()).map((v) => v.toFixed(4))).size).toBeGreaterThan(3);
  expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-5);
}

describe('Keras models vs tfjs-layers (same weights)', () => {
  it('MLP 784-64-32-10, Sequential', () => expectSameAsTf(kilnMlpSequential(), tfMlp(), [6, 28, 28], 1));
  it('MLP 784-64-32-10, Functional', () => expectSameAsTf(kilnMlpFunctional(), tfMlp(), [6, 28, 28], 2));
  it('CNN, Sequential', () => expectSameAsTf(kilnCnnSequential(), tfCnnSequential(), [3, 12, 12, 3], 3));
  it('CNN with branches (Flatten + GlobalAveragePooling2D -> Concatenate), Functional', () =>
    expectSameAsTf(kilnCnnFunctional(), tfCnnFunctional(), [3, 10, 10, 3], 4));
  it('the CNN as a Functional chain equals the Sequential one on the same weights', () => {
    const s = kilnCnnSequential();
    const x = input({ shape: [12, 12, 3] });
    const f = model({ inputs: x, outputs: (cnnSpec(layers as never) as { apply(t: never): never }[]).reduce((h: never, l) => l.apply(h), x as never) as never });
    randomizeModel(s, 5);
    f.setWeights(s.getWeights());
    const xs = randomTensor([2, 12, 12, 3], 6);
    expect(maxAbsDiff(predictOne(f, xs), toTf(predictOne(s, xs)))).toBe(0);
  });

  it('multi-input, multi-output DAG with Add and a shared layer', () => {
    const build = (L: typeof layers | typeof tfl.layers, a: unknown, b: unknown) => {
      const l = L as unknown as Record<string, (x: object) => { apply(t: never): never }>;
      const shared = l.dense!({ units: 6, activation: 'tanh' });
      const ha = shared.apply(a as never);
      const hb = shared.apply(b as never);
      const s = l.add!({}).apply([ha, hb] as never);
      return [l.dense!({ units: 3 }).apply(s), l.dense!({ units: 2, activation: 'sigmoid' }).apply(ha)];
    };
    const ka = input({ shape: [4] }), kb = input({ shape: [4] });
    const k = model({ inputs: [ka, kb], outputs: build(layers, ka, kb) as never });
    const ta = tfl.input({ shape: [4] }), tb = tfl.input({ shape: [4] });
    const t = tfl.model({ inputs: [ta, tb], outputs: build(tfl.layers, ta, tb) as never });
    expect(k.layers.map((l) => l.className)).toEqual(t.layers.map((l) => l.getClassName() === 'Model' ? 'Functional' : l.getClassName()));
    randomizeModel(k, 7);
    t.setWeights(k.getWeights().map(toTf));
    const xa = randomTensor([5, 4], 8), xb = randomTensor([5, 4], 9);
    const got = k.predict([xa, xb]) as Tensor[];
    const want = t.predict([toTf(xa), toTf(xb)]) as tf.Tensor[];
    expect(got.length).toBe(2);
    got.forEach((g, i) => expect(maxAbsDiff(g, want[i]!)).toBeLessThanOrEqual(1e-6));
    expect(k.countParams()).toBe(t.countParams());
  });
});

describe('predict', () => {
  it('traces one program for every batch size and chunks with batchSize', () => {
    const m = kilnMlpSequential();
    const x = randomTensor([5, 28, 28], 1);
    const y1 = predictOne(m, x);
    const y2 = predictOne(m, x);
    predictOne(m, randomTensor([5, 28, 28], 2));
    expect(m.predictTraceCount).toBe(1);
    expect(Array.from(y2.dataSync())).toEqual(Array.from(y1.dataSync()));
    // Another batch size, and chunks of 2, 2 and 1: the same program (src/keras/engine/predict_program.ts).
    predictOne(m, randomTensor([2, 28, 28], 3));
    const chunked = m.predict(x, { batchSize: 2 }) as Tensor;
    expect(m.predictTraceCount).toBe(1);
    expect(maxAbsDiff(chunked, toTf(y1))).toBeLessThanOrEqual(1e-7);
  });

  it('setWeights after predict retraces with the new weights', () => {
    const m = kilnMlpSequential();
    const x = randomTensor([2, 28, 28], 1);
    const before = predictOne(m, x);
    randomizeModel(m, 11);
    const after = predictOne(m, x);
    expect(maxAbsDiff(after, toTf(before))).toBeGreaterThan(1e-3);
    const t = tfMlp();
    t.setWeights(m.getWeights().map(toTf));
    expect(maxAbsDiff(after, tfPredict(t, x))).toBeLessThanOrEqual(1e-5);
  });

  it('model.apply works inside another traced function, and a model nests as a layer', () => {
    const m = kilnMlpFunctional();
    randomizeModel(m, 12);
    const x = randomTensor([3, 28, 28], 13);
    const f = fn((t: Tensor) => m.apply(t) as Tensor);
    expect(maxAbsDiff(f(x), toTf(predictOne(m, x)))).toBe(0);
    const outer = input({ shape: [28, 28] });
    const nested = model({ inputs: outer, outputs: layers.activation({ activation: 'linear' }).apply(m.apply(outer)) });
    expect(nested.outputs[0]!.shape).toEqual([null, 10]);
    expect(maxAbsDiff(predictOne(nested, x), toTf(predictOne(m, x)))).toBe(0);
  });

  it('a Sequential without an input shape builds on first predict', () => {
    const m = sequential();
    m.add(layers.dense({ units: 3, activation: 'relu' }));
    m.add(layers.dense({ units: 2 }));
    expect(() => m.inputs).toThrow(/has no input shape yet/);
    const y = predictOne(m, randomTensor([4, 5], 1));
    expect(y.shape).toEqual([4, 2]);
    expect(m.inputShapes).toEqual([[null, 5]]);
    expect(m.countParams()).toBe(5 * 3 + 3 + 3 * 2 + 2);
  });
});

describe('summary, weights, config', () => {
  it('summary param counts equal tfjs-layers countParams', () => {
    const pairs: [Model, tfl.LayersModel][] = [
      [kilnMlpSequential(), tfMlp()], [kilnCnnSequential(), tfCnnSequential()], [kilnCnnFunctional(), tfCnnFunctional()],
    ];
    for (const [k, t] of pairs) {
      expect(k.countParams()).toBe(t.countParams());
      const lines: string[] = [];
      const text = k.summary((l) => lines.push(l));
      expect(lines.join('\n')).toBe(text);
      expect(text).toContain(`Total params: ${t.countParams().toLocaleString('en-US')}`);
      for (const l of k.layers) expect(text).toContain(`${l.name} (${l.className})`);
      // Per-layer counts agree too (tfjs orders layers the same way).
      const tfLayers = t.layers.filter((l) => l.getClassName() !== 'InputLayer');
      expect(k.layers.filter((l) => l.className !== 'InputLayer').map((l) => l.countParams())).toEqual(tfLayers.map((l) => l.countParams()));
    }
    const text = kilnMlpSequential().summary(() => {});
    expect(text).toMatch(/dense_?\d* \(Dense\)\s+\(None, 64\)\s+50,240/);
    expect(text).toContain('Non-trainable params: 0');
    const cnn = kilnCnnSequential().summary(() => {});
    expect(cnn).toMatch(/Non-trainable params: 16\b/); // batch norm moving mean + variance over 8 channels
  });

  it('getWeights order matches tfjs-layers (trainable first, then non-trainable)', () => {
    const k = kilnCnnFunctional();
    const t = tfCnnFunctional();
    expect(k.getWeights().map((w) => w.shape)).toEqual(t.getWeights().map((w) => w.shape));
    expect(k.weights.map((w) => w.name.split('/')[1])).toEqual(t.weights.map((w) => w.name.split('/').pop()!.replace(/_\d+$/, '')));
  });

  it('get/setWeights round-trip into a fresh model', () => {
    const a = kilnCnnSequential();
    randomizeModel(a, 21);
    const b = kilnCnnSequential();
    b.setWeights(a.getWeights());
    const x = randomTensor([2, 12, 12, 3], 22);
    expect(maxAbsDiff(predictOne(b, x), toTf(predictOne(a, x)))).toBe(0);
    b.getWeights().forEach((w, i) => expect(Array.from(w.dataSync())).toEqual(Array.from(a.getWeights()[i]!.dataSync())));
  });

  it('Sequential and Functional configs round-trip', () => {
    const s = kilnCnnSequential();
    const s2 = Sequential.fromConfig(s.getConfig());
    expect(s2.getConfig()).toEqual(s.getConfig());
    randomizeModel(s, 31);
    s2.setWeights(s.getWeights());
    const x = randomTensor([1, 12, 12, 3], 32);
    expect(maxAbsDiff(predictOne(s2, x), toTf(predictOne(s, x)))).toBe(0);

    const f = kilnCnnFunctional();
    const cfg = f.getConfig();
    const f2 = Functional.fromConfig(cfg);
    expect(f2.getConfig()).toEqual(cfg);
    expect(JSON.parse(JSON.stringify(cfg))).toEqual(cfg);
    randomizeModel(f, 33);
    f2.setWeights(f.getWeights());
    const y = randomTensor([2, 10, 10, 3], 34);
    expect(maxAbsDiff(predictOne(f2, y), toTf(predictOne(f, y)))).toBe(0);
  });

  it('a model nested in a Functional model round-trips through its config', () => {
    const inner = sequential({ layers: [layers.dense({ units: 5, inputShape: [3], activation: 'relu' }), layers.dense({ units: 2 })] });
    const x = input({ shape: [3] });
    const outer = model({ inputs: x, outputs: layers.dense({ units: 1 }).apply(inner.apply(x)) });
    expect(outer.layers.map((l) => l.className)).toEqual(['InputLayer', 'Sequential', 'Dense']);
    const copy = Functional.fromConfig(outer.getConfig());
    expect(copy.getConfig()).toEqual(outer.getConfig());
    randomizeModel(outer, 41);
    copy.setWeights(outer.getWeights());
    const xs = randomTensor([4, 3], 42);
    expect(maxAbsDiff(predictOne(copy, xs), toTf(predictOne(outer, xs)))).toBe(0);
  });

  it('getLayer by name and index', () => {
    const m = kilnMlpSequential();
    const d = m.layers[1]!;
    expect(m.getLayer(d.name)).toBe(d);
    expect(m.getLayer(1)).toBe(d);
    expect(() => m.getLayer('nope')).toThrow(/has no layer 'nope' \(layers: /);
  });
});

describe('errors', () => {
  it('setWeights checks count and shapes, naming the weight', () => {
    const m = sequential({ name: 'mlp', layers: [layers.dense({ units: 3, inputShape: [4] }), layers.dense({ units: 2 })] });
    const w = m.getWeights();
    expect(() => m.setWeights(w.slice(0, 3))).toThrow(KilnError);
    expect(() => m.setWeights(w.slice(0, 3))).toThrow("setWeights: model 'mlp' has 4 weights, got 3");
    const bad = [...w];
    bad[2] = randomTensor([3, 3], 1);
    expect(() => m.setWeights(bad)).toThrow(/setWeights: weight 2 '.*dense.*\/kernel' has shape \[3,2\], got \[3,3\]/);
    // Nothing was changed by the failed call.
    expect(m.getWeights()[0]).toBe(w[0]);
  });

  it('shape errors name the layer', () => {
    const m = sequential({ layers: [layers.dense({ units: 3, inputShape: [784], name: 'd0' })] });
    expect(() => m.predict(randomTensor([1, 10], 1))).toThrow(/predict: model '.*' input 0 \('.*'\) must be f32\[\?,784\], got f32\[1,10\]/);
    expect(() => m.add(layers.conv2d({ filters: 2, kernelSize: 3, name: 'c0' }))).toThrow("Conv2D 'c0': expected a 4-D NHWC input [batch, height, width, channels], got f32[?,3]");
    expect(() => m.predict([randomTensor([1, 784], 1), randomTensor([1, 784], 1)])).toThrow(/has 1 input\(s\)/);
  });

  it('functional graph errors', () => {
    const a = input({ shape: [3], name: 'in_a' });
    const b = input({ shape: [3], name: 'in_b' });
    const s = layers.add({ name: 'sum' }).apply([a, b]);
    expect(() => model({ inputs: a, outputs: s })).toThrow("graph disconnected: input 'in_b' (needed by 'sum') is not among the model inputs ['in_a']");
    expect(() => model({ inputs: s, outputs: s })).toThrow(/is not the output of an InputLayer/);
    expect(() => layers.dense({ units: 2 }).apply([a, randomTensor([1, 3], 1)] as never)).toThrow(/mix symbolic KerasTensors/);
  });

  it('layer names are unique per class', () => {
    const l1 = layers.dense({ units: 1 });
    const l2 = layers.dense({ units: 1 });
    expect(l1.name).not.toBe(l2.name);
    expect(l1.name).toMatch(/^dense(_\d+)?$/);
    expect(layers.batchNormalization().name).toMatch(/^batch_normalization(_\d+)?$/);
    expect(layers.conv2d({ filters: 1, kernelSize: 1 }).name).toMatch(/^conv2d(_\d+)?$/);
  });
});

describe('public API', () => {
  it('kiln.sequential / kiln.layers / kiln.input / kiln.model work from the package entry point', () => {
    const m = kiln.sequential({ layers: [kiln.layers.dense({ units: 4, inputShape: [3], activation: 'relu' }), kiln.layers.dense({ units: 1 })] });
    const x = kiln.tensor([[1, 2, 3], [-1, 0, 2]]);
    const y = m.predict(x) as Tensor;
    const t = tfl.sequential({ layers: [tfl.layers.dense({ units: 4, inputShape: [3], activation: 'relu' }), tfl.layers.dense({ units: 1 })] });
    t.setWeights(m.getWeights().map(toTf));
    expect(maxAbsDiff(y, tfPredict(t, x))).toBeLessThanOrEqual(1e-6);
    expect(kiln.sequential([kiln.layers.dense({ units: 2, inputShape: [3] })]).outputShapes).toEqual([[null, 2]]);
    const i = kiln.input({ shape: [3] });
    const f = kiln.model({ inputs: i, outputs: kiln.layers.dense({ units: 2 }).apply(i) });
    expect(f.outputShapes).toEqual([[null, 2]]);
    expect(kiln.initializers.glorotNormal({ seed: 1 }).generate([2, 2])).toEqual(kiln.initializers.glorotNormal({ seed: 1 }).generate([2, 2]));
  });
});
