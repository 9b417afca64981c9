/**
 * Test helpers for multi-input layers (tests only; layer_testkit.ts covers single-input ones): a
 * tfjs-layers model saved in memory and loaded by kiln.loadLayersModel, a Kiln model compiled to
 * an artifact and run by the runtime against the interpreter, a layer's config round trip through
 * the class registry and through Keras JSON (snake_case), as loading and saving take it, and the
 * tests every elementwise merge layer gets.
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfLayers from '@tensorflow/tfjs-layers';
import type * as tfl from '@tensorflow/tfjs-layers';
import { compile } from '../../compile.js';
import { load } from '../../runtime/index.js';
import { Tensor } from '../../frontend/tensor.js';
import { literal } from '../../ir/literal.js';
import { deserializeLayer, getMask, setMask, type Layer, type LayerArgs } from '../engine/layer.js';
import { ops } from '../backend.js';
import { input } from '../engine/input.js';
import type { KerasTensor } from '../engine/keras_tensor.js';
import { maxAbsDiff, randomTensor, toTf } from '../test_util.js';
import { captureArtifacts } from './layer_testkit.js';
import type { Model } from '../engine/model.js';
// Through the package entry, so every built-in layer class is registered for loading.
import { loadLayersModel } from '../../index.js';
import { pythonicToTs, tsToPythonic } from '../saving/keras_json.js';
import type { ModelArtifacts } from '../../frontend/io/formats.js';

/** What a tfjs-layers `model.save` writes, caught in memory. */
export function tfjsArtifacts(tm: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  return captureArtifacts((h) => tm.save(h));
}

/** A tfjs-layers model saved in memory and loaded by Kiln. */
export async function tfjsToKiln(tm: tfl.LayersModel): Promise<Model> {
  return loadLayersModel(await tfjsArtifacts(tm) as unknown as ModelArtifacts);
}

/** Kiln's predictions on the interpreter (runEagerly), one Float32Array per output. */
export function interpreted(m: Model, xs: readonly Tensor[]): Float32Array[] {
  const eager = m.runEagerly;
  m.runEagerly = true;
  try {
    const y = m.predict(xs.length === 1 ? xs[0]! : [...xs]);
    return (Array.isArray(y) ? y : [y]).map((t) => Float32Array.from(t.dataSync()));
  } finally {
    m.runEagerly = eager;
  }
}

/** tfjs-layers' predictions on the same inputs. */
export function tfjsPredict(tm: tfl.LayersModel, xs: readonly Tensor[]): Float32Array[] {
  const ins = xs.map((x) => tf.tensor(Float32Array.from(x.dataSync()), [...x.shape]));
  const y = tm.predict(ins.length === 1 ? ins[0]! : ins);
  return (Array.isArray(y) ? y : [y]).map((t) => Float32Array.from(t.dataSync()));
}

export function maxDiff(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  a.forEach((x, i) => {
    expect(x.length).toBe(b[i]!.length);
    for (let k = 0; k < x.length; k++) d = Math.max(d, Math.abs(x[k]! - b[i]![k]!));
  });
  return d;
}

/** The model compiled (WebAssembly) and run by the runtime alone: its outputs in order. */
export async function compiledPredict(m: Model, xs: readonly Tensor[]): Promise<Float32Array[]> {
  const art = compile(m, { inputShapes: xs.map((x) => [...x.shape]) });
  const prog = await load(art.bytes, { threads: 1 });
  try {
    const feeds = Object.fromEntries(prog.inputs.map((info, i) => [info.name, Float32Array.from(xs[i]!.dataSync())]));
    const out = prog.runSync(feeds);
    return prog.outputs.map((o) => Float32Array.from(out[o.name] as Float32Array));
  } finally {
    prog.dispose();
  }
}

/**
 * The layer's config survives the class registry (deserializeLayer of serialize()) and Keras
 * JSON (camelCase -> snake_case -> camelCase, as save and load convert it); returns the copy.
 */
