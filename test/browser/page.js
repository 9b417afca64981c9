// Runs in headless Chromium, served by run.mjs. Loads the bundled runtime,
// runs the fixture artifacts in every configuration on both pages (without
// isolation a threads artifact must run single-threaded, or fail clearly when
// asked for threads), and POSTs what it computed (or the error each case
// hit) to /results.
import { load, KilnRuntimeError } from '/runtime.js';

const isolated = self.crossOriginIsolated === true;
const fetchBytes = async (path) => new Uint8Array(await (await fetch(path)).arrayBuffer());

async function runCase(name, artifact, options, x) {
  const t0 = performance.now();
  try {
    const prog = await load(await fetchBytes(artifact), options);
    const outs = [];
    // Several runs: the first after load, then steady state; all must agree.
    for (let i = 0; i < 5; i++) outs.push(await prog.run({ x }));
    const sync = prog.runSync({ x });
    prog.dispose();
    return {
      name,
      threads: prog.threads,
      variant: prog.variant,
      sharedMemory: prog.sharedMemory,
      y: Array.from(outs[0].y),
      sum: outs[0].sum[0],
      consistent: outs.every((o) => o.y.every((v, i) => v === outs[0].y[i])) && sync.y.every((v, i) => v === outs[0].y[i]),
      ms: performance.now() - t0,
    };
  } catch (e) {
    return { name, error: String(e && e.message), kilnError: e instanceof KilnRuntimeError };
  }
}

// Training-style state: three steps on the counter artifact, then the state.
async function runCounter(name, options, batches) {
  try {
    const prog = await load(await fetchBytes('/counter.kiln'), options);
    const losses = [];
    for (const x of batches) losses.push((await prog.step({ x })).loss[0]);
    const stats = prog.stats;
    const score = Array.from((await prog.entry('eval_step').run({ x: batches[0] })).score);
    const state = prog.getState(['acc', 'step']);
    prog.dispose();
    return { name, threads: prog.threads, sharedMemory: prog.sharedMemory, losses, stats, score, acc: Array.from(state.acc), step: state.step[0] };
  } catch (e) {
    return { name, error: String(e && e.message), kilnError: e instanceof KilnRuntimeError };
  }
}

// Runs that end: a kernel that never returns is stopped by {timeoutMs}; a worker terminated
// mid-run fails that run; after each, the program replaces its workers and runs correctly.
async function runLiveness() {
  const out = { name: 'liveness' };
  const sx = Float32Array.from({ length: 64 }, (_, i) => i - 20.5);
  const attempt = async (f) => {
    const t0 = performance.now();
    try {
      const r = await f();
      return { ok: true, y: Array.from(r.y), ms: performance.now() - t0 };
    } catch (e) {
      return { ok: false, kiln: e instanceof KilnRuntimeError, message: String(e && e.message), ms: performance.now() - t0 };
    }
  };
  try {
    const prog = await load(await fetchBytes('/spin.kiln'), isolated ? { threads: 2 } : {});
    out.timedOut = await attempt(() => prog.run({ x: sx, flag: Int32Array.of(1) }, { timeoutMs: 300 }));
    out.after = await attempt(() => prog.run({ x: sx, flag: Int32Array.of(0) }, { timeoutMs: 5000 }));
    if (isolated) {
      // workerHandles is an internal test hook; kill() terminates worker 1 as if from outside.
      setTimeout(() => prog.workerHandles[0].kill(), 200);
      out.killed = await attempt(() => prog.run({ x: sx, flag: Int32Array.of(1) }, { timeoutMs: 30000 }));
      out.afterKill = await attempt(() => prog.run({ x: sx, flag: Int32Array.of(0) }));
      out.sync = await attempt(() => prog.runSync({ x: sx, flag: Int32Array.of(0) }));
      out.restarts = prog.workerRestarts;
    }
    prog.dispose();
  } catch (e) {
    out.error = String(e && e.message);
  }
  return out;
}

const x = new Float32Array(await (await fetch('/x.bin')).arrayBuffer());
const counterBatches = await Promise.all([0, 1, 2].map(async (k) => new Float32Array(await (await fetch(`/batch${k}.bin`)).arrayBuffer())));
const cases = [];
cases.push(await runCase('plain-1', '/plain.kiln', {}, x));
cases.push(await runCase('shared-1', '/shared.kiln', { threads: 1 }, x));
cases.push(await runCase('shared-2', '/shared.kiln', { threads: 2 }, x));
cases.push(await runCase('shared-4', '/shared.kiln', { threads: 4 }, x));
cases.push(await runCase('relaxed-3', '/relaxed.kiln', { threads: 3 }, x));
cases.push(await runCase('relaxed-off', '/relaxed.kiln', { threads: 2, relaxedSimd: false }, x));
cases.push(await runCase('shared-default', '/shared.kiln', {}, x));
cases.push(await runCase('relaxed-default', '/relaxed.kiln', {}, x));
const counters = [await runCounter('counter-default', {}, counterBatches), await runCounter('counter-2', { threads: 2 }, counterBatches)];
const liveness = await runLiveness();

await fetch('/results', {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ page: location.pathname, isolated, hardwareConcurrency: navigator.hardwareConcurrency, cases, counters, liveness }),
});
if (location.pathname === '/isolated.html') location.href = '/plain.html';
