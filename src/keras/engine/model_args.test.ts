/**
 * predict / fit / evaluate / compile given what users pass by mistake: typed arrays, nested
 * arrays, null, foreign (tfjs) tensors, misspelled or unsupported options. tfjs-layers is the
 * oracle for what works: it takes a Tensor or an array of Tensors (x) and a Tensor or an array of
 * them (y) and refuses the rest; Kiln gives the same results where tfjs works (same weights) and a
 * KilnError naming the entry, the model, the argument, the expected and the received value where
 * tfjs refuses (tfjs itself ends several of those in TypeErrors).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { KilnError } from '../../ir/types.js';
import { dense } from '../layers/dense.js';
import { maxAbsDiff, randomTensor, toTf, useCpuBackend } from '../test_util.js';
import { sequential } from './sequential.js';
import type { Model } from './model.js';
import type { Tensor } from '../backend.js';

beforeAll(useCpuBackend);

const mlp = (): Model => {
  const m = sequential({ name: 'mlp', layers: [dense({ units: 2, inputShape: [3], name: 'd' })] });
  m.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  return m;
};
const tfMlp = (k: Model): tfl.Sequential => {
  const t = tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [3] })] });
  t.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  t.setWeights(k.getWeights().map(toTf));
  return t;
};

function kilnError(run: () => unknown): string {
  try {
    run();
  } catch (e) {
    expect(e, String(e)).toBeInstanceOf(KilnError);
    return (e as Error).message;
  }
  throw new Error('expected a KilnError, nothing was thrown');
}
async function kilnRejection(run: () => Promise<unknown>): Promise<string> {
  const e = await run().then(() => undefined, (err: unknown) => err);
  expect(e, String(e)).toBeInstanceOf(KilnError);
  return (e as Error).message;
}
/** tfjs-layers refuses the same input (with any error): the oracle for "not accepted". */
async function tfjsRefuses(run: () => unknown): Promise<void> {
  const e = await Promise.resolve().then(run).then(() => undefined, (err: unknown) => err);
  expect(e, 'tfjs-layers accepted it').toBeInstanceOf(Error);
}

