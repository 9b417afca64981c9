/**
 * Compile time of the benchmark models (kiln.compile: trace, optimize, fuse,
 * lower, emit the plain and relaxed-SIMD modules through binaryen, pack the
 * artifact). Two numbers per model and batch: the first compile in a fresh
 * Node process (what a build script pays; the median over a few processes,
 * each started with `--fresh`), and the median of several compiles in a warm
 * process (the compiler's steady cost). Two warm variants show where the
 * time goes: without the relaxed-SIMD module, and without binaryen's
 * optimizer. Target: the CNN in under 500 ms.
 *
 * Writes bench/out/compile_time.json and .md; run through `npm run bench`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CNN, MLP, OUT_DIR, buildKilnModel, errorMessage, markdownTable, median, parseArgs, writeResult, type ModelSpec } from './common.js';
import { INCEPTION_V3_INPUT, MOBILENET_V2_INPUT, inceptionV3, mobilenetV2 } from './convnets.js';

const TARGET_MS = 500;

interface FreshResult {
  importMs: number;
  firstCompileMs: number;
}

interface Row {
  model: string;
  batch: number;
  freshImportMs?: number;
  freshFirstCompileMs?: number;
  freshRuns: number;
  warmMs?: number;
  warmMinMs?: number;
  warmNoRelaxedMs?: number;
  warmNoWasmOptMs?: number;
  error?: string;
}

const cases: [ModelSpec, number][] = [[CNN, 1], [CNN, 64], [MLP, 1], [MLP, 128]];
/** ImageNet convnets (bench/convnets.ts) and their compile-time targets in ms (issue 10). */
const CONVNETS = [
  { name: 'MobileNetV2', build: mobilenetV2, input: MOBILENET_V2_INPUT, targetMs: 1000 },
  { name: 'InceptionV3', build: inceptionV3, input: INCEPTION_V3_INPUT, targetMs: 2000 },
] as const;

