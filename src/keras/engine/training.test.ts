/**
 * compile / fit / evaluate: weights after fit against mini-batch SGD written out in the test
 * (including the last partial batch, a learning rate lowered by ReduceLROnPlateau inside the
 * program, and setWeights pushed into it), evaluate against loss and accuracy computed by hand,
 * runEagerly against the compiled path, validation, shuffling with a seed, per-epoch metric
 * resets, callbacks (History, EarlyStopping, ModelCheckpoint), the progress bar's output, and
 * errors.
 */
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { KilnError } from '../../ir/types.js';
import { literal } from '../../ir/literal.js';
import { Tensor } from '../backend.js';
import { dense } from '../layers/dense.js';
import { batchNormalization } from '../layers/batch_normalization.js';
import { dropout } from '../layers/dropout.js';
import { sgd } from '../optimizers/sgd.js';
import { adam } from '../optimizers/adam.js';
import { randomData } from '../test_util.js';
import { EarlyStopping } from '../callbacks/early_stopping.js';
import { ModelCheckpoint, readCheckpoint } from '../callbacks/model_checkpoint.js';
import { ReduceLROnPlateau } from '../callbacks/reduce_lr_on_plateau.js';
import { ProgbarLogger } from '../progress.js';
import { sequential } from './sequential.js';
import { getLearningRate, trainingProgram } from './training.js';

const D = 3;

function linearModel(w: number[] = [0.5, -0.3, 0.2], b = 0.1) {
  const m = sequential({ layers: [dense({ units: 1, inputShape: [D] })] });
  m.setWeights([t([D, 1], w), t([1], [b])]);
  return m;
}

function t(shape: number[], values: ArrayLike<number>, dtype: 'f32' | 'i32' = 'f32'): Tensor {
  return Tensor.concrete(literal(shape, dtype, values));
}

/** n samples of a noisy linear target. */
function regression(n: number, seed: number): { x: Tensor; y: Tensor; xs: number[][]; ys: number[] } {
  const xd = randomData(n * D, seed);
  const noise = randomData(n, seed + 1, -0.1, 0.1);
  const xs = Array.from({ length: n }, (_, i) => Array.from(xd.subarray(i * D, (i + 1) * D)));
  const ys = xs.map((r, i) => 1.5 * r[0]! - 2 * r[1]! + 0.7 * r[2]! + 0.3 + noise[i]!);
  return { x: t([n, D], xd), y: t([n, 1], ys), xs, ys };
}

/** Mini-batch SGD on MSE for y = x.w + b, in order (no shuffling), one lr per epoch. */
function naiveSgd(xs: number[][], ys: number[], w0: number[], b0: number, batch: number, lrs: number[]) {
  const w = [...w0];
  let b = b0;
  const epochLoss: number[] = [];
  for (const lr of lrs) {
    let total = 0;
    for (let s = 0; s < xs.length; s += batch) {
      const rows = xs.slice(s, s + batch), targets = ys.slice(s, s + batch);
      const gw = new Array<number>(D).fill(0);
      let gb = 0, loss = 0;
      rows.forEach((r, i) => {
        const e = r.reduce((a, v, k) => a + v * w[k]!, b) - targets[i]!;
        loss += e * e;
        for (let k = 0; k < D; k++) gw[k]! += (2 * e * r[k]!) / rows.length;
        gb += (2 * e) / rows.length;
      });
      total += loss;
      for (let k = 0; k < D; k++) w[k]! -= lr * gw[k]!;
      b -= lr * gb;
    }
    epochLoss.push(total / xs.length);
  }
  return { w, b, epochLoss };
}

function weightsOf(m: ReturnType<typeof linearModel>): { w: number[]; b: number } {
  const [k, bias] = m.getWeights();
  return { w: Array.from(k!.dataSync()), b: bias!.dataSync()[0]! };
}

