/**
 * Inference benchmarks: a Keras MLP (784-512-512-10) and a small CNN
 * (conv32-pool-conv64-pool-dense128-dense10 on 28x28x1), compiled by Kiln and
 * run by kiln/runtime, against the same models built in tfjs-layers with the
 * same weights on tfjs-backend-wasm (SIMD, 1 and 2 threads) and
 * tfjs-backend-cpu, all in this one process. Every case's output is checked
 * against tfjs-layers on tfjs-backend-cpu (max abs diff <= 1e-4) before it is
 * timed. Kiln runs 1 and 2 threads, each with the relaxed-SIMD module and
 * with the plain-SIMD one (load option relaxedSimd: false).
 *
 * tfjs-backend-wasm may enter its 2-thread setting only once per process
 * (bench/peers.ts), so every 1-thread case runs first, in rounds, then every
 * 2-thread case. A case's result is its best median over the rounds.
 *
 * Writes bench/out/models.json and bench/out/models.md. Run through
 * `npm run bench` (bench/run.js bundles it), or alone after a build:
 *   node bench/run.js --only models [--rounds 3] [--budget 400]
 */
import v8 from 'node:v8';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, usePeer, type PeerName } from './peers.js';
import { flattenSchedule } from '../src/runtime/schedule.js';
import {
  BestOf, CNN, MLP, OUT_DIR, buildKilnModel, errorMessage, fmtMs, markdownTable, maxAbsDiff, measure, parseArgs, uniformInput, writeResult, type ModelSpec, type Timing,
} from './common.js';

// Before Kiln (and binaryen) compile any WebAssembly module, hence the dynamic imports below.
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const kiln = await import('kiln');
const { load, readArtifact } = await import('kiln/runtime');

type KilnModel = ReturnType<typeof kiln.sequential>;
type Artifact = ReturnType<typeof kiln.compile>;

/** The same architecture in tfjs-layers, with the Kiln model's weights. */
function buildTflModel(spec: ModelSpec, weightsFrom: KilnModel): tfl.Sequential {
  const L = tfl.layers;
  const layers = spec.layers.map((l, i) => {
    const first = i === 0 ? { inputShape: spec.inputShape } : {};
    switch (l.kind) {
      case 'dense': return L.dense({ units: l.units, activation: l.activation, ...first });
      case 'conv2d': return L.conv2d({ filters: l.filters, kernelSize: l.kernelSize, activation: l.activation, ...first });
      case 'maxPooling2d': return L.maxPooling2d({ poolSize: l.poolSize, ...first });
      case 'flatten': return L.flatten(first);
    }
  });
  const model = tfl.sequential({ layers });
  model.setWeights(weightsFrom.getWeights().map((w) => tf.tensor(w.dataSync() as Float32Array, [...w.shape])));
  return model;
}

export interface CaseResult {
  /** 'kiln relaxed', 'kiln simd', 'tfjs-wasm', 'tfjs-cpu'. */
  system: string;
  threads: number;
  /** What actually ran: Kiln's module variant, or the tfjs backend. */
  ran?: string;
  ms?: number;
  cpuPerWall?: number;
  samples?: number;
  maxDiff?: number;
  error?: string;
}

/** One row of the 1-thread per-kernel breakdown: a Kiln kernel, or a tfjs-wasm kernel in the same position. */
export interface KernelTiming {
  name: string;
  ms: number;
}

export interface ModelBatchResult {
  model: string;
  batch: number;
  /** Kiln's kernels run one by one on one thread: plain and relaxed SIMD. */
  kilnKernels?: { simd: KernelTiming[]; relaxed: KernelTiming[] };
  /** tfjs-backend-wasm's kernels at 1 thread, from tf.profile (best of several). */
  tfjsWasmKernels?: KernelTiming[];
  profileError?: string;
  compileMs?: number;
  kernels?: { name: string; work: number; note?: string }[];
  compileError?: string;
  cases: CaseResult[];
}

export interface InferenceResults {
  date: string;
  node: string;
  cpus: string;
  cores: number;
  rounds: number;
  budgetMs: number;
  tolerance: number;
  results: ModelBatchResult[];
}

