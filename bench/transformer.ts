/**
 * Transformer encoder inference (issue 9, point 7): sequence 128, model width 256, 4 heads
 * (key size 64), feed-forward 1024, 2 post-norm blocks, batch 1. Kiln: Keras
 * MultiHeadAttention, Dense and LayerNormalization layers with residuals, compiled to one artifact
 * and run by kiln/runtime. Peer: the same encoder written with tfjs-core ops (tfjs-layers has no
 * MultiHeadAttention) on tfjs-backend-wasm (SIMD), with the same weights, at 1 and 2 threads;
 * its output on tfjs-backend-cpu is the reference both are checked against before timing.
 * Target: Kiln >= 2x tfjs-wasm at equal threads.
 *
 * Writes bench/out/transformer.json and bench/out/transformer.md. Run through
 * `npm run bench` (bench/run.js bundles it), or alone after a build:
 *   node bench/run.js --only transformer [--rounds 3] [--budget 400]
 */
import v8 from 'node:v8';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { tf, usePeer, type PeerName } from './peers.js';
import { BestOf, OUT_DIR, errorMessage, fmtMs, markdownTable, maxAbsDiff, measure, parseArgs, uniformInput, writeResult, type Timing } from './common.js';

// Before Kiln (and binaryen) compile any WebAssembly module, hence the dynamic imports below.
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const kiln = await import('kiln');
const { load } = await import('kiln/runtime');
type KTensor = import('kiln').Tensor;

export const ENCODER = { seq: 128, width: 256, heads: 4, keyDim: 64, ffDim: 1024, blocks: 2, batch: 1, epsilon: 1e-6 };
const E = ENCODER;
const TOLERANCE = 1e-3;
const TARGET = 2;

/** One block's weights as flat arrays (Keras's layouts: MHA kernels [width, heads, keyDim] etc.). */
interface BlockWeights {
  qk: Float32Array; qb: Float32Array; kk: Float32Array; kb: Float32Array; vk: Float32Array; vb: Float32Array; ok: Float32Array; ob: Float32Array;
  g1: Float32Array; b1: Float32Array; f1k: Float32Array; f1b: Float32Array; f2k: Float32Array; f2b: Float32Array; g2: Float32Array; b2: Float32Array;
}

/** Deterministic weights: uniform in [-s, s] with s = 1/sqrt(fan-in) (gammas near 1). */
function makeWeights(seed: number): BlockWeights {
  let k = seed;
  const u = (n: number, scale: number, center = 0) => uniformInput(n, k++).map((v) => center + (2 * v - 1) * scale);
  const hk = E.heads * E.keyDim;
  return {
    qk: u(E.width * hk, 1 / Math.sqrt(E.width)), qb: u(hk, 0.1), kk: u(E.width * hk, 1 / Math.sqrt(E.width)), kb: u(hk, 0.1),
    vk: u(E.width * hk, 1 / Math.sqrt(E.width)), vb: u(hk, 0.1), ok: u(hk * E.width, 1 / Math.sqrt(hk)), ob: u(E.width, 0.1),
    g1: u(E.width, 0.1, 1), b1: u(E.width, 0.1), f1k: u(E.width * E.ffDim, 1 / Math.sqrt(E.width)), f1b: u(E.ffDim, 0.1),
    f2k: u(E.ffDim * E.width, 1 / Math.sqrt(E.ffDim)), f2b: u(E.width, 0.1), g2: u(E.width, 0.1, 1), b2: u(E.width, 0.1),
  };
}

