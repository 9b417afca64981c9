/**
 * Subclassed models (`class M extends kiln.Model { call(x, {training}) }`) with a custom Layer
 * (build + addWeight + call) inside: tracking and weight order, build, summary, predict / fit /
 * evaluate against the same network in tfjs-layers (a Sequential with the equivalent tfjs custom
 * layer, same weights and batches), saveWeights / loadWeights in the tfjs weights format (decoded
 * by tfjs-core), model.save's refusal, kiln.compile to an artifact run by the runtime alone, and a
 * custom training step under kiln.fn compiled into one program that matches the eager loop.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../../index.js';
import { compiledProgramCount } from '../../exec.js';
import { load } from '../../runtime/index.js';
import type { Tensor, Variable } from '../backend.js';
import type { KerasShape } from './keras_tensor.js';
import { randomTensor, toTf, useCpuBackend } from '../test_util.js';

beforeAll(() => useCpuBackend());

const { ops } = kiln;

/** A custom layer written as Keras users write them: build creates the weight, call uses it. */
class Scale extends kiln.Layer {
  scale?: Variable;
  override build(inputShape: KerasShape | KerasShape[]): void {
    const s = inputShape as KerasShape;
    this.scale = this.addWeight('scale', [s[s.length - 1]!], 'ones');
    this.built = true;
  }
  override call(x: Tensor): Tensor {
    return ops.mul(x, this.scale!.read());
  }
}

class MyModel extends kiln.Model {
  encoder = kiln.sequential([kiln.layers.dense({ units: 8, activation: 'relu' })]);
  blocks = [new Scale(), kiln.layers.dense({ units: 6, activation: 'tanh' })];
  head = kiln.layers.dense({ units: 3 });
  override call(x: Tensor, { training }: kiln.CallArgs = {}): Tensor {
    let h = this.encoder.apply(x, { training });
    for (const b of this.blocks) h = b.apply(h, { training });
    return this.head.apply(h, { training });
  }
}

/** The tfjs twin of Scale. */
class TfScale extends tfl.layers.Layer {
  static className = 'TfScale';
  scale?: tfl.LayerVariable;
  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const s = inputShape as tfl.Shape;
    this.scale = this.addWeight('scale', [s[s.length - 1]!], 'float32', tfl.initializers.ones());
    this.built = true;
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return tf.mul(x, this.scale!.read());
  }
  override computeOutputShape(s: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return s;
  }
}

function tfTwin(model: MyModel): tfl.Sequential {
  const t = tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 8, activation: 'relu', inputShape: [4] }), new TfScale({}),
      tfl.layers.dense({ units: 6, activation: 'tanh' }), tfl.layers.dense({ units: 3 }),
    ],
  });
  t.setWeights(model.getWeights().map(toTf));
  return t;
}

/** A built model with seeded, non-trivial weights. */
function makeModel(seed: number): MyModel {
  const m = new MyModel();
  m.build([null, 4]);
  m.setWeights(m.weights.map((w, i) => randomTensor(w.shape, seed + i, -0.7, 0.7)));
  return m;
}

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, label: string): void {
  expect(a.length, label).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i]! - b[i]!) <= tol * Math.max(1, Math.abs(b[i]!)))) expect.fail(`${label}[${i}]: ${a[i]} vs ${b[i]}`);
}

