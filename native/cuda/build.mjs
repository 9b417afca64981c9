#!/usr/bin/env node
// Builds the kiln_cuda addon into native/cuda/build/Release/kiln_cuda.node.
// Tries node-gyp (on PATH, or the copy bundled with npm), pointing it at the running node's own
// headers when they are installed (<prefix>/include/node) so no download is needed; falls back to
// compiling directly with the C++ compiler. The addon needs neither CUDA headers nor libraries:
// it dlopens libcuda.so.1 at run time. Exit code 0 on success; the npm install hook wraps this
// with `|| true` so a machine without a compiler still installs Kiln (the WebAssembly target
// does not need the addon).
//
// Quiet: the tools' output goes to native/cuda/build/build.log (each command and its output)
// and the build prints one line, built or not built and where the log is.
// KILN_CUDA_BUILD=direct skips node-gyp (machines without Python or make);
// KILN_CUDA_BUILD_VERBOSE=1 also streams the tools' output to the terminal.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const prefix = dirname(dirname(process.execPath));
const headers = join(prefix, 'include', 'node');
const out = join(here, 'build', 'Release', 'kiln_cuda.node');
const logPath = join(here, 'build', 'build.log');
const verbose = process.env.KILN_CUDA_BUILD_VERBOSE === '1';
const log = [`kiln_cuda build, ${new Date().toISOString()}, node ${process.version}, ${process.platform}-${process.arch}`];

function run(cmd, args) {
  log.push('', `$ ${[cmd, ...args].join(' ')}  (in ${here})`);
  const r = spawnSync(cmd, args, { cwd: here, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (text) log.push(text.trimEnd());
  if (verbose && text) process.stderr.write(text);
  log.push(r.error ? `-> could not start: ${r.error.message}` : `-> exit ${r.status ?? `signal ${r.signal}`}`);
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
    log.push('', `no Node headers at ${headers}: cannot compile directly`);
    return false;
  }
  mkdirSync(dirname(out), { recursive: true });
  const cxx = process.env.CXX || 'g++';
  return run(cxx, ['-std=c++17', '-O2', '-shared', '-fPIC', `-I${headers}`, '-DNAPI_VERSION=8', '-DNODE_GYP_MODULE_NAME=kiln_cuda', 'kiln_cuda.cc', '-o', out, '-ldl']);
}

/** The log, written crash-safely (temp file, fsync, rename): node-gyp's `rebuild` cleans build/ first, so it is written last. */
function writeLog() {
  mkdirSync(dirname(logPath), { recursive: true });
  const tmp = `${logPath}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, log.join('\n') + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, logPath);
}

const shown = (p) => {
  const r = relative(process.cwd(), p);
  return r.startsWith('..') || isAbsolute(r) ? p : r;
};

let ok = false;
let why = '';
if (process.platform !== 'linux') {
  why = `the CUDA addon is built on Linux only (this is ${process.platform})`;
  log.push('', why);
} else {
  ok = (process.env.KILN_CUDA_BUILD !== 'direct' && nodeGyp()) || direct();
  if (!ok) why = 'no working node-gyp or C++ compiler';
}
writeLog();
if (ok) {
  console.log(`kiln_cuda: built ${shown(out)} (log: ${shown(logPath)})`);
} else {
  console.log(`kiln_cuda: not built: ${why}; the CUDA target is unavailable, the WebAssembly target is unaffected (log: ${shown(logPath)})`);
  process.exit(1);
}
