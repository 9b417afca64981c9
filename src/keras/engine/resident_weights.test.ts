/**
 * Weights as resident state for inference: model.predict's compiled program takes the weights
 * as state, so a weight change (each fit epoch, setWeights) compiles nothing new; the compile
 * counter (compileCount / onCompile) proves it, and every prediction is checked against
 * tfjs-layers given the same weights (and kiln's interpreter).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { KilnError } from '../../ir/types.js';
import { compileCount, compiledProgramCount, onCompile, useCompiledExecution, type CompileEvent } from '../../exec.js';
import { fn, variable, ops, type Tensor } from '../backend.js';
import { compileEntries } from '../../compile.js';
import { trace } from '../../frontend/tracing.js';
import { tensorType } from '../../ir/types.js';
import { dense } from '../layers/dense.js';
import { conv2d } from '../layers/conv2d.js';
import { batchNormalization } from '../layers/batch_normalization.js';
import { flatten } from '../layers/flatten.js';
import { maxAbsDiff, randomTensor, toTf, useCpuBackend } from '../test_util.js';
import { sequential } from './sequential.js';
import type { Model } from './model.js';

beforeAll(() => {
  useCpuBackend();
  useCompiledExecution(true);
});

function mlp(): Model {
  return sequential({ layers: [dense({ units: 16, activation: 'relu', inputShape: [8] }), dense({ units: 4, activation: 'softmax' })] });
}
function tfMlp(): tfl.LayersModel {
  return tfl.sequential({ layers: [tfl.layers.dense({ units: 16, activation: 'relu', inputShape: [8] }), tfl.layers.dense({ units: 4, activation: 'softmax' })] });
}

/** A conv + batch norm + dense model: packed GEMM/conv operands and a batch norm fold_batchnorm would fold into constants. */
function convNet(): Model {
  return sequential({ layers: [
    conv2d({ filters: 8, kernelSize: 3, activation: 'relu', inputShape: [8, 8, 3] }),
    batchNormalization({}),
    flatten({}),
    dense({ units: 5 }),
  ] });
}
function tfConvNet(): tfl.LayersModel {
  return tfl.sequential({ layers: [
    tfl.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu', inputShape: [8, 8, 3] }),
    tfl.layers.batchNormalization({}),
    tfl.layers.flatten({}),
    tfl.layers.dense({ units: 5 }),
  ] });
}

function randomWeights(m: Model, seed: number): Tensor[] {
  return m.weights.map((w, i) => w.name.endsWith('moving_variance') ? randomTensor(w.value.shape, seed + i, 0.5, 1.5) : randomTensor(w.value.shape, seed + i, -0.5, 0.5));
}

/** tfjs-layers' prediction with kiln's current weights. */
function reference(t: tfl.LayersModel, m: Model, x: Tensor) {
  t.setWeights(m.getWeights().map(toTf));
  return t.predict(toTf(x)) as ReturnType<typeof toTf>;
}

/** kiln's interpreter on the same model (runEagerly), as a second oracle. */
function interpreted(m: Model, x: Tensor): Tensor {
  m.runEagerly = true;
  try {
    return m.predict(x) as Tensor;
  } finally {
    m.runEagerly = false;
  }
}

