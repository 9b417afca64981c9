/**
 * Bad training data (issue 12): sparse labels are checked inside the compiled step (a flag
 * output, not a host pass) and fit/evaluate throw naming the batch, the sample's index in the
 * dataset and the value; the same on the interpreter (runEagerly). A loss that becomes NaN is
 * reported once by fit, and TerminateOnNaN stops training.
 */
import { describe, expect, it, vi } from 'vitest';
import { KilnError } from '../../ir/types.js';
import { literal } from '../../ir/literal.js';
import { Tensor } from '../backend.js';
import { dense } from '../layers/dense.js';
import { sgd } from '../optimizers/sgd.js';
import { randomData } from '../test_util.js';
import { TerminateOnNaN } from '../callbacks/terminate_on_nan.js';
import { sequential } from './sequential.js';

const t = (shape: number[], values: ArrayLike<number>, dtype: 'f32' | 'i32' = 'f32'): Tensor => Tensor.concrete(literal(shape, dtype, values));

function classifier(runEagerly: boolean, metrics: string[] = ['acc']) {
  const m = sequential({ layers: [dense({ units: 4, inputShape: [3], activation: 'relu' }), dense({ units: 3, activation: 'softmax' })] });
  m.compile({ optimizer: sgd({ learningRate: 0.1 }), loss: 'sparseCategoricalCrossentropy', metrics, runEagerly });
  return m;
}

const N = 10;
const x = t([N, 3], randomData(N * 3, 5));
const labels = (bad: number, at: number, dtype: 'f32' | 'i32' = 'f32'): Tensor => {
  const y = Array.from({ length: N }, (_, i) => i % 3);
  y[at] = bad;
  return t([N, 1], y, dtype);
};

async function fitError(p: Promise<unknown>): Promise<string> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(KilnError);
  return (e as KilnError).message;
}

describe('sparse labels are checked inside the step', () => {
  for (const runEagerly of [false, true]) {
    const mode = runEagerly ? 'interpreted' : 'compiled';
    it(`${mode}: 12, -1 and 2.5 name the batch, the index and the value`, async () => {
      const m = classifier(runEagerly);
      // Without shuffling sample 7 is in batch 1 (batch size 4).
      let msg = await fitError(m.fit(x, labels(12, 7), { batchSize: 4, shuffle: false, verbose: 0 }));
      expect(msg).toContain('y[7] = 12');
      expect(msg).toContain('batch 1 of epoch 1');
      expect(msg).toContain('[0, 3)');
      msg = await fitError(m.fit(x, labels(-1, 2, 'i32'), { batchSize: 4, shuffle: false, verbose: 0 }));
      expect(msg).toContain('y[2] = -1');
      expect(msg).toContain('batch 0 of epoch 1');
      msg = await fitError(m.fit(x, labels(2.5, 9), { batchSize: 4, shuffle: false, verbose: 0 }));
      expect(msg).toContain('y[9] = 2.5 is not an integer');
      expect(msg).toContain('batch 2 of epoch 1');
      msg = await fitError(m.evaluate(x, labels(3, 5), { batchSize: 4 }));
      expect(msg).toMatch(/^evaluate: .*y\[5\] = 3 .*batch 1/);
    });
  }

  it('with shuffling the index is the sample\'s index in the dataset', async () => {
    const m = classifier(false);
    const msg = await fitError(m.fit(x, labels(12, 6), { batchSize: 4, seed: 3, verbose: 0 }));
    expect(msg).toContain('y[6] = 12');
  });

  it('validation data is checked too', async () => {
    const c = classifier(false);
    const msg = await fitError(c.fit(x, labels(0, 0), { validationData: [x, labels(5, 8)], verbose: 0 }));
    expect(msg).toMatch(/^fit \(validation\): .*y\[8\] = 5/);
  });

  it('good labels train as before (i32 and integral f32 give the same weights)', async () => {
    const a = classifier(false), b = classifier(false);
    b.setWeights(a.getWeights());
    await a.fit(x, labels(1, 0), { batchSize: 4, shuffle: false, verbose: 0 });
    await b.fit(x, labels(1, 0, 'i32'), { batchSize: 4, shuffle: false, verbose: 0 });
    const wa = a.getWeights().map((w) => Array.from(w.dataSync()));
    const wb = b.getWeights().map((w) => Array.from(w.dataSync()));
    expect(wa).toEqual(wb);
  });
});

describe('NaN losses', () => {
  const nanX = (): Tensor => {
    const d = randomData(N * 3, 8);
    d[3 * 5] = NaN;
    return t([N, 3], d);
  };

  it('fit warns once, on one line, when the loss becomes NaN', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const m = classifier(false);
      await m.fit(nanX(), labels(0, 0), { batchSize: 4, epochs: 3, shuffle: false, verbose: 0 });
      const calls = warn.mock.calls.filter((c) => String(c[0]).includes('loss became'));
      expect(calls).toHaveLength(1);
      expect(String(calls[0]![0])).toMatch(/^fit: model '.*': the loss became NaN at batch 1 of epoch 1;[^\n]*$/);
    } finally {
      warn.mockRestore();
    }
  });

  it('TerminateOnNaN stops fit at the first NaN batch', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const m = classifier(false);
      const batches: number[] = [];
      const h = await m.fit(nanX(), labels(0, 0), {
        batchSize: 4, epochs: 3, shuffle: false, verbose: 0,
        callbacks: [new TerminateOnNaN(), { onBatchEnd: (b: number) => { batches.push(b); } }],
      });
      expect(batches).toEqual([0, 1]);
      expect(m.stopTraining).toBe(true);
      expect(h.epoch).toEqual([0]);
    } finally {
      warn.mockRestore();
      log.mockRestore();
    }
  });
});
