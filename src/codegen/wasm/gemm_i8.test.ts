// int8 GEMM micro-kernel vs integer arithmetic written here (BigInt requantization following
// TFLite's reference code line by line). Relaxed SIMD must be enabled before any module is
// compiled; this file runs on V8's default tiering (first calls on Liftoff), and
// gemm_i8.turbofan.test.ts imports it again under --no-liftoff.
import v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

import { describe, expect, it } from 'vitest';
import { KilnError } from '../../ir/types.js';
import { emitGemmI8, gemmI8Layout, packGemmI8, requantSpec } from './gemm_i8.js';
import { createKernelModule, emitModule, instantiateKernels } from './module_builder.js';
import { relaxedDotExact } from '../../runtime/host.js';

// Where the runtime's load-time probe finds the relaxed dot product wrong (V8 11.3's baseline
// tier), artifacts run the plain module: the relaxed kernels are checked on the optimizing tier
// (gemm_i8.turbofan.test.ts) instead.
const relaxedBroken = !relaxedDotExact();

/** TFLite MultiplyByQuantizedMultiplier(acc, m, s) + zp, clamped (gemmlowp reference, in BigInt). */
export function requantizeRef(acc: number, m: number, s: number, zp: number, min: number, max: number): number {
  const left = Math.max(s, 0), right = Math.max(-s, 0);
  const a = BigInt((acc * 2 ** left) | 0);
  const b = BigInt(m);
  let x: bigint;
  const MIN = -(2n ** 31n);
  if (a === MIN && b === MIN) x = 2n ** 31n - 1n;
  else {
    const ab = a * b;
    const nudge = ab >= 0n ? 1n << 30n : 1n - (1n << 30n);
    x = (ab + nudge) / (1n << 31n); // truncates toward zero, as the C++ int64 division
  }
  const mask = (1n << BigInt(right)) - 1n;
  const remainder = x & mask;
  const threshold = (mask >> 1n) + (x < 0n ? 1n : 0n);
  const out = Number((x >> BigInt(right)) + (remainder > threshold ? 1n : 0n));
  return Math.min(max, Math.max(min, out + zp));
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}
const randInt = (r: () => number, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

interface Case {
  M: number; N: number; K: number; relaxed: boolean;
  perChannel?: boolean; lda?: number; ldc?: number; splits?: number;
  /** Store raw i32 (acc + bias) instead of requantizing. */
  raw?: boolean;
  noBias?: boolean;
  clamp?: [number, number];
  /** Shifts drawn from this range (default [-12, 0]). */
  shifts?: [number, number];
  /** Large biases near ±2^31 (wrap-around). */
  hugeBias?: boolean;
  /** Activations only -128 / 127, weights only ±127. */
  extremes?: boolean;
}

function runCase(c: Case): void {
  const { M, N, K } = c;
  const r = rng(M * 131 + N * 17 + K * 7 + (c.relaxed ? 1 : 0));
  const lda = c.lda ?? K, ldc = c.ldc ?? N;
  const A = Int8Array.from({ length: M * lda }, () => (c.extremes ? (r() < 0.5 ? -128 : 127) : randInt(r, -128, 127)));
  const W = Int32Array.from({ length: K * N }, () => (c.extremes ? (r() < 0.5 ? -127 : 127) : randInt(r, -127, 127)));
  const bias = Int32Array.from({ length: N }, () => (c.hugeBias ? randInt(r, -(2 ** 31), 2 ** 31 - 1) : randInt(r, -20000, 20000)));
  const nq = c.perChannel ? N : 1;
  const [s0, s1] = c.shifts ?? [-12, 0];
  const mult = Array.from({ length: nq }, () => randInt(r, 2 ** 30, 2 ** 31 - 1));
  const shift = Array.from({ length: nq }, () => randInt(r, s0, s1));
  const zp = randInt(r, -20, 20);
  const [min, max] = c.clamp ?? [-128, 127];
  const blob = packGemmI8({ weight: (k, n) => W[k * N + n]!, K, N, bias: c.noBias ? undefined : bias, requant: c.raw ? undefined : { multiplier: mult, shift, zeroPoint: zp, min, max } });
  expect(blob.length).toBe(gemmI8Layout(K, N).bytes);
  const es = c.raw ? 4 : 1;
  // Odd gaps so nothing relies on alignment beyond what the spec asks (A and C unaligned).
  const aAddr = 37, constAddr = Math.ceil((aAddr + M * lda + 64) / 16) * 16;
  const cAddr = constAddr + blob.length + 3 + (c.raw ? 1 : 0);
  const end = cAddr + M * ldc * es + 64;
  const mod = createKernelModule({ initialPages: Math.ceil(end / 65536) + 1, relaxed: c.relaxed });
  const q = c.raw ? undefined : requantSpec({ multiplier: mult, shift, zeroPoint: zp, min, max });
  const k = emitGemmI8(mod, { name: 'g', M, N, K, aAddr, lda, constAddr, cAddr, ldc, relaxed: c.relaxed, requant: q, bias: !c.noBias });
  const bytes = emitModule(mod);
  mod.dispose();
  const memory = new WebAssembly.Memory({ initial: Math.ceil(end / 65536) + 1 });
  const u8 = new Uint8Array(memory.buffer);
  u8.set(new Uint8Array(A.buffer), aAddr);
  u8.set(blob, constAddr);
  u8.fill(0x5a, cAddr, end); // sentinel
  const fn = instantiateKernels(bytes, memory)['g']!;
  const splits = c.splits ?? 1;
  const per = Math.ceil(k.workItems / splits);
  for (let s = 0; s < k.workItems; s += per) fn(s, Math.min(k.workItems, s + per));
  const dv = new DataView(memory.buffer);
  for (let i = 0; i < M; i++) {
    for (let n = 0; n < ldc; n++) {
      const at = cAddr + (i * ldc + n) * es;
      if (n >= N) {
        expect(u8[at], `C[${i}, ${n}] (past N) was written`).toBe(0x5a);
        continue;
      }
      let acc = c.noBias ? 0 : bias[n]!;
      for (let kk = 0; kk < K; kk++) acc = (acc + A[i * lda + kk]! * W[kk * N + n]!) | 0;
      const got = c.raw ? dv.getInt32(at, true) : dv.getInt8(at);
      const j = c.perChannel ? n : 0;
      const want = c.raw ? acc : requantizeRef(acc, mult[j]!, shift[j]!, zp, min, max);
      if (got !== want) expect(got, `C[${i}, ${n}] (${JSON.stringify(c)}), acc ${acc}`).toBe(want);
    }
  }
  expect(u8[cAddr + M * ldc * es], 'byte past C').toBe(0x5a);
}

describe.each([false, true])('emitGemmI8 (relaxed: %s)', (relaxed) => {
  if (relaxed && relaxedBroken) {
    it.skip('skipped: this tier computes the relaxed int8 dot product wrongly (runtime falls back to plain; see the turbofan suite)', () => {});
    return;
  }
  it('agrees bit-exactly with integer arithmetic on odd shapes (K, N, M tails)', () => {
    for (const [M, N, K] of [[1, 1, 1], [1, 8, 4], [2, 8, 16], [3, 5, 7], [5, 13, 3], [7, 9, 30], [4, 16, 64], [9, 24, 33], [1, 10, 2], [6, 3, 5]] as const) {
      runCase({ M, N, K, relaxed, perChannel: true });
      runCase({ M, N, K, relaxed });
    }
  });
  it('per-channel requantization with ReLU / ReLU6-style clamps, left shifts, split work items', () => {
    runCase({ M: 11, N: 21, K: 27, relaxed, perChannel: true, clamp: [-5, 127], splits: 3 });
    runCase({ M: 8, N: 16, K: 12, relaxed, perChannel: true, clamp: [-5, 40] });
    runCase({ M: 5, N: 12, K: 9, relaxed, perChannel: true, shifts: [-2, 3], clamp: [-128, 127] });
  });
  it('ties: small right shifts round half away from zero, as TFLite', () => {
    runCase({ M: 16, N: 16, K: 8, relaxed, perChannel: true, shifts: [-2, -1] });
    runCase({ M: 6, N: 8, K: 5, relaxed, perChannel: true, shifts: [0, 0] });
  });
  it('extreme operands (-128 activations, ±127 weights), huge wrapping biases, row and column strides', () => {
    runCase({ M: 5, N: 9, K: 300, relaxed, extremes: true, perChannel: true });
    runCase({ M: 7, N: 11, K: 13, relaxed, hugeBias: true, perChannel: true });
    runCase({ M: 7, N: 11, K: 13, relaxed, hugeBias: true, shifts: [-31, -25] });
    runCase({ M: 7, N: 11, K: 13, relaxed, hugeBias: true, perChannel: true, shifts: [-31, -28] });
    runCase({ M: 6, N: 10, K: 15, lda: 21, ldc: 13, relaxed, perChannel: true });
  });
  it('raw i32 output (no requantization), with and without bias', () => {
    runCase({ M: 5, N: 11, K: 19, relaxed, raw: true });
    runCase({ M: 3, N: 4, K: 8, relaxed, raw: true, noBias: true, ldc: 6 });
  });
});

describe('packGemmI8 / emitGemmI8 refuse bad input', () => {
  it('names the offending weight, multiplier and shape', () => {
    expect(() => packGemmI8({ weight: () => -128, K: 2, N: 2 })).toThrow(/weight \[0, 0\] must be an integer in \[-127, 127\].*got -128/);
    expect(() => packGemmI8({ weight: () => 1, K: 2, N: 2, requant: { multiplier: [5], shift: [0], zeroPoint: 0, min: -128, max: 127 } })).toThrow(/multiplier\[0\] must be a Q31 integer/);
    expect(() => packGemmI8({ weight: () => 1, K: 2, N: 3, requant: { multiplier: [2 ** 30, 2 ** 30], shift: [0], zeroPoint: 0, min: -128, max: 127 } })).toThrow(/multiplier must have 1 or N=3 entries, got 2/);
    const mod = createKernelModule();
    expect(() => emitGemmI8(mod, { name: 'x', M: 0, N: 1, K: 1, aAddr: 0, constAddr: 0, cAddr: 0, relaxed: false })).toThrow(KilnError);
    expect(() => emitGemmI8(mod, { name: 'x', M: 1, N: 1, K: 1, aAddr: 0, constAddr: 8, cAddr: 0, relaxed: false })).toThrow(/constAddr must be 16-byte aligned, got 8/);
    mod.dispose();
  });
});
