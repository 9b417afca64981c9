// GEMM micro-kernel vs a naive float64 matmul written here. Relaxed SIMD must
// be enabled before any module is compiled. With V8's default tiering each
// freshly compiled kernel's first call runs Liftoff code, so this file checks
// the baseline tier; gemm.turbofan.test.ts imports it under --no-liftoff.
import v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

import { describe, expect, it } from 'vitest';
import { KilnError } from '../../ir/types.js';
import { type GemmEpilogue, emitGemm } from './gemm.js';
import { createKernelModule, emitModule, instantiateKernels } from './module_builder.js';
import { packB, packedBSize } from './pack.js';

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

interface Case {
  M: number;
  N: number;
  K: number;
  relaxed: boolean;
  mr?: number;
  nr?: number;
  kUnroll?: number;
  transA?: boolean;
  lda?: number;
  ldc?: number;
  bias?: boolean;
  residual?: boolean;
  /** Adds row + 0.01*col through the epilogue context (checks row()/col()). */
  indexTerm?: boolean;
  activation?: GemmEpilogue['activation'];
  /** Split the row blocks into this many ranges, as threads would. */
  splits?: number;
}

const SENTINEL = -12345.5;

function runCase(c: Case): void {
  const { M, N, K } = c;
  const nr = c.nr ?? 8;
  const lda = c.lda ?? (c.transA ? M : K);
  const ldc = c.ldc ?? N;
  const aRows = c.transA ? K : M;
  const A = rand(aRows * lda, 1 + M * 7 + K);
  const B = rand(K * N, 2 + N * 3 + K);
  const bias = rand(N, 3 + N);
  const res = rand(M * ldc, 4 + M);
  // Layout with odd, 4-byte aligned gaps so nothing relies on 16-byte alignment.
  let at = 20;
  const alloc = (floats: number): number => {
    const addr = at;
    at += floats * 4 + 36;
    return addr;
  };
  const aAddr = alloc(A.length);
  const bAddr = alloc(packedBSize(K, N, nr));
  const cAddr = alloc(M * ldc);
  const biasAddr = alloc(N);
  const resAddr = alloc(M * ldc);
  const pages = Math.ceil((at + 64) / 65536);

  const mod = createKernelModule({ relaxed: c.relaxed, initialPages: pages });
  const epilogue: GemmEpilogue = {};
  if (c.bias) epilogue.bias = biasAddr;
  if (c.activation) epilogue.activation = c.activation;
  if (c.residual || c.indexTerm) {
    epilogue.custom = (acc, ctx) => {
      let v = acc;
      if (c.residual) v = ctx.mod.f32x4.add(v, ctx.loadAtOutput(resAddr));
      if (c.indexTerm) {
        const m = ctx.mod;
        const rowF = m.f32.convert_s.i32(ctx.row());
        const colF = m.f32x4.convert_i32x4_s(
          m.i32x4.add(m.i32x4.splat(ctx.col()), m.v128.const([0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0])),
        );
        v = m.f32x4.add(v, m.f32x4.add(m.f32x4.splat(rowF), m.f32x4.mul(colF, m.f32x4.splat(m.f32.const(0.01)))));
      }
      return v;
    };
  }
  const kernel = emitGemm(mod, {
    name: 'gemm',
    M,
    N,
    K,
    aAddr,
    lda: c.lda,
    transA: c.transA,
    bPackedAddr: bAddr,
    cAddr,
    ldc: c.ldc,
    relaxed: c.relaxed,
    epilogue,
    mr: c.mr,
    nr: c.nr,
    kUnroll: c.kUnroll,
  });
  const bytes = emitModule(mod);
  mod.dispose();

  const memory = new WebAssembly.Memory({ initial: pages });
  const f32 = new Float32Array(memory.buffer);
  f32.fill(SENTINEL);
  f32.set(A, aAddr / 4);
  f32.set(packB(B, K, N, nr), bAddr / 4);
  f32.set(bias, biasAddr / 4);
  f32.set(res, resAddr / 4);
  const { gemm } = instantiateKernels(bytes, memory);
  const splits = c.splits ?? 1;
  const items = kernel.workItems;
  expect(items).toBe(Math.ceil(M / kernel.mr));
  // Run ranges in reverse order: results must not depend on the order threads finish.
  for (let s = splits - 1; s >= 0; s--) {
    gemm!(Math.floor((items * s) / splits), Math.floor((items * (s + 1)) / splits));
  }

  const a = (i: number, k: number): number => (c.transA ? A[k * lda + i]! : A[i * lda + k]!);
  let worst = 0;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < ldc; j++) {
      const got = f32[cAddr / 4 + i * ldc + j]!;
      if (j >= N) {
        // Padding columns between rows must be left alone.
        if (got !== SENTINEL) throw new Error(`C[${i},${j}] (padding) was overwritten: ${got}`);
        continue;
      }
      let ref = 0;
      let mag = 0;
      for (let k = 0; k < K; k++) {
        ref += a(i, k) * B[k * N + j]!;
        mag += Math.abs(a(i, k) * B[k * N + j]!);
      }
      if (c.bias) ref += bias[j]!;
      if (c.residual) ref += res[i * ldc + j]!;
      if (c.indexTerm) ref += i + 0.01 * j;
      if (c.activation === 'relu') ref = Math.max(ref, 0);
      else if (c.activation === 'relu6') ref = Math.min(Math.max(ref, 0), 6);
      else if (c.activation) ref = Math.min(Math.max(ref, c.activation.clamp[0]), c.activation.clamp[1]);
      const err = Math.abs(got - ref);
      const tol = 1e-4 * Math.abs(ref) + 1e-6 * (mag + 1);
      if (!(err <= tol)) throw new Error(`C[${i},${j}] = ${got}, expected ${ref} (M=${M} N=${N} K=${K})`);
      worst = Math.max(worst, err);
    }
  }
  // Bytes right after C must be untouched (tails store exactly their lanes).
  expect(f32[cAddr / 4 + M * ldc]).toBe(SENTINEL);
  expect(Number.isFinite(worst)).toBe(true);
}