/** The encoder in Kiln: Keras layers (MultiHeadAttention, Dense, LayerNormalization) and residual adds, as one function. */
function kilnEncoder(weights: readonly BlockWeights[]): (x: KTensor) => KTensor {
  const T = (d: Float32Array, s: number[]) => kiln.tensor(d, s);
  const blocks = weights.map((w) => {
    const mha = kiln.layers.multiHeadAttention({ numHeads: E.heads, keyDim: E.keyDim });
    const f1 = kiln.layers.dense({ units: E.ffDim, activation: 'relu' });
    const f2 = kiln.layers.dense({ units: E.width });
    const n1 = kiln.layers.layerNormalization({ epsilon: E.epsilon });
    const n2 = kiln.layers.layerNormalization({ epsilon: E.epsilon });
    const x0 = kiln.zeros([E.batch, E.seq, E.width]);
    mha.apply([x0, x0]);
    f2.apply(f1.apply(x0));
    n1.apply(x0);
    n2.apply(x0);
    const hs = [E.width, E.heads, E.keyDim];
    mha.setWeights([T(w.qk, hs), T(w.qb, [E.heads, E.keyDim]), T(w.kk, hs), T(w.kb, [E.heads, E.keyDim]), T(w.vk, hs), T(w.vb, [E.heads, E.keyDim]),
      T(w.ok, [E.heads, E.keyDim, E.width]), T(w.ob, [E.width])]);
    f1.setWeights([T(w.f1k, [E.width, E.ffDim]), T(w.f1b, [E.ffDim])]);
    f2.setWeights([T(w.f2k, [E.ffDim, E.width]), T(w.f2b, [E.width])]);
    n1.setWeights([T(w.g1, [E.width]), T(w.b1, [E.width])]);
    n2.setWeights([T(w.g2, [E.width]), T(w.b2, [E.width])]);
    return { mha, f1, f2, n1, n2 };
  });
  return (x) => {
    let h = x;
    for (const b of blocks) {
      const a = b.mha.apply([h, h]) as KTensor;
      const h1 = b.n1.apply(kiln.add(h, a));
      h = b.n2.apply(kiln.add(h1, b.f2.apply(b.f1.apply(h1))));
    }
    return h;
  };
}

/** The same encoder with tfjs-core ops. */
function tfEncoder(weights: readonly BlockWeights[]): (x: tf.Tensor) => tf.Tensor {
  const hk = E.heads * E.keyDim;
  const blocks = weights.map((w) => ({
    qk: tf.tensor2d(w.qk, [E.width, hk]), qb: tf.tensor1d(w.qb), kk: tf.tensor2d(w.kk, [E.width, hk]), kb: tf.tensor1d(w.kb),
    vk: tf.tensor2d(w.vk, [E.width, hk]), vb: tf.tensor1d(w.vb), ok: tf.tensor2d(w.ok, [hk, E.width]), ob: tf.tensor1d(w.ob),
    g1: tf.tensor1d(w.g1), b1: tf.tensor1d(w.b1), f1k: tf.tensor2d(w.f1k, [E.width, E.ffDim]), f1b: tf.tensor1d(w.f1b),
    f2k: tf.tensor2d(w.f2k, [E.ffDim, E.width]), f2b: tf.tensor1d(w.f2b), g2: tf.tensor1d(w.g2), b2: tf.tensor1d(w.b2),
  }));
  const rows = E.batch * E.seq;
  const heads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [E.batch, E.seq, E.heads, E.keyDim]), [0, 2, 1, 3]); // [B, H, T, K]
  const norm = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, E.epsilon))), g), b);
  };
  return (x) => tf.tidy(() => {
    let h = tf.reshape(x, [rows, E.width]);
    for (const b of blocks) {
      const q = heads(tf.add(tf.matMul(h, b.qk), b.qb));
      const k = heads(tf.add(tf.matMul(h, b.kk), b.kb));
      const v = heads(tf.add(tf.matMul(h, b.vk), b.vb));
      const p = tf.softmax(tf.matMul(tf.mul(q, 1 / Math.sqrt(E.keyDim)), k, false, true));
      const o = tf.reshape(tf.transpose(tf.matMul(p, v), [0, 2, 1, 3]), [rows, hk]);
      const a = tf.add(tf.matMul(o, b.ok), b.ob);
      const h1 = norm(tf.add(h, a), b.g1, b.b1);
      const f = tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(h1, b.f1k), b.f1b)), b.f2k), b.f2b);
      h = norm(tf.add(h1, f), b.g2, b.b2);
    }
    return tf.reshape(h, [E.batch, E.seq, E.width]);
  });
}

interface CaseResult {
  system: string;
  threads: number;
  ran?: string;
  ms?: number;
  cpuPerWall?: number;
  samples?: number;
  maxDiff?: number;
  error?: string;
}

