/**
 * One artifact for every batch size (`compile(model, {maxBatch})`) against artifacts specialized
 * for one batch: the polymorphic artifact, compiled at the largest batch, runs batch 1 and the
 * largest batch; its peers are `compile(model, {inputShapes: [[N, ...]]})` for those N, loaded
 * and measured in the same process on the same thread count. The target is within 10%
 * (ratio <= 1.10). A second load of the specialized artifact is timed in the same rounds as a
 * control: its ratio to the first is what noise alone gives on this machine. Outputs are checked
 * equal first.
 *
 * Second table: `model.predict`, which keeps one program for every batch size (maxBatch 32 here),
 * at batch 1 and 32 against a per-size program with the same resident weights (`kiln.fn` with the
 * weights bound: what predict compiled for each batch size before), both through the in-process
 * executor. Writes bench/out/batch_poly.json and .md; run through `npm run bench`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CNN, MLP, OUT_DIR, buildKilnModel, errorMessage, fmtMs, markdownTable, maxAbsDiff, measure, parseArgs, uniformInput, writeResult, type ModelSpec } from './common.js';

const kiln = await import('kiln');
const { load } = await import('kiln/runtime');

type KilnModel = ReturnType<typeof kiln.sequential>;

interface Bench {
  name: string;
  inputShape: number[];
  maxBatch: number;
  build(): KilnModel;
}

/** LSTM 64 over 16 steps of 32 features, then Dense 10: unrolled, its time-major steps carry the batch on axis 1. */
const LSTM: Bench = {
  name: 'LSTM 16x32 -> 64, dense 10',
  inputShape: [16, 32],
  maxBatch: 32,
  build: () => kiln.sequential({ layers: [kiln.layers.lstm({ units: 64, inputShape: [16, 32] }), kiln.layers.dense({ units: 10 })] }),
};

const fromSpec = (spec: ModelSpec): Bench => ({ name: spec.name, inputShape: spec.inputShape, maxBatch: Math.max(...spec.batches), build: () => buildKilnModel(kiln, spec) as KilnModel });

interface Row {
  model: string;
  maxBatch: number;
  batch: number;
  threads: number;
  polyMs?: number;
  specializedMs?: number;
  ratio?: number;
  /** The specialized artifact loaded twice: second / first (noise). */
  control?: number;
  maxDiff?: number;
  error?: string;
}

interface PredictRow {
  model: string;
  batch: number;
  predictMs?: number;
  perSizeMs?: number;
  ratio?: number;
  maxDiff?: number;
  error?: string;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const budgetMs = Number(args.get('budget') ?? 300);
  const threadCounts = (args.get('threads') ?? '1,2').split(',').map(Number);
  const rounds = Number(args.get('rounds') ?? 5);
  const rows: Row[] = [];
  const benches = [fromSpec(MLP), fromSpec(CNN), LSTM];
  for (const b of benches) {
    const model = b.build();
    const poly = kiln.compile(model, { maxBatch: b.maxBatch });
    const per = b.inputShape.reduce((x, y) => x * y, 1);
    for (const threads of threadCounts) {
      const pp = await load(poly.bytes, { threads });
      for (const batch of [1, b.maxBatch]) {
        const row: Row = { model: b.name, maxBatch: b.maxBatch, batch, threads };
        rows.push(row);
        try {
          const bytes = kiln.compile(model, { inputShapes: [[batch, ...b.inputShape]] }).bytes;
          const sp = await load(bytes, { threads });
          const sp2 = await load(bytes, { threads });
          const feed = { [pp.inputs[0]!.name]: uniformInput(batch * per, 3) };
          const out = (p: typeof pp) => Object.values(p.runSync(feed))[0]!;
          row.maxDiff = maxAbsDiff(out(pp), out(sp));
          // Interleaved rounds, best of each: the machine is shared.
          let a = Infinity, s = Infinity, c = Infinity;
          for (let r = 0; r < rounds; r++) {
            a = Math.min(a, (await measure(() => pp.runSync(feed), { budgetMs })).ms);
            s = Math.min(s, (await measure(() => sp.runSync(feed), { budgetMs })).ms);
            c = Math.min(c, (await measure(() => sp2.runSync(feed), { budgetMs })).ms);
          }
          Object.assign(row, { polyMs: a, specializedMs: s, ratio: a / s, control: c / s });
          sp.dispose();
          sp2.dispose();
        } catch (e) {
          row.error = errorMessage(e);
        }
        console.log(`${row.model} max ${b.maxBatch} batch ${batch} threads ${threads}: poly ${fmtMs(row.polyMs)} ms, specialized ${fmtMs(row.specializedMs)} ms, ratio ${row.ratio?.toFixed(3) ?? row.error}, control ${row.control?.toFixed(3) ?? '—'}`);
      }
      pp.dispose();
    }
  }

