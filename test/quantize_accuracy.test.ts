/**
 * int8 post-training quantization accuracy (issue 10, point 6), on compiled WebAssembly artifacts:
 * - the Fashion-MNIST CNN (the acceptance test's model: strided conv 16, dense 128, softmax),
 *   trained here for one epoch on 12,000 images, quantized with 256 calibration images from the
 *   training set, loses <= 0.5 points of accuracy on all 10,000 test images against its f32 artifact;
 * - a MobileNetV2-style model (strided stem conv, an inverted residual block with expansion,
 *   depthwise 3x3 and linear projection and a residual add, a strided depthwise separable block,
 *   batch norm and ReLU6 throughout, global average pooling, dense softmax) trained here with the
 *   compiled fit for 3 epochs on 6,000 training images, calibrated on 256 training images: on 2,000
 *   test images (disjoint from calibration) int8 top-1 agrees with f32 on >= 98% and the mean
 *   output cosine is >= 0.99; the accuracy of both is printed. (A random-weight model is no measure
 *   here: its logit margins are tiny, so any rounding flips its top-1.)
 * Needs the dataset (apt-get install dataset-fashion-mnist); fails saying so when it is absent.
 */
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { input, layers, model, sequential, type KerasTensor, type Model } from '../src/keras/index.js';
import * as initializers from '../src/keras/initializers.js';
import { adam } from '../src/keras/optimizers/adam.js';
import { compile } from '../src/compile.js';
import { Tensor } from '../src/frontend/tensor.js';
import { literal, type Literal } from '../src/ir/literal.js';
import { load } from '../src/runtime/index.js';
import { argmaxRows, cosine, rows } from '../src/passes/quantize_testkit.js';

const DIR = '/usr/share/datasets/fashion-mnist';

function readIdx(name: string, dims: number): { data: Uint8Array; shape: number[] } {
  const path = `${DIR}/${name}`;
  if (!existsSync(path)) throw new Error(`${path} is missing: install the Fashion-MNIST dataset (apt-get install dataset-fashion-mnist)`);
  const buf = gunzipSync(new Uint8Array(readFileSync(path)));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const shape = Array.from({ length: dims }, (_, i) => view.getUint32(4 + 4 * i));
  return { data: new Uint8Array(buf.buffer, buf.byteOffset + 4 + 4 * dims, shape.reduce((a, b) => a * b, 1)), shape };
}

function loadSet(images: string, labels: string, n: number): { x: Literal; y: Int32Array } {
  const img = readIdx(images, 3), lab = readIdx(labels, 1);
  const x = new Float32Array(n * 784);
  for (let i = 0; i < x.length; i++) x[i] = img.data[i]! / 255;
  return { x: literal([n, 28, 28, 1], 'f32', x), y: Int32Array.from(lab.data.subarray(0, n)) };
}

/** Run a compiled artifact over `x` in batches of its input size; returns the concatenated outputs. */
async function runAll(bytes: Uint8Array, x: Literal, batch: number): Promise<Float32Array> {
  const prog = await load(bytes, { threads: 1 });
  try {
    const n = x.type.shape[0]!;
    const parts: Float32Array[] = [];
    for (let i = 0; i < n; i += batch) {
      const out = prog.runSync({ input: rows(x, i, i + batch).data });
      parts.push(Float32Array.from(Object.values(out)[0] as Float32Array));
    }
    const all = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let k = 0;
    for (const p of parts) { all.set(p, k); k += p.length; }
    return all;
  } finally {
    prog.dispose();
  }
}

const NTRAIN = 6000, NTEST = 2000;

/**
 * MobileNetV2-style for 28x28x1: stem conv 3x3/2 + BN + ReLU6; an inverted residual block (1x1
 * expand + BN + ReLU6, depthwise 3x3 + BN + ReLU6, 1x1 linear projection + BN, residual add); a
 * strided depthwise separable block (depthwise 3x3/2 + BN + ReLU6, pointwise + BN + ReLU6);
 * global average pooling; dense softmax.
 */
function trainedMobilenet(): Model {
  let seed = 1;
  const init = () => initializers.heNormal({ seed: seed++ });
  const bn = (h: KerasTensor) => layers.batchNormalization({ momentum: 0.9 }).apply(h) as KerasTensor; // moving statistics settle within one short epoch
  const relu6 = (h: KerasTensor) => layers.reLU({ maxValue: 6 }).apply(h) as KerasTensor;
  const conv = (h: KerasTensor, filters: number, kernelSize: number, strides = 1) =>
    layers.conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false, kernelInitializer: init() }).apply(h) as KerasTensor;
  const dw = (h: KerasTensor, strides = 1) =>
    layers.depthwiseConv2d({ kernelSize: 3, strides, padding: 'same', useBias: false, depthwiseInitializer: init() }).apply(h) as KerasTensor;
  const x = input({ shape: [28, 28, 1] });
  const stem = relu6(bn(conv(x, 16, 3, 2))); // 14x14x16
  let h = relu6(bn(conv(stem, 48, 1)));
  h = relu6(bn(dw(h)));
  h = bn(conv(h, 16, 1));
  h = layers.add({}).apply([stem, h]) as KerasTensor;
  h = relu6(bn(dw(h, 2))); // 7x7x16
  h = relu6(bn(conv(h, 32, 1)));
  const feats = layers.globalAveragePooling2d({}).apply(h) as KerasTensor;
  const out = layers.dense({ units: 10, activation: 'softmax', kernelInitializer: initializers.glorotUniform({ seed: seed++ }) }).apply(feats) as KerasTensor;
  return model({ inputs: x, outputs: out });
}

