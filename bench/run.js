// `npm run bench`: Kiln's benchmarks against TensorFlow.js, each in a fresh
// Node process (tfjs-backend-wasm's thread setting is once per process, and
// compile time is wanted in a cold process too). The TypeScript benchmarks
// are bundled by esbuild into bench/out/*.mjs with npm packages left
// external, so `kiln` and `kiln/runtime` resolve to the built dist/ (this
// package's own exports). Each benchmark writes bench/out/<name>.json and
// <name>.md; this script joins the markdown into bench/out/results.md and,
// with --readme, into bench/README.md between the results markers.
//
// Usage: npm run bench [-- --readme] [--only models,compile_time,memory,size]
//        [--rounds N] [--budget MS] [--quick]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(benchDir);
const outDir = path.join(benchDir, 'out');

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const option = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
};
const quick = flag('quick');
const rounds = option('rounds', quick ? '1' : '5');
const budget = option('budget', quick ? '200' : '300');
const only = option('only', 'models,import,compile_time,memory,training,transformer,lstm,sampler,resident_weights,batch_poly,data,cold_start,int8,weights_compression,size').split(',');

const benches = [
  { name: 'models', args: ['--rounds', rounds, '--budget', budget] },
  { name: 'import', args: ['--rounds', quick ? '1' : '3', '--budget', budget] },
  { name: 'compile_time', args: ['--repeats', quick ? '3' : '7'] },
  { name: 'memory', args: [] },
  { name: 'training', args: ['--budget', quick ? '1000' : '3000'] },
  { name: 'transformer', args: ['--rounds', rounds, '--budget', budget] },
  { name: 'lstm', args: ['--budget', quick ? '1000' : '3000'] },
  { name: 'sampler', args: ['--rounds', rounds, '--budget', budget] },
  { name: 'resident_weights', args: ['--budget', quick ? '100' : '200', '--changes', quick ? '3' : '6'] },
  { name: 'batch_poly', args: ['--budget', quick ? '100' : '200', '--threads', '1,2'] },
  { name: 'data', args: ['--rounds', quick ? '1' : '3', '--samples', quick ? '4992' : '19968'] },
  { name: 'cold_start', args: ['--samples', quick ? '3' : '7'] },
  { name: 'kernels', args: ['--rounds', quick ? '4' : '12'] },
  { name: 'int8', args: ['--rounds', quick ? '2' : '8'] },
  { name: 'weights_compression', args: ['--samples', quick ? '3' : '7', '--runs', quick ? '5' : '10'] },
].filter((b) => only.includes(b.name));

fs.mkdirSync(outDir, { recursive: true });
if (benches.length > 0) {
  await build({
    entryPoints: benches.map((b) => path.join(benchDir, `${b.name}.ts`)),
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    // tsconfig.json maps kiln to src/ for the typechecker; the benchmarks run the built package.
    external: ['kiln', 'kiln/runtime'],
    logLevel: 'warning',
  });
}

const load0 = os.loadavg()[0];
const started = performance.now();
const failed = [];
// --assemble: rebuild the tables from the last run's bench/out/*.md without running anything.
for (const b of flag('assemble') ? [] : benches) {
  const script = path.join(outDir, `${b.name}.mjs`);
  fs.rmSync(path.join(outDir, `${b.name}.md`), { force: true });
  console.log(`\n=== ${b.name} ===`);
  // The relaxed-SIMD flag is also set inside the scripts; on the command line it holds from the first module on.
  // A benchmark that leaves tfjs-wasm worker threads behind may not exit by itself: bound it.
  const r = spawnSync(process.execPath, ['--experimental-wasm-relaxed-simd', script, ...b.args], { cwd: root, stdio: 'inherit', timeout: 900_000 });
  if (r.status !== 0) failed.push(`${b.name} (exit ${r.status ?? r.signal})`);
}

