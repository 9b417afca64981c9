#!/usr/bin/env node
// Checks the published types as a strict TypeScript user sees them: after `npm run build`,
// compiles a small consumer that imports 'kiln', 'kiln/runtime' and 'kiln/runtime/cuda' against
// dist/*.d.ts with `strict` and WITHOUT skipLibCheck (every .d.ts the consumer reaches is
// checked), with lib ES2022 + DOM (the runtime's types name WebAssembly.Module/Memory, which
// TypeScript declares in lib.dom) and no @types packages: Kiln's .d.ts need nothing else.
// (@types/node is left out on purpose: the repo's @types/node 20.9.5 fails on its own under
// TypeScript 5.9 without skipLibCheck, Buffer vs Uint8Array<ArrayBufferLike>, whatever imports
// it.) Also fails when a .d.ts reachable from the package's entries imports a third-party
// package (TensorFlow.js's types are not Kiln's API).
// Exit 0 when clean; otherwise prints the compiler's errors and exits 1.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const entries = Object.entries(pkg.exports).map(([sub, e]) => [sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`, join(root, e.types)]);
const missing = entries.filter(([, f]) => !existsSync(f));
if (missing.length) {
  console.error(`check-types: ${missing.map(([, f]) => f).join(', ')} missing; run \`npm run build\` first`);
  process.exit(1);
}

// 1. No third-party imports in any .d.ts reachable from the entries.
const seen = new Set();
const leaks = [];
const walk = (file) => {
  if (seen.has(file) || !existsSync(file)) return;
  seen.add(file);
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"]+)['"]/g)) {
    const spec = m[1];
    if (spec.startsWith('.')) walk(resolve(dirname(file), spec.replace(/\.js$/, '.d.ts')));
    else if (!spec.startsWith('node:')) leaks.push(`${file.slice(root.length + 1)} imports '${spec}'`);
  }
};
for (const [, f] of entries) walk(f);

// 2. A consumer compiled with strict, skipLibCheck false.
const dir = mkdtempSync(join(root, 'node_modules', '.cache-kiln-types-'));
const consumer = `
import * as kiln from 'kiln';
import { load, KilnRuntimeError, type Program, type TensorData } from 'kiln/runtime';
import { loadCuda, type CudaProgram } from 'kiln/runtime/cuda';

const model = kiln.sequential({ layers: [kiln.layers.dense({ units: 2, inputShape: [3], activation: 'relu' })] });
model.compile({ optimizer: 'adam', loss: 'meanSquaredError', metrics: ['mse'] });
const y: kiln.Tensor | kiln.Tensor[] = model.predict(kiln.zeros([1, 3]));
const artifact: kiln.CompiledArtifact = kiln.compile(model, { inputShapes: [[1, 3]], onStage: (stage: kiln.CompileStage, ms: number) => void [stage, ms] });
const text: string = kiln.ir.printFunc(kiln.toFunc(model, { inputShapes: [[1, 3]] }), { elideConstants: 16 });
async function main(): Promise<void> {
  const prog: Program = await load(artifact.bytes);
  const out: Record<string, TensorData> = await prog.run({ [prog.inputs[0]!.name]: new Float32Array(3) });
  const cuda: Promise<CudaProgram> = loadCuda(artifact.bytes);
  const history = await model.fit(kiln.zeros([4, 3]), kiln.zeros([4, 2]), { epochs: 1, verbose: 0 });
  void [out, cuda, y, text, KilnRuntimeError, history];
}
void main;
`;
const base = { strict: true, skipLibCheck: false, noEmit: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext' };
mkdirSync(join(dir, 'node_modules'), { recursive: true });
symlinkSync(root, join(dir, 'node_modules', pkg.name), 'dir');
writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
writeFileSync(join(dir, 'consumer.ts'), consumer);
writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...base, lib: ['ES2022', 'DOM'], types: [] }, files: ['consumer.ts'] }));

const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const failures = [];
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8' });
if (r.status !== 0) failures.push(`consumer (strict, skipLibCheck false):\n${(r.stdout + r.stderr).trim()}`);
rmSync(dir, { recursive: true, force: true });

if (leaks.length) failures.push(`third-party types in Kiln's public .d.ts:\n  ${leaks.join('\n  ')}`);
if (failures.length) {
  console.error(`check-types: FAILED\n${failures.join('\n\n')}`);
  process.exit(1);
}
console.log(`check-types: ok (${seen.size} .d.ts files reachable from ${entries.map(([n]) => n).join(', ')}; strict consumer, skipLibCheck false)`);
