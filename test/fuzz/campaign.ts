/**
 * The mutation fuzzer's driver: builds the seed artifacts, computes their outputs unmutated, then
 * runs each mutated case in a pool of long-lived child processes (runner.ts, bundled by esbuild),
 * one case per child at a time, each with its own timeout. A child that hangs is killed and
 * replaced; one that dies mid-case is replaced. Outcomes:
 *
 *   good: rejected at load with a KilnRuntimeError (or at run, counted apart), accepted with
 *         outputs bit-identical to the unmutated artifact;
 *   BAD:  accepted with different outputs, a non-Kiln error, a crash, a hang.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { caseSeed, mutate, parseSeed, rng, type Mutation, type MutationClass, type ParsedSeed } from './mutate.js';
import type { Job, Reply } from './runner.js';
import { buildSeeds, type Seed } from './seeds.js';

export const OUTCOMES = ['rejected', 'rejected-at-run', 'identical', 'different', 'non-kiln-error', 'crash', 'hang'] as const;
export type Outcome = (typeof OUTCOMES)[number];
export const BAD: ReadonlySet<Outcome> = new Set(['different', 'non-kiln-error', 'crash', 'hang']);

export interface CampaignOptions {
  cases: number;
  seed?: number;
  /** Child processes (default 2). */
  workers?: number;
  /** Per-case limit in milliseconds (default 10,000). */
  timeoutMs?: number;
  /** Called every `progressEvery` cases. */
  onProgress?: (done: number, result: CampaignResult) => void;
  progressEvery?: number;
  /** Called for each bad case as it happens. */
  onBad?: (b: BadCase) => void;
  /** Only these case indices (replaying). */
  only?: readonly number[];
}

export interface BadCase {
  index: number;
  seed: string;
  cls: MutationClass;
  kind: string;
  what: string;
  outcome: Outcome;
  detail: string;
}

export interface CampaignResult {
  cases: number;
  /** `${cls}/${kind}` -> outcome -> count. */
  table: Map<string, Record<Outcome, number>>;
  /** Rejection messages' first words -> count (what answered: checksum, validator, binding...). */
  reasons: Map<string, number>;
  bad: BadCase[];
  ms: number;
}

/** runner.ts; scripts/fuzz.mjs, which runs a bundle of the fuzzer from elsewhere, says where it is. */
const runnerSource = (): string => process.env['KILN_FUZZ_RUNNER'] ?? fileURLToPath(new URL('./runner.ts', import.meta.url));

/** Bundles runner.ts (kiln/runtime and nothing else) into a temporary .mjs. */
export async function bundleRunner(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-fuzz-'));
  const out = join(dir, 'runner.mjs');
  await build({ entryPoints: [runnerSource()], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: out, logLevel: 'error' });
  return out;
}

interface Slot {
  child: ChildProcess;
  ready: Promise<void>;
  stderr: string;
  current?: { job: Job; done: (r: Reply | { crash: string } | { hang: true }) => void; timer: NodeJS.Timeout };
}

export class Pool {
  private slots: Slot[] = [];
  private idle: Slot[] = [];
  private waiting: ((s: Slot) => void)[] = [];

  constructor(private readonly script: string, size: number, private readonly timeoutMs: number) {
    for (let i = 0; i < size; i++) this.release(this.spawn());
  }

