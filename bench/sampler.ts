/**
 * Text sampling in a compiled loop (issue 9, point 7): a character-level GRU-style cell
 * (vocabulary 64, 256 units: one-hot input, gates from two matmuls, tanh/sigmoid) generates N
 * tokens by Gumbel-max sampling (the IR's counter-based rng, seeded by the step) inside one
 * `kiln.whileLoop`, compiled to one artifact whose schedule runs the loop (the trip count is an
 * input: a data-dependent loop, not unrolled). Peers, each a per-token loop on the host: the same
 * step run eagerly by Kiln (its tokens must equal the compiled loop's), and the same step in
 * tfjs-core ops on tfjs-backend-wasm (greedy decoding is checked token for token first; timed
 * sampling uses tfjs's own rng). Figure: ms per token; ratio = peer / compiled at equal threads.
 * Target: compiled >= 5x the eager per-token loop.
 *
 * Writes bench/out/sampler.json and bench/out/sampler.md. Run through `npm run bench`, or alone
 * after a build: node bench/run.js --only sampler [--rounds 3] [--budget 400]
 */
import v8 from 'node:v8';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { tf, usePeer, type PeerName } from './peers.js';
import { BestOf, OUT_DIR, errorMessage, fmtMs, markdownTable, measure, parseArgs, uniformInput, writeResult } from './common.js';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const kiln = await import('kiln');
const { load } = await import('kiln/runtime');
type KTensor = import('kiln').Tensor;

export const SAMPLER = { vocab: 64, units: 256, tokens: 64 };
const S = SAMPLER;
const TARGET = 5;

interface Weights { W: Float32Array; U: Float32Array; b: Float32Array; Wo: Float32Array; bo: Float32Array; h0: Float32Array }

function makeWeights(): Weights {
  let k = 11;
  const u = (n: number, scale: number) => uniformInput(n, k++).map((v) => (2 * v - 1) * scale);
  return {
    W: u(S.vocab * 3 * S.units, 1), U: u(S.units * 3 * S.units, 1 / Math.sqrt(S.units)), b: u(3 * S.units, 0.1),
    Wo: u(S.units * S.vocab, 3 / Math.sqrt(S.units)), bo: u(S.vocab, 0.1), h0: u(S.units, 0.5),
  };
}

/** One step of the cell and the sampler, on Kiln tensors (eager or traced alike). */
function kilnStep(w: Weights) {
  const W = kiln.tensor(w.W, [S.vocab, 3 * S.units]), U = kiln.tensor(w.U, [S.units, 3 * S.units]), b = kiln.tensor(w.b, [3 * S.units]);
  const Wo = kiln.tensor(w.Wo, [S.units, S.vocab]), bo = kiln.tensor(w.bo, [S.vocab]);
  const H = S.units;
  return (i: KTensor, h: KTensor, tok: KTensor, temp: KTensor): [KTensor, KTensor] => {
    const x = kiln.oneHot(tok, S.vocab, 1, 0, 'float32'); // [1, V]
    const gx = kiln.add(kiln.matmul(x, W), b);
    const gh = kiln.matmul(h, U);
    const part = (t: KTensor, k: number) => kiln.slice(t, [0, k * H], [1, H]);
    const z = kiln.sigmoid(kiln.add(part(gx, 0), part(gh, 0)));
    const r = kiln.sigmoid(kiln.add(part(gx, 1), part(gh, 1)));
    const n = kiln.tanh(kiln.add(part(gx, 2), kiln.mul(r, part(gh, 2))));
    const nh = kiln.add(kiln.mul(kiln.sub(1, z), n), kiln.mul(z, h));
    const logits = kiln.add(kiln.matmul(nh, Wo), bo);
    const u = kiln.randomUniform([1, S.vocab], { seed: kiln.add(i, 1000), minval: 1e-6, maxval: 1 });
    const gumbel = kiln.neg(kiln.log(kiln.neg(kiln.log(u))));
    const next = kiln.cast(kiln.argMax(kiln.add(logits, kiln.mul(gumbel, temp)), 1), 'int32'); // [1]
    return [nh, next];
  };
}

