#!/usr/bin/env node
// `npm run build`: compiles src/ to dist/ (tsconfig.build.json), then deletes whatever dist/
// holds that this build did not emit (files of deleted or now-excluded sources, source maps of
// an older configuration), so `npm pack` ships exactly the current build. dist/ stays in place
// while tsc runs (nothing that uses it sees it vanish). Exit code: tsc's.
import { spawnSync } from 'node:child_process';
import { readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--listEmittedFiles'], { cwd: root, encoding: 'utf8' });
const emitted = new Set();
for (const line of `${r.stdout}`.split('\n')) {
  if (line.startsWith('TSFILE: ')) emitted.add(resolve(line.slice(8).trim()));
  else if (line.trim()) process.stdout.write(`${line}\n`);
}
process.stderr.write(r.stderr ?? '');
if (r.status !== 0) process.exit(r.status ?? 1);

let removed = 0;
/** Deletes files under `dir` that were not emitted; returns whether `dir` is empty afterwards. */
function prune(dir) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  let left = entries.length;
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (prune(p)) {
        rmdirSync(p);
        left--;
      }
    } else if (!emitted.has(p)) {
      unlinkSync(p);
      removed++;
      left--;
    }
  }
  return left === 0;
}
prune(dist);
if (removed > 0) console.log(`build: removed ${removed} file(s) from dist/ that this build did not emit`);