const TOLERANCE = 1e-4;

interface Bench {
  spec: ModelSpec;
  batch: number;
  input: Float32Array;
  tflModel: tfl.Sequential;
  reference: Float32Array;
  artifact?: Artifact;
  result: ModelBatchResult;
}

type CaseFn = { key: string; system: string; threads: number; run: (b: Bench, round: number) => Promise<CaseResult | null> };

function kilnCase(relaxed: boolean, threads: number, budgetMs: number): CaseFn {
  const system = relaxed ? 'kiln relaxed' : 'kiln simd';
  return {
    key: `${system} ${threads}t`, system, threads,
    run: async (b) => {
      if (!b.artifact) return { system, threads, error: b.result.compileError ?? 'not compiled' };
      const prog = await load(b.artifact.bytes, { threads, relaxedSimd: relaxed });
      try {
        if (prog.threads !== threads) return { system, threads, error: `runtime gave ${prog.threads} threads` };
        const inName = prog.inputs[0]!.name;
        const outName = prog.outputs[0]!.name;
        const feed = { [inName]: b.input };
        const out = prog.runSync(feed)[outName] as Float32Array;
        const diff = maxAbsDiff(out, b.reference);
        if (!(diff <= TOLERANCE)) return { system, threads, ran: prog.variant, maxDiff: diff, error: `output differs from tfjs-layers by ${diff}` };
        const t = await measure(() => { prog.runSync(feed); }, { budgetMs });
        return { system, threads, ran: prog.variant, maxDiff: diff, ...t };
      } finally {
        prog.dispose();
      }
    },
  };
}

function tfjsCase(peer: PeerName, budgetMs: number): CaseFn {
  const threads = peer === 'tfjs-wasm-2t' ? 2 : 1;
  const system = peer === 'tfjs-cpu' ? 'tfjs-cpu' : 'tfjs-wasm';
  return {
    key: `${system} ${threads}t`, system, threads,
    run: async (b, round) => {
      const got = await usePeer(peer);
      if (got !== threads) return { system, threads, error: `tfjs-backend-wasm reports ${got} threads` };
      const x = tf.tensor(b.input, [b.batch, ...b.spec.inputShape]);
      try {
        const predict = (): Float32Array => {
          // One pass over the whole batch, as Kiln runs it (predict splits into batches of 32 by default).
          const y = b.tflModel.predict(x, { batchSize: b.batch }) as tf.Tensor;
          const data = y.dataSync() as Float32Array;
          y.dispose();
          return data;
        };
        const diff = maxAbsDiff(predict(), b.reference);
        if (!(diff <= TOLERANCE)) return { system, threads, ran: tf.getBackend(), maxDiff: diff, error: `output differs from tfjs-cpu by ${diff}` };
        // tfjs-backend-cpu takes up to a second per CNN batch: one round and few samples suffice.
        const slow = peer === 'tfjs-cpu';
        if (slow && round > 0) return null;
        const t: Timing = await measure(() => { predict(); }, { budgetMs, minSamples: slow ? 3 : 5 });
        return { system, threads, ran: tf.getBackend(), maxDiff: diff, ...t };
      } finally {
        x.dispose();
      }
    },
  };
}

/**
 * Times each Kiln kernel alone on one thread: instantiates the artifact's module the way
 * kiln/runtime does (memory per the manifest, weights and input copied in), runs the schedule once
 * so every buffer holds real data, then measures each export over all its work items.
 */