/** The whole generation: a while loop over the step, writing token i into a [tokens] buffer. */
function kilnGenerate(w: Weights) {
  const step = kilnStep(w);
  return (h0: KTensor, tok0: KTensor, n: KTensor, temp: KTensor): KTensor[] => {
    const positions = kiln.iota([S.tokens], 0, 'int32');
    const [, h, , tokens] = kiln.whileLoop(
      (i) => kiln.less(i!, n),
      (i, h, tok, tokens) => {
        const [nh, next] = step(i!, h!, tok!, temp);
        const placed = kiln.where(kiln.equal(positions, i!), kiln.broadcastTo(next, [S.tokens]), tokens!);
        return [kiln.add(i!, 1), nh, next, placed];
      },
      [kiln.scalar(0, 'int32'), h0, tok0, kiln.zeros([S.tokens], 'int32')],
      { maximumIterations: S.tokens },
    );
    return [tokens!, h!];
  };
}

/** The step in tfjs-core ops (for tfjs-backend-wasm); greedy when temp is 0. */
function tfStep(w: Weights) {
  const W = tf.tensor2d(w.W, [S.vocab, 3 * S.units]), U = tf.tensor2d(w.U, [S.units, 3 * S.units]), b = tf.tensor1d(w.b);
  const Wo = tf.tensor2d(w.Wo, [S.units, S.vocab]), bo = tf.tensor1d(w.bo);
  const H = S.units;
  return (i: number, h: tf.Tensor, tok: number, temp: number): [tf.Tensor, number] => {
    const out = tf.tidy(() => {
      const x = tf.cast(tf.oneHot(tf.tensor1d([tok], "int32"), S.vocab), "float32");
      const gx = tf.add(tf.matMul(x, W), b), gh = tf.matMul(h, U);
      const part = (t: tf.Tensor, k: number) => tf.slice(t, [0, k * H], [1, H]);
      const z = tf.sigmoid(tf.add(part(gx, 0), part(gh, 0)));
      const r = tf.sigmoid(tf.add(part(gx, 1), part(gh, 1)));
      const n = tf.tanh(tf.add(part(gx, 2), tf.mul(r, part(gh, 2))));
      const nh = tf.add(tf.mul(tf.sub(1, z), n), tf.mul(z, h));
      let logits = tf.add(tf.matMul(nh, Wo), bo);
      if (temp !== 0) {
        const u = tf.randomUniform([1, S.vocab], 1e-6, 1, 'float32', 1000 + i);
        logits = tf.add(logits, tf.mul(tf.neg(tf.log(tf.neg(tf.log(u)))), temp));
      }
      return [nh, tf.argMax(logits, 1)] as const;
    });
    const next = (out[1].dataSync() as Int32Array)[0]!;
    out[1].dispose();
    return [out[0], next];
  };
}

interface CaseResult { system: string; threads: number; msPerToken?: number; cpuPerWall?: number; error?: string }

