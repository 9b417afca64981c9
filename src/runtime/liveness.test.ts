/**
 * Runs that end: a kernel that never returns (stopped by timeoutMs), a worker terminated from
 * outside mid-run and between runs, a worker that throws or exits outside any kernel. Each case
 * runs in its own Node process (test/liveness/child.ts, bundled here with esbuild) under a time
 * limit, so a hang fails the case instead of the runner. Every failing run must reject with a
 * KilnRuntimeError naming the worker or kernel, within a bounded time, and the next run must
 * give the right output (checked against plain JS).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { addScaleArtifact, addScaleReference, counterArtifact, spinArtifact } from '../../test/browser/fixture.js';
import { load, KilnRuntimeError } from './index.js';

const N = 64;

const expectedY = Array.from({ length: N }, (_, i) => Math.fround(i - 20.5) * 2);

interface Attempt {
  label: string;
  ok?: boolean;
  ms?: number;
  y?: number[];
  kiln?: boolean;
  message?: string;
  restarts?: number;
}

let dir = '';
let child = '';
let artifact = '';
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-liveness-'));
  child = join(dir, 'child.mjs');
  artifact = join(dir, 'spin.kiln');
  writeFileSync(artifact, spinArtifact(N));
  await build({
    entryPoints: [fileURLToPath(new URL('../../test/liveness/child.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: child,
    logLevel: 'warning',
  });
}, 30_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs one case in a child process, killed after `limitMs`; returns its attempts by label. */
function runCase(name: string, limitMs = 15_000): Promise<Map<string, Attempt>> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, name, artifact], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), limitMs);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Attempt);
      const byLabel = new Map(lines.map((a) => [a.label, a]));
      if (!byLabel.has('end')) {
        reject(new Error(`case ${name} did not finish (code ${code}, signal ${signal}); output so far:\n${out}\n${err}`));
      } else resolve(byLabel);
    });
  });
}

function expectFailed(a: Attempt | undefined, message: RegExp, withinMs: number): void {
  expect(a, 'attempt missing').toBeDefined();
  expect(a!.ok, `expected a failure, got ${JSON.stringify(a)}`).toBe(false);
  expect(a!.kiln).toBe(true);
  expect(a!.message).toMatch(message);
  expect(a!.ms).toBeLessThan(withinMs);
}

function expectCorrect(a: Attempt | undefined): void {
  expect(a, 'attempt missing').toBeDefined();
  expect(a!.ok, `expected success, got ${JSON.stringify(a)}`).toBe(true);
  expect(a!.y).toEqual(expectedY);
}

describe('runs that end (each case in its own process)', () => {
  it('a kernel that never returns is stopped by timeoutMs; the workers are replaced and the next runs work', async () => {
    const r = await runCase('timeout');
    for (const threads of [1, 2]) {
      expectFailed(
        r.get(`spin-${threads}`),
        /^run of the program \('main'\) failed: it did not finish within timeoutMs 300 \(thread 0 was at schedule step 1, kernel 'spin'\); the program terminated its worker threads and is starting new ones/,
        3000,
      );
      expect(r.get(`spin-${threads}`)!.ms).toBeGreaterThanOrEqual(290);
      expectCorrect(r.get(`after-${threads}`));
      expect(r.get(`after-${threads}`)!.restarts).toBe(1);
      expectCorrect(r.get(`sync-${threads}`));
    }
  }, 20_000);

  it('a worker terminated from outside mid-run rejects the run at once, naming the worker; the next run works', async () => {
    const r = await runCase('killMidRun');
    expectFailed(r.get('killed'), /^run of the program \('main'\) failed: worker thread 1 of 2 exited with code 1; the program terminated its worker threads/, 5000);
    expectCorrect(r.get('after'));
    expect(r.get('after')!.restarts).toBe(1);
  }, 20_000);

  it('a worker terminated between runs is replaced before the next run', async () => {
    const r = await runCase('killIdle');
    expectCorrect(r.get('before'));
    expectCorrect(r.get('after'));
    expect(r.get('after')!.restarts).toBe(1);
    expectCorrect(r.get('sync'));
  }, 20_000);

  it('a worker that throws or exits outside a kernel fails a blocking run with its message; the next run works', async () => {
    const r = await runCase('throwOutside');
    expectCorrect(r.get('throw-first'));
    expectFailed(r.get('throw-failing'), /^run of the program \('main'\) failed: worker thread 1 of 2 threw outside a kernel: injected failure outside a kernel \(test hook\); the program terminated/, 3000);
    expectCorrect(r.get('throw-next'));
    expect(r.get('throw-next')!.restarts).toBe(1);
    expectCorrect(r.get('exit-first'));
    expectFailed(r.get('exit-failing'), /^run of the program \('main'\) failed: worker thread 1 of 2 exited with code 3; /, 3000);
    expectCorrect(r.get('exit-next'));
  }, 20_000);

  it('refuses every later run, saying why, when new workers cannot be started', async () => {
    const r = await runCase('restartFails');
    const why = /^this program cannot run any more: after worker thread 1 of 2 exited with code 1, its worker threads could not be restarted \(could not start 1 worker thread: injected start failure \(test hook\)\); load the artifact again$/;
    expectFailed(r.get('after'), why, 5000);
    expectFailed(r.get('sync'), why, 1000);
  }, 20_000);

  it('refuses runSync during a detached run, and dispose ends a detached run', async () => {
    const r = await runCase('overlap');
    expectFailed(r.get('sync-during'), /runSync\(\) was called while a run\(\) with timeoutMs is in progress/, 1000);
    expectFailed(r.get('disposed'), /the program was disposed during the run/, 5000);
  }, 20_000);
});