describe('subclassed kiln.Model', () => {
  it('tracks sublayers and weights in attribute-assignment order, builds, and prints a summary', () => {
    const m = new MyModel();
    expect(m.className).toBe('MyModel');
    expect(m.name).toMatch(/^my_model(_\d+)?$/);
    expect(m.layers).toEqual([m.encoder, m.blocks[0], m.blocks[1], m.head]);
    expect(m.built).toBe(false);
    expect(() => m.inputs).toThrow(/is not built yet: call it on data, or model.build\(inputShape\)/);
    m.build([null, 4]);
    expect(m.built).toBe(true);
    const dense = (l: kiln.Layer) => [`${l.name}/kernel`, `${l.name}/bias`];
    expect(m.trainableWeights.map((w) => w.name)).toEqual([
      ...dense(m.encoder.layers[0]!), `${m.blocks[0]!.name}/scale`, ...dense(m.blocks[1]!), ...dense(m.head),
    ]);
    expect(m.trainableWeights.map((w) => w.shape)).toEqual([[4, 8], [8], [8], [8, 6], [6], [6, 3], [3]]);
    const params = 4 * 8 + 8 + 8 + 8 * 6 + 6 + 6 * 3 + 3;
    expect(m.countParams()).toBe(params);
    expect(m.inputs[0]!.shape).toEqual([null, 4]);
    expect(m.outputs[0]!.shape).toEqual([null, 3]);
    const lines: string[] = [];
    const text = m.summary((l) => lines.push(l));
    expect(text).toContain(`Model: "${m.name}" (MyModel)`);
    expect(text).toContain(`${m.blocks[0]!.name} (Scale)`);
    expect(text).toContain(`Total params: ${params}`);
    expect(lines.length).toBeGreaterThan(8);
    // Freezing the model freezes every tracked weight.
    m.trainable = false;
    expect(m.trainableWeights).toEqual([]);
    expect(m.nonTrainableWeights.length).toBe(7);
  });

  it('predict, fit and evaluate follow tfjs-layers on the same weights and batches', async () => {
    const m = makeModel(10);
    const t = tfTwin(m);
    const x = randomTensor([24, 4], 1), y = randomTensor([24, 3], 2);
    expectClose((m.predict(x) as Tensor).dataSync(), (t.predict(toTf(x)) as tf.Tensor).dataSync(), 1e-5, 'predict');
    m.compile({ optimizer: kiln.optimizers.sgd({ learningRate: 0.1 }), loss: 'meanSquaredError' });
    t.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
    const h = await m.fit(x, y, { epochs: 4, batchSize: 8, shuffle: false, verbose: 0 });
    const ht = await t.fit(toTf(x), toTf(y), { epochs: 4, batchSize: 8, shuffle: false, verbose: 0 });
    expectClose(h.history['loss']!.map(Number), ht.history['loss']!.map(Number), 1e-4, 'loss per epoch');
    const ev = await m.evaluate(x, y, { batchSize: 8 });
    expect(ev['loss']).toBeCloseTo((t.evaluate(toTf(x), toTf(y), { batchSize: 8 }) as tf.Scalar).dataSync()[0]!, 5);
    expectClose((m.predict(x) as Tensor).dataSync(), (t.predict(toTf(x)) as tf.Tensor).dataSync(), 1e-4, 'predict after fit');
  });

  it('sublayers inherit training and the step from the running call (Keras call context): dropout works in fit', async () => {
    class WithDropout extends kiln.Model {
      hidden = kiln.layers.dense({ units: 16 });
      drop = kiln.layers.dropout({ rate: 0.5 });
      out = kiln.layers.dense({ units: 1 });
      // Call args are not passed on: the sublayers inherit them.
      override call(x: Tensor): Tensor {
        return this.out.apply(this.drop.apply(this.hidden.apply(x)));
      }
    }
    const m = new WithDropout();
    const x = randomTensor([6, 4], 7), y = randomTensor([6, 1], 8);
    const inference = Array.from((m.apply(x) as Tensor).dataSync());
    expect(Array.from((m.apply(x, { training: false }) as Tensor).dataSync())).toEqual(inference);
    expect(Array.from((m.apply(x, { training: true }) as Tensor).dataSync())).not.toEqual(inference);
    m.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    // Without the inherited step, training-mode dropout inside the traced step would throw.
    const h = await m.fit(x, y, { epochs: 2, batchSize: 6, verbose: 0 });
    expect(h.history['loss']!.every((l) => Number.isFinite(Number(l)))).toBe(true);
  });

  it("a tensor condition in call (static autograph) picks the branch in predict, fit's step and the compiled artifact", async () => {
    class Branchy extends kiln.Model {
      static override autograph = { scope: { ops } };
      a = kiln.layers.dense({ units: 2, kernelInitializer: 'ones', biasInitializer: 'zeros' });
      b = kiln.layers.dense({ units: 2, kernelInitializer: 'zeros', biasInitializer: 'ones' });
      override call(x: Tensor): Tensor {
        if (ops.greater(ops.sum(x), 0)) {
          return this.a.apply(x);
        } else {
          return this.b.apply(x);
        }
      }
    }
    const m = new Branchy();
    const pos = ops.tensor([[1, 2]]), neg = ops.tensor([[-1, -2]]);
    // a: ones kernel -> the row sum in both units; b: zero kernel, bias one.
    expect(Array.from((m.predict(pos) as Tensor).dataSync())).toEqual([3, 3]);
    expect(Array.from((m.predict(neg) as Tensor).dataSync())).toEqual([1, 1]);
    const prog = await load(kiln.compile(m, { inputShapes: [[1, 2]] }).bytes);
    const run = (x: number[]) => Array.from(prog.runSync({ [prog.inputs[0]!.name]: Float32Array.from(x) })[prog.outputs[0]!.name] as Float32Array);
    expect(run([1, 2])).toEqual([3, 3]);
    expect(run([-1, -2])).toEqual([1, 1]);
    // fit on the negative sample only trains b (a's weights are untouched: its branch is not taken).
    m.compile({ optimizer: kiln.optimizers.sgd({ learningRate: 0.1 }), loss: 'meanSquaredError' });
    await m.fit(neg, ops.zeros([1, 2]), { epochs: 1, verbose: 0 });
    expect(Array.from(m.a.getWeights()[0]!.dataSync())).toEqual([1, 1, 1, 1]);
    // b's bias: 1 - 0.1 * d/db mean((1 - 0)^2) = 1 - 0.1 * 2 * 1 / 2 = 0.9 per unit.
    expect(Array.from(m.b.getWeights()[1]!.dataSync())).toEqual([0.9, 0.9].map(Math.fround));
  });

  it('two inputs, one of them int32 token ids: specs come from the first call; fit and predict follow tfjs-core', async () => {
    class TwoInputs extends kiln.Model {
      embed = kiln.layers.embedding({ inputDim: 5, outputDim: 3 });
      proj = kiln.layers.dense({ units: 3, useBias: false });
      override call([ids, feats]: Tensor[]): Tensor {
        return ops.add(ops.mean(this.embed.apply(ids), 1), this.proj.apply(feats));
      }
    }
    const m = new TwoInputs();
    const ids = ops.tensor([[0, 4, 2], [1, 1, 3], [4, 0, 0], [2, 3, 1]], undefined, 'i32');
    const feats = randomTensor([4, 2], 9), y = randomTensor([4, 3], 10);
    m.compile({ optimizer: kiln.optimizers.sgd({ learningRate: 0.5 }), loss: 'meanSquaredError' });
    // tfjs-core oracle: the same forward and plain SGD from the same initial weights (set below).
    m.apply([ids, feats]); // the first call builds it and fixes the input specs (int32 ids)
    expect(m.inputs.map((t) => [t.shape, t.dtype])).toEqual([[[null, 3], 'i32'], [[null, 2], 'f32']]);
    m.setWeights(m.weights.map((w, i) => randomTensor(w.shape, 60 + i)));
    const [e0, w0] = m.getWeights().map((t) => tf.variable(toTf(t)));
    const tIds = tf.tensor(ids.dataSync() as Int32Array, [4, 3], 'int32');
    const forward = () => tf.add(tf.mean(tf.gather(e0!, tIds), 1), tf.matMul(toTf(feats), w0!));
    const tOpt = tf.train.sgd(0.5);
    const expected = [0, 1, 2].map(() => tOpt.minimize(() => tf.losses.meanSquaredError(toTf(y), forward()) as tf.Scalar, true)!.dataSync()[0]!);
    const h = await m.fit([ids, feats], y, { epochs: 3, batchSize: 4, verbose: 0 });
    expectClose(h.history['loss']!.map(Number), expected, 1e-5, 'loss per step');
    expectClose((m.predict([ids, feats]) as Tensor).dataSync(), forward().dataSync(), 1e-5, 'predict after fit');
  });

  it('saveWeights / loadWeights: the tfjs weights format by attribute path, read back into a fresh instance', async () => {
    const m = makeModel(20);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-subclassed-'));
    await m.saveWeights(dir);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'weights_manifest.json'), 'utf8')) as tf.io.WeightsManifestConfig;
    const names = manifest[0]!.weights.map((w) => w.name);
    expect(names).toEqual(['encoder/layers/0/kernel', 'encoder/layers/0/bias', 'blocks/0/scale', 'blocks/1/kernel', 'blocks/1/bias', 'head/kernel', 'head/bias']);
    // tfjs-core decodes the shards to the model's values.
    const bytes = fs.readFileSync(path.join(dir, manifest[0]!.paths[0]!));
    const decoded = tf.io.decodeWeights(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, manifest[0]!.weights);
    m.getWeights().forEach((w, i) => expect(Array.from(decoded[names[i]!]!.dataSync())).toEqual(Array.from(w.dataSync())));
    // A fresh instance (its layers get other names: dense_7 ...) loads them by path.
    const fresh = new MyModel();
    fresh.build([null, 4]);
    await fresh.loadWeights(dir);
    const x = randomTensor([5, 4], 3);
    expect(Array.from((fresh.predict(x) as Tensor).dataSync())).toEqual(Array.from((m.predict(x) as Tensor).dataSync()));
    // Through a tfjs IOHandler too.
    let saved: kiln.ModelArtifacts | undefined;
    await m.saveWeights({ save: async (a) => { saved = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; } });
    const other = makeModel(30);
    await other.loadWeights({ load: async () => saved! });
    expect(Array.from((other.predict(x) as Tensor).dataSync())).toEqual(Array.from((m.predict(x) as Tensor).dataSync()));
    // A model of another structure is refused, naming what is missing, and keeps its weights.
    class Smaller extends kiln.Model {
      head = kiln.layers.dense({ units: 3 });
      override call(x: Tensor): Tensor { return this.head.apply(x); }
    }
    const s = new Smaller();
    s.build([null, 4]);
    const before = Array.from(s.getWeights()[0]!.dataSync());
    await expect(s.loadWeights(dir)).rejects.toThrow(/do not fit the model: missing 'head\/kernel'.*not in the model 'encoder\/layers\/0\/kernel'|not in the model 'encoder\/layers\/0\/kernel'/);
    expect(Array.from(s.getWeights()[0]!.dataSync())).toEqual(before);
    await expect(new MyModel().loadWeights(dir)).rejects.toThrow(/is not built/);
    await expect(m.save(dir)).rejects.toThrow(/is a subclassed model \(class MyModel\): its architecture is the code of its call\(\).*saveWeights/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('kiln.compile makes an artifact that the runtime alone runs to the same predictions', async () => {
    const m = makeModel(40);
    const art = kiln.compile(m, { inputShapes: [[2, 4]] });
    const prog = await load(art.bytes);
    const x = randomTensor([2, 4], 4);
    const out = prog.runSync({ [prog.inputs[0]!.name]: x.dataSync() as Float32Array });
    expectClose(out[prog.outputs[0]!.name] as Float32Array, (tfTwin(m).predict(toTf(x)) as tf.Tensor).dataSync(), 1e-5, 'artifact');
  });

  it('a custom training step in kiln.fn (valueAndGrad + applyGradients) is one compiled program and matches the eager loop', () => {
    kiln.useCompiledExecution(true);
    const x = randomTensor([8, 4], 5), y = randomTensor([8, 3], 6);
    const mse = kiln.losses.meanSquaredError();
    // Eager: a GradientTape loop.
    const eagerModel = makeModel(50);
    const eagerOpt = kiln.optimizers.adam({ learningRate: 0.02 });
    const eagerLosses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const tape = new kiln.GradientTape();
      const loss = tape.record(() => mse(y, eagerModel.apply(x, { training: true })));
      const vars = eagerModel.trainableWeights;
      eagerOpt.applyGradients(tape.gradient(loss, vars).map((g, k) => [g, vars[k]!] as const));
      eagerLosses.push(loss.item());
    }
    // Compiled: the same step under kiln.fn, variables and optimizer slots bound as state.
    const m = makeModel(50);
    const opt = kiln.optimizers.adam({ learningRate: 0.02 });
    const vars = m.trainableWeights;
    opt.build(vars);
    const lossAndGrads = kiln.valueAndGrad((xb: Tensor, yb: Tensor) => mse(yb, m.apply(xb, { training: true })), { variables: vars });
    const step = kiln.fn((xb: Tensor, yb: Tensor) => {
      const { value, variableGrads } = lossAndGrads(xb, yb);
      opt.applyGradients({ grads: variableGrads, vars });
      return value;
    }, { variables: [...m.weights, ...opt.variables] });
    const before = compiledProgramCount();
    const losses: number[] = [];
    for (let i = 0; i < 5; i++) losses.push(step(x, y).item());
    expect(compiledProgramCount() - before).toBe(1);
    expect(step.traceCount).toBe(1);
    // The weights and the slots are state: results aliased to (donating) their parameters.
    const func = step.ir(x, y);
    expect(func.aliases.length).toBe(m.weights.length + opt.variables.length);
    expectClose(losses, eagerLosses, 1e-5, 'losses');
    expect(losses[4]!).toBeLessThan(losses[0]!);
    m.getWeights().forEach((w, i) => expectClose(w.dataSync(), eagerModel.getWeights()[i]!.dataSync(), 1e-5, `weight ${i}`));
    expect(opt.iterations).toBe(5);
    // The same step without listing anything: fn binds the variables the step assigns (weights,
    // slots, step counter) itself, as tf.function does.
    const m2 = makeModel(50);
    const opt2 = kiln.optimizers.adam({ learningRate: 0.02 });
    const grads2 = kiln.valueAndGrad((xb: Tensor, yb: Tensor) => mse(yb, m2.apply(xb, { training: true })), { variables: m2.trainableWeights });
    const step2 = kiln.fn((xb: Tensor, yb: Tensor) => {
      const { value, variableGrads } = grads2(xb, yb);
      opt2.applyGradients({ grads: variableGrads, vars: m2.trainableWeights });
      return value;
    });
    const before2 = compiledProgramCount();
    const losses2 = [0, 1, 2, 3, 4].map(() => step2(x, y).item());
    expect(compiledProgramCount() - before2).toBe(1);
    expect(step2.traceCount).toBe(1);
    expect(step2.ir(x, y).aliases.length).toBe(m2.weights.length + opt2.variables.length);
    expectClose(losses2, eagerLosses, 1e-5, 'losses (auto-bound)');
  });
});
