/**
 * The fuzzer's four seed artifacts, compiled here from small models with fixed weights: a CNN and
 * an MLP (Keras layers, compiled for threads), the MLP compiled without threads, and a training
 * artifact (compileEntries: a train_step with SGD over resident state, plus a predict entry).
 * Each seed says how the runner loads it and what it runs, with fixed inputs.
 */
import { compile, compileEntries } from '../../src/compile.js';
import { trace } from '../../src/frontend/tracing.js';
import { valueAndGrad } from '../../src/frontend/grad.js';
import { tensorType } from '../../src/ir/types.js';
import * as kiln from '../../src/index.js';
import { ops, type Tensor } from '../../src/keras/backend.js';
import { categoricalCrossentropy } from '../../src/keras/losses.js';
import { sgd } from '../../src/keras/optimizers/sgd.js';
import { randomTensor } from '../../src/keras/test_util.js';
import type { Model } from '../../src/keras/index.js';

/** One run of an entry: what the runner feeds it. */
export interface SeedRun {
  entry?: string;
  feed: Record<string, Float32Array>;
}

export interface Seed {
  name: string;
  bytes: Uint8Array;
  /** Threads to load with (2 for threads artifacts: races show up; 1 otherwise). */
  threads: number;
  runs: SeedRun[];
}

const data = (shape: number[], seed: number): Float32Array => randomTensor(shape, seed).dataSync() as Float32Array;

function randomize(m: Model, seed: number): void {
  m.setWeights(m.weights.map((w, i) => randomTensor(w.value.shape, seed + i, -0.5, 0.5)));
}

function keras(name: string, layers: () => unknown[], threads: boolean): Seed {
  const model = kiln.sequential({ layers: layers() as never, name });
  randomize(model, 7);
  const art = compile(model as never, { threads, name });
  const x = art.manifest.inputs[0]!;
  return { name, bytes: art.bytes, threads: threads ? 2 : 1, runs: [{ feed: { [x.name]: data([...x.shape], 3) } }] };
}

function training(): Seed {
  const shapes = [[6, 8], [8], [8, 3], [3]];
  const names = ['w1', 'b1', 'w2', 'b2'];
  const B = 4;
  const net = (x: Tensor, [w1, b1, w2, b2]: Tensor[]): Tensor => ops.add(ops.matmul(ops.relu(ops.add(ops.matmul(x, w1!), b1!)), w2!), b2!);
  const loss = categoricalCrossentropy({ fromLogits: true });
  const opt = sgd({ learningRate: 0.1 });
  const grads = valueAndGrad((xb: Tensor, yb: Tensor, ...ps: Tensor[]) => loss(yb, net(xb, ps)), { argnums: [2, 3, 4, 5] });
  const init = shapes.map((s, i) => randomTensor(s, 20 + i, -0.5, 0.5));
  const slots = opt.stateTensors(opt.init(init));
  const all = [...names, ...slots.map((_, i) => `opt${i}`)];
  const step = (xb: Tensor, yb: Tensor, ...rest: Tensor[]) => {
    const ps = rest.slice(0, 4);
    const { value, grads: g } = grads(xb, yb, ...ps);
    const r = opt.apply(ps, g, opt.fromTensors(rest.slice(4), ps.length));
    return [value, ...r.params, ...opt.stateTensors(r.state)];
  };
  const values = [...init, ...slots];
  const types = [tensorType([B, 6], 'f32'), tensorType([B, 3], 'f32'), ...values.map((t) => t.type)];
  const train = trace(step, types, { name: 'train_step', argNames: ['x', 'y', ...all] }).func;
  train.resultNames = ['loss', ...all.map((n) => `new_${n}`)];
  all.forEach((_, i) => train.aliases.push({ result: 1 + i, param: 2 + i }));
  const predict = trace((xb: Tensor, ...ps: Tensor[]) => net(xb, ps), [tensorType([B, 6], 'f32'), ...init.map((t) => t.type)], {
    name: 'predict', argNames: ['x', ...names],
  }).func;
  predict.resultNames = ['logits'];
  const state = all.map((name, i) => ({ name, value: values[i]!.literal! }));
  const art = compileEntries([{ name: 'train_step', func: train }, { name: 'predict', func: predict }], state, { name: 'fuzz_training' });
  const x = data([B, 6], 5);
  const y = new Float32Array(B * 3).map((_, i) => (i % 3 === (i / 3) % 3 ? 1 : 0));
  // Train twice, then predict: the state carried between runs is part of what must not change.
  return { name: 'training', bytes: art.bytes, threads: 2, runs: [{ feed: { x, y } }, { feed: { x, y } }, { entry: 'predict', feed: { x } }] };
}

/** Builds the four seeds (a few hundred milliseconds). */
export function buildSeeds(): Seed[] {
  const L = kiln.layers;
  return [
    keras('cnn', () => [
      L.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [10, 10, 1] }),
      L.maxPooling2d({ poolSize: 2 }),
      L.flatten({}),
      L.dense({ units: 5, activation: 'softmax' }),
    ], true),
    keras('mlp', () => [L.dense({ units: 16, activation: 'relu', inputShape: [12] }), L.dense({ units: 4 })], true),
    keras('no_threads', () => [L.dense({ units: 16, activation: 'relu', inputShape: [12] }), L.dense({ units: 4, activation: 'softmax' })], false),
    training(),
  ];
}