describe('detached runs (timeoutMs) in process', () => {
  const W = Float32Array.from({ length: N }, (_, i) => Math.sin(i));
  const xs = Float32Array.from({ length: N }, (_, i) => Math.cos(i * 0.3));

  it('give the outputs of a blocking run, report a kernel trap on any thread, and keep working', async () => {
    for (const threads of [1, 2]) {
      const prog = await load(addScaleArtifact(W, { shared: true, trapKernel: true }), { threads });
      try {
        const ref = addScaleReference(xs, W);
        const ok = await prog.run({ x: xs, flag: Int32Array.of(0) }, { timeoutMs: 10_000 });
        expect(Array.from(ok['y']!)).toEqual(Array.from(ref.y));
        expect(ok['sum']![0]).toBe(ref.sum);
        const thread = threads === 1 ? 0 : 1;
        const err = await prog.run({ x: xs, flag: Int32Array.of(1) }, { timeoutMs: 10_000 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(KilnRuntimeError);
        expect((err as Error).message).toMatch(new RegExp(`^kernel 'maybe_trap' \\(schedule step 3\\) failed on thread ${thread}: .*unreachable`));
        expect((await prog.run({ x: xs, flag: Int32Array.of(0) }, { timeoutMs: 10_000 }))['sum']![0]).toBe(ref.sum);
        expect(prog.runSync({ x: xs, flag: Int32Array.of(0) })['sum']![0]).toBe(ref.sum);
        expect(prog.workerRestarts).toBe(0);
      } finally {
        prog.dispose();
      }
    }
  });

  it('work for entry points and training steps: state is updated as by a blocking step', async () => {
    const timed = await load(counterArtifact({ shared: true }), { threads: 2 });
    const plain = await load(counterArtifact({ shared: true }), { threads: 2 });
    try {
      const batch = Float32Array.from({ length: 16 }, (_, i) => i * 0.5 - 3);
      for (let k = 0; k < 3; k++) {
        const a = await timed.step({ x: batch }, { timeoutMs: 10_000 });
        const b = plain.runSync({ x: batch });
        expect(Array.from(a['loss']!)).toEqual(Array.from(b['loss']!));
      }
      const a = await timed.entry('eval_step').run({ x: batch }, { timeoutMs: 10_000 });
      expect(Array.from(a['score']!)).toEqual(Array.from(plain.runSync({ x: batch }, { entry: 'eval_step' })['score']!));
      expect(Array.from(timed.getState('step')['step']!)).toEqual([3]);
    } finally {
      timed.dispose();
      plain.dispose();
    }
  });

  it('queue: concurrent run() calls execute one at a time and each gets its own outputs', async () => {
    const prog = await load(addScaleArtifact(W, { shared: true }), { threads: 2 });
    try {
      const inputs = [1, 2, 3, 4].map((k) => Float32Array.from({ length: N }, (_, i) => Math.sin(i * k)));
      const outs = await Promise.all(inputs.map((x, i) => prog.run({ x }, i % 2 ? { timeoutMs: 10_000 } : undefined)));
      outs.forEach((o, i) => expect(o['sum']![0]).toBe(addScaleReference(inputs[i]!, W).sum));
    } finally {
      prog.dispose();
    }
  });
});