async function profileKilnKernels(art: Artifact, relaxed: boolean, input: Float32Array, budgetMs: number): Promise<KernelTiming[]> {
  const { manifest: m, sections } = readArtifact(art.bytes);
  const code = relaxed && sections['wasm-relaxed'] ? sections['wasm-relaxed'] : sections['wasm']!;
  const mod = await WebAssembly.compile(code as Uint8Array<ArrayBuffer>);
  const memory = new WebAssembly.Memory({ initial: m.memory.pages, maximum: m.memory.pages, shared: m.memory.shared === true });
  if (m.weights) new Uint8Array(memory.buffer, m.weights.offset, m.weights.length).set(sections['weights']!);
  new Float32Array(memory.buffer, m.inputs[0]!.offset, input.length).set(input);
  const instance = await WebAssembly.instantiate(mod, { env: { memory } });
  const steps = flattenSchedule(m.schedule).steps.map((k) => {
    const spec = m.kernels[k]!;
    return { name: spec.note ?? spec.name, work: spec.work, fn: instance.exports[spec.name] as (a: number, b: number) => void };
  });
  for (const s of steps) s.fn(0, s.work);
  const out: KernelTiming[] = [];
  for (const s of steps) {
    const t = await measure(() => s.fn(0, s.work), { budgetMs: budgetMs / steps.length });
    out.push({ name: s.name, ms: t.ms });
  }
  return out;
}

/** tfjs-backend-wasm's kernels for one predict, from tf.profile; per position, the best of `runs` profiles. */
async function profileTfjsKernels(b: Bench, runs: number): Promise<KernelTiming[]> {
  await usePeer('tfjs-wasm-1t');
  const x = tf.tensor(b.input, [b.batch, ...b.spec.inputShape]);
  let best: KernelTiming[] = [];
  try {
    for (let r = 0; r < runs; r++) {
      const info = await tf.profile(() => {
        const y = b.tflModel.predict(x, { batchSize: b.batch }) as tf.Tensor;
        y.dataSync();
        y.dispose();
      });
      // `*__op` entries wrap the kernel listed before them (their time includes it); reshapes are free.
      const real = info.kernels.filter((k) => !k.name.endsWith('__op') && k.name !== 'Reshape' && k.name !== 'Identity');
      const kernels = await Promise.all(real.map(async (k) => ({ name: `${k.name} [${k.outputShapes.map((s) => s.join('x')).join(',')}]`, ms: Number(await k.kernelTimeMs) })));
      best = r === 0 ? kernels : best.map((k, i) => ({ name: k.name, ms: Math.min(k.ms, kernels[i]?.ms ?? Infinity) }));
    }
  } finally {
    x.dispose();
  }
  return best;
}

