/**
 * Acceptance: a small CNN trained with `model.fit` on Fashion-MNIST (the Debian package
 * dataset-fashion-mnist, gzip'd IDX files in /usr/share/datasets/fashion-mnist) reaches at least
 * 88% test accuracy within 3 epochs. While it trains, the program's byte counters show that no
 * state crosses into JavaScript between steps: each step takes in exactly the batch's bytes and
 * gives out only the loss and metric scalars. Skips, saying why, where the dataset is absent.
 */
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { layers, sequential } from '../src/keras/index.js';
import * as initializers from '../src/keras/initializers.js';
import { adam } from '../src/keras/optimizers/adam.js';
import { Tensor } from '../src/frontend/tensor.js';
import { literal } from '../src/ir/literal.js';
import { trainingProgram } from '../src/keras/engine/training.js';
import type { Stats } from '../src/runtime/index.js';

const DIR = '/usr/share/datasets/fashion-mnist';
const FILES = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'];
const missing = FILES.filter((f) => !existsSync(`${DIR}/${f}`));
if (missing.length > 0) {
  console.warn(`fashion_mnist.test: skipped, ${DIR} lacks ${missing.join(', ')} (apt-get install dataset-fashion-mnist)`);
}

/** An IDX file's payload after its header (magic, then one u32 per dimension), checked. */
function readIdx(name: string, dims: number): { data: Uint8Array; shape: number[] } {
  const buf = gunzipSync(new Uint8Array(readFileSync(`${DIR}/${name}`)));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0);
  if (magic !== 0x800 + dims) throw new Error(`${name}: IDX magic ${magic.toString(16)}, expected ${(0x800 + dims).toString(16)}`);
  const shape = Array.from({ length: dims }, (_, i) => view.getUint32(4 + 4 * i));
  return { data: new Uint8Array(buf.buffer, buf.byteOffset + 4 + 4 * dims, shape.reduce((a, b) => a * b, 1)), shape };
}

function load(images: string, labels: string): { x: Tensor; y: Tensor; n: number } {
  const img = readIdx(images, 3);
  const lab = readIdx(labels, 1);
  const n = img.shape[0]!;
  const x = new Float32Array(img.data.length);
  for (let i = 0; i < x.length; i++) x[i] = img.data[i]! / 255;
  return {
    x: Tensor.concrete(literal([n, 28, 28, 1], 'f32', x)),
    y: Tensor.concrete(literal([n], 'i32', Int32Array.from(lab.data))),
    n,
  };
}

describe.skipIf(missing.length > 0)('Fashion-MNIST', () => {
  it('a small CNN reaches >= 88% test accuracy in 3 epochs of fit; only batches and scalars cross', async () => {
    const train = load(FILES[0]!, FILES[1]!);
    const test = load(FILES[2]!, FILES[3]!);
    expect(train.n).toBe(60000);
    expect(test.n).toBe(10000);

    // A cheap strided convolution in front of a wide dense layer: the dense GEMMs are the fast
    // kernels, and the conv features carry it past what an MLP reaches in 3 epochs.
    const model = sequential({ layers: [
      // Seeded initializers and shuffling make the run deterministic: the accuracy it reaches here
      // is the accuracy CI reaches (kernels split work, never reduction order, across threads).
      layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, activation: 'relu', inputShape: [28, 28, 1], kernelInitializer: initializers.glorotUniform({ seed: 1 }) }),
      layers.flatten(),
      layers.dense({ units: 128, activation: 'relu', kernelInitializer: initializers.glorotUniform({ seed: 2 }) }),
      layers.dense({ units: 10, activation: 'softmax', kernelInitializer: initializers.glorotUniform({ seed: 3 }) }),
    ] });
    model.compile({ optimizer: adam({ learningRate: 2e-3 }), loss: 'sparseCategoricalCrossentropy', metrics: ['acc'] });

    const B = 64;
    const perStepIn = B * 28 * 28 * 4 + B * 4; // x as f32, y as i32
    // Batch loss, batch acc, running loss, running acc; and the sparse-label check (bad count, first index, its value).
    const perStepOut = 4 * 4 + 3 * 4;
    let prev: Stats | undefined;
    let checked = 0;
    const epochTimes: number[] = [];
    let t0 = 0;
    const history = await model.fit(train.x, train.y, {
      epochs: 3, batchSize: B, seed: 7, verbose: 2,
      callbacks: [{
        onEpochBegin: () => { t0 = performance.now(); prev = undefined; },
        onEpochEnd: () => { epochTimes.push((performance.now() - t0) / 1000); },
        onBatchEnd: (_batch, logs) => {
          const stats = trainingProgram(model)!.stats;
          // From the second batch of an epoch on (the first follows the metric reset).
          if (prev && logs['size'] === B) {
            expect(stats.runs - prev.runs).toBe(1);
            expect(stats.bytesIn - prev.bytesIn).toBe(perStepIn);
            expect(stats.bytesOut - prev.bytesOut).toBe(perStepOut);
            checked++;
          }
          prev = stats;
        },
      }],
    });
    expect(checked).toBeGreaterThan(3 * 900);
    const result = await model.evaluate(test.x, test.y, { batchSize: 500 });
    console.log(`fashion-mnist: ${epochTimes.map((s) => `${s.toFixed(1)}s`).join(', ')} per epoch; ` +
      `train acc ${history.history['acc']!.map((a) => a.toFixed(4)).join(', ')}; test acc ${result['acc']!.toFixed(4)}, loss ${result['loss']!.toFixed(4)}`);
    expect(history.history['loss']![2]!).toBeLessThan(history.history['loss']![0]!);
    expect(result['acc']!).toBeGreaterThanOrEqual(0.88);
  }, 600_000);
});
