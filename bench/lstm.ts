/**
 * The character LSTM language model's training step (issue 9, point 7): Embedding(V, 64) ->
 * LSTM(256, returnSequences) -> Dense(V, softmax), sparse categorical cross-entropy, one Adam
 * step, batch 32, sequence 64, vocabulary 96.
 *
 * Kiln: the step is traced into one Func (valueAndGrad + the Adam update, as bench/training.ts
 * does) from the same ops the Keras layers use (Embedding's gather, the LSTM cell's math through
 * `layers.runRecurrence`, which unrolls the 64 steps at trace time), weights and Adam slots as
 * aliased resident state; compileEntries makes one artifact; kiln/runtime's runSync runs it at 1
 * and 2 threads. Peers in the same process: tfjs-layers `model.trainOnBatch` (the same model
 * built from tfjs-layers' Embedding, LSTM and Dense) with tf.train.adam on tfjs-backend-wasm at 1
 * and 2 threads (bench/peers.ts), and tfjs-backend-cpu, which also gives the first-loss check.
 *
 * Writes bench/out/lstm.json and bench/out/lstm.md.
 *   node bench/run.js --only lstm
 */
import v8 from 'node:v8';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, usePeer, type PeerName } from './peers.js';
import { flattenSchedule } from '../src/runtime/schedule.js';
import type { ScheduleEntry } from '../src/runtime/manifest.js';
import { OUT_DIR, errorMessage, fmtMs, markdownTable, median, parseArgs, uniformInput, writeResult } from './common.js';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const kiln = await import('kiln');
const { load, readArtifact } = await import('kiln/runtime');
type Tensor = import('kiln').Tensor;

const args = parseArgs(process.argv.slice(2));
const cores = os.cpus().length;
const budgetMs = Number(args.get('budget') ?? '3000');
const B = Number(args.get('batch') ?? '32'), T = Number(args.get('seq') ?? '64'), U = Number(args.get('units') ?? '256');
const V = 96, E = 64, LR = 1e-3, EPS = 1e-7;
/** How the 64 steps run in the program: unrolled at trace time, or one kiln.scan region. */
const LOOP = (args.get('loop') ?? kiln.layers.recurrenceLoop.mode) as 'unroll' | 'scan';
kiln.layers.recurrenceLoop.mode = LOOP;
const kilnOnly = args.has('kiln-only');
const profile = args.has('profile');
const TARGET = 10;
const { ops } = kiln;

const shapes = [[V, E], [E, 4 * U], [U, 4 * U], [4 * U], [U, V], [V]];

function initParams(): Float32Array[] {
  return shapes.map((s, i) => {
    const n = s.reduce((a, b) => a * b, 1);
    const lim = s.length === 1 ? 0.05 : Math.sqrt(6 / (s[0]! + s[1]!));
    return uniformInput(n, 2000 + i).map((v) => v * lim);
  });
}

function makeBatch(): { x: Float32Array; y: Float32Array } {
  const u = uniformInput(B * (T + 1), 9);
  const ids = Float32Array.from(u, (v) => Math.min(V - 1, Math.floor(((v + 1) / 2) * V)));
  const x = new Float32Array(B * T), y = new Float32Array(B * T);
  for (let b = 0; b < B; b++) {
    x.set(ids.subarray(b * (T + 1), b * (T + 1) + T), b * T);
    y.set(ids.subarray(b * (T + 1) + 1, (b + 1) * (T + 1)), b * T);
  }
  return { x, y };
}

const hardSigmoid = (v: Tensor) => ops.clipByValue(ops.add(ops.mul(v, 0.2), 0.5), 0, 1);

/** Embedding -> LSTM (tfjs's hardSigmoid gates) -> Dense softmax, in the ops the Keras layers use. */
function forward(x: Tensor, [emb, k, r, bias, wd, bd]: readonly Tensor[]): Tensor {
  const e = ops.reshape(ops.gather(emb!, ops.cast(ops.reshape(x, [B * T]), 'i32'), 0), [B, T, E]);
  // As the LSTM layer does (rnn.ts): the input projection for the whole (time-major) sequence at once.
  const project = (tm: Tensor) => ops.reshape(ops.add(ops.matmul(ops.reshape(tm, [T * B, E]), k!), bias!), [T, B, 4 * U]);
  const step = (xt: Tensor, [h, c]: Tensor[]): [Tensor, Tensor[]] => {
    const z = ops.add(xt, ops.matmul(h!, r!));
    const [zi, zf, zc, zo] = ops.split(z, 4, 1) as [Tensor, Tensor, Tensor, Tensor];
    const c2 = ops.add(ops.mul(hardSigmoid(zf), c!), ops.mul(hardSigmoid(zi), ops.tanh(zc)));
    const h2 = ops.mul(hardSigmoid(zo), ops.tanh(c2));
    return [h2, [h2, c2]];
  };
  const zero = ops.zeros([B, U]);
  const seq = kiln.layers.runRecurrence(step, e, [zero, zero], { needSequences: true, project }).outputs!;
  const logits = ops.add(ops.matmul(ops.reshape(seq, [B * T, U]), wd!), bd!);
  return ops.reshape(ops.softmax(logits, -1), [B, T, V]);
}