const shapes: Array<[number, number, number]> = [
  [1, 1, 1],
  [7, 13, 5],
  [33, 65, 17],
  [128, 10, 784],
  [4, 8, 8],
  [5, 9, 3],
  [16, 24, 32],
];

for (const relaxed of [false, true]) {
  describe(`emitGemm (${relaxed ? 'relaxed FMA' : 'SIMD128 mul+add'})`, () => {
    for (const [M, N, K] of shapes) {
      it(`${M}x${N}x${K} plain`, () => runCase({ M, N, K, relaxed }));
      it(`${M}x${N}x${K} bias+relu, 2 ranges`, () =>
        runCase({ M, N, K, relaxed, bias: true, activation: 'relu', splits: 2 }));
      it(`${M}x${N}x${K} residual+index terms+relu6, 3 ranges`, () =>
        runCase({ M, N, K, relaxed, bias: true, residual: true, indexTerm: true, activation: 'relu6', splits: 3 }));
    }
    it('clamp activation', () => runCase({ M: 9, N: 11, K: 6, relaxed, activation: { clamp: [-0.3, 0.4] } }));
    it('row strides lda > K and ldc > N', () => runCase({ M: 10, N: 7, K: 9, lda: 13, ldc: 11, relaxed, bias: true }));
    it('transposed A', () => runCase({ M: 13, N: 21, K: 11, transA: true, relaxed, residual: true }));
    it('transposed A with lda > M', () => runCase({ M: 6, N: 5, K: 7, transA: true, lda: 9, relaxed, splits: 2 }));
    for (const [mr, nr, kUnroll] of [
      [6, 8, 4],
      [2, 16, 1],
      [3, 4, 3],
      [1, 12, 2],
    ] as const) {
      it(`blocking ${mr}x${nr} k-unroll ${kUnroll}`, () =>
        runCase({ M: 19, N: 37, K: 23, relaxed, mr, nr, kUnroll, bias: true, residual: true, splits: 2 }));
    }
  });
}

describe('relaxed build: small tiles multiply + add (fuseMadd)', () => {
  const text = (M: number, N: number): string => {
    const mod = createKernelModule({ relaxed: true });
    emitGemm(mod, { name: 'g', M, N, K: 5, aAddr: 0, bPackedAddr: 4096, cAddr: 8192, relaxed: true });
    const wat = mod.emitText();
    mod.dispose();
    return wat;
  };
  const fused = (wat: string): number => wat.split('relaxed_madd').length - 1;
  it('fuses a full 4x8 tile and nothing else', () => {
    expect(fused(text(4, 8))).toBeGreaterThan(0); // 8 accumulators
    expect(fused(text(4, 4))).toBe(0); // 4 rows x 1 vector: latency-bound, multiply + add
    expect(fused(text(1, 8))).toBe(0); // 1 row x 2 vectors
    expect(fused(text(3, 8))).toBeGreaterThan(0); // 6 accumulators fuse
  });
  // Mixed kernels (fused full tiles, unfused edges) against the float64 reference: tail rows and
  // columns, odd K, every epilogue.
  for (const activation of [undefined, 'relu', 'relu6', { clamp: [-0.3, 0.4] }] as const) {
    it(`M=9 N=10 K=7 edges, epilogue bias+residual+${JSON.stringify(activation ?? 'none')}`, () =>
      runCase({ M: 9, N: 10, K: 7, relaxed: true, bias: true, residual: true, indexTerm: true, activation, splits: 2 }));
  }
});

describe('emitGemm input checks', () => {
  const base = { name: 'g', M: 4, N: 4, K: 4, aAddr: 0, bPackedAddr: 64, cAddr: 128, relaxed: false };
  it('rejects bad shapes, blocking and addresses with KilnError', () => {
    const mod = createKernelModule();
    expect(() => emitGemm(mod, { ...base, K: 0 })).toThrow(KilnError);
    expect(() => emitGemm(mod, { ...base, nr: 6 })).toThrow(/nr must be a multiple of 4/);
    expect(() => emitGemm(mod, { ...base, cAddr: 130 })).toThrow(/cAddr must be a 4-byte aligned/);
    expect(() => emitGemm(mod, { ...base, lda: 2 })).toThrow(/lda 2 is smaller/);
    mod.dispose();
  });
  it('packB rejects a panel width that is not a multiple of 4', () => {
    expect(() => packB(new Float32Array(4), 2, 2, 6)).toThrow(KilnError);
  });
  it('emits a shared-memory module when asked', () => {
    const mod = createKernelModule({ shared: true });
    emitGemm(mod, base);
    const bytes = emitModule(mod);
    mod.dispose();
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true });
    expect(() => instantiateKernels(bytes, memory)).not.toThrow();
  });
});