interface SamplerResults {
  date: string; node: string; cpus: string; cores: number; rounds: number; budgetMs: number; sampler: typeof SAMPLER;
  compileMs?: number; kernels?: number; schedule?: string; compileError?: string; cases: CaseResult[];
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const rounds = Number(args.get('rounds') ?? 3);
  const budgetMs = Number(args.get('budget') ?? 400);
  const w = makeWeights();
  const result: SamplerResults = {
    date: new Date().toISOString(), node: process.version, cpus: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length,
    rounds, budgetMs, sampler: S, cases: [],
  };
  const feed = (temp: number) => ({ h0: w.h0, tok0: Int32Array.of(1), n: Int32Array.of(S.tokens), temp: Float32Array.of(temp) });
  let bytes: Uint8Array | undefined;
  try {
    const t0 = performance.now();
    const art = kiln.compile(kilnGenerate(w), {
      inputShapes: [[1, S.units], [1], [], []], inputDtypes: ['f32', 'i32', 'i32', 'f32'], name: 'sampler',
    });
    result.compileMs = performance.now() - t0;
    result.kernels = art.program.kernels.length;
    result.schedule = art.explain().split('\n').map((l) => l.trim()).find((l) => l.startsWith('while %'));
    bytes = art.bytes;
    console.log(`compiled in ${result.compileMs.toFixed(0)} ms: ${result.kernels} kernels; ${result.schedule}`);
  } catch (e) {
    result.compileError = errorMessage(e);
    console.error(`compile failed: ${result.compileError}`);
  }
  const names = ['h0', 'tok0', 'n', 'temp'];
  const runCompiled = async (threads: number, temp: number) => {
    const prog = await load(bytes!, { threads });
    const inputs = Object.fromEntries(prog.inputs.map((t, k) => [t.name, Object.values(feed(temp))[names.indexOf(t.name) >= 0 ? names.indexOf(t.name) : k]!]));
    return { prog, run: () => Array.from(prog.runSync(inputs)[prog.outputs[0]!.name] as Int32Array) };
  };

  // Eager Kiln: the same step, one host iteration per token.
  const eagerStep = kilnStep(w);
  const eager = (temp: number): number[] => {
    let h = kiln.tensor(w.h0, [1, S.units]);
    let tok = kiln.tensor(Int32Array.of(1), [1], 'int32');
    const t = kiln.scalar(temp);
    const out: number[] = [];
    for (let i = 0; i < S.tokens; i++) {
      [h, tok] = eagerStep(kiln.scalar(i, 'int32'), h, tok, t);
      out.push((tok.dataSync() as Int32Array)[0]!);
    }
    return out;
  };
  const tfLoop = (temp: number): number[] => {
    const step = tfStep(w);
    let h: tf.Tensor = tf.tensor2d(w.h0, [1, S.units]);
    let tok = 1;
    const out: number[] = [];
    for (let i = 0; i < S.tokens; i++) {
      const [nh, next] = step(i, h, tok, temp);
      h.dispose();
      h = nh;
      tok = next;
      out.push(tok);
    }
    h.dispose();
    return out;
  };

  const kilnCase = (threads: number) => async (): Promise<CaseResult> => {
    const system = 'kiln compiled while';
    if (!bytes) return { system, threads, error: result.compileError ?? 'not compiled' };
    const { prog, run } = await runCompiled(threads, 1);
    try {
      const want = eager(1);
      const got = run();
      if (got.join() !== want.join()) return { system, threads, error: `tokens differ from the eager loop's: ${got.slice(0, 8)}... vs ${want.slice(0, 8)}...` };
      const t = await measure(() => { run(); }, { budgetMs });
      return { system, threads, msPerToken: t.ms / S.tokens, cpuPerWall: t.cpuPerWall };
    } finally {
      prog.dispose();
    }
  };
  const eagerCase = async (): Promise<CaseResult> => {
    const t = await measure(() => { eager(1); }, { budgetMs, minSamples: 3 });
    return { system: 'kiln eager per-token loop', threads: 1, msPerToken: t.ms / S.tokens, cpuPerWall: t.cpuPerWall };
  };
  const tfCase = (peer: PeerName) => async (): Promise<CaseResult> => {
    const threads = peer === 'tfjs-wasm-2t' ? 2 : 1;
    const got = await usePeer(peer);
    if (got !== threads) return { system: 'tfjs-wasm per-token loop', threads, error: `tfjs-backend-wasm reports ${got} threads` };
    if (bytes) {
      const { prog, run } = await runCompiled(threads, 0);
      const greedy = run();
      prog.dispose();
      const theirs = tfLoop(0);
      if (greedy.join() !== theirs.join()) return { system: 'tfjs-wasm per-token loop', threads, error: `greedy tokens differ: kiln ${greedy.slice(0, 8)}..., tfjs ${theirs.slice(0, 8)}...` };
    }
    const t = await measure(() => { tfLoop(1); }, { budgetMs, minSamples: 3 });
    return { system: 'tfjs-wasm per-token loop', threads, msPerToken: t.ms / S.tokens, cpuPerWall: t.cpuPerWall };
  };

