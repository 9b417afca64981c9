/**
 * Register-blocked f32 GEMM micro-kernel generator for WebAssembly SIMD128.
 *
 * emitGemm adds one exported kernel computing C[M,N] = A[M,K] · B[K,N] (+ a
 * fused epilogue) where B was packed at compile time into column panels of
 * width nr (pack.ts). The kernel keeps an mr x nr block of C in mr*nr/4 v128
 * accumulators; per k it loads nr/4 vectors of the B panel and broadcasts one
 * A element per row (v128.load32_splat), so a k step costs mr + nr/4 loads
 * for mr*nr/4 multiply-adds. All addresses are compile-time constants folded
 * into the loads' memarg offsets: the k loop advances one A and one B pointer.
 *
 * Work items are row blocks of mr rows (threads split M): the export
 * (start, end) computes row blocks [start, end). M, N and K tails are
 * specialised at compile time (partial row block, partial last panel with
 * lane-exact stores, statically unrolled K remainder).
 */
import binaryen from 'binaryen';
import { KilnError } from '../../ir/types.js';
import {
  type ExpressionRef,
  type Module,
  addKernel,
  f32x4Const,
  loadLanes,
  madd,
  storeLanes,
  v128Zero,
} from './module_builder.js';

/** What an epilogue callback may read besides the accumulator. */
export interface EpilogueContext {
  readonly mod: Module;
  /** Valid lanes (1..4) of this vector: the last panel may be partial. */
  readonly lanes: number;
  /** i32 row index of this vector in C. */
  row(): ExpressionRef;
  /** i32 column index of lane 0 of this vector in C. */
  col(): ExpressionRef;
  /** The 4 consecutive f32 of a per-column vector (length N) at byte address addr. */
  loadPerColumn(addr: number): ExpressionRef;
  /** The f32x4 of a buffer laid out like C (same ldc) at the same index as this output. */
  loadAtOutput(addr: number): ExpressionRef;
}

export type Activation = 'relu' | 'relu6' | { clamp: readonly [number, number] };

/** Elementwise math fused into the store: bias, then custom, then activation. */
export interface GemmEpilogue {
  /** Byte address of f32[N] added per column. */
  bias?: number;
  /** Arbitrary fused elementwise chain (residual add, scale/shift, ...). */
  custom?: (acc: ExpressionRef, ctx: EpilogueContext) => ExpressionRef;
  activation?: Activation;
}

/** Apply `epi` to one accumulator vector: bias, then custom, then activation. */
export function applyEpilogue(acc: ExpressionRef, epi: GemmEpilogue | undefined, ctx: EpilogueContext): ExpressionRef {
  if (!epi) return acc;
  const { mod } = ctx;
  let v = acc;
  if (epi.bias !== undefined) v = mod.f32x4.add(v, ctx.loadPerColumn(epi.bias));
  if (epi.custom) v = epi.custom(v, ctx);
  const act = epi.activation;
  if (act === 'relu') v = mod.f32x4.max(v, v128Zero(mod));
  else if (act === 'relu6') v = mod.f32x4.min(mod.f32x4.max(v, v128Zero(mod)), f32x4Const(mod, 6));
  else if (act) v = mod.f32x4.min(mod.f32x4.max(v, f32x4Const(mod, act.clamp[0])), f32x4Const(mod, act.clamp[1]));
  return v;
}

export interface GemmSpec {
  name: string;
  M: number;
  N: number;
  K: number;
  /** Byte address of A. Row-major [M, lda] or, with transA, [K, lda]. */
  aAddr: number;
  /** Row stride of A in elements (default K, or M with transA). */
  lda?: number;
  /** A is stored transposed: A[i,k] at aAddr + (k*lda + i)*4. */
  transA?: boolean;
  /** Byte address of B packed by packB(B, K, N, nr). */
  bPackedAddr: number;
  /** Byte address of C [M, ldc]. */
  cAddr: number;
  /** Row stride of C in elements (default N). */
  ldc?: number;
  relaxed: boolean;
  epilogue?: GemmEpilogue;
  /** Rows per register block (default 4). */
  mr?: number;
  /** Panel width, a multiple of 4 (default 8); must match packB's nr. */
  nr?: number;
  /** k-loop unroll factor (default 1, see DEFAULT_MR). */
  kUnroll?: number;
  /**
   * Rows computed at run time: perItem times the i32 at byte address `addr` (a batch size), at
   * most M; a partial last row block runs a micro-kernel for just its live rows.
   */
  liveRows?: { addr: number; perItem: number; segmentRows?: number };
}

