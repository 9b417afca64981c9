/**
 * native/cuda/build.mjs (run by `npm ci`) is quiet: the tools' output goes to build/build.log and
 * the script prints one line, built or not built, naming the log. Run on a copy of native/cuda
 * with KILN_CUDA_BUILD=direct and a stand-in compiler that prints 40 lines of noise (so the test
 * takes a second, not a real compile); a failing compiler gives one "not built" line and exit 1.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const NATIVE = fileURLToPath(new URL('../native/cuda/', import.meta.url));
const hasHeaders = existsSync(join(process.execPath, '../../include/node/node_api.h'));
let dir = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-addon-build-'));
  for (const f of ['build.mjs', 'kiln_cuda.cc', 'binding.gyp']) copyFileSync(join(NATIVE, f), join(dir, f));
  // A compiler that talks a lot and writes its -o file.
  writeFileSync(join(dir, 'noisy-cxx'), '#!/bin/sh\nfor i in $(seq 1 40); do echo "noise line $i"; done\necho "warning: noisy" >&2\nwhile [ $# -gt 0 ]; do if [ "$1" = -o ]; then shift; echo addon > "$1"; fi; shift; done\n');
  chmodSync(join(dir, 'noisy-cxx'), 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function build(cxx: string): { stdout: string; stderr: string; status: number | null; log: string } {
  rmSync(join(dir, 'build'), { recursive: true, force: true });
  const r = spawnSync(process.execPath, [join(dir, 'build.mjs')], {
    cwd: dir, encoding: 'utf8', env: { ...process.env, KILN_CUDA_BUILD: 'direct', KILN_CUDA_BUILD_VERBOSE: '', CXX: cxx },
  });
  const logFile = join(dir, 'build', 'build.log');
  return { stdout: r.stdout, stderr: r.stderr, status: r.status, log: existsSync(logFile) ? readFileSync(logFile, 'utf8') : '' };
}

describe.skipIf(process.platform !== 'linux' || !hasHeaders)('native/cuda/build.mjs', () => {
  it('a successful build prints one line; the compiler output is in build/build.log', () => {
    const r = build(join(dir, 'noisy-cxx'));
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('kiln_cuda: built build/Release/kiln_cuda.node (log: build/build.log)\n');
    expect(r.log).toContain('noisy-cxx -std=c++17');
    expect(r.log).toContain('noise line 40');
    expect(r.log).toContain('warning: noisy');
    expect(r.log).toMatch(/-> exit 0\n$/);
    expect(readFileSync(join(dir, 'build/Release/kiln_cuda.node'), 'utf8')).toBe('addon\n');
  });

  it('a failed build prints one "not built" line, exits 1, and logs why', () => {
    const r = build('/bin/false');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('kiln_cuda: not built: no working node-gyp or C++ compiler; the CUDA target is unavailable, the WebAssembly target is unaffected (log: build/build.log)\n');
    expect(r.log).toContain('$ /bin/false -std=c++17');
    expect(r.log).toContain('-> exit 1');
  });

  it('a compiler that does not exist is logged, not thrown', () => {
    const r = build(join(dir, 'no-such-compiler'));
    expect(r.status).toBe(1);
    expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.log).toMatch(/-> could not start: .*ENOENT/);
  });
});