describe('resident weights in predict', () => {
  it('fit for 3 epochs with a predict after each: 1 predict compile, 1 training compile; each prediction equals tfjs-layers with the epoch\'s weights', async () => {
    const m = mlp();
    m.setWeights(randomWeights(m, 3));
    m.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    const x = randomTensor([20, 8], 5);
    const y = ops.oneHot(ops.cast(ops.floor(ops.mul(randomTensor([20], 6, 0, 0.999), 4)), 'i32'), 4);
    const probe = randomTensor([6, 8], 7);
    const t = tfMlp();
    const fnBefore = compileCount('function'), trainBefore = compileCount('training');
    const seen: number[] = [];
    const errors: number[] = [];
    const preds: Tensor[] = [];
    await m.fit(x, y, {
      epochs: 3, batchSize: 8, verbose: 0, shuffle: false,
      callbacks: { onEpochEnd: () => {
        const p = m.predict(probe) as Tensor;
        preds.push(p);
        seen.push(compileCount('function') - fnBefore);
        errors.push(maxAbsDiff(p, reference(t, m, probe)));
      } },
    });
    expect(seen).toEqual([1, 1, 1]);
    expect(compileCount('training') - trainBefore).toBe(1);
    for (const e of errors) expect(e).toBeLessThanOrEqual(1e-5);
    // The predictions really changed between epochs (otherwise "no recompile" proves nothing).
    expect(maxAbsDiff(preds[0]!, toTf(preds[2]!))).toBeGreaterThan(1e-3);
    expect(m.predictTraceCount).toBe(1);
    expect(maxAbsDiff(m.predict(probe) as Tensor, reference(tfMlp(), m, probe))).toBeLessThanOrEqual(1e-5);
    expect(compileCount('function') - fnBefore).toBe(1);
  });

  it('setWeights then predict compiles nothing and predicts with the new weights (conv, batch norm, dense)', () => {
    const m = convNet();
    const t = tfConvNet();
    const x = randomTensor([2, 8, 8, 3], 11);
    m.setWeights(randomWeights(m, 20));
    const first = m.predict(x) as Tensor;
    expect(maxAbsDiff(first, reference(t, m, x))).toBeLessThanOrEqual(1e-4);
    const before = compileCount();
    for (const seed of [30, 40]) {
      m.setWeights(randomWeights(m, seed));
      const p = m.predict(x) as Tensor;
      expect(compileCount()).toBe(before);
      expect(maxAbsDiff(p, reference(t, m, x))).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(p, toTf(interpreted(m, x)))).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(p, toTf(first))).toBeGreaterThan(1e-2);
    }
    expect(m.predictTraceCount).toBe(2); // the compiled program once, the interpreter's once
  });

  it('a layer weight assigned on its own is copied in (only it changed)', () => {
    const m = mlp();
    m.setWeights(randomWeights(m, 50));
    const x = randomTensor([3, 8], 51);
    m.predict(x);
    const before = compiledProgramCount();
    const bias = m.layers[1]!.weights[1]!;
    bias.assign(randomTensor(bias.shape, 52, 2, 3));
    const p = m.predict(x) as Tensor;
    expect(compiledProgramCount()).toBe(before);
    expect(maxAbsDiff(p, reference(tfMlp(), m, x))).toBeLessThanOrEqual(1e-5);
  });

  it('fn with bound variables keeps them resident: assigning one re-runs without a compile', () => {
    const w = variable(randomTensor([4, 3], 60), { name: 'resident_w' });
    const f = fn((a: Tensor) => ops.matmul(a, w.read()), { variables: [w] });
    const a = randomTensor([2, 4], 61);
    f(a);
    const before = compileCount('function');
    for (const seed of [62, 63]) {
      w.assign(randomTensor([4, 3], seed));
      const got = f(a);
      const want = tf.matMul(toTf(a), toTf(w.value));
      expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-5);
    }
    expect(compileCount('function')).toBe(before);
    expect(f.traceCount).toBe(1);
  });

  it('onCompile reports each compile with its kind and name, until removed', async () => {
    const events: CompileEvent[] = [];
    const off = onCompile((e) => events.push(e));
    const m = mlp();
    m.predict(randomTensor([2, 8], 70));
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    await m.fit(randomTensor([4, 8], 71), randomTensor([4, 4], 72), { epochs: 1, batchSize: 4, verbose: 0 });
    off();
    m.predict(randomTensor([3, 8], 73)); // a new batch size compiles, but nobody listens any more
    expect(events.map((e) => [e.kind, e.name])).toEqual([['function', m.name], ['training', `${m.name}_training`]]);
    for (const e of events) expect(e.ms).toBeGreaterThan(0);
  });

  it('refuses a bad kind and a non-function listener, naming what it got', () => {
    expect(() => compileCount('predict' as never)).toThrow(KilnError);
    expect(() => compileCount('predict' as never)).toThrow(/'function', 'training', got "predict"/);
    expect(() => onCompile(42 as never)).toThrow(/onCompile: expected a function .*got number/);
  });

  it('weights are packed by a repack entry run on change, not on every run; weights an entry updates are packed every run', () => {
    const w = variable(randomTensor([16, 8], 80), { name: 'repack_w' });
    const x = tensorType([4, 16], 'f32');
    const notes = (art: ReturnType<typeof compileEntries>, schedule: readonly unknown[]) => schedule.map((i) => art.manifest.kernels[i as number]!.note);
    const predict = trace((a: Tensor) => ops.matmul(a, w.read()), [x], { name: 'p', variables: [w] }).func;
    const state = [{ name: 'repack_w', value: w.value.literal! }];
    const opts = { threads: false, relaxedSimd: false } as const;
    const art = compileEntries([{ name: 'p', func: predict }], state, opts, { repackEntry: true });
    expect(notes(art, art.manifest.schedule)).not.toContain('pack rhs');
    expect(notes(art, art.manifest.entries!['p__refresh']!.schedule)).toEqual(['repack state']);
    // Without the flag (the runtime's setState does not run a refresh entry) the schedule packs.
    const plain = compileEntries([{ name: 'p', func: predict }], state, opts);
    expect(notes(plain, plain.manifest.schedule)).toContain('pack rhs');
    expect(Object.keys(plain.manifest.entries ?? {})).toEqual([]);
    // A weight some entry updates (a training step) changes inside the program: packed every run.
    const step = trace((a: Tensor) => { w.assign(ops.mul(w.read(), 0.5)); return ops.matmul(a, w.read()); }, [x], { name: 's', variables: [w] }).func;
    const both = compileEntries([{ name: 'p', func: predict }, { name: 's', func: step }], state, opts, { repackEntry: true });
    expect(Object.keys(both.manifest.entries ?? {})).toEqual(['s']);
    expect(notes(both, both.manifest.schedule)).toContain('pack rhs');
  });
});
