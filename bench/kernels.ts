/**
 * Per-kernel relaxed-SIMD vs plain-SIMD128 timing of the generated GEMM micro-kernel, on the GEMM
 * shapes the compiled convnets and MLPs run (im2col'd convs: M = output pixels, K = kh*kw*cin,
 * N = cout; dense: M = batch). Each shape is timed for several register blockings (mr x nr, k
 * unroll), both variants, in the same process, best of `rounds`; the table shows GFLOP/s and
 * plain/relaxed time ratio (> 1: relaxed is faster).
 *
 * Plain and relaxed builds of one shape are timed round-robin (minimum over rounds), so load from
 * other processes on the host hits both alike; on a shared host compare only rows of one run.
 *
 * Run: node bench/run.js kernels, or after bundling (see bench/README.md)
 *        node bench/out/kernels.mjs [--rounds 12] [--blockings 4x8k1,2x16k1]
 * Writes bench/out/kernels.{json,md}.
 */
import v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../src/frontend/io/atomic.js';
import { emitConv2d } from '../src/codegen/wasm/conv_kernels.js';
import { emitGemm } from '../src/codegen/wasm/gemm.js';
import { createKernelModule, emitModule, instantiateKernels } from '../src/codegen/wasm/module_builder.js';
import { packB, packedBSize } from '../src/codegen/wasm/pack.js';
import { OUT_DIR, markdownTable, parseArgs, writeResult } from './common.js';

const args = parseArgs(process.argv.slice(2));
for (const k of args.keys()) {
  if (k !== 'rounds' && k !== 'blockings') throw new Error(`bench/kernels: unknown option --${k} (options: --rounds, --blockings)`);
}
const rounds = Number(args.get('rounds') ?? 12);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`bench/kernels: --rounds must be a positive integer, got '${args.get('rounds')}'`);

/**
 * GEMM view of a kernel: M x N x K. With `conv`, the kernel is the implicit-GEMM NHWC conv2d
 * (emitConv2d, stride 1, 'same' padding) over batch x H x W x Cin -> Cout with a KH x KW window;
 * without, the plain GEMM emitter.
 */
interface Shape {
  name: string;
  M: number;
  N: number;
  K: number;
  conv?: { batch: number; H: number; W: number; Cin: number; Cout: number; KH: number; KW: number };
}
const conv = (batch: number, H: number, W: number, KH: number, KW: number, Cin: number, Cout: number): Shape => ({
  name: `conv2d ${KH}x${KW} ${H}x${W} c${Cin}->${Cout}${batch > 1 ? ` b${batch}` : ''}`,
  M: batch * H * W,
  N: Cout,
  K: KH * KW * Cin,
  conv: { batch, H, W, Cin, Cout, KH, KW },
});
export const SHAPES: readonly Shape[] = [
  // InceptionV3's losing shapes (issue 10), as the direct conv kernel runs them.
  conv(1, 17, 17, 1, 7, 128, 128),
  conv(1, 17, 17, 7, 1, 128, 192),
  conv(1, 35, 35, 5, 5, 48, 64),
  conv(1, 35, 35, 3, 3, 64, 96),
  conv(1, 35, 35, 1, 1, 192, 64),
  conv(8, 28, 28, 3, 3, 32, 64),
  // The same shapes as plain GEMMs (im2col'd), and the MLP's dense layers.
  { name: 'conv 1x7 17x17 c128->128', M: 289, N: 128, K: 7 * 128 },
  { name: 'conv 7x1 17x17 c128->192', M: 289, N: 192, K: 7 * 128 },
  { name: 'conv 5x5 35x35 c48->64', M: 1225, N: 64, K: 25 * 48 },
  { name: 'conv 3x3 35x35 c64->96', M: 1225, N: 96, K: 9 * 64 },
  { name: 'conv 1x1 35x35 c192->64', M: 1225, N: 64, K: 192 },
  { name: 'cnn conv 3x3 26x26 c32->64 b64', M: 64 * 11 * 11, N: 64, K: 9 * 32 },
  { name: 'dense b128 784->128', M: 128, N: 128, K: 784 },
  { name: 'dense b128 128->10', M: 128, N: 10, K: 128 },
];

interface Blocking { mr: number; nr: number; ku: number }
const BLOCKINGS: readonly Blocking[] = [
  { mr: 4, nr: 8, ku: 1 },
  { mr: 4, nr: 8, ku: 2 },
  { mr: 3, nr: 12, ku: 1 },
  { mr: 2, nr: 16, ku: 1 },
];