function expectClose(got: readonly number[], want: readonly number[], tol = 1e-5): void {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => expect(Math.abs(g - want[i]!), `index ${i}: ${g} vs ${want[i]}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(want[i]!))));
}

/** A 3-class softmax classifier and labelled data. */
function classifier(n: number, seed: number) {
  const m = sequential({ layers: [dense({ units: 8, activation: 'relu', inputShape: [4] }), dense({ units: 3, activation: 'softmax' })] });
  m.setWeights(m.weights.map((v, i) => t(v.shape, randomData(v.shape.reduce((a, c) => a * c, 1), seed + i, -0.6, 0.6))));
  const xd = randomData(n * 4, seed + 10);
  const labels = Array.from({ length: n }, (_, i) => (xd[i * 4]! + xd[i * 4 + 1]! > 0 ? 0 : xd[i * 4 + 2]! > 0 ? 1 : 2));
  return { m, x: t([n, 4], xd), y: t([n], labels, 'i32'), labels };
}

describe('fit (compiled, resident state)', () => {
  it('trains like mini-batch SGD written out by hand, the last partial batch included', async () => {
    const { x, y, xs, ys } = regression(10, 1);
    const m = linearModel();
    m.compile({ optimizer: sgd({ learningRate: 0.1 }), loss: 'meanSquaredError' });
    const h = await m.fit(x, y, { epochs: 3, batchSize: 4, shuffle: false, verbose: 0 });
    const want = naiveSgd(xs, ys, [0.5, -0.3, 0.2], 0.1, 4, [0.1, 0.1, 0.1]);
    const got = weightsOf(m);
    expectClose(got.w, want.w);
    expectClose([got.b], [want.b]);
    expectClose(h.history['loss']!, want.epochLoss);
    const prog = trainingProgram(m)!;
    expect([...prog.entries].sort()).toEqual(['train_2', 'train_4']);
    expect(prog.stats.runs).toBe(9); // 3 epochs x (4 + 4 + 2)
    // predict sees the trained weights.
    const p = (m.predict(t([1, D], xs[0]!)) as Tensor).dataSync()[0]!;
    expect(p).toBeCloseTo(xs[0]!.reduce((a, v, k) => a + v * want.w[k]!, want.b), 5);
  });

  it('a second fit continues from the trained state (optimizer step counter included)', async () => {
    const { x, y, xs, ys } = regression(8, 2);
    const m = linearModel();
    m.compile({ optimizer: sgd({ learningRate: 0.05 }), loss: 'mse' });
    await m.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    await m.fit(x, y, { epochs: 2, batchSize: 8, shuffle: false, verbose: 0 });
    const want = naiveSgd(xs, ys, [0.5, -0.3, 0.2], 0.1, 8, [0.05, 0.05, 0.05]);
    expectClose(weightsOf(m).w, want.w);
    expect(trainingProgram(m)!.getState(['SGD/iterations'])['SGD/iterations']![0]).toBe(3);
  });

  it('setWeights after compile is pushed into the program', async () => {
    const { x, y, xs, ys } = regression(6, 3);
    const m = linearModel();
    m.compile({ optimizer: sgd({ learningRate: 0.1 }), loss: 'mse' });
    await m.fit(x, y, { epochs: 2, batchSize: 6, shuffle: false, verbose: 0 });
    m.setWeights([t([D, 1], [1, 1, 1]), t([1], [0])]);
    await m.fit(x, y, { epochs: 1, batchSize: 6, shuffle: false, verbose: 0 });
    const want = naiveSgd(xs, ys, [1, 1, 1], 0, 6, [0.1]);
    expectClose(weightsOf(m).w, want.w);
  });

  it('epoch logs are sample-weighted means of the batch logs: metrics reset every epoch', async () => {
    const { m, x, y } = classifier(20, 4);
    m.compile({ optimizer: adam({ learningRate: 0.05 }), loss: 'sparseCategoricalCrossentropy', metrics: ['acc'] });
    const batches: { epoch: number; size: number; loss: number; acc: number }[] = [];
    let epoch = 0;
    const h = await m.fit(x, y, {
      epochs: 3, batchSize: 6, seed: 1, verbose: 0,
      callbacks: [{ onEpochBegin: (e) => { epoch = e; }, onBatchEnd: (_b, l) => { batches.push({ epoch, size: l['size']!, loss: l['loss']!, acc: l['acc']! }); } }],
    });
    expect(batches.map((b) => b.size)).toEqual([6, 6, 6, 2, 6, 6, 6, 2, 6, 6, 6, 2]);
    for (let e = 0; e < 3; e++) {
      const bs = batches.filter((b) => b.epoch === e);
      const mean = (k: 'loss' | 'acc') => bs.reduce((a, b) => a + b[k] * b.size, 0) / 20;
      expect(h.history['loss']![e]).toBeCloseTo(mean('loss'), 5);
      expect(h.history['acc']![e]).toBeCloseTo(mean('acc'), 5);
    }
    expect(h.epoch).toEqual([0, 1, 2]);
    expect(Object.keys(h.history).sort()).toEqual(['acc', 'loss']);
  });

  it('runEagerly runs the same steps on the interpreter', async () => {
    const run = async (runEagerly: boolean) => {
      const { m, x, y } = classifier(16, 5);
      m.compile({ optimizer: adam({ learningRate: 0.02 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], runEagerly });
      const h = await m.fit(x, y, { epochs: 2, batchSize: 5, seed: 3, verbose: 0, validationSplit: 0.25 });
      return { h, m, w: m.getWeights().flatMap((v) => Array.from(v.dataSync())) };
    };
    const eager = await run(true);
    const compiled = await run(false);
    expect(trainingProgram(eager.m)).toBeUndefined();
    expect(trainingProgram(compiled.m)).toBeDefined();
    for (const k of ['loss', 'accuracy', 'val_loss', 'val_accuracy']) expectClose(compiled.h.history[k]!, eager.h.history[k]!, 1e-4);
    expectClose(compiled.w, eager.w, 1e-4);
  });
});

describe('training-mode layers', () => {
  const run = async (runEagerly: boolean) => {
    const m = sequential({ layers: [
      // No bias before BatchNormalization: its exact gradient is zero (BN subtracts the mean), so
      // Adam would turn rounding noise into full-size steps and the two paths could not agree.
      dense({ units: 8, inputShape: [4], useBias: false }), batchNormalization(), dropout({ rate: 0.4, seed: 9 }), dense({ units: 3, activation: 'softmax' }),
    ] });
    const init = m.weights.map((v, i) => t(v.shape, v.name.endsWith('moving_variance')
      ? new Float32Array(v.shape.reduce((a, c) => a * c, 1)).fill(1)
      : randomData(v.shape.reduce((a, c) => a * c, 1), 30 + i, -0.5, 0.5)));
    m.setWeights(init);
    const { x, y } = classifier(16, 31);
    m.compile({ optimizer: adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', runEagerly });
    const losses: number[] = [];
    await m.fit(x, y, { epochs: 2, batchSize: 8, shuffle: false, verbose: 0, callbacks: [{ onBatchEnd: (_b, l) => { losses.push(l['loss']!); } }] });
    const names = m.weights.map((w) => w.name);
    const now = m.getWeights();
    const mean = now[names.findIndex((n) => n.endsWith('moving_mean'))]!;
    const initMean = init[names.findIndex((n) => n.endsWith('moving_mean'))]!;
    return { losses, mean: Array.from(mean.dataSync()), initMean: Array.from(initMean.dataSync()), w: now.flatMap((v) => Array.from(v.dataSync())) };
  };

  it('Dropout (masks keyed by the step) and BatchNormalization (moving statistics as state), runEagerly', async () => {
    const a = await run(true), b = await run(true);
    expect(a.mean).not.toEqual(a.initMean); // the moving statistics were updated
    expect(a.losses).toEqual(b.losses); // masks depend on (seed, step) only
    expect(a.losses.every(Number.isFinite)).toBe(true);
  });

  it('Dropout and BatchNormalization: the compiled step equals the interpreter', async () => {
    const eager = await run(true);
    const compiled = await run(false);
    expect(compiled.mean).not.toEqual(compiled.initMean); // the moving statistics were updated
    expectClose(compiled.losses, eager.losses, 1e-4);
    expectClose(compiled.w, eager.w, 1e-4);
  });
});

describe('evaluate, validation, shuffling', () => {
  it('evaluate gives the mean loss and accuracy over all samples (uneven batches)', async () => {
    const { m, x, y, labels } = classifier(20, 6);
    m.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy', metrics: ['acc'] });
    const r = await m.evaluate(x, y, { batchSize: 7 });
    const p = (m.predict(x) as Tensor).dataSync();
    let loss = 0, correct = 0;
    labels.forEach((c, i) => {
      const row = Array.from(p.subarray(i * 3, i * 3 + 3));
      loss -= Math.log(Math.min(Math.max(row[c]!, 1e-7), 1 - 1e-7));
      if (row.indexOf(Math.max(...row)) === c) correct++;
    });
    expect(r['loss']).toBeCloseTo(loss / 20, 5);
    expect(r['acc']).toBeCloseTo(correct / 20, 6);
    expect(Object.keys(r).sort()).toEqual(['acc', 'loss']);
  });

  it('validationSplit holds out the last samples and reports val_ values', async () => {
    const { m, x, y } = classifier(20, 7);
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['acc'] });
    const h = await m.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0, validationSplit: 0.25, seed: 1 });
    expect(Object.keys(h.history).sort()).toEqual(['acc', 'loss', 'val_acc', 'val_loss']);
    const xv = Tensor.concrete(literal([5, 4], 'f32', x.dataSync().slice(15 * 4)));
    const yv = Tensor.concrete(literal([5], 'i32', y.dataSync().slice(15)));
    const r = await m.evaluate(xv, yv);
    expect(h.history['val_loss']![0]).toBeCloseTo(r['loss']!, 5);
    expect(h.history['val_acc']![0]).toBeCloseTo(r['acc']!, 6);
    expect(trainingProgram(m)!.entries).toEqual(expect.arrayContaining(['train_8', 'train_7', 'eval_5']));
  });

  it('validationData is evaluated after every epoch', async () => {
    const { m, x, y } = classifier(12, 8);
    const v = classifier(6, 9);
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    const h = await m.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0, validationData: [v.x, v.y] });
    expect(h.history['val_loss']).toHaveLength(2);
    expect(h.history['val_loss']![1]).toBeCloseTo((await m.evaluate(v.x, v.y))['loss']!, 5);
  });

  it('shuffling with a seed is deterministic; another seed gives another result', async () => {
    const run = async (seed: number | undefined, shuffle = true) => {
      const { x, y } = regression(12, 10);
      const m = linearModel();
      m.compile({ optimizer: sgd({ learningRate: 0.1 }), loss: 'mse' });
      const h = await m.fit(x, y, { epochs: 2, batchSize: 5, verbose: 0, shuffle, ...(seed === undefined ? {} : { seed }) });
      return [...h.history['loss']!, ...weightsOf(m).w];
    };
    const a = await run(1), b = await run(1), c = await run(2), ordered = await run(undefined, false);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a).not.toEqual(ordered);
  });
});

describe('callbacks', () => {
  it('EarlyStopping stops when the monitored value stops improving', async () => {
    const { x, y } = regression(8, 11);
    const m = linearModel();
    m.compile({ optimizer: sgd({ learningRate: 0 }), loss: 'mse' }); // lr 0: the loss never improves
    const stop = new EarlyStopping({ monitor: 'loss', patience: 2 });
    const h = await m.fit(x, y, { epochs: 20, batchSize: 4, verbose: 0, callbacks: [stop] });
    expect(h.epoch).toEqual([0, 1, 2]);
    expect(stop.stoppedEpoch).toBe(2);
    expect(m.stopTraining).toBe(true);
  });

  it('ReduceLROnPlateau lowers the learning rate inside the program, without recompiling', async () => {
    const { x, y, xs, ys } = regression(8, 12);
    const m = linearModel();
    m.compile({ optimizer: sgd({ learningRate: 0.1 }), loss: 'mse' });
    // minDelta 10: nothing after the first epoch counts as an improvement.
    const reduce = new ReduceLROnPlateau({ monitor: 'loss', patience: 1, factor: 0.5, minDelta: 10 });
    const seen: number[] = [];
    let prog: unknown;
    await m.fit(x, y, {
      epochs: 4, batchSize: 8, shuffle: false, verbose: 0,
      callbacks: [reduce, { onEpochBegin: () => { seen.push(getLearningRate(m)); prog ??= trainingProgram(m); } }],
    });
    expectClose(seen, [0.1, 0.1, 0.05, 0.025], 1e-7); // f32 state
    expect(getLearningRate(m)).toBeCloseTo(0.0125, 7);
    expect(trainingProgram(m)).toBe(prog);
    const want = naiveSgd(xs, ys, [0.5, -0.3, 0.2], 0.1, 8, [0.1, 0.1, 0.05, 0.025]);
    expectClose(weightsOf(m).w, want.w);
  });

  it('ModelCheckpoint writes the weights of each epoch (tfjs weights manifest + binary)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-ckpt-'));
    const { x, y } = regression(8, 13);
    const m = linearModel();
    m.compile({ optimizer: sgd({ learningRate: 0.1 }), loss: 'mse' });
    const ckpt = new ModelCheckpoint({ filepath: join(dir, 'w.{epoch:02d}-{loss:.3f}.json') });
    const h = await m.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0, callbacks: [ckpt] });
    expect(ckpt.saved).toHaveLength(2);
    expect(ckpt.saved[1]).toBe(join(dir, `w.02-${h.history['loss']![1]!.toFixed(3)}.json`));
    expect(existsSync(ckpt.saved[1]!.replace(/\.json$/, '.bin'))).toBe(true);
    const { file, weights } = await readCheckpoint(ckpt.saved[1]!);
    expect(file.epoch).toBe(1);
    expect(weights.map((w) => w.name)).toEqual(m.weights.map((w) => w.name));
    const now = m.getWeights();
    weights.forEach((w, i) => expect(Array.from(w.value.dataSync())).toEqual(Array.from(now[i]!.dataSync())));
    // The first epoch's file holds other (earlier) weights.
    const first = await readCheckpoint(ckpt.saved[0]!);
    expect(Array.from(first.weights[0]!.value.dataSync())).not.toEqual(Array.from(now[0]!.dataSync()));
  });

  it('History lists every epoch with loss, metrics and val_ values', async () => {
    const { m, x, y } = classifier(12, 14);
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['acc'] });
    const h = await m.fit(x, y, { epochs: 4, initialEpoch: 1, batchSize: 4, verbose: 0, validationSplit: 0.25 });
    expect(h.epoch).toEqual([1, 2, 3]);
    for (const k of ['loss', 'acc', 'val_loss', 'val_acc']) {
      expect(h.history[k]).toHaveLength(3);
      h.history[k]!.forEach((v) => expect(Number.isFinite(v)).toBe(true));
    }
  });
});

describe('progress bar', () => {
  const capture = async (verbose: 0 | 1 | 2) => {
    const { x, y } = regression(10, 15);
    const m = linearModel();
    m.compile({ optimizer: sgd({ learningRate: 0.1 }), loss: 'mse', metrics: ['mae'] });
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await m.fit(x, y, { epochs: 2, batchSize: 4, verbose, validationSplit: 0.2 });
      return spy.mock.calls.map((c) => String(c[0])).join('');
    } finally {
      spy.mockRestore();
    }
  };
  const values = 'loss: \\d+\\.\\d{4} - mae: \\d+\\.\\d{4} - val_loss: \\d+\\.\\d{4} - val_mae: \\d+\\.\\d{4}';

  it('verbose 2: one line per epoch with time, time per step, loss, metrics and val_ values', async () => {
    const out = await capture(2);
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    lines.forEach((l, e) => expect(l).toMatch(new RegExp(`^Epoch ${e + 1}/2 - \\d+(ms|s) - \\d+(ms|s)/step - ${values}$`)));
  });

  it('verbose 1 (not a terminal): the epoch header and the finished bar', async () => {
    const out = await capture(1);
    const bar = `2/2 \\[={30}\\] - \\d+(ms|s) \\d+(ms|s)/step - ${values}`;
    expect(out).toMatch(new RegExp(`^Epoch 1/2\\n${bar}\\nEpoch 2/2\\n${bar}\\n$`));
  });

  it('verbose 0 writes nothing', async () => {
    expect(await capture(0)).toBe('');
  });

  it('on a terminal the bar is redrawn in place', async () => {
    const { x, y } = regression(12, 16);
    const m = linearModel();
    m.compile({ optimizer: sgd({ learningRate: 0.1 }), loss: 'mse' });
    let text = '';
    const bar = new ProgbarLogger({ stream: { isTTY: true, write: (s: string) => { text += s; } }, intervalMs: 0, verbose: 1 });
    await m.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0, callbacks: [bar] });
    expect(text).toContain('\r1/3 [=========>....................] - ETA: ');
    expect(text).toContain('\r2/3 [===================>..........] - ETA: ');
    expect(text).toMatch(/\r3\/3 \[={30}\] - \d+(ms|s) \d+(ms|s)\/step - loss: \d+\.\d{4}\x1b\[K\n$/);
  });
});

describe('errors', () => {
  it('fit and evaluate before compile say to compile', async () => {
    const { x, y } = regression(4, 17);
    const m = linearModel();
    await expect(m.fit(x, y)).rejects.toThrow(new RegExp(`fit: model '${m.name}' must be compiled first`));
    await expect(m.evaluate(x, y)).rejects.toThrow(/evaluate: .* must be compiled first/);
  });

  it('wrong x and y shapes name the model and the shapes', async () => {
    const m = linearModel();
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    await expect(m.fit(t([4, 5], new Float32Array(20)), t([4, 1], new Float32Array(4)), { verbose: 0 }))
      .rejects.toThrow(new RegExp(`fit: model '${m.name}' input 0 must be \\[null,3\\] f32, got x f32\\[4,5\\]`));
    await expect(m.fit(t([4, 3], new Float32Array(12)), t([5, 1], new Float32Array(5)), { verbose: 0 }))
      .rejects.toThrow(/same number of samples, got x f32\[4,3\] and y f32\[5,1\]/);
    await expect(m.fit(t([4, 3], new Float32Array(12)), t([4, 2], new Float32Array(8)), { verbose: 0 }))
      .rejects.toThrow(new RegExp(`model '${m.name}' cannot train on x, y = f32\\[4,3\\], f32\\[4,2\\]: .*shape`));
    await expect(m.fit(t([4, 3], new Float32Array(12)), t([4, 1], new Float32Array(4)), { verbose: 0, batchSize: 0 }))
      .rejects.toThrow(/batchSize must be a positive integer, got 0/);
  });

  it('unknown loss, optimizer and metric names are rejected at compile', () => {
    const m = linearModel();
    expect(() => m.compile({ optimizer: 'sgd', loss: 'meanSquareError' })).toThrow(KilnError);
    expect(() => m.compile({ optimizer: 'sgd', loss: 'meanSquareError' })).toThrow(/unknown loss 'meanSquareError'/);
    expect(() => m.compile({ optimizer: 'adamm', loss: 'mse' })).toThrow(/unknown optimizer 'adamm'/);
    expect(() => m.compile({ optimizer: 'sgd', loss: 'mse', metrics: ['accuracyy'] })).toThrow(/unknown metric 'accuracyy'/);
  });
});

describe('fit on CUDA', () => {
  // This machine has no NVIDIA driver: compiling the training entries for CUDA must work, and
  // loading them must fail with the runtime's clear message, not deep inside a kernel.
  const hasDriver = ['/usr/lib/x86_64-linux-gnu/libcuda.so.1', '/usr/lib64/libcuda.so.1'].some((p) => existsSync(p));
  it.skipIf(hasDriver)("compile({device: 'cuda'}) builds the CUDA training artifact and says the driver is missing", async () => {
    const { m, x, y } = classifier(16, 41);
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['acc'], device: 'cuda' });
    await expect(m.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 })).rejects.toThrow(/CUDA driver not found/);
  });
  it('an unknown device is a clear error', () => {
    const { m } = classifier(4, 42);
    expect(() => m.compile({ optimizer: 'adam', loss: 'mse', device: 'tpu' as never })).toThrow(/device must be 'wasm' or 'cuda', got 'tpu'/);
  });
});
