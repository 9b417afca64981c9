/**
 * model.fit / evaluate / predict on kiln.data Datasets: per-batch losses equal fit on the same
 * arrays in the same order (no shuffle), including the remainder batch, through one compiled
 * program; validationData as a dataset and as arrays; stepsPerEpoch over an endless dataset
 * (one iterator across epochs); a generator producing more samples than are ever held at once
 * trains with a bounded number of live elements; evaluate/predict equal the array paths; the
 * progress bar's totals; errors.
 */
import { describe, expect, it, vi } from 'vitest';
import { literal } from '../../ir/literal.js';
import { compileCount } from '../../exec.js';
import { Tensor } from '../backend.js';
import { dense } from '../layers/dense.js';
import { sgd } from '../optimizers/sgd.js';
import { randomData } from '../test_util.js';
import { sequential } from '../engine/sequential.js';
import type { Logs } from '../callbacks/callback.js';
import { ProgbarLogger } from '../progress.js';
import { fromArrays, fromGenerator } from './arrays.js';
import type { Element } from './element.js';

const D = 4;
const N = 37; // 4 full batches of 8 and a remainder of 5

function t(shape: number[], values: ArrayLike<number>, dtype: 'f32' | 'i32' = 'f32'): Tensor {
  return Tensor.concrete(literal(shape, dtype, values));
}

function makeModel() {
  const m = sequential({ layers: [dense({ units: 3, inputShape: [D], activation: 'tanh' }), dense({ units: 1 })] });
  m.setWeights([t([D, 3], randomData(D * 3, 1)), t([3], randomData(3, 2)), t([3, 1], randomData(3, 3)), t([1], [0.1])]);
  m.compile({ optimizer: sgd({ learningRate: 0.05 }), loss: 'meanSquaredError', metrics: ['mae'] });
  return m;
}

const x = t([N, D], randomData(N * D, 4));
const y = t([N, 1], randomData(N, 5));

function batchLosses(): { logs: Logs[]; callback: { onBatchEnd: (b: number, l: Logs) => void } } {
  const logs: Logs[] = [];
  return { logs, callback: { onBatchEnd: (_b: number, l: Logs) => { logs.push({ ...l }); } } };
}