const sections = [];
// Only what ran in this invocation: a stale section from an earlier run must not pass for a new one.
const section = (title, file) => {
  const p = path.join(outDir, file);
  if (!only.includes(path.basename(file, '.md'))) return;
  if (fs.existsSync(p)) sections.push(`### ${title}\n\n${fs.readFileSync(p, 'utf8').trim()}\n`);
};
section('Inference', 'models.md');
section('Imported models', 'import.md');
section('Compile time', 'compile_time.md');
section('Memory', 'memory.md');
section('Training', 'training.md');
section('Transformer encoder', 'transformer.md');
section('LSTM language model training', 'lstm.md');
section('Text sampler (compiled while loop)', 'sampler.md');
section('Predict after a weight change (resident weights)', 'resident_weights.md');
section('One artifact for every batch size (maxBatch)', 'batch_poly.md');
section('Data pipelines: fit from a kiln.data Dataset', 'data.md');
section('Cold start (load to first result)', 'cold_start.md');
section('GEMM micro-kernels: relaxed vs plain per shape', 'kernels.md');
section('int8 GEMM micro-kernels vs f32 (issue 10)', 'int8.md');
section('Weight-only compression: size, load and run vs f32 (issue 10)', 'weights_compression.md');

if (only.includes('size')) {
  console.log('\n=== runtime size ===');
  const r = spawnSync(process.execPath, [path.join(root, 'scripts/runtime-size.mjs'), '--json'], { cwd: root, encoding: 'utf8' });
  if (r.status === 0) {
    const { bytes, gzip } = JSON.parse(r.stdout.trim());
    console.log(`kiln/runtime: ${bytes} bytes minified, ${gzip} bytes gzipped`);
    sections.push(
      '### Runtime size\n\n' +
        '`kiln/runtime` bundled by esbuild (minified ESM, platform neutral), as `node scripts/runtime-size.mjs` measures it:\n\n' +
        `| minified | gzip -9 |\n|---|---|\n| ${bytes} B (${(bytes / 1024).toFixed(1)} KiB) | ${gzip} B (${(gzip / 1024).toFixed(1)} KiB) |\n`,
    );
  } else {
    failed.push('runtime size');
    console.error(r.stderr);
  }
  // The compiler itself bundled for browsers (test/browser/compiler.mjs compiles and trains with it in a page).
  const c = spawnSync(process.execPath, [path.join(root, 'scripts/build-browser.mjs'), '--json'], { cwd: root, encoding: 'utf8' });
  if (c.status === 0) {
    const { bytes, gzip } = JSON.parse(c.stdout.trim());
    console.log(`kiln (compiler) browser bundle: ${bytes} bytes minified, ${gzip} bytes gzipped`);
    sections.push(
      '### Compiler bundle size\n\n' +
        '`kiln` (compiler, Keras API, interpreter, binaryen, tfjs-core cpu) bundled by esbuild for browsers (minified ESM), as `node scripts/build-browser.mjs` measures it:\n\n' +
        `| minified | gzip -9 |\n|---|---|\n| ${(bytes / 2 ** 20).toFixed(2)} MiB | ${(gzip / 2 ** 20).toFixed(2)} MiB |\n`,
    );
  } else {
    failed.push('compiler bundle size');
    console.error(c.stderr);
  }
}

const cpus = os.cpus();
const header =
  `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench\`` +
  (argv.some((a) => a !== '--readme') ? ` (\`-- ${argv.filter((a) => a !== '--readme').join(' ')}\`)` : '') +
  ` on ${cpus.length} cores (${cpus[0]?.model.trim() ?? 'unknown CPU'}), shared with other jobs ` +
  `(1-minute load average ${load0.toFixed(1)} before, ${os.loadavg()[0].toFixed(1)} after); ` +
  `Node ${process.version}, ${os.platform()} ${os.arch()}; took ${((performance.now() - started) / 1000).toFixed(0)} s.\n`;
const results = [header, ...sections].join('\n');
fs.writeFileSync(path.join(outDir, 'results.md'), results);
console.log(`\n${results}\nwritten to bench/out/results.md`);

if (flag('readme')) {
  const readme = path.join(benchDir, 'README.md');
  const text = fs.readFileSync(readme, 'utf8');
  const start = '<!-- results:start -->';
  const end = '<!-- results:end -->';
  const a = text.indexOf(start);
  const z = text.indexOf(end);
  if (a < 0 || z < a) {
    failed.push(`README: markers ${start} / ${end} not found`);
  } else {
    fs.writeFileSync(readme, `${text.slice(0, a + start.length)}\n${results}\n${text.slice(z)}`);
    console.log('bench/README.md updated');
  }
}

if (failed.length) {
  console.error(`\nfailed: ${failed.join(', ')}`);
  process.exit(1);
}
