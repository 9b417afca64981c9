/**
 * int8 inference speed (issue 10, point 7). Part 1, models: the Fashion-MNIST-shaped CNN (batch 1
 * and 64) and a MobileNet-style model (quantize_testkit's mobilenetStyle at 64x64, batch 1 and 8),
 * quantized after calibration (passes/quantize, minmax on 2 batches), compiled, and run through the
 * runtime on 1 thread, plain and relaxed builds, against Kiln's own f32 artifact of the same model
 * and tfjs-backend-wasm f32 (1 thread, CNN; same weights), in one process (median timings).
 * Part 2, kernels: the int8 GEMM micro-kernel
 * (gemm_i8.ts: i8 operands, i32 accumulation, exact requantization to i8) against the f32 GEMM
 * micro-kernel (gemm.ts, bias + ReLU epilogue) on the GEMM shapes of the Fashion-MNIST CNN and a
 * MobileNet-style model (im2col'd convs: M = output pixels, K = kh*kw*cin, N = cout; pointwise
 * convs and dense layers as they are), each in its plain SIMD128 and relaxed-SIMD build, 1 thread,
 * timed round-robin in one process (min of rounds), so host load hits all four alike.
 *
 * V8 11.3 (Node 20) computes the relaxed int8 dot product wrongly on its baseline tier; the
 * runtime then runs the plain module (runtime/host.ts relaxedDotExact). The relaxed int8 column
 * here is timed after warm-up on the optimizing tier, where it is exact, and the table says
 * whether this host's load-time probe would accept it.
 *
 * Run: node bench/run.js --only int8, or after bundling node bench/out/int8.mjs [--rounds 8]
 * Writes bench/out/int8.{json,md}.
 */
import v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../src/frontend/io/atomic.js';
import { emitGemm } from '../src/codegen/wasm/gemm.js';
import { emitGemmI8, gemmI8Layout, packGemmI8 } from '../src/codegen/wasm/gemm_i8.js';
import { createKernelModule, emitModule, instantiateKernels } from '../src/codegen/wasm/module_builder.js';
import { packB, packedBSize } from '../src/codegen/wasm/pack.js';
import { relaxedDotExact } from '../src/runtime/host.js';
import { CNN, OUT_DIR, buildKilnModel, markdownTable, measure as measureCall, parseArgs, uniformInput, writeResult } from './common.js';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, usePeer } from './peers.js';
import * as K from '../src/index.js';
import { toFunc, compile } from '../src/compile.js';
import { optimize } from '../src/passes/pipeline.js';
import { describeQuantization } from '../src/passes/quantize.js';
import { quantizeCalibrated } from '../src/passes/quantize_calibration.js';
import { argmaxRows, cosine, images, mobilenetStyle, rows as sliceRows } from '../src/passes/quantize_testkit.js';
import { literal, type Literal } from '../src/ir/literal.js';
import { load } from '../src/runtime/index.js';

interface ModelCase { name: string; batch: number; model: ReturnType<typeof K.sequential>; inputShape: number[]; data: (n: number, seed: number) => Literal; tfl?: tfl.LayersModel }

const cnnData = (n: number, seed: number): Literal => literal([n, 28, 28, 1], 'f32', uniformInput(n * 784, seed).map((v) => (v + 1) / 2));

function cnnPeer(model: ReturnType<typeof K.sequential>): tfl.Sequential {
  const L = tfl.layers;
  const layers = CNN.layers.map((l, i) => {
    const first = i === 0 ? { inputShape: CNN.inputShape } : {};
    switch (l.kind) {
      case 'dense': return L.dense({ units: l.units, activation: l.activation, ...first });
      case 'conv2d': return L.conv2d({ filters: l.filters, kernelSize: l.kernelSize, activation: l.activation, ...first });
      case 'maxPooling2d': return L.maxPooling2d({ poolSize: l.poolSize, ...first });
      case 'flatten': return L.flatten(first);
    }
  });
  const m = tfl.sequential({ layers });
  m.setWeights(model.getWeights().map((w) => tf.tensor(w.dataSync() as Float32Array, [...w.shape])));
  return m;
}