  const phases: [string, () => Promise<CaseResult>][][] = [
    [['kiln 1t', kilnCase(1)], ['eager', eagerCase], ['tfjs-wasm 1t', tfCase('tfjs-wasm-1t')]],
    [['kiln 2t', kilnCase(2)], ['tfjs-wasm 2t', tfCase('tfjs-wasm-2t')]],
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
          r = { system: key, threads: key.endsWith('2t') ? 2 : 1, error: errorMessage(e) };
        }
        const prev = latest.get(key);
        if (r.msPerToken !== undefined) {
          best.note(key, { ms: r.msPerToken, cpuPerWall: r.cpuPerWall!, samples: 1 });
          if (!prev || prev.msPerToken === undefined || r.msPerToken < prev.msPerToken) latest.set(key, r);
        } else if (!prev) {
          latest.set(key, r);
        }
        console.log(`round ${round + 1}/${rounds}  ${key.padEnd(14)} ` + (r.msPerToken !== undefined ? `${fmtMs(r.msPerToken)} ms/token` : `FAILED: ${r.error}`));
      }
    }
  }
  result.cases = [...latest.values()];
  writeResult('sampler', result);
  const md = render(result);
  fs.writeFileSync(path.join(OUT_DIR, 'sampler.md'), md);
  console.log('\n' + md);
  process.exit(0);
}

export function render(r: SamplerResults): string {
  const find = (system: string, threads: number) => r.cases.find((c) => c.system === system && c.threads === threads);
  const cell = (c: CaseResult | undefined) => (c?.msPerToken !== undefined ? fmtMs(c.msPerToken) : c?.error ? 'fails¹' : '—');
  const ratio = (k: CaseResult | undefined, p: CaseResult | undefined) => {
    if (k?.msPerToken === undefined || p?.msPerToken === undefined) return '—';
    const s = p.msPerToken / k.msPerToken;
    return `${s.toFixed(1)}x ${s >= TARGET ? '✓' : '✗'}`;
  };
  const eager = find('kiln eager per-token loop', 1);
  const rows = [1, 2].map((t) => {
    const k = find('kiln compiled while', t), tw = find('tfjs-wasm per-token loop', t);
    return [String(t), cell(k), t === 1 ? cell(eager) : '—', t === 1 ? ratio(k, eager) : '—', cell(tw), ratio(k, tw)];
  });
  const failures = r.cases.filter((c) => c.error).map((c) => `- ${c.system} ${c.threads}t: ${c.error!.slice(0, 300)}`);
  return [
    `Text sampler: a GRU-style cell (vocabulary ${S.vocab}, ${S.units} units) generating ${S.tokens} tokens by Gumbel-max sampling. ` +
      `Kiln: one \`kiln.whileLoop\` compiled to one artifact (${r.kernels ?? '?'} kernels; ${r.schedule ?? 'loop entry'}), the trip count an input. ` +
      `Peers: per-token host loops of the same step, eager Kiln (tokens equal to the compiled loop's) and tfjs-core ops on tfjs-backend-wasm ` +
      `(greedy tokens checked equal first). Milliseconds per token, best of ${r.rounds} rounds; ratio = peer / compiled (target ≥ ${TARGET}x against the eager loop).`,
    '',
    markdownTable(['threads', 'kiln compiled ms/token', 'kiln eager ms/token', 'ratio vs eager', 'tfjs-wasm loop ms/token', 'ratio vs tfjs-wasm'], rows),
    '',
    ...(failures.length ? ['¹ failed:', ...failures, ''] : []),
  ].join('\n');
}

await main();
