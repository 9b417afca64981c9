/**
 * Cold start (issue 13 point 3): MobileNetV2 (224x224, random weights, ~14 MB) from
 * `load(bytes)` to its first result, in fresh Node processes (one child process per sample,
 * median), one thread, no V8 flags; against the warm run of the same program.
 * Usage: node bench/out/cold_start.mjs [--samples 7]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OUT_DIR, markdownTable, median, parseArgs, uniformInput, writeResult } from './common.js';
import { MOBILENET_V2_INPUT, mobilenetV2 } from './convnets.js';
import { writeFileAtomic } from '../src/frontend/io/atomic.js';

const args = parseArgs(process.argv.slice(2));

async function child(file: string): Promise<void> {
  const { load } = await import('kiln/runtime');
  const bytes = new Uint8Array(fs.readFileSync(file));
  const input = uniformInput(MOBILENET_V2_INPUT.reduce((a, b) => a * b, 1));
  const t0 = performance.now();
  const prog = await load(bytes, { threads: 1 });
  const t1 = performance.now();
  prog.runSync({ [prog.inputs[0]!.name]: input });
  const t2 = performance.now();
  const warm: number[] = [];
  for (let i = 0; i < 5; i++) {
    const s = performance.now();
    prog.runSync({ [prog.inputs[0]!.name]: input });
    warm.push(performance.now() - s);
  }
  process.stdout.write(JSON.stringify({ loadMs: t1 - t0, firstRunMs: t2 - t1, coldMs: t2 - t0, warmMs: median(warm) }) + '\n');
}

async function main(): Promise<void> {
  const samples = Number(args.get('samples') ?? '7');
  const kiln = await import('kiln');
  const art = kiln.compile(mobilenetV2(kiln), { inputShapes: [[1, ...MOBILENET_V2_INPUT]] });
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const file = path.join(OUT_DIR, 'cold_start_mobilenet_v2.kiln');
  await writeFileAtomic(file, art.bytes);
  const self = fileURLToPath(import.meta.url);
  const rows: { loadMs: number; firstRunMs: number; coldMs: number; warmMs: number }[] = [];
  for (let i = 0; i < samples; i++) {
    const r = spawnSync(process.execPath, [self, '--child', file], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cold_start child failed: ${r.stderr}`);
    rows.push(JSON.parse(r.stdout.trim().split('\n').pop()!));
  }
  const m = (k: keyof (typeof rows)[number]) => median(rows.map((r) => r[k]));
  const res = { model: 'MobileNetV2 224', artifactBytes: art.bytes.length, samples, loadMs: m('loadMs'), firstRunMs: m('firstRunMs'), coldMs: m('coldMs'), warmMs: m('warmMs') };
  writeResult('cold_start', res);
  const md = markdownTable(
    ['model', 'artifact MB', 'load ms', 'first run ms', 'load+first ms', 'warm run ms', 'cold / warm'],
    [[res.model, (res.artifactBytes / 1e6).toFixed(1), res.loadMs.toFixed(1), res.firstRunMs.toFixed(1), res.coldMs.toFixed(1), res.warmMs.toFixed(1), (res.coldMs / res.warmMs).toFixed(2)]],
  );
  await writeFileAtomic(path.join(OUT_DIR, 'cold_start.md'), `Cold start, Node, 1 thread, fresh process per sample (median of ${samples}):\n\n${md}\n`);
  console.log(md);
}

if (args.has('child')) await child(args.get('child')!);
else await main();
