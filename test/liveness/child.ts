/**
 * One liveness case per process (src/runtime/liveness.test.ts runs each under a time limit, so
 * a hang fails that case instead of taking the test runner down). Prints one JSON line per
 * attempt: whether it succeeded, how long it took, its output or its error.
 * Usage: node child.mjs <case> <artifact path>
 */
import { readFileSync } from 'node:fs';
import { load, KilnRuntimeError, type Program } from '../../src/runtime/index.js';
import { injectWorkerFault } from '../../src/runtime/threads.js';

const [which, path] = process.argv.slice(2) as [string, string];
const bytes = new Uint8Array(readFileSync(path));
const N = 64;
const x = Float32Array.from({ length: N }, (_, i) => i - 20.5);
const flag = (v: number) => Int32Array.of(v);
const log = (e: object): void => void process.stdout.write(`${JSON.stringify(e)}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function attempt(prog: Program, label: string, f: () => unknown): Promise<void> {
  const t0 = Date.now();
  try {
    const out = (await f()) as Record<string, Float32Array>;
    log({ label, ok: true, ms: Date.now() - t0, y: Array.from(out['y']!), restarts: prog.workerRestarts });
  } catch (e) {
    log({ label, ok: false, ms: Date.now() - t0, kiln: e instanceof KilnRuntimeError, message: (e as Error).message, restarts: prog.workerRestarts });
  }
}

const cases: Record<string, () => Promise<void>> = {
  // A kernel that never returns, with a time limit; then a normal run.
  async timeout() {
    for (const threads of [1, 2]) {
      const prog = await load(bytes, { threads });
      await attempt(prog, `spin-${threads}`, () => prog.run({ x, flag: flag(1) }, { timeoutMs: 300 }));
      await attempt(prog, `after-${threads}`, () => prog.run({ x, flag: flag(0) }));
      await attempt(prog, `sync-${threads}`, () => prog.runSync({ x, flag: flag(0) }));
      prog.dispose();
    }
  },
  // A worker terminated from outside while a run is in flight (the kernel spins until then).
  async killMidRun() {
    const prog = await load(bytes, { threads: 2 });
    // Once the stand-in has started (the first timed run starts it), wait a little and kill worker 1.
    const killer = setInterval(() => {
      if (prog.workerHandles.length < 2) return;
      clearInterval(killer);
      setTimeout(() => prog.workerHandles[0]!.kill(), 100);
    }, 10);
    await attempt(prog, 'killed', () => prog.run({ x, flag: flag(1) }, { timeoutMs: 60_000 }));
    await attempt(prog, 'after', () => prog.run({ x, flag: flag(0) }));
    prog.dispose();
  },
  // A worker terminated between runs: the program replaces it before the next run.
  async killIdle() {
    const prog = await load(bytes, { threads: 3 });
    await attempt(prog, 'before', () => prog.run({ x, flag: flag(0) }));
    prog.workerHandles[1]!.kill();
    await sleep(100);
    await attempt(prog, 'after', () => prog.run({ x, flag: flag(0) }));
    await attempt(prog, 'sync', () => prog.runSync({ x, flag: flag(0) }));
    prog.dispose();
  },
  // A worker that throws (or exits) outside any kernel during a blocking run.
  async throwOutside() {
    for (const kind of ['throw', 'exit'] as const) {
      injectWorkerFault({ worker: 1, afterRuns: 2, kind });
      const prog = await load(bytes, { threads: 2 });
      injectWorkerFault(undefined);
      await attempt(prog, `${kind}-first`, () => prog.runSync({ x, flag: flag(0) }));
      await attempt(prog, `${kind}-failing`, () => prog.runSync({ x, flag: flag(0) }));
      await attempt(prog, `${kind}-next`, () => prog.run({ x, flag: flag(0) }));
      prog.dispose();
    }
  },
  // New workers cannot be started after a death: every later run is refused, saying why.
  async restartFails() {
    const prog = await load(bytes, { threads: 2 });
    injectWorkerFault({ worker: 1, afterRuns: 1, kind: 'start' });
    prog.workerHandles[0]!.kill();
    await sleep(300);
    await attempt(prog, 'after', () => prog.run({ x, flag: flag(0) }));
    await attempt(prog, 'sync', () => prog.runSync({ x, flag: flag(0) }));
    prog.dispose();
  },
  // Runs queue; a runSync during a detached run is refused; dispose ends a detached run.
  async overlap() {
    const prog = await load(bytes, { threads: 2 });
    const slow = prog.run({ x, flag: flag(1) }, { timeoutMs: 60_000 });
    while (prog.workerHandles.length < 2) await sleep(10);
    await sleep(50);
    await attempt(prog, 'sync-during', () => prog.runSync({ x, flag: flag(0) }));
    prog.dispose();
    await attempt(prog, 'disposed', () => slow);
  },
};

const run = cases[which];
if (!run) throw new Error(`unknown case ${which}`);
await run();
log({ label: 'end' });
process.exit(0);