export function expectConfigRoundTrip(layer: Layer): Layer {
  const back = deserializeLayer(layer.serialize());
  expect(back.className).toBe(layer.className);
  expect(back.getConfig()).toEqual(layer.getConfig());
  const json = JSON.parse(JSON.stringify(tsToPythonic(layer.getConfig()))) as unknown;
  const again = deserializeLayer({ className: layer.className, config: pythonicToTs(json) as object });
  expect(again.getConfig()).toEqual(layer.getConfig());
  return back;
}

// ---- elementwise merge layers (Multiply, Subtract, Average, Maximum, Minimum) ---------------------

export interface ElementwiseMergeSpec {
  className: string;
  kiln: (args?: LayerArgs) => Layer;
  /** tfjs-layers' twin; absent where tfjs-layers lacks the layer (Subtract). */
  tfl?: (args?: object) => tfl.layers.Layer;
  /** The definition on tfjs-core tensors of equal rank: the oracle where tfjs-layers has no twin. */
  formula: (xs: tf.Tensor[]) => tf.Tensor;
  /** Exactly this many inputs (Subtract: 2). */
  arity?: number;
}

/** Keras's rule for inputs of lower rank, written on tfjs tensors for the oracle: ones after the batch axis. */
function expandToRank(x: tf.Tensor, rank: number): tf.Tensor {
  return x.rank === rank ? x : tf.reshape(x, [x.shape[0]!, ...new Array<number>(rank - x.rank).fill(1), ...x.shape.slice(1)]);
}

/**
 * The tests every elementwise merge layer gets: values against tfjs-layers (or the formula) on
 * equal shapes, on 1s that broadcast and on inputs of lower rank; symbolic output shapes and the
 * errors; a model saved by tfjs-layers loaded by Kiln with equal predictions; the compiled
 * artifact equal to the interpreter; the config round trip.
 */