  private spawn(): Slot {
    const child = spawn(process.execPath, ['--experimental-wasm-relaxed-simd', this.script], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    const slot: Slot = { child, stderr: '', ready: Promise.resolve() };
    slot.ready = new Promise((resolve) => {
      const onReady = (msg: unknown) => {
        if ((msg as { ready?: boolean }).ready) {
          child.off('message', onReady);
          resolve();
        }
      };
      child.on('message', onReady);
    });
    child.stderr!.on('data', (d: Buffer) => (slot.stderr = (slot.stderr + d.toString()).slice(-2000)));
    child.on('message', (msg: Reply | { ready: true }) => {
      if ('ready' in msg) return;
      const c = slot.current;
      if (c && msg.id === c.job.id) {
        clearTimeout(c.timer);
        slot.current = undefined;
        c.done(msg);
        this.release(slot);
      }
    });
    child.on('exit', (code, signal) => {
      const c = slot.current;
      slot.current = undefined;
      this.slots = this.slots.filter((s) => s !== slot);
      this.idle = this.idle.filter((s) => s !== slot);
      if (c) {
        clearTimeout(c.timer);
        c.done({ crash: `exit code ${code}, signal ${signal}; stderr: ${slot.stderr.trim().slice(-500)}` });
      }
      if (!this.closed) this.release(this.spawn());
    });
    this.slots.push(slot);
    return slot;
  }

  private closed = false;

  private release(slot: Slot): void {
    if (this.closed || !this.slots.includes(slot)) return;
    const w = this.waiting.shift();
    if (w) w(slot);
    else this.idle.push(slot);
  }

  private acquire(): Promise<Slot> {
    const s = this.idle.shift();
    return s ? Promise.resolve(s) : new Promise((resolve) => this.waiting.push(resolve));
  }

  async run(job: Job): Promise<Reply | { crash: string } | { hang: true }> {
    const slot = await this.acquire();
    await slot.ready;
    return new Promise((done) => {
      const timer = setTimeout(() => {
        const c = slot.current;
        if (!c) return;
        slot.current = undefined;
        slot.child.kill('SIGKILL');
        c.done({ hang: true });
      }, this.timeoutMs);
      slot.current = { job, done, timer };
      slot.stderr = '';
      slot.child.send(job);
    });
  }

  /** The runners' process ids (tests kill one to check it is replaced). */
  pids(): number[] {
    return this.slots.map((s) => s.child.pid!);
  }

  close(): void {
    this.closed = true;
    for (const s of this.slots) s.child.kill('SIGKILL');
  }
}

const equalOutputs = (a: Uint8Array[], b: Uint8Array[]): boolean =>
  a.length === b.length && a.every((x, i) => x.length === b[i]!.length && x.every((v, j) => v === b[i]![j]));

/** The first words of a rejection: which layer answered. */
function reasonOf(message: string): string {
  if (message.startsWith('damaged Kiln artifact: checksum')) return 'checksum';
  if (message.includes('does not belong to')) return 'binding (manifest edited after compilation)';
  if (message.startsWith('invalid artifact manifest')) return 'manifest validator';
  if (message.startsWith('invalid Kiln artifact') || message.startsWith('truncated')) return 'container structure';
  if (message.startsWith('invalid artifact: the')) return 'code section check';
  if (message.startsWith('not a Kiln artifact') || message.includes('format version')) return 'header (magic/version)';
  if (message.startsWith('artifact targets')) return 'target check';
  return message.split(/[:(]/)[0]!.slice(0, 60);
}

export async function runCampaign(o: CampaignOptions): Promise<CampaignResult> {
  const t0 = performance.now();
  const campaignSeed = o.seed ?? 1;
  const seeds: Seed[] = buildSeeds();
  const parsed: ParsedSeed[] = seeds.map((s) => parseSeed(s.bytes));
  const runner = await bundleRunner();
  const pool = new Pool(runner, o.workers ?? 2, o.timeoutMs ?? 10_000);
  const result: CampaignResult = { cases: 0, table: new Map(), reasons: new Map(), bad: [], ms: 0 };
  try {
    // Baselines: each seed unmutated, through the same runner.
    const baselines = await Promise.all(
      seeds.map(async (s, i) => {
        const r = await pool.run({ id: -1 - i, bytes: s.bytes, threads: s.threads, runs: s.runs });
        if (!('ok' in r) || !r.ok) throw new Error(`fuzz: seed '${s.name}' does not run unmutated: ${JSON.stringify(r)}`);
        return r.outputs;
      }),
    );
    const indices = o.only ?? Array.from({ length: o.cases }, (_, i) => i);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < indices.length) {
        const index = indices[next++]!;
        const si = index % seeds.length;
        const seed = seeds[si]!;
        const m: Mutation = mutate(rng(caseSeed(campaignSeed, index)), parsed[si]!);
        const reply = await pool.run({ id: index, bytes: m.bytes, threads: seed.threads, runs: seed.runs });
        let outcome: Outcome;
        let detail = '';
        if ('hang' in reply) {
          outcome = 'hang';
          detail = `no answer within ${o.timeoutMs ?? 10_000} ms`;
        } else if ('crash' in reply) {
          outcome = 'crash';
          detail = reply.crash;
        } else if (reply.ok) {
          outcome = equalOutputs(reply.outputs, baselines[si]!) ? 'identical' : 'different';
        } else if (!reply.kiln) {
          outcome = 'non-kiln-error';
          detail = `${reply.stage}: ${reply.name}: ${reply.message}`;
        } else {
          outcome = reply.stage === 'load' ? 'rejected' : 'rejected-at-run';
          detail = reply.message;
          const why = reasonOf(reply.message) + (reply.stage === 'run' ? ' (at run)' : '');
          result.reasons.set(`${m.cls}: ${why}`, (result.reasons.get(`${m.cls}: ${why}`) ?? 0) + 1);
        }
        const key = `${m.cls}/${m.kind}`;
        const row = result.table.get(key) ?? (Object.fromEntries(OUTCOMES.map((x) => [x, 0])) as Record<Outcome, number>);
        row[outcome]++;
        result.table.set(key, row);
        if (BAD.has(outcome)) {
          const b: BadCase = { index, seed: seed.name, cls: m.cls, kind: m.kind, what: m.what, outcome, detail };
          result.bad.push(b);
          o.onBad?.(b);
        }
        result.cases++;
        if (o.onProgress && result.cases % (o.progressEvery ?? 1000) === 0) o.onProgress(result.cases, result);
      }
    };
    await Promise.all(Array.from({ length: o.workers ?? 2 }, worker));
  } finally {
    pool.close();
    rmSync(dirname(runner), { recursive: true, force: true });
  }
  result.ms = performance.now() - t0;
  return result;
}