export interface GemmKernel {
  name: string;
  /** Number of parallel work items (row blocks) to split over [0, workItems). */
  workItems: number;
  mr: number;
  nr: number;
}

// Measured on V8 (Node 20, x86-64 with FMA), 1024^3: 4x8 with no k unroll
// reaches ~53 GFLOP/s with relaxed FMA and ~43 without; 2x16 ties. 6x8 (12
// accumulators + 2 B + 1 A + V8's scratch register = all 16 xmm) spills, and
// unrolling k lets TurboFan hoist every load of the unrolled body to the top,
// which spills too (~28 GFLOP/s).
export const DEFAULT_MR = 4;
export const DEFAULT_NR = 8;
export const DEFAULT_KU = 1;

/**
 * Whether a micro-kernel of rows x vecs accumulators uses the fused relaxed_madd (in the relaxed
 * build) or multiply + add. Each accumulator is a dependency chain advancing once per
 * multiply-add: fused, a step costs the FMA latency (4 cycles on current x86); unfused, the
 * multiply is off the chain and a step costs the add latency (3). With few chains the loop is
 * latency-bound, and relaxed FMA measured 1.1-3x slower than multiply + add there (bench/kernels.ts,
 * AMD EPYC, V8 11.3: the single border pixels of a 1x7 conv, the 1-pixel row tail of a 7x1 conv,
 * a 2-column edge panel of a dense layer). Threshold measured: at <= 4 accumulators multiply + add
 * wins; at 6 (a 3-row tail of a 5x5 conv) fusing is 1.6x faster; full 4x8 blocks (8) fuse.
 * Splitting k over more accumulator sets instead made V8 hoist the unrolled loads and spill.
 */
export function fuseMadd(relaxed: boolean, rows: number, vecs: number): boolean {
  return relaxed && rows * vecs > 4;
}