describe('model entries: data arguments', () => {
  it('predict: a Tensor and a one-element array of Tensors work, as in tfjs-layers, with the same results', () => {
    const m = mlp();
    const t = tfMlp(m);
    const x = randomTensor([4, 3], 1);
    const want = t.predict(toTf(x)) as tf.Tensor;
    expect(maxAbsDiff(m.predict(x) as Tensor, want)).toBeLessThanOrEqual(1e-6);
    expect(maxAbsDiff(m.predict([x]) as Tensor, t.predict([toTf(x)]) as tf.Tensor)).toBeLessThanOrEqual(1e-6);
  });

  it('predict refuses typed arrays, nested arrays, null, numbers, empty lists and tfjs tensors (tfjs-layers refuses them too)', async () => {
    const m = mlp();
    const t = tfMlp(m);
    const cases: [unknown, RegExp][] = [
      [new Float32Array(3), /^predict: model 'mlp': x must be a Tensor or an array of Tensors \(one per model input\), got Float32Array\(3\) \(typed arrays are not tensors, as in tfjs-layers: make one with kiln.tensor\(values, shape\)\)$/],
      [[[1, 2, 3]], /^predict: model 'mlp': x must be a Tensor or an array of Tensors \(one per model input\); x\[0\] is Array\(3\) \(nested arrays of numbers are not read as data, as in tfjs-layers: make one with kiln.tensor\(values, shape\), e.g. kiln.tensor\(\[\[1, 2, 3\]\]\)\)$/],
      [[1, 2, 3], /x\[0\] is number 1 \(nested arrays/],
      [null, /^predict: model 'mlp': x must be a Tensor or an array of Tensors \(one per model input\), got null$/],
      [undefined, /got undefined$/],
      [[], /got an empty array$/],
      [tf.ones([1, 3]), /got a TensorFlow.js Tensor \(Kiln models take Kiln tensors: kiln.tensor\(t.dataSync\(\), t.shape\)\)$/],
    ];
    for (const [x, message] of cases) {
      expect(kilnError(() => m.predict(x as Tensor))).toMatch(message);
      if (!(x instanceof tf.Tensor)) await tfjsRefuses(() => t.predict(x as tf.Tensor));
    }
  });

  it('predict options: batchSize only, a positive integer', () => {
    const m = mlp();
    const x = randomTensor([4, 3], 2);
    expect(kilnError(() => m.predict(x, { batchsize: 2 } as never))).toBe("predict: model 'mlp': unknown option 'batchsize' (did you mean 'batchSize'?)");
    expect(kilnError(() => m.predict(x, { batchSize: 0 }))).toBe("predict: model 'mlp': batchSize must be a positive integer, got 0");
    expect(kilnError(() => m.predict(x, 2 as never))).toMatch(/^predict: model 'mlp': options must be an object with keys among \{batchSize\}, got number 2$/);
    // Chunked prediction equals one pass.
    expect(Array.from((m.predict(x, { batchSize: 3 }) as Tensor).dataSync())).toEqual(Array.from((m.predict(x) as Tensor).dataSync()));
  });

  it('fit and evaluate: [y] works as y does (tfjs-layers takes a list of targets), with the same loss as tfjs-layers', async () => {
    const m = mlp();
    const t = tfMlp(m);
    const x = randomTensor([6, 3], 3);
    const y = randomTensor([6, 2], 4);
    const want = (t.evaluate(toTf(x), [toTf(y)]) as tf.Scalar).dataSync()[0]!;
    const a = await m.evaluate(x, y);
    const b = await m.evaluate([x], [y]);
    expect(a.loss).toBeCloseTo(want, 5);
    expect(b.loss).toBeCloseTo(want, 5);
    const h = await m.fit([x], [y], { epochs: 1, batchSize: 6, verbose: 0, shuffle: false });
    const th = await t.fit(toTf(x), [toTf(y)], { epochs: 1, batchSize: 6, verbose: 0, shuffle: false });
    expect(h.history.loss![0]).toBeCloseTo(th.history.loss![0] as number, 5);
  });

  it('fit and evaluate refuse bad x and y with a rejected promise, naming the argument', async () => {
    const m = mlp();
    const t = tfMlp(m);
    const x = randomTensor([2, 3], 5);
    const y = randomTensor([2, 2], 6);
    expect(await kilnRejection(() => m.fit(new Float32Array(6) as never, y))).toMatch(/^fit: model 'mlp': x must be a Tensor or an array of Tensors \(one per model input\), got Float32Array\(6\) \(typed arrays/);
    expect(await kilnRejection(() => m.fit(x, null as never))).toBe("fit: model 'mlp': y must be a Tensor (the targets of the model's one output), got null");
    expect(await kilnRejection(() => m.fit(x, [[1, 2], [3, 4]] as never))).toMatch(/^fit: model 'mlp': y must be a Tensor .*got Array\(2\) holding Array\(2\) \(nested arrays are not read as data/);
    expect(await kilnRejection(() => m.fit(x, [y, y] as never))).toMatch(/got 2 Tensors; training supports one output so far$/);
    expect(await kilnRejection(() => m.evaluate([[1, 2, 3]] as never, y))).toMatch(/^evaluate: model 'mlp': x must be .*; x\[0\] is Array\(3\)/);
    expect(await kilnRejection(() => m.evaluate(null as never, null as never))).toMatch(/^evaluate: model 'mlp': x must be .*got null$/);
    // The oracle refuses the same data.
    await tfjsRefuses(() => t.fit(new Float32Array(6) as never, toTf(y)));
    await tfjsRefuses(() => t.fit(toTf(x), null as never));
    await tfjsRefuses(() => t.evaluate([[1, 2, 3]] as never, toTf(y)));
    await tfjsRefuses(() => t.evaluate(null as never, null as never));
  });

  it('fit options: unknown keys refused with the closest name, tfjs-only ones named, values checked', async () => {
    const m = mlp();
    const x = randomTensor([2, 3], 7);
    const y = randomTensor([2, 2], 8);
    const cases: [object, string | RegExp][] = [
      [{ epoch: 3 }, "fit: model 'mlp': unknown option 'epoch' (did you mean 'epochs'?)"],
      [{ batch_size: 2 }, "fit: model 'mlp': unknown option 'batch_size' (did you mean 'batchSize'?)"],
      [{ validationSplits: 0.5 }, "fit: model 'mlp': unknown option 'validationSplits' (did you mean 'validationSplit'?)"],
      [{ classWeight: { 0: 1 } }, /^fit: model 'mlp': option 'classWeight' of tfjs-layers is not supported by Kiln; valid options are: epochs, batchSize, /],
      [{ epochs: '2' }, "fit: model 'mlp': epochs must be a non-negative integer, got '2'"],
      [{ validationSplit: '0.5' }, "fit: model 'mlp': validationSplit must be a number in [0, 1), got '0.5'"],
      [{ validationData: [x] }, /^fit: model 'mlp': validationData must be \[x, y\] .*got Array\(1\)$/],
      [{ validationData: [x, new Float32Array(4)] }, /^fit: model 'mlp': validationData\[1\] \(y\) must be a Tensor .*got Float32Array\(4\)/],
      [{ shuffle: 'batch' }, /^fit: model 'mlp': shuffle must be true or false, got 'batch' \(tfjs-layers' 'batch' shuffling is not supported\)$/],
      [{ seed: -1 }, "fit: model 'mlp': seed must be an integer in [0, 2^32), got -1"],
      [{ verbose: 3 }, "fit: model 'mlp': verbose must be 0 (silent), 1 (progress bar) or 2 (one line per epoch), got 3"],
      [{ callbacks: [null] }, /^fit: model 'mlp': callbacks\[0\] must be a Callback or an object of hooks .*got null$/],
    ];
    for (const [args, message] of cases) {
      const got = await kilnRejection(() => m.fit(x, y, args as never));
      if (typeof message === 'string') expect(got).toBe(message);
      else expect(got).toMatch(message);
    }
    expect(await kilnRejection(() => m.evaluate(x, y, { verbose: 0 } as never))).toMatch(/^evaluate: model 'mlp': unknown option 'verbose' \(valid: batchSize\)$/);
  });

  it('model.compile refuses a non-object and unknown keys with the closest name', () => {
    const m = sequential({ name: 'mlp', layers: [dense({ units: 2, inputShape: [3] })] });
    expect(kilnError(() => m.compile(null as never))).toBe("compile: model 'mlp' expects {optimizer, loss, metrics?}, got null");
    expect(kilnError(() => m.compile({ optimizer: 'sgd', loss: 'mse', metric: ['acc'] } as never))).toMatch(/^compile: model 'mlp': unknown option 'metric' \(did you mean 'metrics'\?\)$/);
    expect(kilnError(() => m.compile({ optimizer: 'sgd', loss: 'mse', metrics: 'acc' } as never))).toMatch(/metrics must be an array of metric names or Metrics .*got 'acc'$/);
    expect(kilnError(() => m.compile({ optimizer: 'sgd', loss: 'mse', runEagerly: 'yes' } as never))).toMatch(/runEagerly must be true or false, got 'yes'$/);
  });
});
