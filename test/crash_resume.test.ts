/**
 * Crash-safe, exact checkpoints (issue 12): a training process (test/crash/train_child.ts, bundled
 * by esbuild and run by node) is killed with SIGKILL at random points, 5 times per configuration
 * (20 in all), and run again each time; BackupAndRestore continues from its last backup. Every
 * batch loss and epoch log any attempt printed, and the final weights, must be bit-identical to an
 * uninterrupted run (computed in this process by the same code), with SGD (momentum) and Adam,
 * with and without shuffling, backing up every epoch or every few batches (mid-epoch resume
 * replays the interrupted epoch's shuffle). ReduceLROnPlateau changes the learning rate and
 * dropout draws masks from the step counter, so both must be restored too.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { SeededRandom } from '../src/keras/initializers.js';
import { train, type CrashConfig } from './crash/train_child.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// Inside the repository so the bundle's bare imports (binaryen, tfjs) resolve to node_modules.
const BUNDLE = join(ROOT, 'node_modules/.cache/kiln-crash/train_child.mjs');
const KILLS = 5;

const CONFIGS: (Omit<CrashConfig, 'dir'> & { name: string })[] = [
  { name: 'SGD, no shuffle, every epoch', opt: 'sgd', shuffle: false, saveFreq: 'epoch' },
  { name: 'SGD, shuffle, every 2 batches', opt: 'sgd', shuffle: true, saveFreq: 2 },
  { name: 'Adam, no shuffle, every 3 batches', opt: 'adam', shuffle: false, saveFreq: 3 },
  { name: 'Adam, shuffle, every 2 batches', opt: 'adam', shuffle: true, saveFreq: 2 },
];

interface Attempt {
  lines: string[];
  killed: boolean;
  /** The first batch this attempt ran: where it resumed. */
  resumedAt?: string;
}

/** Run the child once; kill it with SIGKILL `delayMs` after its `killAfter`-th batch line (never when undefined). */
function runChild(config: CrashConfig, killAfter: number | undefined, delayMs: number): Promise<Attempt> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BUNDLE], {
      env: {
        ...process.env, KILN_CRASH_CHILD: '1', KILN_CRASH_OPT: config.opt, KILN_CRASH_SHUFFLE: config.shuffle ? '1' : '0',
        KILN_CRASH_FREQ: String(config.saveFreq), KILN_CRASH_DIR: config.dir,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buf = '', err = '', batches = 0, signalled = false;
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      if (killAfter === undefined || signalled) return;
      batches = buf.split('\n').filter((l) => l.startsWith('batch ')).length;
      if (batches >= killAfter) {
        signalled = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const lines = buf.split('\n').filter((l) => l !== '');
      const killed = signal === 'SIGKILL';
      if (!killed && code !== 0) reject(new Error(`child exited with ${code}: ${err.slice(-2000)}`));
      const first = lines.find((l) => l.startsWith('batch '));
      resolve({ lines, killed, ...(first ? { resumedAt: first.split(' ').slice(1, 3).join('/') } : {}) });
    });
  });
}

/** Each line's key (`batch 3 2`, `epoch 3`, `done`) -> the line. */
function byKey(lines: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of lines) {
    const p = l.split(' ');
    m.set(p[0] === 'batch' ? p.slice(0, 3).join(' ') : p[0] === 'epoch' ? p.slice(0, 2).join(' ') : p[0]!, l);
  }
  return m;
}

const results: { config: string; kills: number; resumedAt: string[]; lines: number; identical: boolean }[] = [];

beforeAll(async () => {
  mkdirSync(join(ROOT, 'node_modules/.cache/kiln-crash'), { recursive: true });
  await build({
    entryPoints: [join(ROOT, 'test/crash/train_child.ts')], bundle: true, platform: 'node', format: 'esm',
    packages: 'external', outfile: BUNDLE, logLevel: 'warning',
  });
});

describe('SIGKILL at random points, then resume with BackupAndRestore', () => {
  const rng = new SeededRandom(2024);
  const plans = CONFIGS.map(() => Array.from({ length: 3 * KILLS }, () => ({ after: 2 + Math.floor(rng.next() * 10), delay: Math.floor(rng.next() * 4) })));

  it('every resumed run ends bit-identical to the uninterrupted run (4 configurations x 5 kills)', { timeout: 600_000 }, async () => {
    const t0 = performance.now();
    const base = mkdtempSync(join(tmpdir(), 'kiln-crash-'));
    try {
      // The references first, so that this process's event loop is idle while children run and
      // delivers each kill within a millisecond or so of the batch it was aimed at.
      const wants: Map<string, string>[] = [];
      for (const c of CONFIGS) {
        const reference: string[] = [];
        await train({ ...c, dir: '' }, (l) => reference.push(l));
        wants.push(byKey(reference));
      }
      const runConfig = async (c: (typeof CONFIGS)[number], k: number) => {
        const want = wants[k]!;
        const config: CrashConfig = { ...c, dir: join(base, `c${k}`) };
        const attempts: Attempt[] = [];
        let kills = 0;
        // A kill that lands after the run finished (it printed 'done') is no kill: try another.
        for (const p of plans[k]!) {
          if (kills === KILLS) break;
          const a = await runChild(config, p.after, p.delay);
          attempts.push(a);
          if (a.killed && !a.lines.some((l) => l.startsWith('done'))) kills++;
        }
        attempts.push(await runChild(config, undefined, 0));
        const mismatches: string[] = [];
        let lines = 0;
        for (const a of attempts) {
          for (const [key, line] of byKey(a.lines)) {
            lines++;
            if (want.get(key) !== line) mismatches.push(`${key}: got '${line.slice(0, 60)}', uninterrupted '${want.get(key)?.slice(0, 60)}'`);
          }
        }
        const last = attempts[attempts.length - 1]!;
        const finished = byKey(last.lines).get('done') === want.get('done');
        results.push({ config: c.name, kills, resumedAt: attempts.map((a) => a.resumedAt ?? '-'), lines, identical: mismatches.length === 0 && finished });
        return { kills, mismatches, finished };
      };
      // Configurations side by side (each runs one child process at a time), as the cores allow.
      const width = Math.max(1, Math.min(CONFIGS.length, availableParallelism()));
      const out: Awaited<ReturnType<typeof runConfig>>[] = [];
      for (let k = 0; k < CONFIGS.length; k += width) {
        out.push(...(await Promise.all(CONFIGS.slice(k, k + width).map((c, j) => runConfig(c, k + j)))));
      }
      const seconds = ((performance.now() - t0) / 1000).toFixed(1);
      console.log([`${CONFIGS.length * KILLS} kills in ${seconds} s`, 'config | kills | first batch of each attempt (epoch/step) | lines compared | identical',
        ...results.map((r) => `${r.config} | ${r.kills} | ${r.resumedAt.join(' ')} | ${r.lines} | ${r.identical ? 'yes' : 'NO'}`)].join('\n'));
      for (const r of out) {
        expect(r.mismatches).toEqual([]);
        expect(r.finished).toBe(true);
      }
      expect(out.reduce((n, r) => n + r.kills, 0)).toBe(CONFIGS.length * KILLS);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
