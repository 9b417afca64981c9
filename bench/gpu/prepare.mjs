#!/usr/bin/env node
// Prepares a self-contained GPU bench bundle on a machine with the Kiln sources (no GPU needed):
//   node bench/gpu/prepare.mjs <out-dir> [--sm 80|90] [--quick]
// <out-dir> gets: node (this Node binary), kiln_cuda.node (the addon, built if missing), run.mjs
// (the runner + Kiln runtime, one file), cases/ (per case: .cuda.kiln, .wasm.kiln, .bin with
// inputs and expected outputs, and index.json). Copy it to the GPU machine and run
// bench/gpu.sh <out-dir> there. See bench/gpu/README.md.
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, writeFileSync, rmSync, chmodSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const args = process.argv.slice(2);
const out = args.find((a) => !a.startsWith('--') && args[args.indexOf(a) - 1] !== '--sm');
if (!out) {
  console.error('usage: node bench/gpu/prepare.mjs <out-dir> [--sm 80|90] [--quick]');
  process.exit(2);
}
const sm = args.includes('--sm') ? Number(args[args.indexOf('--sm') + 1]) : 80;
const quick = args.includes('--quick');
const dir = resolve(out);
mkdirSync(join(dir, 'cases'), { recursive: true });

// 1. The runner, bundled with the runtime into one ESM file.
await build({ entryPoints: [join(here, 'run.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node18', outfile: join(dir, 'run.mjs'), logLevel: 'warning' });

// 2. The cases: bundle cases.ts (it imports the compiler), run it here, write artifacts + data.
// Built inside the repo (bench/out is git-ignored) so the externals resolve from node_modules.
mkdirSync(join(root, 'bench', 'out'), { recursive: true });
const tmp = join(root, 'bench', 'out', `.gpu-cases-${process.pid}.mjs`);
await build({ entryPoints: [join(here, 'cases.ts')], bundle: true, platform: 'node', format: 'esm', outfile: tmp, external: ['binaryen', '@tensorflow/*'], logLevel: 'warning' });
const { buildCases } = await import(pathToFileURL(tmp).href);
const HOST = { f32: Float32Array, f16: Float32Array, bf16: Float32Array, i32: Int32Array, i8: Int8Array, u8: Uint8Array, bool: Uint8Array };
const index = { sm, cases: [] };
for (const c of buildCases(sm, quick)) {
  const parts = [];
  let at = 0;
  const ref = (t) => {
    const arr = HOST[t.dtype].from(t.data);
    const r = { name: t.name, dtype: t.dtype, shape: t.shape, offset: at, length: arr.length };
    parts.push(new Uint8Array(arr.buffer));
    at += Math.ceil(arr.byteLength / 8) * 8;
    if (arr.byteLength % 8) parts.push(new Uint8Array(8 - (arr.byteLength % 8)));
    return r;
  };
  const entry = { name: c.name, kind: c.kind, rtol: c.rtol, atol: c.atol, wasm: !!c.wasm, inputs: c.inputs.map(ref), expected: c.expected.map(ref) };
  const bin = new Uint8Array(at);
  let o = 0;
  for (const p of parts) { bin.set(p, o); o += p.length; }
  writeFileSync(join(dir, 'cases', `${c.name}.bin`), bin);
  writeFileSync(join(dir, 'cases', `${c.name}.cuda.kiln`), c.cuda);
  if (c.wasm) writeFileSync(join(dir, 'cases', `${c.name}.wasm.kiln`), c.wasm);
  index.cases.push(entry);
}
// Training steps (resident state) and seeded tensor-core GEMMs (inputs generated on the GPU side).
const { buildExtraCases } = await import(pathToFileURL(tmp).href);
const extra = buildExtraCases(sm, quick);
for (const t of extra.train) {
  const arrays = [...t.batch.map((b) => b.data), ...t.finalState.map((s) => s.data)];
  let at = 0;
  const refs = arrays.map((a) => { const r = { offset: at, length: a.length }; at += a.byteLength; return r; });
  const bin = new Uint8Array(at);
  arrays.forEach((a, i) => bin.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), refs[i].offset));
  writeFileSync(join(dir, 'cases', `${t.name}.bin`), bin);
  writeFileSync(join(dir, 'cases', `${t.name}.cuda.kiln`), t.cuda);
  index.cases.push({
    name: t.name, kind: 'train', rtol: 2e-3, atol: 1e-4, wasm: false, steps: t.steps, losses: t.losses,
    inputs: t.batch.map((b, i) => ({ name: b.name, dtype: 'f32', shape: b.shape, ...refs[i] })),
    expected: t.finalState.map((s, i) => ({ name: s.name, dtype: 'f32', shape: [s.data.length], ...refs[t.batch.length + i] })),
  });
}
for (const m of extra.seeded) {
  writeFileSync(join(dir, 'cases', `${m.name}.cuda.kiln`), m.cuda);
  index.cases.push({ name: m.name, kind: 'seeded', rtol: 2e-3, atol: 2e-2, wasm: false, seeded: m.inputs, sample: m.sample, inputs: [], expected: [] });
}
writeFileSync(join(dir, 'cases', 'index.json'), JSON.stringify(index, null, 1));
copyFileSync(join(here, 'torch_peer.py'), join(dir, 'torch_peer.py'));
rmSync(tmp, { force: true });

// 3. The addon and a Node binary to run it with (the GPU machine has no Node).
const addon = join(root, 'native', 'cuda', 'build', 'Release', 'kiln_cuda.node');
if (!existsSync(addon)) spawnSync(process.execPath, [join(root, 'native', 'cuda', 'build.mjs')], { stdio: 'inherit' });
if (!existsSync(addon)) { console.error('prepare: the kiln_cuda addon could not be built'); process.exit(1); }
copyFileSync(addon, join(dir, 'kiln_cuda.node'));
copyFileSync(process.execPath, join(dir, 'node'));
chmodSync(join(dir, 'node'), 0o755);
console.log(`prepared ${index.cases.length} cases for sm_${sm} in ${dir}; run: bench/gpu.sh ${dir}`);
