#!/usr/bin/env node
// Checks what `npm pack` would publish (after `npm run build`): no tests, no test helpers
// (test_util, testkit, test_models), no source maps, no sources or fixtures, no native build
// outputs; and everything the package needs is there (each export's .js and .d.ts, the addon's
// sources for the install hook). Prints the file count and sizes; exit 1 listing offenders.
// A dist/ with files left from an older build (e.g. .map files) fails too: delete dist/ and rebuild.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
if (!existsSync(join(root, pkg.main))) {
  console.error(`check-pack: ${pkg.main} missing; run \`npm run build\` first`);
  process.exit(1);
}
// --ignore-scripts: `prepare` (fixtures) has nothing to do with what is packed.
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const out = execFileSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const [info] = JSON.parse(out);
const files = info.files.map((f) => f.path);

const FORBIDDEN = [
  [/\.test\.(js|d\.ts|ts|mjs)$/, 'a test'],
  [/(^|\/)(test_util|\w*testkit|test_models)\.(js|d\.ts|ts)$/, 'a test helper'],
  [/\.map$/, 'a source map'],
  [/^(src|test|bench|scripts|examples)\//, 'not part of the package (sources, tests, benchmarks, scripts)'],
  [/^native\/cuda\/build\//, 'a native build output (the install hook builds it)'],
  [/(^|\/)fixtures\//, 'a test fixture'],
  [/\.kiln$/, 'an artifact'],
];
const offenders = [];
for (const f of files) {
  const hit = FORBIDDEN.find(([re]) => re.test(f));
  if (hit) offenders.push(`${f} (${hit[1]})`);
}
const required = [
  'package.json', 'README.md', 'native/cuda/build.mjs', 'native/cuda/kiln_cuda.cc', 'native/cuda/binding.gyp',
  ...Object.values(pkg.exports).flatMap((e) => [e.default, e.types].map((p) => p.replace(/^\.\//, ''))),
];
const missing = required.filter((f) => !files.includes(f));
if (offenders.length || missing.length) {
  console.error('check-pack: FAILED');
  if (offenders.length) console.error(`npm pack would ship ${offenders.length} file(s) it must not:\n  ${offenders.slice(0, 50).join('\n  ')}${offenders.length > 50 ? `\n  ... and ${offenders.length - 50} more` : ''}`);
  if (missing.length) console.error(`npm pack would miss:\n  ${missing.join('\n  ')}`);
  process.exit(1);
}
const kb = (n) => `${(n / 1024).toFixed(0)} KB`;
console.log(`check-pack: ok (${files.length} files, ${kb(info.size)} packed, ${kb(info.unpackedSize)} unpacked; no tests, test helpers, source maps or build outputs)`);