interface TransformerResults {
  date: string;
  node: string;
  cpus: string;
  cores: number;
  rounds: number;
  budgetMs: number;
  encoder: typeof ENCODER;
  compileMs?: number;
  kernels?: number;
  compileError?: string;
  cases: CaseResult[];
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const rounds = Number(args.get('rounds') ?? 3);
  const budgetMs = Number(args.get('budget') ?? 400);
  const weights = Array.from({ length: E.blocks }, (_, i) => makeWeights(100 * (i + 1)));
  const input = uniformInput(E.batch * E.seq * E.width, 7).map((v) => 2 * v - 1);
  const result: TransformerResults = {
    date: new Date().toISOString(), node: process.version, cpus: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length,
    rounds, budgetMs, encoder: E, cases: [],
  };

  await usePeer('tfjs-cpu');
  const tfRun = tfEncoder(weights);
  const reference = (() => {
    const x = tf.tensor(input, [E.batch, E.seq, E.width]);
    const y = tfRun(x);
    const d = y.dataSync() as Float32Array;
    x.dispose();
    y.dispose();
    return d;
  })();

  let bytes: Uint8Array | undefined;
  try {
    const t0 = performance.now();
    const art = kiln.compile(kilnEncoder(weights), { inputShapes: [[E.batch, E.seq, E.width]], name: 'encoder' });
    result.compileMs = performance.now() - t0;
    result.kernels = art.program.kernels.length;
    bytes = art.bytes;
    console.log(`compiled the encoder in ${result.compileMs.toFixed(0)} ms: ${result.kernels} kernels, ${bytes.length} bytes`);
  } catch (e) {
    result.compileError = errorMessage(e);
    console.error(`compile failed: ${result.compileError}`);
  }

  const kilnCase = (relaxed: boolean, threads: number) => async (): Promise<CaseResult> => {
    const system = relaxed ? 'kiln relaxed' : 'kiln simd';
    if (!bytes) return { system, threads, error: result.compileError ?? 'not compiled' };
    const prog = await load(bytes, { threads, relaxedSimd: relaxed });
    try {
      if (prog.threads !== threads) return { system, threads, error: `runtime gave ${prog.threads} threads` };
      const feed = { [prog.inputs[0]!.name]: input };
      const out = prog.runSync(feed)[prog.outputs[0]!.name] as Float32Array;
      const diff = maxAbsDiff(out, reference);
      if (!(diff <= TOLERANCE)) return { system, threads, ran: prog.variant, maxDiff: diff, error: `output differs from the tfjs-cpu reference by ${diff}` };
      const t = await measure(() => { prog.runSync(feed); }, { budgetMs });
      return { system, threads, ran: prog.variant, maxDiff: diff, ...t };
    } finally {
      prog.dispose();
    }
  };
  const tfCase = (peer: PeerName) => async (): Promise<CaseResult> => {
    const threads = peer === 'tfjs-wasm-2t' ? 2 : 1;
    const got = await usePeer(peer);
    if (got !== threads) return { system: 'tfjs-wasm', threads, error: `tfjs-backend-wasm reports ${got} threads` };
    const x = tf.tensor(input, [E.batch, E.seq, E.width]);
    try {
      const run = (): Float32Array => {
        const y = tfRun(x);
        const d = y.dataSync() as Float32Array;
        y.dispose();
        return d;
      };
      const diff = maxAbsDiff(run(), reference);
      if (!(diff <= TOLERANCE)) return { system: 'tfjs-wasm', threads, ran: tf.getBackend(), maxDiff: diff, error: `output differs from tfjs-cpu by ${diff}` };
      const t: Timing = await measure(() => { run(); }, { budgetMs });
      return { system: 'tfjs-wasm', threads, ran: tf.getBackend(), maxDiff: diff, ...t };
    } finally {
      x.dispose();
    }
  };

