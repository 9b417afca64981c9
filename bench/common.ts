/**
 * Shared pieces of Kiln's benchmarks: a timing harness (warm-up, then the
 * median of many samples within a time budget, with the process's CPU/wall
 * ratio so a thread count can be checked to have really run in parallel),
 * best-of-rounds bookkeeping, deterministic inputs, output comparison, and
 * the JSON files through which each benchmark process hands its results to
 * bench/run.js. Times are only ever reported next to a peer measured in the
 * same process, as ratios.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

type KilnModule = typeof import('kiln');

export interface Timing {
  /** Median milliseconds per call. */
  ms: number;
  /** Process CPU time over wall time while sampling: ~threads when every thread had a core. */
  cpuPerWall: number;
  /** Number of timed samples behind the median. */
  samples: number;
}

export interface MeasureOptions {
  /** Wall-clock budget for the timed samples, in ms (warm-up is extra, bounded by the same amount). */
  budgetMs: number;
  /** At least this many samples even past the budget. */
  minSamples?: number;
}

/**
 * Median time of `fn`. One sample times enough back-to-back calls to last
 * about 1 ms (a batch-1 MLP runs in tens of microseconds), and the event loop
 * gets a turn between samples: tfjs-backend-wasm's pthread pool needs it to
 * start its workers.
 */
export async function measure(fn: () => void, opts: MeasureOptions): Promise<Timing> {
  const minSamples = opts.minSamples ?? 5;
  // Warm-up: lets V8 tier up the wasm and tfjs allocate its buffers.
  const warmStart = performance.now();
  let warmCalls = 0;
  while (warmCalls < 3 || (performance.now() - warmStart < opts.budgetMs / 4 && warmCalls < 50)) {
    fn();
    warmCalls++;
  }
  const perCall = (performance.now() - warmStart) / warmCalls;
  const reps = Math.max(1, Math.min(1000, Math.floor(1 / Math.max(perCall, 1e-4))));
  await yieldToEventLoop();

  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  let busy = 0;
  while (times.length < minSamples || (performance.now() - start < opts.budgetMs && times.length < 500)) {
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) fn();
    const dt = performance.now() - t0;
    busy += dt;
    times.push(dt / reps);
    if (times.length % 8 === 0) await yieldToEventLoop();
  }
  const cpu = process.cpuUsage(cpu0);
  return { ms: median(times), cpuPerWall: (cpu.user + cpu.system) / 1000 / busy, samples: times.length };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Keeps, per case, the best (lowest) median over rounds: the machine is shared, and noise only adds time. */
export class BestOf {
  private readonly best = new Map<string, Timing>();
  note(key: string, t: Timing): void {
    const prev = this.best.get(key);
    if (!prev || t.ms < prev.ms) this.best.set(key, t);
  }
  get(key: string): Timing | undefined {
    return this.best.get(key);
  }
}

/** Deterministic inputs in [0, 1) (a 32-bit LCG), so every run and every peer sees the same data. */
export function uniformInput(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32;
  }
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= worst)) worst = d; // NaN propagates as "worse than anything"
  }
  return worst;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function parseArgs(argv: readonly string[]): Map<string, string> {
  const args = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq > 0) args.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) args.set(a.slice(2), argv[++i]!);
    else args.set(a.slice(2), 'true');
  }
  return args;
}

/** bench/out, where the bundled benchmarks and their JSON results live (git-ignored); the scripts run from the repo root. */
export const OUT_DIR = path.resolve(process.env['KILN_BENCH_OUT'] ?? 'bench/out');

export function writeResult(name: string, data: unknown): string {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const file = path.join(OUT_DIR, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(data, null, 2) + '\n');
  return file;
}

/** Formats a markdown table; numbers are right-aligned by the reader's renderer, so cells are plain strings. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}

export function fmtMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '—';
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3);
}

// The benchmark models, shared by the inference, compile-time and memory benchmarks.

export type LayerSpec =
  | { kind: 'dense'; units: number; activation: 'relu' | 'softmax' }
  | { kind: 'conv2d'; filters: number; kernelSize: number; activation: 'relu' }
  | { kind: 'maxPooling2d'; poolSize: number }
  | { kind: 'flatten' };

export interface ModelSpec {
  name: string;
  inputShape: number[];
  layers: LayerSpec[];
  batches: number[];
}

export const MLP: ModelSpec = {
  name: 'MLP 784-512-512-10',
  inputShape: [784],
  layers: [
    { kind: 'dense', units: 512, activation: 'relu' },
    { kind: 'dense', units: 512, activation: 'relu' },
    { kind: 'dense', units: 10, activation: 'softmax' },
  ],
  batches: [1, 128],
};

export const CNN: ModelSpec = {
  name: 'CNN 28x28x1 conv32-conv64-dense128',
  inputShape: [28, 28, 1],
  layers: [
    { kind: 'conv2d', filters: 32, kernelSize: 3, activation: 'relu' },
    { kind: 'maxPooling2d', poolSize: 2 },
    { kind: 'conv2d', filters: 64, kernelSize: 3, activation: 'relu' },
    { kind: 'maxPooling2d', poolSize: 2 },
    { kind: 'flatten' },
    { kind: 'dense', units: 128, activation: 'relu' },
    { kind: 'dense', units: 10, activation: 'softmax' },
  ],
  batches: [1, 64],
};

/**
 * The benchmark model in Kiln. Takes the module so that this file does not import Kiln (and
 * binaryen) before a benchmark has set V8's relaxed-SIMD flag.
 */
export function buildKilnModel(kiln: KilnModule, spec: ModelSpec): ReturnType<KilnModule['sequential']> {
  const L = kiln.layers;
  const layers = spec.layers.map((l, i) => {
    const first = i === 0 ? { inputShape: spec.inputShape } : {};
    switch (l.kind) {
      case 'dense': return L.dense({ units: l.units, activation: l.activation, ...first });
      case 'conv2d': return L.conv2d({ filters: l.filters, kernelSize: l.kernelSize, activation: l.activation, ...first });
      case 'maxPooling2d': return L.maxPooling2d({ poolSize: l.poolSize, ...first });
      case 'flatten': return L.flatten(first);
    }
  });
  return kiln.sequential({ layers });
}