/** The table by outcome, per mutation class and kind, with totals. */
export function formatTable(r: CampaignResult): string {
  const rows = [...r.table.entries()].sort(([a], [b]) => a.localeCompare(b));
  const total = Object.fromEntries(OUTCOMES.map((x) => [x, 0])) as Record<Outcome, number>;
  const byClass = new Map<string, Record<Outcome, number>>();
  for (const [k, row] of rows) {
    const cls = k.split('/')[0]!;
    const c = byClass.get(cls) ?? (Object.fromEntries(OUTCOMES.map((x) => [x, 0])) as Record<Outcome, number>);
    for (const x of OUTCOMES) {
      total[x] += row[x];
      c[x] += row[x];
    }
    byClass.set(cls, c);
  }
  const head = ['mutation', 'cases', ...OUTCOMES.map((x) => (BAD.has(x) ? `${x} (BAD)` : x))];
  const line = (name: string, row: Record<Outcome, number>) => [name, String(OUTCOMES.reduce((s, x) => s + row[x], 0)), ...OUTCOMES.map((x) => String(row[x]))];
  const body = [
    ...rows.map(([k, row]) => line(k, row)),
    ...[...byClass.entries()].map(([c, row]) => line(`all ${c}`, row)),
    line('total', total),
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: string[]) => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ') + ' |';
  const sep = '|' + widths.map((w, i) => (i === 0 ? ':' + '-'.repeat(w + 1) : '-'.repeat(w + 1) + ':')).join('|') + '|';
  const reasons = [...r.reasons.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `  ${String(n).padStart(7)}  ${k}`);
  return [fmt(head), sep, ...body.map(fmt), '', 'What rejected them:', ...reasons].join('\n');
}

/** Writes the result as JSON (for the record). */
export function saveResult(path: string, r: CampaignResult, extra: Record<string, unknown>): void {
  writeFileSync(path, JSON.stringify({ ...extra, cases: r.cases, ms: Math.round(r.ms), table: Object.fromEntries(r.table), reasons: Object.fromEntries(r.reasons), bad: r.bad }, null, 1));
}