  // tfjs-backend-wasm enters its 2-thread setting once per process: all 1-thread cases first.
  const phases: [string, () => Promise<CaseResult>][][] = [
    [['kiln relaxed 1t', kilnCase(true, 1)], ['kiln simd 1t', kilnCase(false, 1)], ['tfjs-wasm 1t', tfCase('tfjs-wasm-1t')]],
    [['kiln relaxed 2t', kilnCase(true, 2)], ['kiln simd 2t', kilnCase(false, 2)], ['tfjs-wasm 2t', tfCase('tfjs-wasm-2t')]],
  ];
  const best = new BestOf();
  const latest = new Map<string, CaseResult>();
  for (const phase of phases) {
    for (let round = 0; round < rounds; round++) {
      for (const [key, run] of phase) {
        let r: CaseResult;
        try {
          r = await run();
        } catch (e) {
          r = { system: key.replace(/ \dt$/, ''), threads: Number(key.slice(-2, -1)), error: errorMessage(e) };
        }
        const prev = latest.get(key);
        if (r.ms !== undefined) {
          best.note(key, { ms: r.ms, cpuPerWall: r.cpuPerWall!, samples: r.samples! });
          if (!prev || prev.ms === undefined || r.ms < prev.ms) latest.set(key, r);
        } else if (!prev) {
          latest.set(key, r);
        }
        console.log(`round ${round + 1}/${rounds}  ${key.padEnd(16)} ` +
          (r.ms !== undefined ? `${fmtMs(r.ms)} ms (best ${fmtMs(latest.get(key)!.ms)}) cpu/wall ${r.cpuPerWall!.toFixed(2)}` : `FAILED: ${r.error}`));
      }
    }
  }
  result.cases = [...latest.values()];
  writeResult('transformer', result);
  const md = render(result);
  fs.writeFileSync(path.join(OUT_DIR, 'transformer.md'), md);
  console.log('\n' + md);
  process.exit(0);
}

/** Markdown for bench/README.md: per thread count, tfjs-wasm and Kiln ms and the ratio. */
export function render(r: TransformerResults): string {
  const find = (system: string, threads: number) => r.cases.find((c) => c.system === system && c.threads === threads);
  const cell = (c: CaseResult | undefined) => (c?.ms !== undefined ? fmtMs(c.ms) : c?.error ? 'fails¹' : '—');
  const ratio = (k: CaseResult | undefined, p: CaseResult | undefined) => {
    if (k?.ms === undefined || p?.ms === undefined) return '—';
    const s = p.ms / k.ms;
    return `${s.toFixed(2)}x ${s >= TARGET ? '✓' : '✗'}`;
  };
  const rows = [1, 2].map((t) => {
    const [simd, relaxed, wasm] = [find('kiln simd', t), find('kiln relaxed', t), find('tfjs-wasm', t)];
    return [String(t), cell(wasm), cell(simd), cell(relaxed), ratio(simd, wasm), ratio(relaxed, wasm),
      [simd, relaxed, wasm].map((c) => (c?.cpuPerWall !== undefined ? c.cpuPerWall.toFixed(1) : '—')).join(' / ')];
  });
  const failures = r.cases.filter((c) => c.error).map((c) => `- ${c.system} ${c.threads}t: ${c.error!.slice(0, 300)}`);
  return [
    `Transformer encoder, batch ${E.batch}, sequence ${E.seq}, width ${E.width}, ${E.heads} heads of ${E.keyDim}, feed-forward ${E.ffDim}, ${E.blocks} post-norm blocks: ` +
      `Kiln (MultiHeadAttention, Dense and LayerNormalization layers compiled to one artifact${r.compileMs !== undefined ? `, ${r.kernels} kernels, compiled in ${r.compileMs.toFixed(0)} ms` : ''}) ` +
      `vs the same encoder in tfjs-core ops on tfjs-backend-wasm, same weights. Median ms per inference, best of ${r.rounds} rounds; ` +
      `ratio = tfjs-wasm ms / Kiln ms at equal threads (target ≥ ${TARGET}x); outputs checked against tfjs-backend-cpu (max abs diff ≤ ${TOLERANCE}) before timing.`,
    '',
    markdownTable(['threads', 'tfjs-wasm ms', 'kiln simd ms', 'kiln relaxed ms', 'ratio simd', 'ratio relaxed', 'cpu/wall (simd / relaxed / tfjs-wasm)'], rows),
    '',
    ...(failures.length ? ['¹ failed:', ...failures, ''] : []),
  ].join('\n');
}

await main();