async function modelTable(): Promise<{ md: string; json: unknown[] }> {
  const cnn = buildKilnModel(K as never, CNN) as unknown as ReturnType<typeof K.sequential>;
  const mnet = mobilenetStyle(64, 10, 1) as unknown as ReturnType<typeof K.sequential>;
  const cases: ModelCase[] = [
    { name: 'CNN b1', batch: 1, model: cnn, inputShape: [28, 28, 1], data: cnnData, tfl: cnnPeer(cnn) },
    { name: 'CNN b64', batch: 64, model: cnn, inputShape: [28, 28, 1], data: cnnData, tfl: cnnPeer(cnn) },
    { name: 'MobileNet-style 64x64 b1', batch: 1, model: mnet, inputShape: [64, 64, 3], data: (n, seed) => images(n, 64, 3, seed) },
    { name: 'MobileNet-style 64x64 b8', batch: 8, model: mnet, inputShape: [64, 64, 3], data: (n, seed) => images(n, 64, 3, seed) },
  ];
  const header = ['model', 'int8 plain ms', 'int8 relaxed ms', 'f32 plain ms', 'f32 relaxed ms', 'tfjs-wasm f32 ms', 'int8 vs f32 plain', 'int8 vs f32 relaxed', 'int8 vs tfjs-wasm', 'top-1 agree', 'cosine'];
  const out: string[][] = [];
  const json: unknown[] = [];
  let quantNote = '';
  for (const c of cases) {
    const fn = optimize(toFunc(c.model as never, { inputShapes: [[c.batch, ...c.inputShape]] }));
    const q = fn.clone();
    const cal = [0, 1].map((i) => [c.data(Math.max(c.batch, 8), 100 + i)].map((l) => sliceRows(l, 0, c.batch)));
    const report = quantizeCalibrated(q, fn, cal, { method: 'minmax' });
    quantNote ||= `${c.name}: ${describeQuantization(report).split('\n').join('; ')}`;
    const artF = compile(fn), artQ = compile(q);
    const x = c.data(c.batch, 7);
    const feed = (art: typeof artF): Record<string, Float32Array> => ({ [art.manifest.inputs[0]!.name]: x.data as Float32Array });
    const times: Record<string, number> = {};
    const outputs: Record<string, Float32Array> = {};
    for (const [key, art] of [['int8', artQ], ['f32', artF]] as const) {
      for (const relaxed of [false, true]) {
        const prog = await load(art.bytes, { threads: 1, relaxedSimd: relaxed });
        const run = (): Float32Array => Object.values(prog.runSync(feed(art)))[0] as Float32Array;
        outputs[key] = run().slice();
        times[`${key} ${relaxed ? 'relaxed' : 'plain'}`] = (await measureCall(() => { run(); }, { budgetMs })).ms;
        prog.dispose();
      }
    }
    let tfjs: number | undefined;
    if (c.tfl) {
      await usePeer('tfjs-wasm-1t');
      const xt = tf.tensor(x.data as Float32Array, [c.batch, ...c.inputShape]);
      const predict = (): void => { const y = c.tfl!.predict(xt, { batchSize: c.batch }) as tf.Tensor; y.dataSync(); y.dispose(); };
      tfjs = (await measureCall(predict, { budgetMs })).ms;
      xt.dispose();
    }
    const classes = 10;
    const a = argmaxRows(outputs['f32']!, classes), b = argmaxRows(outputs['int8']!, classes);
    const agree = a.filter((v, i) => v === b[i]).length / a.length;
    const cos = cosine(outputs['f32']!, outputs['int8']!);
    const ms = (k: string) => times[k]!.toFixed(3);
    const ratio = (a: number | undefined, b: number) => (a === undefined ? '—' : `${(a / b).toFixed(2)}x`);
    out.push([c.name, ms('int8 plain'), ms('int8 relaxed'), ms('f32 plain'), ms('f32 relaxed'), tfjs?.toFixed(3) ?? '—',
      ratio(times['f32 plain'], times['int8 plain']!), ratio(times['f32 relaxed'], times['int8 relaxed']!), ratio(tfjs, Math.min(times['int8 plain']!, times['int8 relaxed']!)), `${(agree * 100).toFixed(0)}%`, cos.toFixed(4)]);
    json.push({ model: c.name, batch: c.batch, times, tfjsWasmMs: tfjs, top1Agree: agree, cosine: cos, kernels: artQ.program.kernels.map((k) => k.note) });
    console.log(out[out.length - 1]!.join(' | '));
  }
  const md = `int8 inference (quantized after minmax calibration on 2 batches) vs Kiln's f32 artifact of the same model and tfjs-backend-wasm f32, 1 thread, median ms per run; ratios > 1: int8 is faster. ` +
    `Accuracy columns compare int8 with f32 outputs on one input batch (a speed table, not an accuracy study). ${quantNote}\n\n${markdownTable(header, out)}`;
  return { md, json };
}