describe('int8 accuracy', () => {
  it('Fashion-MNIST CNN: int8 loses <= 0.5 points of test accuracy (10,000 images)', async () => {
    const train = loadSet('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 12000);
    const test = loadSet('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz', 10000);
    const model = sequential({ layers: [
      layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, activation: 'relu', inputShape: [28, 28, 1], kernelInitializer: initializers.glorotUniform({ seed: 1 }) }),
      layers.flatten(),
      layers.dense({ units: 128, activation: 'relu', kernelInitializer: initializers.glorotUniform({ seed: 2 }) }),
      layers.dense({ units: 10, activation: 'softmax', kernelInitializer: initializers.glorotUniform({ seed: 3 }) }),
    ] });
    model.compile({ optimizer: adam({ learningRate: 2e-3 }), loss: 'sparseCategoricalCrossentropy', metrics: ['acc'] });
    await model.fit(Tensor.concrete(train.x), Tensor.concrete(literal([12000], 'i32', train.y)), { epochs: 1, batchSize: 64, seed: 7, verbose: 0 });

    const B = 500;
    const calibration = [0, 1].map((i) => Tensor.concrete(rows(train.x, 128 * i, 128 * (i + 1))));
    const f32 = compile(model, { inputShapes: [[B, 28, 28, 1]] });
    const int8 = compile(model, { inputShapes: [[B, 28, 28, 1]], quantize: { mode: 'int8', calibration } });
    expect(int8.explain()).toMatch(/int8 quantization: 3 dot\/conv sites in integers/);
    const acc = (probs: Float32Array) => argmaxRows(probs, 10).filter((p, i) => p === test.y[i]).length / test.y.length;
    const a32 = acc(await runAll(f32.bytes, test.x, B)), a8 = acc(await runAll(int8.bytes, test.x, B));
    console.log(`fashion-mnist int8: f32 accuracy ${(100 * a32).toFixed(2)}%, int8 ${(100 * a8).toFixed(2)}% (10,000 test images); artifact ${int8.bytes.length} vs ${f32.bytes.length} bytes`);
    expect(a32).toBeGreaterThan(0.8); // the model trained
    expect(a32 - a8).toBeLessThanOrEqual(0.005);
  }, 120_000);

  it('MobileNet-style model trained on Fashion-MNIST: int8 top-1 agrees with f32 on >= 98% of test images, cosine >= 0.99', async () => {
    const train = loadSet('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', NTRAIN);
    const test = loadSet('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz', NTEST);
    const m = trainedMobilenet();
    {
      m.compile({ optimizer: adam({ learningRate: 1e-2 }), loss: 'sparseCategoricalCrossentropy', metrics: ['acc'] });
      const t0 = Date.now();
      const hist = await m.fit(Tensor.concrete(train.x), Tensor.concrete(literal([NTRAIN], 'i32', train.y)), { epochs: 3, batchSize: 64, seed: 11, verbose: 0 });
      console.log(`mobilenet-style fit: ${Date.now() - t0} ms, training accuracy by epoch ${hist.history['acc']?.map((a) => (100 * Number(a)).toFixed(1)).join(', ')}%`);
    }
    const B = 250;
    // Calibration: 256 training images (the test images below are disjoint from them).
    const calibration = [0, 1].map((i) => Tensor.concrete(rows(train.x, 128 * i, 128 * (i + 1))));
    const t1 = Date.now();
    const f32 = compile(m, { inputShapes: [[B, 28, 28, 1]] });
    const int8 = compile(m, { inputShapes: [[B, 28, 28, 1]], quantize: { mode: 'int8', calibration } });
    const p32 = await runAll(f32.bytes, test.x, B), p8 = await runAll(int8.bytes, test.x, B);
    console.log(`mobilenet-style compile+run: ${Date.now() - t1} ms`);
    const t32 = argmaxRows(p32, 10), t8 = argmaxRows(p8, 10);
    const agree = t32.filter((t, i) => t === t8[i]).length / t32.length;
    const cos = t32.map((_, i) => cosine(p32.subarray(i * 10, i * 10 + 10), p8.subarray(i * 10, i * 10 + 10)));
    const mean = cos.reduce((a, b) => a + b, 0) / cos.length;
    const acc = (t: number[]) => t.filter((p, i) => p === test.y[i]).length / t.length;
    console.log(`mobilenet-style int8 (${NTEST} test images): top-1 agreement ${(100 * agree).toFixed(2)}%, cosine mean ${mean.toFixed(5)} min ${Math.min(...cos).toFixed(5)}; accuracy f32 ${(100 * acc(t32)).toFixed(2)}% int8 ${(100 * acc(t8)).toFixed(2)}%; artifact ${int8.bytes.length} vs ${f32.bytes.length} bytes\n${int8.explain().split('\n').filter((l) => /int8|f32:/.test(l)).join('\n')}`);
    expect(acc(t32)).toBeGreaterThan(0.7); // the model trained
    expect(agree).toBeGreaterThanOrEqual(0.98);
    expect(mean).toBeGreaterThanOrEqual(0.99);
  }, 120_000);
});
