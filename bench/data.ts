/**
 * kiln.data overhead: one epoch of `fit` for the Fashion-MNIST CNN (the acceptance test's model:
 * a strided conv, a dense layer of 128, softmax) from a prefetched dataset
 * (`idx(...).shuffle(N, {seed}).batch(64).prefetch(2)`) against `fit` on the same samples as
 * in-memory tensors (shuffle by fit's seed), in the same process, rounds alternated, compiles
 * excluded (each model trains once on a few batches first). Also reported: the pipeline without
 * prefetch, and a streaming generator (elements made one by one from the raw bytes, normalized
 * in a map) to show what per-element work costs. Reads /usr/share/datasets/fashion-mnist (the
 * Debian package dataset-fashion-mnist); without it the section says so.
 *
 * Writes bench/out/data.json and .md; run through `npm run bench` (or `--only data`).
 */
import { existsSync } from 'node:fs';
import { OUT_DIR, errorMessage, fmtMs, markdownTable, median, parseArgs, writeResult } from './common.js';
import fs from 'node:fs';
import path from 'node:path';

const kiln = await import('kiln');
type Tensor = ReturnType<typeof kiln.tensor>;
const args = parseArgs(process.argv.slice(2));
const samples = Number(args.get('samples') ?? '19968'); // 312 batches of 64: no remainder entry to compile mid-run
const rounds = Number(args.get('rounds') ?? '3');
const B = 64;
const DIR = '/usr/share/datasets/fashion-mnist';
const IMAGES = `${DIR}/train-images-idx3-ubyte.gz`;
const LABELS = `${DIR}/train-labels-idx1-ubyte.gz`;
const md = (text: string): void => { fs.mkdirSync(OUT_DIR, { recursive: true }); fs.writeFileSync(path.join(OUT_DIR, 'data.md'), text + '\n'); console.log(text); };

function makeModel(): ReturnType<typeof kiln.sequential> {
  const { layers, initializers } = kiln;
  const m = kiln.sequential({ layers: [
    layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, activation: 'relu', inputShape: [28, 28, 1], kernelInitializer: initializers.glorotUniform({ seed: 1 }) }),
    layers.flatten(),
    layers.dense({ units: 128, activation: 'relu', kernelInitializer: initializers.glorotUniform({ seed: 2 }) }),
    layers.dense({ units: 10, activation: 'softmax', kernelInitializer: initializers.glorotUniform({ seed: 3 }) }),
  ] });
  m.compile({ optimizer: kiln.optimizers.adam({ learningRate: 2e-3 }), loss: 'sparseCategoricalCrossentropy', metrics: ['acc'] });
  return m;
}

if (!existsSync(IMAGES) || !existsSync(LABELS)) {
  md(`Skipped: ${DIR} lacks the Fashion-MNIST training files (apt-get install dataset-fashion-mnist).`);
  writeResult('data', { skipped: true });
  process.exit(0);
}