describe('fit / evaluate / predict on a Dataset', () => {
  it('fit(dataset) gives the losses and weights of fit(arrays) in the same order, remainder batch included', async () => {
    const a = makeModel();
    const ra = batchLosses();
    const ha = await a.fit(x, y, { epochs: 2, batchSize: 8, shuffle: false, verbose: 0, callbacks: [ra.callback], validationData: [x, y] });
    const b = makeModel();
    const rb = batchLosses();
    const before = compileCount('training');
    const ds = fromArrays({ xs: x, ys: y }).batch(8).prefetch(2);
    const hb = await b.fit(ds, { epochs: 2, verbose: 0, callbacks: [rb.callback], validationData: fromArrays([x, y]).batch(8) });
    expect(compileCount('training') - before).toBe(1); // the full, remainder and validation entries in one program
    expect(rb.logs.map((l) => l.size)).toEqual([8, 8, 8, 8, 5, 8, 8, 8, 8, 5]);
    rb.logs.forEach((l, i) => {
      expect(l.loss).toBeCloseTo(ra.logs[i]!.loss!, 6);
      expect(l.mae).toBeCloseTo(ra.logs[i]!.mae!, 6);
    });
    for (const k of ['loss', 'mae', 'val_loss', 'val_mae']) {
      hb.history[k]!.forEach((v, e) => expect(v).toBeCloseTo(ha.history[k]![e]!, 6));
    }
    const wa = a.getWeights(), wb = b.getWeights();
    wa.forEach((w, i) => Array.from(w.dataSync()).forEach((v, j) => expect(wb[i]!.dataSync()[j]).toBeCloseTo(v, 6)));

    // validationData as [x, y] arrays (batched by validationBatchSize) gives the same validation figures.
    const c = makeModel();
    const hc = await c.fit(fromArrays({ xs: x, ys: y }).batch(8), { epochs: 2, verbose: 0, validationData: [x, y], validationBatchSize: 8 });
    hc.history['val_loss']!.forEach((v, e) => expect(v).toBeCloseTo(ha.history['val_loss']![e]!, 6));

    // evaluate and predict on datasets equal the array paths.
    const ea = await a.evaluate(x, y, { batchSize: 8 });
    const eb = await b.evaluate(fromArrays({ xs: x, ys: y }).batch(8));
    expect(eb.loss).toBeCloseTo(ea.loss!, 6);
    expect(eb.mae).toBeCloseTo(ea.mae!, 6);
    const pa = a.predict(x) as Tensor;
    const pb = (await b.predict(fromArrays(x).batch(10))) as Tensor;
    expect(pb.shape).toEqual([N, 1]);
    Array.from(pa.dataSync()).forEach((v, i) => expect(pb.dataSync()[i]).toBeCloseTo(v, 5));
  });

  it('stepsPerEpoch runs one iterator across epochs over an endless dataset, and stops when data runs out', async () => {
    const a = makeModel();
    const ra = batchLosses();
    // Oracle: 3 epochs of 2 steps over repeat() = the batches 0..5 of the repeated stream, i.e. fit(arrays) over 6 consecutive batches.
    const xs6 = t([48, D], [...x.dataSync(), ...x.dataSync()].slice(0, 48 * D));
    const ys6 = t([48, 1], [...y.dataSync(), ...y.dataSync()].slice(0, 48));
    await a.fit(xs6, ys6, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0, callbacks: [ra.callback] });
    const b = makeModel();
    const rb = batchLosses();
    const endless = fromArrays({ xs: x, ys: y }).repeat().batch(8);
    expect(endless.cardinality).toBe(Infinity);
    await expect(b.fit(endless, { epochs: 1, verbose: 0 })).rejects.toThrow(/endless .* pass stepsPerEpoch/);
    const h = await b.fit(endless, { epochs: 3, stepsPerEpoch: 2, verbose: 0, callbacks: [rb.callback] });
    expect(h.history['loss']!.length).toBe(3);
    expect(rb.logs.length).toBe(6);
    rb.logs.forEach((l, i) => expect(l.loss).toBeCloseTo(ra.logs[i]!.loss!, 6));

    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const short = await makeModel().fit(fromArrays({ xs: x, ys: y }).batch(8), { epochs: 3, stepsPerEpoch: 3, verbose: 0 });
    expect(warn.mock.calls[0]![0]).toMatch(/ran out of data after 2 of 3 steps of epoch 2/);
    warn.mockRestore();
    expect(short.history['loss']!.length).toBe(2); // the partial epoch 2 is logged, then training stops
  });

  it('a generator yielding more samples than are ever held at once trains with bounded live elements', async () => {
    const made = { n: 0 };
    const total = 4000;
    const gen = function* (): Generator<Element> {
      for (let i = 0; i < total; i++) {
        const xi = randomData(D, 1000 + i);
        const e = { xs: t([D], xi), ys: t([1], [xi[0]! - xi[1]!]) };
        made.n++;
        yield e;
      }
    };
    // Elements produced but not yet consumed by a batch handed to fit: what the pipeline holds.
    let inFlight = 0;
    let maxInFlight = 0;
    const ds = fromGenerator(gen).map((e) => { inFlight++; maxInFlight = Math.max(maxInFlight, inFlight); return e; })
      .shuffle(64, { seed: 3 }).batch(16).map((b) => { inFlight -= 16; return b; }).prefetch(2);
    const m = makeModel();
    const h = await m.fit(ds, { epochs: 1, verbose: 0 });
    expect(made.n).toBe(total);
    // Buffered at most: the shuffle buffer, the batch being built, and two prefetched batches.
    expect(maxInFlight).toBeLessThanOrEqual(64 + 16 + 2 * 16 + 16);
    expect(maxInFlight).toBeLessThan(total / 10);
    expect(h.history['loss']![0]).toBeLessThan(1);
  });

  it('the progress bar shows totals when the size is known and counts otherwise', async () => {
    const lines: string[] = [];
    const stream = { isTTY: true, write: (s: string) => { lines.push(s); } };
    const m = makeModel();
    await m.fit(fromArrays({ xs: x, ys: y }).batch(8), { epochs: 1, verbose: 0, callbacks: [new ProgbarLogger({ stream, verbose: 1, intervalMs: 0 })] });
    expect(lines.some((l) => l.includes('5/5 ['))).toBe(true);
    lines.length = 0;
    await m.fit(fromArrays({ xs: x, ys: y }).filter(() => true).batch(8), { epochs: 1, verbose: 0, callbacks: [new ProgbarLogger({ stream, verbose: 1, intervalMs: 0 })] });
    expect(lines.some((l) => l.includes('3/Unknown'))).toBe(true);
  });

  it('refuses array-only options and unbatched elements with the fix', async () => {
    const m = makeModel();
    const ds = fromArrays({ xs: x, ys: y });
    await expect(m.fit(ds.batch(8), { batchSize: 8 } as never)).rejects.toThrow(/option 'batchSize' does not apply to a dataset: .*dataset\.batch\(n\)/);
    await expect(m.fit(ds.batch(8), { epoch: 2 } as never)).rejects.toThrow(/unknown option 'epoch' \(did you mean 'epochs'\?\)/);
    await expect(m.fit(ds, { verbose: 0 })).rejects.toThrow(/has no batch axis .* dataset\.batch\(32\)/);
    await expect(m.fit(fromArrays([x]).batch(8), { verbose: 0 })).rejects.toThrow(/elements must be \{xs, ys\} or \[x, y\]/);
  });
});
