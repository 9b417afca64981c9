/**
 * Training state (issue 12): optimizer slots read and written by name; a state moved to a fresh
 * model continues training exactly as the original would (oracle: the original model trained on);
 * a fit interrupted by an exception resumes through BackupAndRestore to the uninterrupted run's
 * weights and losses, bit for bit; partial and damaged checkpoint files are refused with
 * KilnError. (test/crash_resume.test.ts kills real processes.)
 */
import { mkdtempSync, readFileSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KilnError } from '../../ir/types.js';
import { literal } from '../../ir/literal.js';
import { Tensor } from '../backend.js';
import { dense } from '../layers/dense.js';
import { adam } from '../optimizers/adam.js';
import { sgd } from '../optimizers/sgd.js';
import { randomData } from '../test_util.js';
import { BackupAndRestore } from '../callbacks/backup_and_restore.js';
import { EarlyStopping } from '../callbacks/early_stopping.js';
import { readTrainingState, writeTrainingState } from '../callbacks/checkpoint_file.js';
import { readCheckpoint, writeCheckpoint } from '../callbacks/model_checkpoint.js';
import { sequential } from './sequential.js';
import { getOptimizerState, getTrainingState, setOptimizerState, setTrainingState } from './training_state.js';

const N = 20, D = 4;
const t = (shape: number[], values: ArrayLike<number>, dtype: 'f32' | 'i32' = 'f32'): Tensor => Tensor.concrete(literal(shape, dtype, values));
const x = t([N, D], randomData(N * D, 3));
const y = t([N], Array.from({ length: N }, (_, i) => i % 3), 'i32');

function mlp(opt: 'adam' | 'sgd' = 'adam', runEagerly = false) {
  const m = sequential({ layers: [dense({ units: 5, inputShape: [D], activation: 'relu' }), dense({ units: 3, activation: 'softmax' })] });
  m.setWeights(m.weights.map((w, i) => t(w.shape, randomData(w.shape.reduce((a, b) => a * b, 1), 40 + i, -0.6, 0.6))));
  m.compile({ optimizer: opt === 'adam' ? adam({ learningRate: 0.05 }) : sgd({ learningRate: 0.1, momentum: 0.9 }), loss: 'sparseCategoricalCrossentropy', metrics: ['acc'], runEagerly });
  return m;
}

const bits = (m: { getWeights(): Tensor[] }): number[][] => m.getWeights().map((w) => Array.from(new Uint32Array(Float32Array.from(w.dataSync()).buffer)));
const tmp = (): string => mkdtempSync(join(tmpdir(), 'kiln-state-'));

describe('optimizer state', () => {
  it('reads iterations and slots by name, before and after fit', async () => {
    const m = mlp('adam');
    const before = getOptimizerState(m);
    expect(before.map((s) => s.name).slice(0, 3)).toEqual(['adam/iterations', `${m.trainableWeights[0]!.name}/m`, `${m.trainableWeights[0]!.name}/v`]);
    expect(before[0]!.data).toEqual(Int32Array.of(0));
    expect(before.slice(1).every((s) => s.data.every((v) => v === 0))).toBe(true);
    await m.fit(x, y, { batchSize: 8, epochs: 2, verbose: 0, seed: 1 });
    const after = getOptimizerState(m);
    expect(after[0]!.data).toEqual(Int32Array.of(6)); // 3 batches x 2 epochs
    expect(after[1]!.shape).toEqual(m.trainableWeights[0]!.shape);
    expect(after[1]!.data.some((v) => v !== 0)).toBe(true);
  });

  for (const runEagerly of [false, true]) {
    it(`a state moved to a fresh model continues exactly as the original (${runEagerly ? 'interpreted' : 'compiled'})`, async () => {
      const a = mlp('adam', runEagerly);
      await a.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0, shuffle: false });
      // b never trained: its program does not exist yet, so the state waits for its first fit.
      const b = mlp('adam', runEagerly);
      b.setWeights(a.getWeights());
      setOptimizerState(b, getOptimizerState(a));
      await a.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0, shuffle: false });
      await b.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0, shuffle: false });
      expect(bits(b)).toEqual(bits(a));
      // Without the slots (fresh Adam moments) the weights differ: the test can fail.
      const c = mlp('adam', runEagerly);
      c.setWeights(getTrainingState(a).weights.map((w) => t(w.shape, w.data)));
      await c.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0, shuffle: false });
      await a.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0, shuffle: false });
      expect(bits(c)).not.toEqual(bits(a));
    });
  }

  it('refuses a wrong count and wrong shapes, naming the tensor', () => {
    const m = mlp('adam');
    const s = getOptimizerState(m);
    expect(() => setOptimizerState(m, s.slice(1))).toThrow(/the model has 9 state tensors \(adam\/iterations, .*\), got 8/);
    const bad = s.map((e, i) => (i === 1 ? { ...e, data: new Float32Array(3) } : e));
    expect(() => setOptimizerState(m, bad)).toThrow(KilnError);
    expect(() => setOptimizerState(m, bad)).toThrow(`state tensor 1 ('${s[1]!.name}', for the model's '${s[1]!.name}') must be f32[4,5] (20 Float32Array values), got shape [4,5] with Float32Array of 3 values`);
  });
});