/** `--fresh model batch`: one cold compile, reported as JSON on the last line of stdout. */
async function fresh(model: string, batch: number): Promise<void> {
  const t0 = performance.now();
  const kiln = await import('kiln');
  const importMs = performance.now() - t0;
  const spec = model === 'mlp' ? MLP : CNN;
  const m = buildKilnModel(kiln, spec);
  const t1 = performance.now();
  kiln.compile(m, { inputShapes: [[batch, ...spec.inputShape]] });
  const result: FreshResult = { importMs, firstCompileMs: performance.now() - t1 };
  console.log(JSON.stringify(result));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const repeats = Number(args.get('repeats') ?? 7);
  const freshRuns = Number(args.get('fresh-runs') ?? 3);
  const self = fileURLToPath(import.meta.url);
  const rows: Row[] = [];

  // Cold compiles first, while this process has not loaded Kiln (less memory pressure, no JIT sharing).
  for (const [spec, batch] of cases) {
    const row: Row = { model: spec.name, batch, freshRuns: 0 };
    rows.push(row);
    if (spec !== CNN) continue; // the target is about the CNN; fresh processes cost ~1 s each
    const imports: number[] = [];
    const firsts: number[] = [];
    for (let i = 0; i < freshRuns; i++) {
      const r = spawnSync(process.execPath, [self, '--fresh', 'cnn', String(batch)], { encoding: 'utf8' });
      const last = r.stdout.trim().split('\n').pop() ?? '';
      if (r.status !== 0 || !last.startsWith('{')) {
        row.error = `fresh process failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`;
        break;
      }
      const f = JSON.parse(last) as FreshResult;
      imports.push(f.importMs);
      firsts.push(f.firstCompileMs);
    }
    if (firsts.length) {
      row.freshRuns = firsts.length;
      row.freshImportMs = median(imports);
      row.freshFirstCompileMs = median(firsts);
    }
  }

  const kiln = await import('kiln');
  for (const row of rows) {
    const spec = row.model === CNN.name ? CNN : MLP;
    const model = buildKilnModel(kiln, spec);
    const inputShapes = [[row.batch, ...spec.inputShape]];
    const timeCompiles = (opts: { relaxedSimd?: boolean; optimizeWasm?: boolean }, n: number): number[] => {
      const times: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        kiln.compile(model, { inputShapes, ...opts });
        times.push(performance.now() - t0);
      }
      return times;
    };
    try {
      timeCompiles({}, 1); // warm-up
      const warm = timeCompiles({}, repeats);
      row.warmMs = median(warm);
      row.warmMinMs = Math.min(...warm);
      row.warmNoRelaxedMs = median(timeCompiles({ relaxedSimd: false }, Math.max(3, repeats >> 1)));
      row.warmNoWasmOptMs = median(timeCompiles({ optimizeWasm: false }, Math.max(3, repeats >> 1)));
    } catch (e) {
      row.error = errorMessage(e);
    }
    console.log(`${row.model} b${row.batch}: fresh ${row.freshFirstCompileMs?.toFixed(0) ?? '-'} ms, warm median ${row.warmMs?.toFixed(0) ?? '-'} ms` +
      (row.error ? `  ERROR ${row.error}` : ''));
  }

  // The convnets: warm only (one warm-up, then the median of 3), both WebAssembly variants.
  const convRows: { model: string; warmMs?: number; targetMs: number; error?: string }[] = [];
  for (const c of CONVNETS) {
    const r: (typeof convRows)[number] = { model: c.name, targetMs: c.targetMs };
    convRows.push(r);
    try {
      const model = c.build(kiln);
      const times: number[] = [];
      for (let i = 0; i < 4; i++) {
        const t0 = performance.now();
        kiln.compile(model, { inputShapes: [[1, ...c.input]] });
        if (i > 0) times.push(performance.now() - t0);
      }
      r.warmMs = median(times);
    } catch (e) {
      r.error = errorMessage(e);
    }
    console.log(`${c.name} b1: warm median ${r.warmMs?.toFixed(0) ?? '-'} ms` + (r.error ? `  ERROR ${r.error}` : ''));
  }

  writeResult('compile_time', { date: new Date().toISOString(), node: process.version, repeats, freshRuns, targetMs: TARGET_MS, rows, convnets: convRows });
  const ms = (x: number | undefined) => (x === undefined ? '—' : x.toFixed(0));
  const mark = (x: number | undefined, spec: string) => (x === undefined || spec !== CNN.name ? '' : x < TARGET_MS ? ' ✓' : ' ✗');
  const md = [
    `\`kiln.compile\` wall time in ms (both WebAssembly variants, binaryen optimizer on, unless said otherwise). ` +
      `Fresh: the first compile in a new Node process, after \`import('kiln')\` (median of ${freshRuns} processes; the import is listed apart). ` +
      `Warm: median of ${repeats} compiles after one warm-up in the same process. Target for the CNN: < ${TARGET_MS} ms.`,
    '',
    markdownTable(
      ['model', 'batch', 'fresh: import', 'fresh: first compile', 'warm: median (min)', 'warm, no relaxed module', 'warm, no binaryen opt'],
      rows.map((r) => [
        r.model, String(r.batch),
        ms(r.freshImportMs), ms(r.freshFirstCompileMs) + mark(r.freshFirstCompileMs, r.model),
        r.warmMs === undefined ? (r.error ? 'fails' : '—') : `${ms(r.warmMs)} (${ms(r.warmMinMs)})${mark(r.warmMs, r.model)}`,
        ms(r.warmNoRelaxedMs), ms(r.warmNoWasmOptMs),
      ]),
    ),
    '',
    ...rows.filter((r) => r.error).map((r) => `- ${r.model} batch ${r.batch}: ${r.error}`),
    '',
    'ImageNet convnets (bench/convnets.ts, random weights, batch 1), warm median of 3 compiles after a warm-up:',
    '',
    markdownTable(['model', 'warm compile', 'target'], convRows.map((r) => [
      r.model, r.warmMs === undefined ? `fails: ${r.error ?? ''}` : `${ms(r.warmMs)}${r.warmMs <= r.targetMs ? ' ✓' : ' ✗'}`, `≤ ${r.targetMs}`,
    ])),
  ].join('\n');
  fs.writeFileSync(path.join(OUT_DIR, 'compile_time.md'), md + '\n');
  console.log('\n' + md);
}

const argv = process.argv.slice(2);
if (argv[0] === '--fresh') await fresh(argv[1] ?? 'cnn', Number(argv[2] ?? 1));
else await main();