function buildKilnStep(init: readonly Float32Array[]) {
  const opt = kiln.optimizers.adam({ learningRate: LR, epsilon: EPS, epsilonMode: 'tfjs' });
  const loss = kiln.losses.sparseCategoricalCrossentropy();
  const n = shapes.length;
  const params = init.map((d, i) => kiln.tensor(d, shapes[i]!));
  const optState = opt.stateTensors(opt.init(params));
  const state = [...params, ...optState];
  const names = [...params.map((_, i) => `p${i}`), ...optState.map((_, i) => `opt${i}`)];
  const grads = kiln.valueAndGrad((xb: Tensor, yb: Tensor, ...ps: Tensor[]) => loss(yb, forward(xb, ps)), { argnums: Array.from({ length: n }, (_, i) => 2 + i) });
  const step = (xb: Tensor, yb: Tensor, ...rest: Tensor[]) => {
    const ps = rest.slice(0, n), st = rest.slice(n);
    const { value, grads: g } = grads(xb, yb, ...ps);
    const res = opt.apply(ps, g, opt.fromTensors(st, n));
    return [value, ...res.params, ...opt.stateTensors(res.state)];
  };
  const t0 = performance.now();
  const types = [kiln.ir.tensorType([B, T], 'f32'), kiln.ir.tensorType([B, T, 1], 'f32'), ...state.map((t) => t.type)];
  const { func } = kiln.trace(step, types, { name: 'train_step', argNames: ['x', 'y', ...names] });
  func.resultNames = ['loss', ...names.map((s) => `new_${s}`)];
  names.forEach((_, i) => func.aliases.push({ result: 1 + i, param: 2 + i }));
  const dup = args.get('dup');
  const artifact = kiln.compileEntries([{ name: 'train_step', func }], names.map((name, i) => ({ name, value: state[i]!.literal! })),
    dup !== undefined ? { fusion: { maxDuplicationCost: Number(dup) } } : {});
  return { artifact, compileMs: performance.now() - t0 };
}

async function timeSteps(step: () => unknown, opts: { budgetMs: number; warm?: number; minSamples?: number }) {
  for (let i = 0; i < (opts.warm ?? 2); i++) await step();
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  let busy = 0;
  while (times.length < (opts.minSamples ?? 5) || (performance.now() - start < opts.budgetMs && times.length < 100)) {
    const t0 = performance.now();
    await step();
    const dt = performance.now() - t0;
    busy += dt;
    times.push(dt);
  }
  const cpu = process.cpuUsage(cpu0);
  return { ms: median(times), samples: times.length, cpuPerWall: (cpu.user + cpu.system) / 1000 / busy };
}

interface Row { system: string; threads: number; ms?: number; cpuPerWall?: number; samples?: number; firstLoss?: number; error?: string }

function tflModel(init: readonly Float32Array[], frozenEmbedding: boolean): tfl.Sequential {
  const m = tfl.sequential({ layers: [
    tfl.layers.embedding({ inputDim: V, outputDim: E, inputShape: [T], trainable: !frozenEmbedding }),
    tfl.layers.lstm({ units: U, returnSequences: true, recurrentInitializer: 'zeros' }),
    tfl.layers.dense({ units: V, activation: 'softmax' }),
  ] });
  const w = init.map((d, i) => tf.tensor(d, shapes[i]!));
  // Per layer: a frozen embedding moves to the end of the model's weight list.
  m.layers[0]!.setWeights([w[0]!]);
  m.layers[1]!.setWeights(w.slice(1, 4));
  m.layers[2]!.setWeights(w.slice(4));
  m.compile({ optimizer: tf.train.adam(LR, 0.9, 0.999, EPS), loss: 'sparseCategoricalCrossentropy' });
  return m;
}

/**
 * tfjs-backend-wasm has no UnsortedSegmentSum kernel, the gradient of the embedding's gather, so
 * its step fails with a trainable embedding; `frozenEmbedding` then trains everything else (a
 * little less work than Kiln's step, which also updates the embedding).
 */
