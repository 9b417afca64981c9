#!/usr/bin/env node
// Builds the kiln_cuda addon into native/cuda/build/Release/kiln_cuda.node.
// Tries node-gyp (on PATH, or the copy bundled with npm), pointing it at the running node's own
// headers when they are installed (<prefix>/include/node) so no download is needed; falls back to
// compiling directly with the C++ compiler. The addon needs neither CUDA headers nor libraries:
// it dlopens libcuda.so.1 at run time. Exit code 0 on success; the npm install hook wraps this
// with `|| true` so a machine without a compiler still installs Kiln (the WebAssembly target
// does not need the addon).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const prefix = dirname(dirname(process.execPath));
const headers = join(prefix, 'include', 'node');
const out = join(here, 'build', 'Release', 'kiln_cuda.node');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: here, stdio: 'inherit' });
  return r.status === 0;
}

function nodeGyp() {
  const nodedir = existsSync(join(headers, 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
  const bundled = join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(bundled) && run(process.execPath, [bundled, 'rebuild', ...nodedir])) return true;
  return run('node-gyp', ['rebuild', ...nodedir]);
}

function direct() {
  if (!existsSync(join(headers, 'node_api.h'))) {
    console.error(`kiln_cuda: no Node headers at ${headers}`);
    return false;
  }
  mkdirSync(dirname(out), { recursive: true });
  const cxx = process.env.CXX || 'g++';
  return run(cxx, ['-std=c++17', '-O2', '-shared', '-fPIC', `-I${headers}`, '-DNAPI_VERSION=8', '-DNODE_GYP_MODULE_NAME=kiln_cuda', 'kiln_cuda.cc', '-o', out, '-ldl']);
}

if (process.platform !== 'linux') {
  console.error('kiln_cuda: the CUDA addon is built on Linux only; skipping');
  process.exit(1);
}
// KILN_CUDA_BUILD=direct skips node-gyp (machines without Python or make).
const viaGyp = process.env.KILN_CUDA_BUILD !== 'direct';
if ((viaGyp && nodeGyp()) || direct()) {
  console.log(`kiln_cuda: built ${out}`);
} else {
  console.error('kiln_cuda: build failed; the CUDA target is unavailable (the WebAssembly target is unaffected)');
  process.exit(1);
}