  // model.predict: one program for every batch size vs a program per batch size (same executor).
  const predictRows: PredictRow[] = [];
  for (const b of benches) {
    const model = b.build();
    const perSize = kiln.fn((x: ReturnType<typeof kiln.tensor>) => model.apply(x) as ReturnType<typeof kiln.tensor>, { variables: model.weights });
    for (const batch of [1, 32]) {
      const row: PredictRow = { model: b.name, batch };
      predictRows.push(row);
      try {
        const x = kiln.tensor(uniformInput(batch * b.inputShape.reduce((p, q) => p * q, 1), 5), [batch, ...b.inputShape]);
        const got = model.predict(x) as ReturnType<typeof kiln.tensor>;
        const want = perSize(x);
        row.maxDiff = maxAbsDiff(got.dataSync() as Float32Array, want.dataSync() as Float32Array);
        let a = Infinity, s = Infinity;
        for (let r = 0; r < rounds; r++) {
          a = Math.min(a, (await measure(() => { model.predict(x); }, { budgetMs })).ms);
          s = Math.min(s, (await measure(() => { perSize(x); }, { budgetMs })).ms);
        }
        Object.assign(row, { predictMs: a, perSizeMs: s, ratio: a / s });
      } catch (e) {
        row.error = errorMessage(e);
      }
      console.log(`predict ${row.model} batch ${batch}: one program ${fmtMs(row.predictMs)} ms, per-size ${fmtMs(row.perSizeMs)} ms, ratio ${row.ratio?.toFixed(3) ?? row.error}`);
    }
  }

  const table = markdownTable(
    ['model', 'maxBatch', 'batch', 'threads', 'polymorphic ms', 'specialized ms', 'ratio', 'control', 'max |diff|'],
    rows.map((r) => [r.model, String(r.maxBatch), String(r.batch), String(r.threads), fmtMs(r.polyMs), fmtMs(r.specializedMs), r.ratio?.toFixed(2) ?? r.error ?? '—', r.control?.toFixed(2) ?? '—', r.maxDiff?.toExponential(1) ?? '—']),
  );
  const predictTable = markdownTable(
    ['model', 'batch', 'predict (one program) ms', 'per-size program ms', 'ratio', 'max |diff|'],
    predictRows.map((r) => [r.model, String(r.batch), fmtMs(r.predictMs), fmtMs(r.perSizeMs), r.ratio?.toFixed(2) ?? r.error ?? '—', r.maxDiff?.toExponential(1) ?? '—']),
  );
  writeResult('batch_poly', { artifacts: rows, predict: predictRows });
  const md = `One artifact compiled with \`maxBatch\` (the largest batch) run at batch 1 and at maxBatch, against artifacts specialized for that batch, best of ${rounds} interleaved rounds of medians (ratio = polymorphic / specialized; target <= 1.10; control = a second load of the specialized artifact / the first, the noise floor):\n\n` + table +
    `\n\n\`model.predict\` (one program for every batch size, maxBatch 32) against a program compiled for that batch size with the same resident weights (\`kiln.fn\` with the weights bound), in-process executor, one thread, best of ${rounds} interleaved rounds:\n\n` + predictTable;
  fs.writeFileSync(path.join(OUT_DIR, 'batch_poly.md'), md + '\n');
  console.log(md);
}

await main();