async function tfjsPeer(init: readonly Float32Array[], batch: { x: Float32Array; y: Float32Array }, peer: PeerName, frozenEmbedding = false): Promise<Row> {
  const threads = await usePeer(peer);
  const system = (peer === 'tfjs-cpu' ? 'tfjs-cpu' : 'tfjs-wasm') + (frozenEmbedding ? ' (embedding frozen)' : '');
  const m = tflModel(init, frozenEmbedding);
  const x = tf.tensor(batch.x, [B, T]), y = tf.tensor(batch.y, [B, T, 1]);
  try {
    const firstLoss = Number(await m.trainOnBatch(x, y));
    const slow = peer === 'tfjs-cpu';
    const t = await timeSteps(() => m.trainOnBatch(x, y), { budgetMs, warm: slow ? 0 : 1, minSamples: slow ? 2 : 3 });
    return { system, threads, ...t, firstLoss };
  } catch (e) {
    return { system, threads, error: errorMessage(e).split('\n')[0] };
  } finally {
    x.dispose();
    y.dispose();
    m.dispose();
  }
}

const loadavg0 = os.loadavg();
const init = initParams();
const batch = makeBatch();
console.log(`kiln: LSTM LM step, batch ${B}, sequence ${T}, units ${U}`);
const built = buildKilnStep(init);
console.log(`compiled in ${fmtMs(built.compileMs)} ms, ${built.artifact.program.kernels.length} kernels`);
/** `--profile`: each kernel of the (unrolled) step alone on one thread, summed by kernel note. */
async function profileKernels(): Promise<void> {
  const { manifest: m, sections } = readArtifact(built.artifact.bytes);
  const mod = await WebAssembly.compile((sections['wasm-relaxed'] ?? sections['wasm']!) as Uint8Array<ArrayBuffer>);
  const memory = new WebAssembly.Memory({ initial: m.memory.pages, maximum: m.memory.pages, shared: m.memory.shared === true });
  const bytes = new Uint8Array(memory.buffer);
  if (m.weights) bytes.set(sections['weights']!, m.weights.offset);
  for (const st of m.state ?? []) if (st.init !== undefined) bytes.set(sections['state']!.subarray(st.init, st.init + st.shape.reduce((a, b) => a * b, 1) * 4), st.offset);
  for (const spec of m.inputs) new Float32Array(memory.buffer, spec.offset, spec.shape.reduce((a, b) => a * b, 1)).set(spec.name === 'x' ? batch.x : batch.y);
  const instance = await WebAssembly.instantiate(mod, { env: { memory } });
  const byNote = new Map<string, { ms: number; n: number }>();
  let total = 0;
  const each: { name: string; note: string; work: number; ms: number }[] = [];
  // `--profile-reps N`: the fastest of N timings of each kernel (steadier on a loaded machine).
  const reps = Number(args.get('profile-reps') ?? '1');
  // A loop's kernels (`--loop scan`) count once per trip: each is timed once and weighted by the trip count.
  const times = new Map<number, number>();
  const weigh = (es: readonly ScheduleEntry[], n: number): void => {
    for (const e of es) {
      if (typeof e === 'number') times.set(e, (times.get(e) ?? 0) + n);
      else if ('loop' in e) weigh([...(e.loop.head ?? []), ...e.loop.body], n * (e.loop.count ?? 1));
      else weigh([...e.branch.then, ...e.branch.else], n);
    }
  };
  weigh(m.schedule, 1);
  for (const k of flattenSchedule(m.schedule).steps) {
    const spec = m.kernels[k]!;
    if (spec.work === 0) continue;
    const f = instance.exports[spec.name] as (a: number, b: number) => void;
    f(0, spec.work); // warm: the first touch of fresh memory would dominate
    let best = Infinity;
    for (let rep = 0; rep < reps; rep++) {
      const t0 = performance.now();
      f(0, spec.work);
      best = Math.min(best, performance.now() - t0);
    }
    const dt = best * (times.get(k) ?? 1);
    total += dt;
    each.push({ name: spec.name, note: spec.note ?? '', work: spec.work, ms: dt });
    const key = (spec.note ?? spec.name).replace(/%\d+/g, '%');
    const e = byNote.get(key) ?? { ms: 0, n: 0 };
    e.ms += dt;
    e.n += times.get(k) ?? 1;
    byNote.set(key, e);
  }
  console.log(`kernels alone: ${total.toFixed(0)} ms`);
  for (const [k, v] of [...byNote].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15)) console.log(`${v.ms.toFixed(1).padStart(8)} ms ${String(v.n).padStart(4)}x  ${k.slice(0, 110)}`);
  // `--profile-kernels N`: the N slowest single kernels, by name (the group number leads to explain()'s plan).
  const top = Number(args.get('profile-kernels') ?? '0');
  for (const e of each.sort((a, b) => b.ms - a.ms).slice(0, top)) console.log(`${e.ms.toFixed(2).padStart(8)} ms  ${e.name}  work ${e.work}  ${e.note.slice(0, 80)}`);
}
if (profile) {
  if (args.has('explain')) fs.writeFileSync('/tmp/b4/explain.txt', built.artifact.explain());
  await profileKernels();
  process.exit(0);
}