describe('BackupAndRestore in process', () => {
  for (const [opt, shuffle, saveFreq] of [['adam', true, 2], ['sgd', false, 'epoch']] as const) {
    it(`${opt}, shuffle ${shuffle}, saveFreq ${saveFreq}: a fit that threw resumes to the uninterrupted run`, async () => {
      const dir = tmp();
      const ref = mlp(opt);
      const refLosses: number[] = [];
      const refHistory = await ref.fit(x, y, { batchSize: 8, epochs: 4, verbose: 0, shuffle, seed: 5, callbacks: { onBatchEnd: (_b, l) => { refLosses.push(l.loss!); } } });
      const crashed = mlp(opt);
      const crash = { onBatchEnd: (b: number) => { if (++seen === 8) throw new Error('simulated crash'); void b; } };
      let seen = 0;
      await expect(crashed.fit(x, y, { batchSize: 8, epochs: 4, verbose: 0, shuffle, seed: 5, callbacks: [new BackupAndRestore({ backupDir: dir, saveFreq }), crash] })).rejects.toThrow('simulated crash');
      expect(existsSync(join(dir, 'training_state.kstate'))).toBe(true);
      const resumed = mlp(opt);
      const losses: number[] = [];
      const backup = new BackupAndRestore({ backupDir: dir, saveFreq });
      const h = await resumed.fit(x, y, { batchSize: 8, epochs: 4, verbose: 0, shuffle, seed: 5, callbacks: [backup, { onBatchEnd: (_b, l) => { losses.push(l.loss!); } }] });
      expect(backup.restored).toBe(true);
      expect(bits(resumed)).toEqual(bits(ref));
      // The resumed run did only the remaining batches, with the very losses of the reference.
      expect(losses.length).toBeLessThan(refLosses.length);
      expect(losses).toEqual(refLosses.slice(refLosses.length - losses.length));
      // Epoch logs (running means over the epoch, a resumed one included) match too.
      expect(h.history.loss).toEqual(refHistory.history.loss!.slice(4 - h.epoch.length));
      expect(h.history.acc).toEqual(refHistory.history.acc!.slice(4 - h.epoch.length));
      expect(existsSync(join(dir, 'training_state.kstate'))).toBe(false); // deleteCheckpoint
    });
  }

  it('refuses unknown options with the closest name, and bad saveFreq', () => {
    expect(() => new BackupAndRestore({ backupDir: 'x', saveFrequency: 2 } as never)).toThrow("BackupAndRestore: unknown option 'saveFrequency' (did you mean 'saveFreq'?)");
    expect(() => new BackupAndRestore({ backupDir: 'x', saveFreq: 0 })).toThrow(/saveFreq must be 'epoch' or a positive integer/);
    expect(() => new BackupAndRestore({ backupDir: '' })).toThrow(/backupDir must be a non-empty path/);
  });

  it('EarlyStopping keeps best, wait and its best weights across a checkpoint', async () => {
    const m = mlp('sgd');
    const es = new EarlyStopping({ monitor: 'loss', patience: 10, restoreBestWeights: true });
    await m.fit(x, y, { epochs: 2, verbose: 0, callbacks: [es] });
    const s = es.getCheckpointState();
    const back = new EarlyStopping({ monitor: 'loss', patience: 10, restoreBestWeights: true });
    back.setCheckpointState(JSON.parse(JSON.stringify(s)));
    expect(back.getCheckpointState()).toEqual(s);
    const fresh = new EarlyStopping({ monitor: 'val_loss' });
    fresh.onTrainBegin();
    expect(JSON.parse(JSON.stringify(fresh.getCheckpointState()))).toMatchObject({ best: 'Infinity', wait: 0 });
  });
});