export function describeElementwiseMerge(spec: ElementwiseMergeSpec): void {
  const oracle = (xs: Tensor[]): tf.Tensor => {
    const ts = xs.map(toTf);
    if (spec.tfl) return spec.tfl().apply(ts) as tf.Tensor;
    const rank = Math.max(...ts.map((t) => t.rank));
    return spec.formula(ts.map((t) => expandToRank(t, rank)));
  };
  const counts = spec.arity !== undefined ? [spec.arity] : [2, 3];
  describe(spec.className, () => {
    for (const n of counts) {
      it(`${n} inputs of equal shape: ${spec.tfl ? 'tfjs-layers' : 'the formula on tfjs-core'}`, () => {
        const xs = Array.from({ length: n }, (_, i) => randomTensor([2, 3, 4], 10 + i, -2, 2));
        expect(maxAbsDiff(spec.kiln().apply(xs) as Tensor, oracle(xs))).toBeLessThanOrEqual(1e-6);
      });
    }

    it('broadcast 1s and an input of lower rank (expanded after the batch axis, as Keras does)', () => {
      const cases: number[][][] = [[[2, 1, 4], [2, 3, 1]], [[2, 3, 4], [2, 4]], [[3, 5], [3, 2, 4, 5]]];
      for (const shapes of cases) {
        const xs = shapes.map((s, i) => randomTensor(s, 20 + i, -2, 2));
        const y = spec.kiln().apply(xs) as Tensor;
        expect(maxAbsDiff(y, oracle(xs)), JSON.stringify(shapes)).toBeLessThanOrEqual(1e-6);
      }
    });

    it('symbolic output shapes and errors name the layer and the shapes', () => {
      const a = input({ shape: [3, 4] });
      const b = input({ shape: [4] });
      expect((spec.kiln().apply([a, b]) as KerasTensor).shape).toEqual([null, 3, 4]);
      expect((spec.kiln().apply([input({ shape: [3, 1] }), input({ shape: [1, 5] })]) as KerasTensor).shape).toEqual([null, 3, 5]);
      expect(() => spec.kiln({ name: 'm1' }).apply([a, input({ shape: [5] })])).toThrow(`${spec.className} 'm1': input shapes do not match: f32[?,3,4], f32[?,5]`);
      expect(() => spec.kiln({ name: 'm2' }).apply(a)).toThrow(`${spec.className} 'm2': expects a list of at least 2 inputs, got a single input f32[?,3,4]`);
      expect(() => spec.kiln({ name: 'm3' }).apply([randomTensor([2, 4], 1), randomTensor([3, 4], 2)])).toThrow(`${spec.className} 'm3': inputs have different batch sizes: f32[2,4], f32[3,4]`);
      if (spec.arity === 2) {
        expect(() => spec.kiln({ name: 'm4' }).apply([a, a, a])).toThrow(`${spec.className} 'm4': expects exactly 2 inputs, got 3: f32[?,3,4], f32[?,3,4], f32[?,3,4]`);
      }
      expect(() => spec.kiln({ name: 'm5', axis: 1 } as LayerArgs)).toThrow(`${spec.className} 'm5': unknown argument 'axis'`);
      expectConfigRoundTrip(spec.kiln({ name: 'merged', trainable: false }));
    });

    it("masks: the output's mask is the AND of the inputs' masks (Keras's Merge)", () => {
      const xs = [randomTensor([2, 4, 3], 41), randomTensor([2, 4, 3], 42)];
      const bools = (v: boolean[]) => ops.greater(Tensor.concrete(literal([2, 4], 'f32', v.map(Number))), 0);
      setMask(xs[0]!, bools([true, true, false, true, true, false, true, true]));
      setMask(xs[1]!, bools([true, false, false, true, true, true, true, false]));
      const out = spec.kiln().apply(xs) as Tensor;
      expect(Array.from(getMask(out)!.dataSync())).toEqual([1, 0, 0, 1, 1, 0, 1, 0]);
      expect(getMask(spec.kiln().apply([randomTensor([2, 3], 1), randomTensor([2, 3], 2)]) as Tensor)).toBeUndefined();
    });

    it('a model saved by tfjs-layers loads in Kiln and predicts the same; compiled equals the interpreter', async () => {
      // tfjs-layers lacks Subtract: its twin is Add on a negated second input, and the saved file's
      // class name is changed to Subtract (a Keras file that tfjs-layers cannot write).
      const twin = spec.tfl ?? ((args?: object) => tfLayers.layers.add(args));
      const a = tfLayers.input({ shape: [3, 4], name: 'a' });
      const b = tfLayers.input({ shape: [4], name: 'b' });
      const h = tfLayers.layers.dense({ units: 4, name: 'd' }).apply(a) as tfl.SymbolicTensor;
      const merged = twin({ name: 'merged' }).apply([h, b]) as tfl.SymbolicTensor;
      const tm = tfLayers.model({ inputs: [a, b], outputs: merged });
      const artifacts = await tfjsArtifacts(tm);
      if (!spec.tfl) {
        const topo = JSON.stringify(artifacts.modelTopology);
        artifacts.modelTopology = JSON.parse(topo.replace('"class_name":"Add"', `"class_name":"${spec.className}"`)) as object;
      }
      const km = await loadLayersModel(artifacts as unknown as ModelArtifacts);
      expect(km.layers.map((l) => l.className)).toContain(spec.className);
      const xs = [randomTensor([2, 3, 4], 31, -2, 2), randomTensor([2, 4], 32, -2, 2)];
      const tfXs = spec.tfl ? xs : [xs[0]!, Tensor.concrete(literal([2, 4], 'f32', Float32Array.from(xs[1]!.dataSync(), (v) => -v)))];
      const want = tfjsPredict(tm, tfXs);
      const got = interpreted(km, xs);
      expect(maxDiff(got, want)).toBeLessThanOrEqual(1e-5);
      expect(maxDiff(await compiledPredict(km, xs), got)).toBeLessThanOrEqual(1e-5);
    });
  });
}
