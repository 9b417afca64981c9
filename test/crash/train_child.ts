/**
 * The training run that test/crash_resume.test.ts kills with SIGKILL and runs again: a small MLP
 * (with a seeded dropout, whose masks are keyed by the optimizer's step counter) fit with BackupAndRestore,
 * EarlyStopping and ReduceLROnPlateau (whose states must survive), configured by environment:
 *   KILN_CRASH_OPT      'sgd' | 'adam'
 *   KILN_CRASH_SHUFFLE  '1' | '0'
 *   KILN_CRASH_FREQ     'epoch' | a number of batches (BackupAndRestore saveFreq)
 *   KILN_CRASH_DIR      the backup directory ('' runs without BackupAndRestore: the reference)
 * It prints, with synchronous writes so that nothing printed is lost at a kill:
 *   `batch <epoch> <step> <loss bits hex>` after every batch,
 *   `epoch <epoch> <loss bits> <acc bits> <lr>` after every epoch,
 *   `done <weights as f32 bits hex>` at the end.
 * Bundled by esbuild into an .mjs under node_modules/.cache and run by node (KILN_CRASH_CHILD=1);
 * the test imports `train` to compute the uninterrupted reference in its own process.
 */
import { writeSync } from 'node:fs';
import { literal } from '../../src/ir/literal.js';
import { Tensor } from '../../src/keras/backend.js';
import { dense } from '../../src/keras/layers/dense.js';
import { dropout } from '../../src/keras/layers/dropout.js';
import { sgd } from '../../src/keras/optimizers/sgd.js';
import { adam } from '../../src/keras/optimizers/adam.js';
import { sequential } from '../../src/keras/engine/sequential.js';
import { getLearningRate } from '../../src/keras/engine/training.js';
import { BackupAndRestore } from '../../src/keras/callbacks/backup_and_restore.js';
import { EarlyStopping } from '../../src/keras/callbacks/early_stopping.js';
import { ReduceLROnPlateau } from '../../src/keras/callbacks/reduce_lr_on_plateau.js';
import { randomData } from '../../src/keras/test_util.js';

const hex = (v: number): string => {
  const b = new DataView(new ArrayBuffer(4));
  b.setFloat32(0, v, true);
  return b.getUint32(0, true).toString(16).padStart(8, '0');
};

export interface CrashConfig {
  opt: 'sgd' | 'adam';
  shuffle: boolean;
  saveFreq: 'epoch' | number;
  /** The backup directory; '' trains without BackupAndRestore. */
  dir: string;
}

export async function train(config: CrashConfig, out: (line: string) => void): Promise<void> {
  const N = 48, D = 6, C = 3;
  const opt = config.opt === 'adam' ? adam({ learningRate: 0.02 }) : sgd({ learningRate: 0.2, momentum: 0.5 });
  const model = sequential({
    layers: [dense({ units: 12, inputShape: [D], activation: 'relu' }), dropout({ rate: 0.2, seed: 17 }), dense({ units: C, activation: 'softmax' })],
  });
  model.setWeights(model.weights.map((w, i) => Tensor.concrete(literal(w.shape, 'f32', randomData(w.shape.reduce((a, b) => a * b, 1), 100 + i, -0.5, 0.5)))));
  model.compile({ optimizer: opt, loss: 'sparseCategoricalCrossentropy', metrics: ['acc'] });

  const xd = randomData(N * D, 7);
  const yd = Array.from({ length: N }, (_, i) => (xd[i * D]! + xd[i * D + 1]! > 0 ? (xd[i * D + 2]! > 0 ? 2 : 1) : 0));
  const x = Tensor.concrete(literal([N, D], 'f32', xd));
  const y = Tensor.concrete(literal([N], 'i32', yd));

  let epochNow = 0;
  const callbacks = [
    ...(config.dir ? [new BackupAndRestore({ backupDir: config.dir, saveFreq: config.saveFreq })] : []),
    new EarlyStopping({ monitor: 'loss', patience: 50 }),
    new ReduceLROnPlateau({ monitor: 'loss', patience: 1, factor: 0.5, minDelta: 0.02 }),
    {
      onEpochBegin: (e: number) => { epochNow = e; },
      onBatchEnd: (b: number, logs: Record<string, number>) => out(`batch ${epochNow} ${b} ${hex(logs.loss!)}`),
      onEpochEnd: (e: number, logs: Record<string, number>) => out(`epoch ${e} ${hex(logs.loss!)} ${hex(logs.acc!)} ${getLearningRate(model)}`),
    },
  ];
  await model.fit(x, y, { epochs: 8, batchSize: 8, shuffle: config.shuffle, seed: 11, verbose: 0, callbacks });
  out(`done ${model.getWeights().flatMap((w) => Array.from(w.dataSync(), hex)).join('')}`);
}

if (process.env.KILN_CRASH_CHILD === '1') {
  const env = process.env;
  const freq = env.KILN_CRASH_FREQ ?? 'epoch';
  await train(
    { opt: env.KILN_CRASH_OPT === 'adam' ? 'adam' : 'sgd', shuffle: env.KILN_CRASH_SHUFFLE === '1', saveFreq: freq === 'epoch' ? 'epoch' : Number(freq), dir: env.KILN_CRASH_DIR ?? '' },
    (line) => writeSync(1, `${line}\n`),
  );
}