describe('damaged checkpoint files are refused with KilnError', () => {
  it('ModelCheckpoint pairs: truncated .bin, empty or cut JSON, flipped byte, wrong length', async () => {
    const dir = tmp();
    const path = join(dir, 'w.json');
    const m = mlp('sgd');
    await writeCheckpoint(path, m.weights.map((w, i) => ({ name: w.name, value: m.getWeights()[i]! })), 0, { loss: 1 });
    const ok = await readCheckpoint(path);
    expect(ok.weights.map((w) => Array.from(w.value.dataSync()))).toEqual(m.getWeights().map((w) => Array.from(w.dataSync())));
    const json = readFileSync(path, 'utf8');
    const bin = new Uint8Array(readFileSync(join(dir, 'w.bin')));

    truncateSync(join(dir, 'w.bin'), bin.length - 5);
    await expect(readCheckpoint(path)).rejects.toThrow(KilnError);
    await expect(readCheckpoint(path)).rejects.toThrow(`needs ${bin.length} bytes of weights in 'w.bin', which has ${bin.length - 5}`);
    const flipped = bin.slice();
    flipped[7]! ^= 0x10;
    writeFileSync(join(dir, 'w.bin'), flipped);
    await expect(readCheckpoint(path)).rejects.toThrow(/does not match 'w.bin' \(CRC-32/);
    writeFileSync(join(dir, 'w.bin'), bin);

    writeFileSync(path, '');
    await expect(readCheckpoint(path)).rejects.toThrow(`readCheckpoint: '${path}' is empty`);
    writeFileSync(path, json.slice(0, json.length / 2));
    await expect(readCheckpoint(path)).rejects.toThrow(/is not valid JSON/);
    writeFileSync(path, json.replace(/"byteLength": \d+/, '"byteLength": 3'));
    await expect(readCheckpoint(path)).rejects.toThrow(/says 3 bytes of weights, its manifest needs/);
    writeFileSync(path, json);
    expect((await readCheckpoint(path)).weights.length).toBe(4);
  });

  it('training-state files: truncated, extended, flipped bytes, wrong magic', async () => {
    const dir = tmp();
    const path = join(dir, 's.kstate');
    const m = mlp('adam');
    await m.fit(x, y, { epochs: 1, verbose: 0 });
    const state = getTrainingState(m);
    await writeTrainingState(path, state);
    const back = await readTrainingState(path);
    expect(back.weights.map((w) => Array.from(w.data))).toEqual(state.weights.map((w) => Array.from(w.data)));
    expect(back.optimizer[0]!.data).toEqual(Int32Array.of(1));
    const good = new Uint8Array(readFileSync(path));
    const edit = (f: (b: Uint8Array) => void): Uint8Array => { const b = good.slice(); f(b); return b; };
    const cases: [string, Uint8Array, RegExp][] = [
      ['truncated', good.subarray(0, good.length - 9), /is \d+ bytes long, its header says/],
      ['cut in the header', good.subarray(0, 40), /is truncated: its header needs/],
      ['extended', Uint8Array.of(...good, 0), /truncated or extended/],
      ['empty', new Uint8Array(0), /shorter than the 16-byte preamble/],
      ['data byte flipped', edit((b) => { b[b.length - 3]! ^= 1; }), /has damaged data \(CRC-32/],
      ['header byte flipped', edit((b) => { b[20]! ^= 1; }), /has a damaged header/],
      ['wrong magic', edit((b) => { b[0] = 0x58; }), /does not start with 'KILNSTAT'/],
    ];
    for (const [what, bytes, message] of cases) {
      writeFileSync(path, bytes);
      const e = await readTrainingState(path).then(() => undefined, (err: unknown) => err);
      expect(e, what).toBeInstanceOf(KilnError);
      expect((e as Error).message, what).toMatch(message);
      expect((e as Error).message, what).toContain(path);
    }
    // setTrainingState validates before it changes anything.
    expect(() => setTrainingState(m, { ...state, weights: state.weights.slice(1) })).toThrow(/setTrainingState \(weights\): the model has 4 state tensors/);
  });
});
