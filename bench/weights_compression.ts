/**
 * Weight-only compression (issue 10, points 5 and 7): artifact size, load time (load(bytes) to a
 * ready program: the weights decoded into memory) and warm run time of the weight-only modes
 * against the f32 artifact of the same model, in the same process, one thread, interleaved
 * sample by sample in rotating order (the fastest sample of each; medians in the JSON). Models: MobileNetV2 224 built in code (random weights) with
 * quantize {mode: 'none' | 'int8-weights' | 'float16-weights'}, and, where the fixtures are
 * fetched (`npm run fixtures`), imported models that keep their uint8/float16 storage by default
 * against the same model compiled with {mode: 'none'}. Target: runs no more than 5% slower than
 * f32 (compute is f32 in every mode; the weights are decoded once, at load).
 * Usage: node bench/out/weights_compression.mjs [--samples 7] [--runs 10]
 */
import fs from 'node:fs';
import path from 'node:path';
import { markdownTable, median, parseArgs, uniformInput, writeResult } from './common.js';
import { MOBILENET_V2_INPUT, mobilenetV2 } from './convnets.js';
import { writeFileAtomic } from '../src/frontend/io/atomic.js';

const args = parseArgs(process.argv.slice(2));
const samples = Number(args.get('samples') ?? '7');
const runs = Number(args.get('runs') ?? '10');
/** Runs before timing: every module's kernels on the optimizing tier (V8 tiers each module up separately). */
const warmup = Number(args.get('warmup') ?? '10');
const OUT = path.resolve(process.env['KILN_BENCH_OUT'] ?? 'bench/out');

type Kiln = typeof import('kiln');
type Mode = 'none' | 'int8-weights' | 'float16-weights';

interface Case {
  model: string;
  /** The reference artifact (f32 weights) first. */
  variants: { label: string; bytes: Uint8Array }[];
}

async function cases(kiln: Kiln): Promise<{ cases: Case[]; skipped: string[] }> {
  const out: Case[] = [];
  const skipped: string[] = [];
  const mnv2 = mobilenetV2(kiln);
  const compile = (m: Parameters<Kiln['compile']>[0], mode: Mode, extra: object = {}) => kiln.compile(m, { ...extra, quantize: { mode } }).bytes;
  out.push({
    model: 'MobileNetV2 224 (built in code)',
    variants: [
      { label: 'f32', bytes: compile(mnv2, 'none', { inputShapes: [[1, ...MOBILENET_V2_INPUT]] }) },
      { label: 'int8-weights', bytes: compile(mnv2, 'int8-weights', { inputShapes: [[1, ...MOBILENET_V2_INPUT]] }) },
      { label: 'float16-weights', bytes: compile(mnv2, 'float16-weights', { inputShapes: [[1, ...MOBILENET_V2_INPUT]] }) },
    ],
  });
  const fixtures = path.resolve('test/fixtures/models');
  const imported: { model: string; file: string; load: () => Promise<Parameters<Kiln['compile']>[0]>; options?: object }[] = [
    { model: 'facemesh (float16 GraphModel)', file: 'human/facemesh.json', load: async () => (await kiln.loadGraphModel(path.join(fixtures, 'human/facemesh.json'), { inputShapes: [[1, 192, 192, 3]] })) as never },
    { model: 'esrgan-legacy psnr-small (uint8 LayersModel)', file: 'esrgan-legacy/psnr-small/model.json', load: async () => (await kiln.loadLayersModel(path.join(fixtures, 'esrgan-legacy/psnr-small/model.json'))) as never, options: { inputShapes: [[1, 32, 32, 3]] } },
  ];
  for (const c of imported) {
    if (!fs.existsSync(path.join(fixtures, c.file))) {
      skipped.push(`${c.model}: test/fixtures/models/${c.file} is missing (npm run fixtures)`);
      continue;
    }
    const m = await c.load();
    out.push({ model: c.model, variants: [{ label: 'f32 (quantize none)', bytes: compile(m, 'none', c.options) }, { label: 'kept storage (default)', bytes: kiln.compile(m, c.options ?? {}).bytes }] });
  }
  return { cases: out, skipped };
}

/** The fastest sample: the machine is shared, and other jobs only add time (as common.ts's BestOf). */
const best = (xs: readonly number[]): number => Math.min(...xs);

async function main(): Promise<void> {
  const kiln = await import('kiln');
  const { load } = await import('kiln/runtime');
  const { cases: all, skipped } = await cases(kiln);
  const rows: string[][] = [];
  const results: object[] = [];
  for (const c of all) {
    const progs = [];
    const loadMs: number[][] = c.variants.map(() => []);
    const runMs: number[][] = c.variants.map(() => []);
    let input: Float32Array | undefined;
    // Load times: each variant loaded and disposed in turn, `samples` times.
    for (let s = 0; s < samples; s++) {
      for (let k = 0; k < c.variants.length; k++) {
        const i = (k + s) % c.variants.length, v = c.variants[i]!;
        const t0 = performance.now();
        const p = await load(v.bytes, { threads: 1 });
        loadMs[i]!.push(performance.now() - t0);
        p.dispose();
      }
    }
    for (const v of c.variants) progs.push(await load(v.bytes, { threads: 1 }));
    for (const p of progs) {
      input ??= uniformInput(p.inputs[0]!.shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < warmup; i++) p.runSync({ [p.inputs[0]!.name]: input });
    }
    // Warm runs, interleaved, the order rotated each round.
    for (let r = 0; r < runs; r++) {
      for (let k = 0; k < progs.length; k++) {
        const i = (k + r) % progs.length, p = progs[i]!;
        const t0 = performance.now();
        p.runSync({ [p.inputs[0]!.name]: input! });
        runMs[i]!.push(performance.now() - t0);
      }
    }
    for (const p of progs) p.dispose();
    const ref = { size: c.variants[0]!.bytes.length, load: best(loadMs[0]!), run: best(runMs[0]!) };
    c.variants.forEach((v, i) => {
      const r = { model: c.model, weights: v.label, bytes: v.bytes.length, sizeRatio: v.bytes.length / ref.size, loadMs: best(loadMs[i]!), runMs: best(runMs[i]!), loadMedianMs: median(loadMs[i]!), runMedianMs: median(runMs[i]!) };
      results.push({ ...r, loadRatio: r.loadMs / ref.load, runRatio: r.runMs / ref.run });
      rows.push([c.model, v.label, (v.bytes.length / 1e6).toFixed(2), `${(100 * r.sizeRatio).toFixed(1)}%`, r.loadMs.toFixed(1), (r.loadMs / ref.load).toFixed(2), r.runMs.toFixed(1), (r.runMs / ref.run).toFixed(3)]);
      console.log(rows[rows.length - 1]!.join('  '));
    });
  }
  writeResult('weights_compression', { samples, runs, results, skipped });
  const md = markdownTable(['model', 'weights', 'artifact MB', 'size vs f32', 'load ms', 'load vs f32', 'run ms', 'run vs f32'], rows);
  const note = skipped.length ? `\n\nSkipped: ${skipped.join('; ')}\n` : '\n';
  await writeFileAtomic(
    path.join(OUT, 'weights_compression.md'),
    `Weight-only compression: artifact size, load (bytes to a ready program, weights decoded) and warm run, 1 thread, same process, interleaved in rotating order (fastest of ${samples} loads and ${runs} runs; target: run <= 1.05x f32):\n\n${md}\n${note}`,
  );
  console.log(md + note);
}

await main();