const rows: Row[] = [];
let kilnFirst = NaN;
for (const threads of [1, 2]) {
  const prog = await load(built.artifact.bytes, { threads });
  const feed = { x: batch.x, y: batch.y };
  const first = prog.runSync(feed)['loss']![0]!;
  if (threads === 1) kilnFirst = first;
  const t = await timeSteps(() => prog.runSync(feed), { budgetMs });
  rows.push({ system: `kiln (${prog.variant})`, threads: prog.threads, ...t, firstLoss: first });
  console.log(rows[rows.length - 1]);
  prog.dispose();
}
for (const peer of kilnOnly ? [] : (['tfjs-cpu', 'tfjs-wasm-1t', 'tfjs-wasm-2t'] as const)) {
  console.log(peer);
  const wasmFails = rows.some((r) => r.system === 'tfjs-wasm' && r.error);
  if (!(peer === 'tfjs-wasm-2t' && wasmFails)) rows.push(await tfjsPeer(init, batch, peer));
  if (peer !== 'tfjs-cpu' && rows.some((r) => r.system === 'tfjs-wasm' && r.error)) rows.push(await tfjsPeer(init, batch, peer, true));
  console.log(rows[rows.length - 1]);
}
const tfCpu = rows.find((r) => r.system === 'tfjs-cpu');
const relDiff = tfCpu?.firstLoss !== undefined ? Math.abs(tfCpu.firstLoss - kilnFirst) / tfCpu.firstLoss : NaN;
const bestOf = (prefix: string) => rows.filter((r) => r.system.startsWith(prefix) && r.ms !== undefined).sort((a, b) => a.ms! - b.ms!)[0];
const sameThreads = [1, 2].map((th) => {
  const k = rows.find((r) => r.system.startsWith('kiln') && r.threads === th && r.ms !== undefined);
  const w = rows.find((r) => r.system.startsWith('tfjs-wasm') && r.threads === th && r.ms !== undefined);
  return { threads: th, ratio: k && w ? w.ms! / k.ms! : undefined };
});
const kb = bestOf('kiln');
const lines = [
  `Embedding(${V}, ${E}) -> LSTM(${U}, returnSequences) -> Dense(${V}, softmax), sparse categorical cross-entropy, one Adam step per call, ` +
    `batch ${B}, sequence ${T}; median ms over the budget. Kiln compile ${fmtMs(built.compileMs)} ms (${built.artifact.program.kernels.length} kernels, the ${T} time steps ${LOOP === 'scan' ? 'one kiln.scan loop' : 'unrolled'}); ` +
    `first loss Kiln ${kilnFirst.toFixed(6)} vs tfjs-cpu ${tfCpu?.firstLoss?.toFixed(6) ?? '—'} (rel. diff ${relDiff.toExponential(1)}). ` +
    `Machine: ${cores} cores (shared), Node ${process.version}, load average ${loadavg0.map((l) => l.toFixed(1)).join(' / ')}.`,
  '',
  markdownTable(['system', 'threads', 'ms / step', 'cpu/wall', 'vs best Kiln'], rows.map((r) => [
    r.system, String(r.threads), r.error ? `fails: ${r.error}` : fmtMs(r.ms), r.cpuPerWall?.toFixed(2) ?? '—',
    r.ms !== undefined && kb ? `${(r.ms / kb.ms!).toFixed(1)}x` : '—',
  ])),
  '',
  `Target: Kiln >= ${TARGET}x faster than tfjs-backend-wasm at equal threads: ` +
    sameThreads.map((s) => `${s.threads} thread${s.threads > 1 ? 's' : ''} ${s.ratio !== undefined ? `${s.ratio.toFixed(1)}x` : 'no peer time'}`).join(', ') + '.',
];
const md = lines.join('\n');
writeResult('lstm', { meta: { loadavg: loadavg0, cpus: cores, node: process.version, B, T, U, V, E }, compileMs: built.compileMs, rows, relDiff, sameThreads });
fs.writeFileSync(path.join(OUT_DIR, 'lstm.md'), md + '\n');
console.log('\n' + md);
process.exit(0);
