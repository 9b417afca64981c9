/**
 * Kernel-IR `gemm` statements on CUDA: a shared-memory tiled f32 matmul. A block of 256 threads
 * (16x16) computes a 64x64 tile of C (grid = (ceil(N/64), ceil(M/64)));
 * each K step of 16 stages a 64x16 slice of A (k-major) and a 16x64 slice of B in shared memory,
 * and every thread accumulates a 4x4 register block at rows ty+16i, columns tx+16j (so a warp's
 * shared reads are broadcasts for A and consecutive for B). A is read through its row stride or
 * transposed (no copy); B is the packed panel layout the WebAssembly micro-kernel streams
 * (kernel_ir.ts, GEMM_NR-wide column panels), indexed as such; out-of-range elements load 0 from a
 * clamped address, so no branch sits in the load path. The epilogue expression of each output is
 * evaluated per element with `acc` and index variables m/n bound, then stored at m*N + n.
 * The A loader is pluggable (emitTiledGemm): conv.ts reuses the kernel as an implicit-GEMM
 * convolution whose A elements are input pixels addressed from (m, k).
 */
import { GEMM_NR, type Expr, type Gemm } from '../kernel_ir.js';
import { entryHeader, PtxEmitter, type PtxEnv, type PtxKernel } from './ptx.js';
import { PtxBuilder } from './ptx_builder.js';

const TILE = 64;
const BK = 16;
const THREADS = 256;
const PER = 4; // register block per thread: PER x PER

export function emitGemmKernel(name: string, g: Gemm, env: PtxEnv): PtxKernel {
  // Element strides of A[m, k].
  const aSm = g.a.transA ? 1 : g.a.lda, aSk = g.a.transA ? g.a.lda : 1;
  return emitTiledGemm(name, { M: g.M, N: g.N, K: g.K, bPacked: g.bPacked, out: g.out, epilogue: g.epilogue }, env, (b, e, m, k) =>
    loadClamped(b, e, g.a.buf, m, g.M, k, g.K, (mc, kc) => {
      const t = b.r((d) => `mad.lo.s32 ${d}, ${mc}, ${aSm}, ${g.a.offset}`);
      return b.r((d) => `mad.lo.s32 ${d}, ${kc}, ${aSk}, ${t}`);
    }));
}

/** What the tiled kernel needs besides A: B packed in GEMM_NR panels, the output and its epilogue. */
export interface TiledGemmSpec {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly bPacked: number;
  readonly out: number;
  readonly epilogue: Expr;
}

/**
 * A[m, k] as an f32 register, 0 when m >= M or k >= K (or, for an implicit-GEMM convolution, when
 * the tap falls in the padding). `m` and `k` are s32 registers.
 */
export type ALoader = (b: PtxBuilder, e: PtxEmitter, m: string, k: string) => string;