function rand(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.random() * 2 - 1;
  return out;
}

interface Case { shape: Shape; b: Blocking; relaxed: boolean; run: () => void; best: number }

/** Build the kernel for `shape` with blocking `b` over fresh memory, warmed up to the optimizing tier. */
function build(shape: Shape, b: Blocking, relaxed: boolean): Case {
  const { M, N, K } = shape;
  const cv = shape.conv;
  const aBytes = (cv ? cv.batch * cv.H * cv.W * cv.Cin : M * K) * 4, bBytes = packedBSize(K, N, b.nr) * 4, cBytes = M * N * 4;
  const memory = new WebAssembly.Memory({ initial: Math.ceil((aBytes + bBytes + cBytes + 4096) / 65536) });
  const aAddr = 1024, bAddr = aAddr + aBytes, cAddr = bAddr + bBytes;
  const f32 = new Float32Array(memory.buffer);
  f32.set(rand(aBytes / 4), aAddr / 4);
  f32.set(packB(rand(K * N), K, N, b.nr), bAddr / 4);
  const mod = createKernelModule({ relaxed });
  const epilogue = { bias: aAddr, activation: 'relu' } as const;
  const items = cv
    ? emitConv2d(mod, { name: 'g', ...cv, pads: [(cv.KH - 1) >> 1, cv.KH >> 1, (cv.KW - 1) >> 1, cv.KW >> 1], inAddr: aAddr, wPackedAddr: bAddr, outAddr: cAddr, relaxed, mr: b.mr, nr: b.nr, epilogue }).workItems
    : emitGemm(mod, { name: 'g', M, N, K, aAddr, bPackedAddr: bAddr, cAddr, relaxed, mr: b.mr, nr: b.nr, kUnroll: b.ku, epilogue }).workItems;
  const fn = instantiateKernels(emitModule(mod), memory)['g']!;
  const run = (): void => fn(0, items);
  for (let i = 0; i < 3; i++) run(); // tier up
  return { shape, b, relaxed, run, best: Infinity };
}

/** Minimum seconds per call over `rounds` samples, plain and relaxed interleaved so host noise hits both alike. */
function measure(cases: Case[]): void {
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const { M, N, K } = c.shape;
      const reps = Math.max(2, Math.ceil(4e7 / (2 * M * N * K)));
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) c.run();
      c.best = Math.min(c.best, (performance.now() - t0) / 1000 / reps);
    }
  }
}

const only = args.get('blockings')?.split(',');
const header = ['kernel (GEMM M x N x K)', 'blocking', 'plain GFLOP/s', 'relaxed GFLOP/s', 'relaxed speedup'];
const rows: string[][] = [];
const results: { kernel: string; M: number; N: number; K: number; mr: number; nr: number; kUnroll: number; plainS: number; relaxedS: number }[] = [];
console.log(header.join(' | '));
for (const s of SHAPES) {
  const flop = 2 * s.M * s.N * s.K;
  const cases: Case[] = [];
  for (const b of BLOCKINGS) {
    if (only && !only.includes(`${b.mr}x${b.nr}k${b.ku}`)) continue;
    if (s.conv && b.ku !== 1) continue; // the conv emitter has no k unroll
    cases.push(build(s, b, false), build(s, b, true));
  }
  measure(cases);
  for (let i = 0; i < cases.length; i += 2) {
    const p = cases[i]!, r = cases[i + 1]!;
    const row = [`${s.name}${s.conv ? '' : ` (${s.M}x${s.N}x${s.K})`}`, `${p.b.mr}x${p.b.nr} ku${p.b.ku}`, (flop / p.best / 1e9).toFixed(1), (flop / r.best / 1e9).toFixed(1), `${(p.best / r.best).toFixed(2)}x`];
    rows.push(row);
    results.push({ kernel: s.name, M: s.M, N: s.N, K: s.K, mr: p.b.mr, nr: p.b.nr, kUnroll: p.b.ku, plainS: p.best, relaxedS: r.best });
    console.log(row.join(' | '));
  }
}
writeResult('kernels', { rounds, results });
fs.mkdirSync(OUT_DIR, { recursive: true });
const md = `GEMM micro-kernel per shape, plain SIMD128 vs relaxed-SIMD FMA, 1 thread, min of ${rounds} interleaved rounds (bias + ReLU epilogue):\n\n${markdownTable(header, rows)}`;
await writeFileAtomic(path.join(OUT_DIR, 'kernels.md'), md + '\n');