async function setUp(spec: ModelSpec): Promise<Bench[]> {
  const model = buildKilnModel(kiln, spec);
  const tflModel = buildTflModel(spec, model);
  const benches: Bench[] = [];
  for (const batch of spec.batches) {
    const result: ModelBatchResult = { model: spec.name, batch, cases: [] };
    let artifact: Artifact | undefined;
    try {
      const t0 = performance.now();
      artifact = kiln.compile(model, { inputShapes: [[batch, ...spec.inputShape]] });
      result.compileMs = performance.now() - t0;
      result.kernels = artifact.program.kernels.map((k) => ({ name: k.name, work: k.work, note: k.note }));
    } catch (e) {
      result.compileError = errorMessage(e);
    }
    const input = uniformInput(batch * spec.inputShape.reduce((a, b) => a * b, 1), batch);
    await usePeer('tfjs-cpu');
    const x = tf.tensor(input, [batch, ...spec.inputShape]);
    const y = tflModel.predict(x, { batchSize: batch }) as tf.Tensor;
    const reference = y.dataSync() as Float32Array;
    x.dispose();
    y.dispose();
    benches.push({ spec, batch, input, tflModel, reference, artifact, result });
  }
  return benches;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const rounds = Number(args.get('rounds') ?? 3);
  const budgetMs = Number(args.get('budget') ?? 400);
  const only = args.get('model');
  const specs = [MLP, CNN].filter((s) => !only || s.name.toLowerCase().startsWith(only.toLowerCase()));

  const benches: Bench[] = [];
  for (const spec of specs) benches.push(...(await setUp(spec)));

  if (args.get('profile') !== 'false') {
    for (const b of benches) {
      if (!b.artifact) continue;
      try {
        b.result.kilnKernels = {
          simd: await profileKilnKernels(b.artifact, false, b.input, budgetMs),
          relaxed: await profileKilnKernels(b.artifact, true, b.input, budgetMs),
        };
        b.result.tfjsWasmKernels = await profileTfjsKernels(b, 10);
      } catch (e) {
        b.result.profileError = errorMessage(e);
      }
    }
  }

  const phases: CaseFn[][] = [
    [kilnCase(true, 1, budgetMs), kilnCase(false, 1, budgetMs), tfjsCase('tfjs-wasm-1t', budgetMs), tfjsCase('tfjs-cpu', budgetMs)],
    [kilnCase(true, 2, budgetMs), kilnCase(false, 2, budgetMs), tfjsCase('tfjs-wasm-2t', budgetMs)],
  ];
  const best = new BestOf();
  const latest = new Map<string, CaseResult>();
  for (const phase of phases) {
    for (let round = 0; round < rounds; round++) {
      for (const b of benches) {
        for (const c of phase) {
          const id = `${b.spec.name}|${b.batch}|${c.key}`;
          let r: CaseResult | null;
          try {
            r = await c.run(b, round);
          } catch (e) {
            r = { system: c.system, threads: c.threads, error: errorMessage(e) };
          }
          if (!r) continue;
          const prev = latest.get(id);
          if (r.ms !== undefined) {
            best.note(id, { ms: r.ms, cpuPerWall: r.cpuPerWall!, samples: r.samples! });
            if (!prev || prev.ms === undefined || r.ms < prev.ms) latest.set(id, r);
          } else if (!prev) {
            latest.set(id, r);
          }
          const shown = latest.get(id)!;
          console.log(`round ${round + 1}/${rounds}  ${b.spec.name} b${b.batch}  ${c.key.padEnd(16)} ` +
            (r.ms !== undefined ? `${fmtMs(r.ms)} ms (best ${fmtMs(shown.ms)}) cpu/wall ${r.cpuPerWall!.toFixed(2)}` : `FAILED: ${r.error}`));
        }
      }
    }
  }
  for (const b of benches) {
    for (const phase of phases) {
      for (const c of phase) {
        const r = latest.get(`${b.spec.name}|${b.batch}|${c.key}`);
        if (r) b.result.cases.push(r);
      }
    }
  }
  const cpus = os.cpus();
  const out: InferenceResults = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    rounds,
    budgetMs,
    tolerance: TOLERANCE,
    results: benches.map((b) => b.result),
  };
  writeResult('models', out);
  const md = renderInference(out);
  fs.writeFileSync(path.join(OUT_DIR, 'models.md'), md);
  console.log('\n' + md);
  process.exit(0);
}

const TARGET = 1.5;
/** cpu/wall below this fraction of the thread count: the process did not get its cores while sampling. */
const CONTENDED = 0.85;