const models = await modelTable();

const args = parseArgs(process.argv.slice(2));
for (const k of args.keys()) {
  if (k !== 'rounds' && k !== 'budget') throw new Error(`bench/int8: unknown option --${k} (options: --rounds, --budget)`);
}
const budgetMs = Number(args.get('budget') ?? 300);
const rounds = Number(args.get('rounds') ?? 8);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`bench/int8: --rounds must be a positive integer, got '${args.get('rounds')}'`);

interface Shape { name: string; M: number; N: number; K: number }
const SHAPES: readonly Shape[] = [
  // Fashion-MNIST CNN (28x28x1 -> conv3x3 32 -> pool -> conv3x3 64 -> pool -> dense 128 -> 10), batch 64 and 1.
  { name: 'cnn conv1 3x3 c1->32 b64', M: 64 * 26 * 26, N: 32, K: 9 },
  { name: 'cnn conv2 3x3 c32->64 b64', M: 64 * 11 * 11, N: 64, K: 288 },
  { name: 'cnn dense 1600->128 b64', M: 64, N: 128, K: 1600 },
  { name: 'cnn conv2 3x3 c32->64 b1', M: 121, N: 64, K: 288 },
  { name: 'cnn dense 1600->128 b1', M: 1, N: 128, K: 1600 },
  // MobileNet-style (224 input, alpha 1): the stem and pointwise convs.
  { name: 'mobilenet stem 3x3 c3->32 s2', M: 112 * 112, N: 32, K: 27 },
  { name: 'mobilenet pw 56x56 c128->128', M: 56 * 56, N: 128, K: 128 },
  { name: 'mobilenet pw 28x28 c256->256', M: 28 * 28, N: 256, K: 256 },
  { name: 'mobilenet pw 14x14 c512->512', M: 14 * 14, N: 512, K: 512 },
  { name: 'mobilenet pw 7x7 c1024->1024', M: 7 * 7, N: 1024, K: 1024 },
];

interface Case { run: () => void; best: number }

function randI8(n: number, lo: number, hi: number): Int8Array {
  const out = new Int8Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + Math.floor(Math.random() * (hi - lo + 1));
  return out;
}

function buildF32(s: Shape, relaxed: boolean): Case {
  const { M, N, K } = s;
  const aBytes = M * K * 4, bBytes = packedBSize(K, N, 8) * 4;
  const memory = new WebAssembly.Memory({ initial: Math.ceil((aBytes + bBytes + M * N * 4 + 8192) / 65536) });
  const aAddr = 4096, bAddr = aAddr + aBytes, cAddr = bAddr + bBytes;
  const f32 = new Float32Array(memory.buffer);
  for (let i = 0; i < M * K; i++) f32[aAddr / 4 + i] = Math.random() * 2 - 1;
  f32.set(packB(Float32Array.from({ length: K * N }, () => Math.random() * 2 - 1), K, N, 8), bAddr / 4);
  const mod = createKernelModule({ relaxed });
  const k = emitGemm(mod, { name: 'g', M, N, K, aAddr, bPackedAddr: bAddr, cAddr, relaxed: relaxed && M >= 4, epilogue: { bias: 0, activation: 'relu' } });
  const fn = instantiateKernels(emitModule(mod), memory)['g']!;
  mod.dispose();
  return { run: () => fn(0, k.workItems), best: Infinity };
}

