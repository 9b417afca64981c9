/**
 * One artifact for every batch size (`compile(model, {maxBatch})`) against artifacts specialized
 * for one batch: the polymorphic artifact, compiled at the largest batch, runs batch 1 and the
 * largest batch; its peers are `compile(model, {inputShapes: [[N, ...]]})` for those N, loaded
 * and measured in the same process on the same thread count. The target is within 10%
 * (ratio <= 1.10). Outputs are checked equal first. Writes bench/out/batch_poly.json and .md;
 * run through `npm run bench`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CNN, MLP, OUT_DIR, buildKilnModel, errorMessage, fmtMs, markdownTable, maxAbsDiff, measure, parseArgs, uniformInput, writeResult, type ModelSpec } from './common.js';

const kiln = await import('kiln');
const { load } = await import('kiln/runtime');

interface Row {
  model: string;
  maxBatch: number;
  batch: number;
  threads: number;
  polyMs?: number;
  specializedMs?: number;
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
  for (const spec of [MLP, CNN] as ModelSpec[]) {
    const maxBatch = Math.max(...spec.batches);
    const model = buildKilnModel(kiln, spec);
    const poly = kiln.compile(model, { maxBatch });
    const per = spec.inputShape.reduce((a, b) => a * b, 1);
    for (const threads of threadCounts) {
      const pp = await load(poly.bytes, { threads });
      for (const batch of [1, maxBatch]) {
        const row: Row = { model: spec.name, maxBatch, batch, threads };
        rows.push(row);
        try {
          const sp = await load(kiln.compile(model, { inputShapes: [[batch, ...spec.inputShape]] }).bytes, { threads });
          const feed = { [pp.inputs[0]!.name]: uniformInput(batch * per, 3) };
          const out = (p: typeof pp) => Object.values(p.runSync(feed))[0]!;
          row.maxDiff = maxAbsDiff(out(pp), out(sp));
          // Interleaved rounds, best of each: the machine is shared.
          let a = Infinity, b = Infinity;
          for (let r = 0; r < rounds; r++) {
            a = Math.min(a, (await measure(() => pp.runSync(feed), { budgetMs })).ms);
            b = Math.min(b, (await measure(() => sp.runSync(feed), { budgetMs })).ms);
          }
          row.polyMs = a;
          row.specializedMs = b;
          row.ratio = a / b;
          sp.dispose();
        } catch (e) {
          row.error = errorMessage(e);
        }
        console.log(`${row.model} max ${maxBatch} batch ${batch} threads ${threads}: poly ${fmtMs(row.polyMs)} ms, specialized ${fmtMs(row.specializedMs)} ms, ratio ${row.ratio?.toFixed(3) ?? row.error}`);
      }
      pp.dispose();
    }
  }
  const table = markdownTable(
    ['model', 'maxBatch', 'batch', 'threads', 'polymorphic ms', 'specialized ms', 'ratio', 'max |diff|'],
    rows.map((r) => [r.model, String(r.maxBatch), String(r.batch), String(r.threads), fmtMs(r.polyMs), fmtMs(r.specializedMs), r.ratio?.toFixed(2) ?? r.error ?? '—', r.maxDiff?.toExponential(1) ?? '—']),
  );
  writeResult('batch_poly', rows);
  const md = `One artifact compiled with \`maxBatch\` (the largest batch) run at batch 1 and at maxBatch, against artifacts specialized for that batch, best of ${rounds} interleaved rounds of medians (ratio = polymorphic / specialized; target <= 1.10):\n\n` + table;
  fs.writeFileSync(path.join(OUT_DIR, 'batch_poly.md'), md + '\n');
  console.log(md);
}

await main();