/** Markdown for bench/README.md: one row per model, batch and thread count; speedups are tfjs-wasm ms / Kiln ms. */
export function renderInference(r: InferenceResults): string {
  const rows: string[][] = [];
  const find = (m: ModelBatchResult, system: string, threads: number) => m.cases.find((c) => c.system === system && c.threads === threads);
  const cell = (c: CaseResult | undefined): string => (c?.ms !== undefined ? fmtMs(c.ms) : c?.error ? 'fails¹' : '—');
  const speedup = (kilnCase: CaseResult | undefined, peer: CaseResult | undefined): string => {
    if (kilnCase?.ms === undefined || peer?.ms === undefined) return '—';
    const s = peer.ms / kilnCase.ms;
    return `${s.toFixed(2)}x ${s >= TARGET ? '✓' : '✗'}`;
  };
  const failures: string[] = [];
  for (const m of r.results) {
    for (const threads of [1, 2]) {
      const relaxed = find(m, 'kiln relaxed', threads);
      const simd = find(m, 'kiln simd', threads);
      const wasm = find(m, 'tfjs-wasm', threads);
      const cpu = threads === 1 ? find(m, 'tfjs-cpu', 1) : undefined;
      rows.push([
        m.model, String(m.batch), String(threads),
        threads === 1 ? cell(cpu) : '',
        cell(wasm), cell(simd), cell(relaxed) + (relaxed?.ran === 'simd' ? '²' : ''),
        speedup(simd, wasm), speedup(relaxed, wasm),
        [simd, relaxed, wasm].map((c) => (c?.cpuPerWall !== undefined ? c.cpuPerWall.toFixed(1) : '—')).join(' / ') +
          ([simd, relaxed, wasm].some((c) => c?.cpuPerWall !== undefined && c.cpuPerWall < CONTENDED * threads) ? ' ‡' : ''),
      ]);
      for (const c of [relaxed, simd, wasm, cpu]) {
        if (c?.error) failures.push(`${m.model} batch ${m.batch}, ${c.system} ${c.threads}t: ${c.error.slice(0, 300)}`);
      }
    }
  }
  const table = markdownTable(
    ['model', 'batch', 'threads', 'tfjs-cpu ms', 'tfjs-wasm ms', 'kiln simd ms', 'kiln relaxed ms', 'speedup simd', 'speedup relaxed', 'cpu/wall (simd / relaxed / tfjs-wasm)'],
    rows,
  );
  const notes: string[] = [];
  if (failures.length) notes.push('¹ failed:\n' + [...new Set(failures)].map((f) => `- ${f}`).join('\n'));
  if (rows.some((row) => row[row.length - 1]!.endsWith('‡'))) {
    notes.push(`‡ cpu/wall below ${CONTENDED} x threads for some case of the row: other jobs held the cores during its best round, so its ratio is noise.`);
  }
  if (r.results.some((m) => m.cases.some((c) => c.system === 'kiln relaxed' && c.ran === 'simd'))) {
    notes.push('² the artifact has no relaxed-SIMD module for this model (or the host lacks relaxed SIMD): the plain module ran.');
  }
  const kernels = r.results.map((m) =>
    `- ${m.model}, batch ${m.batch}` + (m.compileMs !== undefined ? ` (compiled in ${m.compileMs.toFixed(0)} ms)` : '') + ': ' +
    (m.kernels ? m.kernels.map((k) => `\`${k.note ?? k.name}\` (${k.work} items)`).join(', ') : `compile failed: ${m.compileError}`));
  const profiles: string[] = [];
  for (const m of r.results) {
    if (!m.kilnKernels && !m.profileError) continue;
    profiles.push(`**${m.model}, batch ${m.batch}**` + (m.profileError ? `: profile failed: ${m.profileError}` : ''), '');
    if (!m.kilnKernels) continue;
    const sum = (ks: readonly KernelTiming[] | undefined) => (ks ? ks.reduce((a, k) => a + k.ms, 0) : undefined);
    const kk = m.kilnKernels;
    const tk = m.tfjsWasmKernels ?? [];
    const n = Math.max(kk.simd.length, tk.length);
    const prow: string[][] = [];
    for (let i = 0; i < n; i++) {
      prow.push([kk.simd[i]?.name ?? '', fmtMs(kk.simd[i]?.ms), fmtMs(kk.relaxed[i]?.ms), tk[i]?.name ?? '', fmtMs(tk[i]?.ms)]);
    }
    prow.push(['**sum**', fmtMs(sum(kk.simd)), fmtMs(sum(kk.relaxed)), '**sum**', fmtMs(sum(tk))]);
    profiles.push(markdownTable(['Kiln kernel', 'simd ms', 'relaxed ms', 'tfjs-wasm kernel [output]', 'ms'], prow), '');
  }
  return [
    `Median ms per inference, best of ${r.rounds} rounds; speedup = tfjs-wasm ms / Kiln ms at equal threads (target ≥ ${TARGET}x). ` +
      `Outputs checked against tfjs-layers on tfjs-backend-cpu (max abs diff ≤ ${r.tolerance}) before timing.`,
    '',
    table,
    '',
    ...notes.flatMap((n) => [n, '']),
    'Kiln kernels (from `art.program.kernels`, in schedule order):',
    '',
    ...kernels,
    '',
    ...(profiles.length
      ? ['Per-kernel breakdown at 1 thread: each Kiln kernel run alone over all its work items (median), and the ' +
          'kernels tfjs-backend-wasm runs for one predict (tf.profile, best of 10; reshapes left out). The rows are side by side, not matched.', '', ...profiles]
      : []),
  ].join('\n');
}

await main();