function checkSpec(s: GemmSpec, mr: number, nr: number, ku: number): void {
  const bad = (msg: string): never => {
    throw new KilnError(`emitGemm '${s.name}' (M=${s.M}, N=${s.N}, K=${s.K}): ${msg}`);
  };
  for (const [k, v] of [['M', s.M], ['N', s.N], ['K', s.K]] as const) {
    if (!Number.isInteger(v) || v < 1) bad(`${k} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(mr) || mr < 1 || mr > 8) bad(`mr must be in 1..8, got ${mr}`);
  if (!Number.isInteger(nr) || nr < 4 || nr % 4 !== 0 || nr > 32) bad(`nr must be a multiple of 4 in 4..32, got ${nr}`);
  if (!Number.isInteger(ku) || ku < 1) bad(`kUnroll must be a positive integer, got ${ku}`);
  const lda = s.lda ?? (s.transA ? s.M : s.K);
  if (lda < (s.transA ? s.M : s.K)) bad(`lda ${lda} is smaller than the ${s.transA ? 'M' : 'K'} extent`);
  if ((s.ldc ?? s.N) < s.N) bad(`ldc ${s.ldc} is smaller than N`);
  for (const [k, v] of [['aAddr', s.aAddr], ['bPackedAddr', s.bPackedAddr], ['cAddr', s.cAddr]] as const) {
    if (!Number.isInteger(v) || v < 0 || v % 4 !== 0) bad(`${k} must be a 4-byte aligned address, got ${v}`);
  }
}

/** Add the GEMM kernel to `mod` and export it under spec.name. */
export function emitGemm(mod: Module, spec: GemmSpec): GemmKernel {
  const mr = spec.mr ?? DEFAULT_MR;
  const nr = spec.nr ?? DEFAULT_NR;
  const ku = spec.kUnroll ?? DEFAULT_KU;
  checkSpec(spec, mr, nr, ku);
  const { M, N, K, relaxed } = spec;
  const transA = spec.transA ?? false;
  const lda = spec.lda ?? (transA ? M : K);
  const ldc = spec.ldc ?? N;
  const nv = nr / 4;
  const { i32, v128 } = binaryen;

  // Locals: params 0 (start), 1 (end).
  let next = 2;
  const local = (): number => next++;
  const RB = local(); // current row block
  const AROW = local(); // byte offset of A for this row block (relative to aAddr)
  const CROW = local(); // byte offset of C row i0 (relative to cAddr)
  const BP = local(); // absolute byte address of the current B panel
  const COLB = local(); // byte offset of the panel's first column (p*nr*4)
  const AK = local(); // A pointer in the k loop
  const BK = local(); // B pointer in the k loop
  const AEND = local();
  const COFF = local(); // CROW + COLB
  const LIVE = local(); // rows computed in this run (liveRows)
  const i32Count = next - 2;
  const AV = local(); // broadcast A element
  const TMP = local();
  const BV: number[] = [];
  for (let j = 0; j < nv; j++) BV.push(local());
  const ACC: number[][] = [];
  for (let r = 0; r < mr; r++) {
    ACC.push([]);
    for (let j = 0; j < nv; j++) ACC[r]!.push(local());
  }
  const v128Count = next - 2 - i32Count;

  const get = (l: number, t: binaryen.Type = i32): ExpressionRef => mod.local.get(l, t);
  const set = (l: number, e: ExpressionRef): ExpressionRef => mod.local.set(l, e);
  const c = (x: number): ExpressionRef => mod.i32.const(x);
  const add = (a: ExpressionRef, b: ExpressionRef): ExpressionRef => mod.i32.add(a, b);

  const aStep = transA ? lda * 4 : 4; // bytes per k
  const aRowStride = transA ? 4 : lda * 4; // bytes per row
  const aOff = (r: number, kk: number): number => spec.aAddr + r * aRowStride + kk * aStep;
  const panelBytes = K * nr * 4;

  /** One k step (A offset kk relative to AK, B offset kk relative to BK). */
  const kStep = (rows: number, vecs: number, kk: number, out: ExpressionRef[]): void => {
    const fma = fuseMadd(relaxed, rows, vecs);
    for (let j = 0; j < vecs; j++) out.push(set(BV[j]!, mod.v128.load(kk * nr * 4 + j * 16, 16, get(BK))));
    for (let r = 0; r < rows; r++) {
      out.push(set(AV, mod.v128.load32_splat(aOff(r, kk), 4, get(AK))));
      for (let j = 0; j < vecs; j++) {
        out.push(set(ACC[r]![j]!, madd(mod, fma, get(AV, v128), get(BV[j]!, v128), get(ACC[r]![j]!, v128))));
      }
    }
  };

  const epilogueVec = (acc: ExpressionRef, r: number, j: number, lanes: number): ExpressionRef =>
    applyEpilogue(acc, spec.epilogue, {
      mod,
      lanes,
      row: () => add(mod.i32.mul(get(RB), c(mr)), c(r)),
      col: () => add(mod.i32.shr_u(get(COLB), c(2)), c(j * 4)),
      loadPerColumn: (addr) => loadLanes(mod, lanes, addr + j * 16, get(COLB)),
      loadAtOutput: (addr) => loadLanes(mod, lanes, addr + r * ldc * 4 + j * 16, get(COFF)),
    });

  /** Full micro-kernel for `rows` rows and `cols` valid columns of the panel at BP. */
  const microKernel = (rows: number, cols: number, label: string): ExpressionRef[] => {
    const vecs = Math.ceil(cols / 4);
    const out: ExpressionRef[] = [];
    for (let r = 0; r < rows; r++) for (let j = 0; j < vecs; j++) out.push(set(ACC[r]![j]!, v128Zero(mod)));
    out.push(set(AK, get(AROW)), set(BK, get(BP)));
    const iters = Math.floor(K / ku);
    if (iters > 0) {
      const body: ExpressionRef[] = [];
      for (let kk = 0; kk < ku; kk++) kStep(rows, vecs, kk, body);
      body.push(set(AK, add(get(AK), c(ku * aStep))), set(BK, add(get(BK), c(ku * nr * 4))));
      body.push(mod.br(`k_${label}`, mod.i32.ne(get(AK), get(AEND))));
      out.push(set(AEND, add(get(AROW), c(iters * ku * aStep))));
      out.push(mod.loop(`k_${label}`, mod.block(null, body)));
    }
    for (let kk = 0; kk < K % ku; kk++) kStep(rows, vecs, kk, out);
    out.push(set(COFF, add(get(CROW), get(COLB))));
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < vecs; j++) {
        const lanes = Math.min(4, cols - j * 4);
        const v = epilogueVec(get(ACC[r]![j]!, v128), r, j, lanes);
        out.push(storeLanes(mod, lanes, spec.cAddr + r * ldc * 4 + j * 16, COFF, v, TMP));
      }
    }
    return out;
  };

  /** All panels of one row block with `rows` rows. */
  const rowBlock = (rows: number, tag: string): ExpressionRef => {
    const fullPanels = Math.floor(N / nr);
    const tailCols = N % nr;
    const out: ExpressionRef[] = [
      set(AROW, mod.i32.mul(get(RB), c(mr * aRowStride))),
      set(CROW, mod.i32.mul(get(RB), c(mr * ldc * 4))),
      set(BP, c(spec.bPackedAddr)),
      set(COLB, c(0)),
    ];
    if (fullPanels > 0) {
      const body = microKernel(rows, nr, `${tag}_full`);
      body.push(set(BP, add(get(BP), c(panelBytes))), set(COLB, add(get(COLB), c(nr * 4))));
      body.push(mod.br(`panels_${tag}`, mod.i32.lt_u(get(COLB), c(fullPanels * nr * 4))));
      out.push(mod.loop(`panels_${tag}`, mod.block(null, body)));
    }
    if (tailCols > 0) out.push(...microKernel(rows, tailCols, `${tag}_tail`));
    return mod.block(null, out);
  };

  const blocks = Math.ceil(M / mr);
  const fullBlocks = Math.floor(M / mr);
  const tailRows = M % mr;
  let perBlock: ExpressionRef;
  const live = spec.liveRows;
  if (live) {
    // rem = live rows from this block on: a full block, or a micro-kernel for 1..mr-1 rows.
    // With segments (time-major rows: every segmentRows rows hold the batch again), rows count within the segment.
    const first = mod.i32.mul(get(RB), c(mr));
    const rem = mod.i32.sub(get(LIVE), live.segmentRows ? mod.i32.rem_u(first, c(live.segmentRows)) : first);
    perBlock = mod.nop();
    for (let r = 1; r < mr; r++) perBlock = mod.if(mod.i32.eq(rem, c(r)), rowBlock(r, `ml${r}`), perBlock);
    perBlock = mod.if(mod.i32.ge_s(rem, c(mr)), rowBlock(mr, 'm'), perBlock);
  } else if (tailRows === 0) perBlock = rowBlock(mr, 'm');
  else if (fullBlocks === 0) perBlock = rowBlock(tailRows, 'mt');
  else perBlock = mod.if(mod.i32.lt_u(get(RB), c(fullBlocks)), rowBlock(mr, 'm'), rowBlock(tailRows, 'mt'));

  const body = mod.block(null, [
    live ? set(LIVE, mod.i32.mul(mod.i32.load(0, 4, c(live.addr)), c(live.perItem))) : mod.nop(),
    set(RB, get(0)),
    mod.block('done', [
      mod.loop(
        'rows',
        mod.block(null, [
          mod.br('done', mod.i32.ge_u(get(RB), get(1))),
          perBlock,
          set(RB, add(get(RB), c(1))),
          mod.br('rows'),
        ]),
      ),
    ]),
  ]);
  const locals = [...Array<binaryen.Type>(i32Count).fill(i32), ...Array<binaryen.Type>(v128Count).fill(v128)];
  addKernel(mod, spec.name, locals, body);
  return { name: spec.name, workItems: blocks, mr, nr };
}