try {
  const full = await kiln.data.idx({ xs: IMAGES, ys: LABELS }, { normalize: true, channelsLast: true });
  const first = (await full.take(samples).batch(samples).toArray())[0] as { xs: Tensor; ys: Tensor };
  const x = first.xs;
  const y = first.ys;
  const raw = await kiln.data.readIdx(IMAGES);
  const labels = (await kiln.data.readIdx(LABELS)).data;

  const variants: Record<string, () => Promise<unknown>> = {};
  const arraysModel = makeModel();
  const dsModel = makeModel();
  const plainModel = makeModel();
  const genModel = makeModel();
  const pipeline = kiln.data.fromArrays({ xs: x, ys: y }).shuffle(samples, { seed: 7 }).batch(B);
  const prefetched = pipeline.prefetch(2);
  const generated = kiln.data.fromGenerator(function* () {
    for (let i = 0; i < samples; i++) yield { pixels: raw.data.subarray(i * 784, (i + 1) * 784), label: labels[i]! };
  }, { cardinality: samples }).map(({ pixels, label }) => {
    const f = new Float32Array(784);
    for (let k = 0; k < 784; k++) f[k] = pixels[k]! / 255;
    return { xs: kiln.tensor(f, [28, 28, 1]), ys: kiln.tensor([label], [], 'int32') };
  }).shuffle(1024, { seed: 7 }).batch(B).prefetch(2);
  variants['arrays'] = () => arraysModel.fit(x, y, { epochs: 1, batchSize: B, shuffle: true, seed: 7, verbose: 0 });
  variants['dataset+prefetch'] = () => dsModel.fit(prefetched, { epochs: 1, verbose: 0 });
  variants['dataset, no prefetch'] = () => plainModel.fit(pipeline, { epochs: 1, verbose: 0 });
  variants['generator+map+prefetch'] = () => genModel.fit(generated, { epochs: 1, verbose: 0 });

  // Compile each model's step once, outside the timing (640 samples: batches of 64 only).
  const small = kiln.data.fromArrays({ xs: x, ys: y }).take(640).batch(B);
  await arraysModel.fit(kiln.tensor(x.dataSync().subarray(0, 640 * 784), [640, 28, 28, 1]), kiln.tensor(y.dataSync().subarray(0, 640), [640], 'int32'), { epochs: 1, batchSize: B, verbose: 0 });
  for (const m of [dsModel, plainModel, genModel]) await m.fit(small, { epochs: 1, verbose: 0 });

  const times: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [k, run] of Object.entries(variants)) {
      const t0 = performance.now();
      await run();
      times[k]!.push(performance.now() - t0);
      console.log(`round ${r + 1}: ${k} ${fmtMs(times[k]!.at(-1))} ms`);
    }
  }
  // The pipeline alone: producing an epoch's batches with no training, against fit's own gather
  // of shuffled rows from in-memory arrays (what fit(x, y) does between steps).
  const alone: Record<string, number[]> = { 'dataset+prefetch, batches only': [], 'arrays: fit\'s row gather only': [] };
  const xd = x.dataSync() as Float32Array;
  const yd = y.dataSync() as Int32Array;
  for (let r = 0; r < rounds; r++) {
    let t0 = performance.now();
    for await (const b of prefetched) void b;
    alone['dataset+prefetch, batches only']!.push(performance.now() - t0);
    t0 = performance.now();
    const order = Int32Array.from({ length: samples }, (_, i) => i);
    for (let i = samples - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); const t = order[i]!; order[i] = order[j]!; order[j] = t; }
    for (let s0 = 0; s0 < samples; s0 += B) {
      const bx = new Float32Array(B * 784);
      const by = new Int32Array(B);
      for (let j = 0; j < B; j++) { bx.set(xd.subarray(order[s0 + j]! * 784, (order[s0 + j]! + 1) * 784), j * 784); by[j] = yd[order[s0 + j]!]!; }
    }
    alone['arrays: fit\'s row gather only']!.push(performance.now() - t0);
  }
  Object.assign(times, alone);

  // On a shared machine the best round is the steadiest figure (load only ever adds time); the median is shown beside it.
  const best = (ts: number[]): number => Math.min(...ts);
  const base = best(times['arrays']!);
  const baseMed = median(times['arrays']!);
  const rows = Object.entries(times).map(([k, ts]) => {
    const fit = !(k in alone);
    return [
      k, fmtMs(best(ts)), fmtMs(best(ts) / (samples / B)), fit ? `${((best(ts) / base - 1) * 100).toFixed(1)}%` : '—',
      fmtMs(median(ts)), fit ? `${((median(ts) / baseMed - 1) * 100).toFixed(1)}%` : '—',
    ];
  });
  md(`Fashion-MNIST CNN, one epoch of \`fit\` over ${samples} samples (batches of ${B}, shuffled, Adam), ${rounds} rounds alternated in one process, compiles excluded; overhead against fit on in-memory tensors (target: within 5% for the prefetched dataset):\n\n` +
    markdownTable(['input', 'best epoch ms', 'ms/step', 'vs arrays (best)', 'median epoch ms', 'vs arrays (median)'], rows));
  writeResult('data', { samples, batch: B, rounds, times });
} catch (e) {
  console.error(e);
  md(`Failed: ${errorMessage(e)}`);
  process.exit(1);
}