function buildI8(s: Shape, relaxed: boolean): Case {
  const { M, N, K } = s;
  const L = gemmI8Layout(K, N);
  const memory = new WebAssembly.Memory({ initial: Math.ceil((M * K + L.bytes + M * N + 8192) / 65536) });
  const aAddr = 4096, constAddr = Math.ceil((aAddr + M * K) / 16) * 16, cAddr = constAddr + L.bytes;
  const u8 = new Uint8Array(memory.buffer);
  u8.set(new Uint8Array(randI8(M * K, -128, 127).buffer), aAddr);
  const w = randI8(K * N, -127, 127);
  u8.set(packGemmI8({ weight: (k, n) => w[k * N + n]!, K, N, bias: new Int32Array(N), requant: { multiplier: [1 << 30], shift: [-8], zeroPoint: -128, min: -128, max: 127 } }), constAddr);
  const mod = createKernelModule({ relaxed });
  const k = emitGemmI8(mod, { name: 'g', M, N, K, aAddr, constAddr, cAddr, relaxed, requant: { zeroPoint: -128, min: -128, max: 127, leftShift: false, uniformRight: 8 } });
  const fn = instantiateKernels(emitModule(mod), memory)['g']!;
  mod.dispose();
  return { run: () => fn(0, k.workItems), best: Infinity };
}

function measure(s: Shape, cases: Case[]): void {
  const reps = Math.max(2, Math.ceil(2e7 / (2 * s.M * s.N * s.K)));
  for (const c of cases) for (let i = 0; i < 50; i++) c.run(); // tier up
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) c.run();
      c.best = Math.min(c.best, (performance.now() - t0) / 1000 / reps);
    }
  }
}

const probe = relaxedDotExact();
const header = ['GEMM (M x N x K)', 'f32 plain GOP/s', 'int8 plain GOP/s', 'int8/f32 plain', 'f32 relaxed GOP/s', 'int8 relaxed GOP/s', 'int8/f32 relaxed'];
const rows: string[][] = [];
const results: { kernel: string; M: number; N: number; K: number; f32PlainS: number; i8PlainS: number; f32RelaxedS: number; i8RelaxedS: number }[] = [];
console.log(header.join(' | '));
for (const s of SHAPES) {
  const ops = 2 * s.M * s.N * s.K;
  const cases = [buildF32(s, false), buildI8(s, false), buildF32(s, true), buildI8(s, true)];
  measure(s, cases);
  const [fp, ip, fr, ir] = cases.map((c) => c.best) as [number, number, number, number];
  const g = (t: number) => (ops / t / 1e9).toFixed(1);
  const row = [`${s.name} (${s.M}x${s.N}x${s.K})`, g(fp), g(ip), `${(fp / ip).toFixed(2)}x`, g(fr), g(ir), `${(fr / ir).toFixed(2)}x`];
  rows.push(row);
  results.push({ kernel: s.name, M: s.M, N: s.N, K: s.K, f32PlainS: fp, i8PlainS: ip, f32RelaxedS: fr, i8RelaxedS: ir });
  console.log(row.join(' | '));
}
writeResult('int8', { rounds, relaxedDotExact: probe, models: models.json, results });
fs.mkdirSync(OUT_DIR, { recursive: true });
const md = `int8 GEMM micro-kernel (i8 x i8 -> i32, exact requantization to i8) vs the f32 GEMM micro-kernel (bias + ReLU), per shape, 1 thread, min of ${rounds} interleaved rounds; ratios > 1: int8 is faster. ` +
  `The relaxed int8 kernel is timed on V8's optimizing tier; this host's load-time probe of the relaxed dot product ${probe ? 'accepts it' : 'rejects it (baseline-tier miscompile), so artifacts run the plain int8 kernels here'}.\n\n${markdownTable(header, rows)}`;
await writeFileAtomic(path.join(OUT_DIR, 'int8.md'), `${models.md}\n\n${md}\n`);
