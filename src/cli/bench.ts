/**
 * `kiln bench <file.kiln> [--threads N] [--warmup K] [--runs R]`: latency of one run of an
 * artifact on seeded random inputs (uniform in [-1, 1) for floats, small non-negative integers
 * for integer inputs, 0/1 for bool), after K warm-up runs: median, p90, min and mean of R timed
 * runs, each timed on its own.
 */
import { hostArrayOf, type DType } from '../runtime/dtypes.js';
import type { TensorData, TensorInfo } from '../runtime/index.js';
import { intFlag, type CommandSpec, type ParsedArgs } from './args.js';
import { formatMs, type CliContext } from './io.js';
import { loadProgram, runtimeCall } from './load.js';

export const spec: CommandSpec = {
  name: 'bench',
  summary: 'Measure the latency of a compiled artifact on random inputs (median and p90 after warm-up).',
  positionals: [{ name: 'file.kiln', help: 'the artifact to measure' }],
  flags: [
    { name: 'threads', kind: 'value', arg: '<n>', help: "threads to run on (WebAssembly; default: the host's cores, at most 8)" },
    { name: 'warmup', kind: 'value', arg: '<k>', help: 'untimed runs first (default 5)' },
    { name: 'runs', kind: 'value', arg: '<r>', help: 'timed runs (default 30)' },
    { name: 'seed', kind: 'value', arg: '<s>', help: 'seed of the random inputs (default 1)' },
  ],
  details: 'example:\n  kiln bench mobilenet.kiln --threads 2 --runs 100',
};

/** Seeded inputs for a signature (mulberry32), so two benches see the same data. */
export function randomInputs(inputs: readonly TensorInfo[], seed: number): Record<string, TensorData> {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out: Record<string, TensorData> = {};
  for (const t of inputs) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const a = new (hostArrayOf(t.dtype as DType))(n);
    const gen = t.dtype === 'bool' ? () => (next() < 0.5 ? 0 : 1)
      : t.dtype === 'i32' || t.dtype === 'i8' || t.dtype === 'u8' ? () => Math.floor(next() * 10)
        : () => next() * 2 - 1;
    for (let i = 0; i < n; i++) a[i] = gen();
    out[t.name] = a;
  }
  return out;
}

/** The q-quantile (0..1) of sorted times, nearest rank. */
export function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export async function run(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const file = args.positionals[0]!;
  const threads = intFlag(args, 'threads', 1, 1024, 'bench');
  const warmup = intFlag(args, 'warmup', 0, 1_000_000, 'bench') ?? 5;
  const runs = intFlag(args, 'runs', 1, 1_000_000, 'bench') ?? 30;
  const seed = intFlag(args, 'seed', 0, 2 ** 32 - 1, 'bench') ?? 1;
  const prog = await loadProgram(ctx, file, threads, 'bench');
  try {
    const inputs = randomInputs(prog.inputs, seed);
    const where = `running '${file}'`;
    for (let i = 0; i < warmup; i++) runtimeCall(where, () => prog.runSync(inputs));
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      runtimeCall(where, () => prog.runSync(inputs));
      times.push(performance.now() - t0);
    }
    const sorted = [...times].sort((a, b) => a - b);
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    const how = `${prog.target}, ${prog.variant}${prog.target === 'wasm' ? `, ${prog.threads} thread${prog.threads === 1 ? '' : 's'}` : ''}`;
    ctx.stdout.write(`${file} (${how}): ${runs} runs after ${warmup} warm-up\n`);
    ctx.stdout.write(`  median ${formatMs(quantile(sorted, 0.5))}  p90 ${formatMs(quantile(sorted, 0.9))}  min ${formatMs(sorted[0]!)}  mean ${formatMs(mean)}\n`);
    return 0;
  } finally {
    prog.dispose();
  }
}