/** The tiled kernel over any A (a matrix, or a convolution's implicit im2col matrix). */
export function emitTiledGemm(name: string, g: TiledGemmSpec, env: PtxEnv, loadA: ALoader): PtxKernel {
  const b = new PtxBuilder();
  const memParam = b.reg('rd');
  b.op(`ld.param.u64 ${memParam}, [${name}_param_0]`);
  const mem = b.reg('rd');
  b.op(`cvta.to.global.u64 ${mem}, ${memParam}`);
  const e = new PtxEmitter(b, env, mem);
  if (g.M * g.N === 0) {
    b.op('ret');
    return { text: `${entryHeader(name)}\n{\n${b.body()}\n}\n`, launch: { name, grid: [1, 1, 1], block: [32, 1, 1], threadsPerItem: 0 } };
  }

  const tid = b.r((d) => `mov.u32 ${d}, %tid.x`);
  const tx = b.r((d) => `and.b32 ${d}, ${tid}, 15`);
  const ty = b.r((d) => `shr.u32 ${d}, ${tid}, 4`);
  const bx = b.r((d) => `mov.u32 ${d}, %ctaid.x`);
  const by = b.r((d) => `mov.u32 ${d}, %ctaid.y`);
  const n0 = b.r((d) => `shl.b32 ${d}, ${bx}, 6`);
  const m0 = b.r((d) => `shl.b32 ${d}, ${by}, 6`);
  const smA = b.r((d) => `mov.u32 ${d}, ${name}_smA`);
  const smB = b.r((d) => `mov.u32 ${d}, ${name}_smB`);

  // B[k, n] is in packed panels: (n/NR)*K*NR + k*NR + n%NR.
  const nPadded = Math.ceil(g.N / GEMM_NR) * GEMM_NR;

  const acc: string[] = [];
  for (let i = 0; i < PER * PER; i++) acc.push(b.f((d) => `mov.f32 ${d}, 0f00000000`));

  // Thread t loads elements t + 256*i of each staged slice: A slice e -> (row e/16, kk e%16),
  // B slice e -> (kk e/64, col e%64). These do not depend on the K step.
  const aRow: string[] = [], aKk: string[] = [], bKk: string[] = [], bCol: string[] = [];
  for (let i = 0; i < (TILE * BK) / THREADS; i++) {
    const el = b.r((d) => `add.s32 ${d}, ${tid}, ${THREADS * i}`);
    aRow.push(b.r((d) => `shr.u32 ${d}, ${el}, 4`));
    aKk.push(b.r((d) => `and.b32 ${d}, ${el}, 15`));
    bKk.push(b.r((d) => `shr.u32 ${d}, ${el}, 6`));
    bCol.push(b.r((d) => `and.b32 ${d}, ${el}, 63`));
  }

  const k0 = b.r((d) => `mov.u32 ${d}, 0`);
  const head = b.newLabel('kstep'), done = b.newLabel('kdone');
  b.label(head);
  const pk = b.p((d) => `setp.ge.s32 ${d}, ${k0}, ${g.K}`);
  b.op(`@${pk} bra ${done}`);
  // Stage A: As[kk][row] = A[b, m0+row, k0+kk] (0 outside).
  for (let i = 0; i < aRow.length; i++) {
    const m = b.r((d) => `add.s32 ${d}, ${m0}, ${aRow[i]}`);
    const k = b.r((d) => `add.s32 ${d}, ${k0}, ${aKk[i]}`);
    const v = loadA(b, e, m, k);
    const off = b.r((d) => `mad.lo.s32 ${d}, ${aKk[i]}, ${TILE}, ${aRow[i]}`);
    const sa = b.r((d) => `mad.lo.s32 ${d}, ${off}, 4, ${smA}`);
    b.op(`st.shared.f32 [${sa}], ${v}`);
  }
  // Stage B: Bs[kk][col] = B[b, k0+kk, n0+col] (0 outside).
  for (let i = 0; i < bKk.length; i++) {
    const k = b.r((d) => `add.s32 ${d}, ${k0}, ${bKk[i]}`);
    const n = b.r((d) => `add.s32 ${d}, ${n0}, ${bCol[i]}`);
    const v = loadClamped(b, e, g.bPacked, k, g.K, n, nPadded, (kc, nc) => {
      const panel = b.r((d) => `shr.u32 ${d}, ${nc}, ${Math.log2(GEMM_NR)}`);
      const lane = b.r((d) => `and.b32 ${d}, ${nc}, ${GEMM_NR - 1}`);
      const t = b.r((d) => `mad.lo.s32 ${d}, ${panel}, ${g.K * GEMM_NR}, ${lane}`);
      return b.r((d) => `mad.lo.s32 ${d}, ${kc}, ${GEMM_NR}, ${t}`);
    });
    const off = b.r((d) => `mad.lo.s32 ${d}, ${bKk[i]}, ${TILE}, ${bCol[i]}`);
    const sb = b.r((d) => `mad.lo.s32 ${d}, ${off}, 4, ${smB}`);
    b.op(`st.shared.f32 [${sb}], ${v}`);
  }
  b.op('bar.sync 0');
  const aRd = b.r((d) => `mad.lo.s32 ${d}, ${ty}, 4, ${smA}`);
  const bRd = b.r((d) => `mad.lo.s32 ${d}, ${tx}, 4, ${smB}`);
  for (let kk = 0; kk < BK; kk++) {
    const av: string[] = [], bv: string[] = [];
    for (let i = 0; i < PER; i++) av.push(b.f((d) => `ld.shared.f32 ${d}, [${aRd}+${(kk * TILE + 16 * i) * 4}]`));
    for (let j = 0; j < PER; j++) bv.push(b.f((d) => `ld.shared.f32 ${d}, [${bRd}+${(kk * TILE + 16 * j) * 4}]`));
    for (let i = 0; i < PER; i++) for (let j = 0; j < PER; j++) b.op(`fma.rn.f32 ${acc[i * PER + j]}, ${av[i]}, ${bv[j]}, ${acc[i * PER + j]}`);
  }
  b.op('bar.sync 0');
  b.op(`add.s32 ${k0}, ${k0}, ${BK}`);
  b.op(`bra.uni ${head}`);
  b.label(done);

  // Epilogue and stores, guarded per element.
  for (let i = 0; i < PER; i++) {
    for (let j = 0; j < PER; j++) {
      const skip = b.newLabel('out');
      const m = b.r((d) => `add.s32 ${d}, ${m0}, ${ty}`);
      const mi = b.r((d) => `add.s32 ${d}, ${m}, ${16 * i}`);
      const n = b.r((d) => `add.s32 ${d}, ${n0}, ${tx}`);
      const nj = b.r((d) => `add.s32 ${d}, ${n}, ${16 * j}`);
      const pm = b.p((d) => `setp.ge.s32 ${d}, ${mi}, ${g.M}`);
      const pn = b.p((d) => `setp.ge.s32 ${d}, ${nj}, ${g.N}`);
      const out = b.p((d) => `or.pred ${d}, ${pm}, ${pn}`);
      b.op(`@${out} bra ${skip}`);
      e.resetMemo();
      e.vars.set('m', mi);
      e.vars.set('n', nj);
      e.acc = acc[i * PER + j];
      const at = b.r((d) => `mad.lo.s32 ${d}, ${mi}, ${g.N}, ${nj}`);
      e.store(g.out, at, e.expr(g.epilogue));
      b.label(skip);
    }
  }
  b.op('ret');
  const shared = `\t.shared .align 16 .f32 ${name}_smA[${TILE * BK}];\n\t.shared .align 16 .f32 ${name}_smB[${TILE * BK}];`;
  return {
    text: `${entryHeader(name)}\n{\n${shared}\n${b.body()}\n}\n`,
    launch: { name, grid: [Math.max(1, Math.ceil(g.N / TILE)), Math.max(1, Math.ceil(g.M / TILE)), 1], block: [THREADS, 1, 1], threadsPerItem: 0 },
  };
}

/** buf[index(clamp(i), clamp(j))], or 0 when i >= ni or j >= nj. */
export function loadClamped(b: PtxBuilder, e: PtxEmitter, buf: number, i: string, ni: number, j: string, nj: number, index: (ic: string, jc: string) => string): string {
  const ic = b.r((d) => `min.s32 ${d}, ${i}, ${Math.max(0, ni - 1)}`);
  const jc = b.r((d) => `min.s32 ${d}, ${j}, ${Math.max(0, nj - 1)}`);
  const idx = index(ic, jc);
  const v = e.load(buf, idx, 'f32').reg;
  const pi = b.p((d) => `setp.lt.s32 ${d}, ${i}, ${ni}`);
  const pj = b.p((d) => `setp.lt.s32 ${d}, ${j}, ${nj}`);
  const ok = b.p((d) => `and.pred ${d}, ${pi}, ${pj}`);
  return b.f((d) => `selp.f32 ${d}, ${v}, 0f00000000, ${ok}`);
}
