/**
 * Register-blocked int8 GEMM micro-kernel for WebAssembly SIMD128 and relaxed SIMD, with TFLite's
 * exact requantization in the epilogue.
 *
 * emitGemmI8 adds one exported kernel computing, for C[M, N] from A[M, K] (i8, row-major, row
 * stride lda bytes) and B[K, N] (i8 weights packed at compile time by packGemmI8):
 *   acc[m, n] = Σ_k A[m, k]·B[k, n] + bias[n]                        (exact i32, wrapping)
 *   out = clamp(MultiplyByQuantizedMultiplier(acc, mult[n], shift[n]) + zp, min, max) as i8,
 * or the raw i32 acc when no requantization is asked. Results are bit-exact with the spec
 * (requantizeRef below, gemmlowp/TFLite reference arithmetic) on both builds.
 *
 * Packed layout (one byte per weight, shared by both builds): column panels of nr columns; within
 * a panel, K is cut into quads (K padded to a multiple of 4 with zero weights); one quad of 4
 * columns is 16 bytes [c0: k0 k1 k2 k3 | c1: k0..k3 | c2 | c3], so a quad of a panel is nr*4 bytes.
 * A k step loads 4 activations of a row as one 32-bit splat.
 *
 * Plain SIMD128: an A quad widened to i16 ([a0 a1 a2 a3] twice) times one 8-byte half of a
 * B vector widened by v128.load8x8_s gives, with i32x4.dot_i16x8_s, two k-pair partial sums for
 * each of two columns; each output vector keeps two accumulators (columns 0-1 and 2-3, in pairs)
 * folded by two shuffles and an add before the epilogue. 2 rows x 8 columns = 8 accumulators +
 * 4 B vectors + 1 A: no spills in V8's 16 xmm registers.
 *
 * Relaxed SIMD: i32x4.relaxed_dot_i8x16_i7x16_add_s needs its second operand in [0, 127] (x86
 * computes it with pmaddubsw, which reads that operand unsigned; Arm with sdot, signed). Weights
 * are full int8 and activations too, so neither side is 7-bit. Each weight vector is split in the
 * kernel into w+ = max(w, 0) and w- = w+ - w (both in [0, 127] as weights are in [-127, 127]), and
 * A·w = A·w+ - A·w- = A·w+ + (~A)·w- + Σ w-, since ~a = -a - 1 is again an int8: two relaxed dots
 * per 16 products into one accumulator, whose initial value is the column constant Σ_k w-[k, n]
 * (stored with the packed weights). Pairwise sums stay within i16 (2·128·127 < 2^15), so the
 * result is exact on every implementation. 4 rows x 8 columns: 8 accumulators + 4 split weight
 * vectors + A + ~A.
 */
import binaryen from 'binaryen';
import { KilnError } from '../../ir/types.js';
import { type ExpressionRef, type Module, addKernel, v128Zero } from './module_builder.js';

/**
 * Panel width (columns) of packed int8 weights and rows per register block. Measured with
 * bench/int8.ts (AMD EPYC, V8 11.3, 1 thread): plain 4x4 (8 accumulators, 2 B halves x 1 vector)
 * and 2x8 tie on the large shapes (~60-65 GOP/s), 4x4 is ahead on small-N / small-K shapes; 3x8
 * and 4x8 spill; 1x16 re-broadcasts too little.
 */
export const I8_NR = 4;
export const I8_MR_PLAIN = 4;
export const I8_MR_RELAXED = 4;

/** Requantization of an i32 accumulator to i8 (the IR op `requantize`, TFLite's convention). */
export interface Requant {
  /** Q31 multipliers in [2^30, 2^31): one (per tensor) or N (per column). */
  readonly multiplier: readonly number[];
  /** Shifts, positive = left: one or N. */
  readonly shift: readonly number[];
  readonly zeroPoint: number;
  readonly min: number;
  readonly max: number;
}

/** Where each part of a packed int8 GEMM constant lives (byte offsets from its start). */
export interface GemmI8Layout {
  readonly K: number;
  readonly N: number;
  readonly nr: number;
  /** K rounded up to a multiple of 4. */
  readonly Kp: number;
  /** N rounded up to a multiple of nr. */
  readonly Np: number;
  readonly weights: number;
  /** i32[Np]: Σ_k max(-w, 0) per column (relaxed accumulator init). */
  readonly corr: number;
  /** i32[Np] */
  readonly bias: number;
  /** i32[Np] Q31 multipliers. */
  readonly mult: number;
  /** i32[Np] 2^max(shift, 0). */
  readonly lmul: number;
  /** i64[Np] rounding addend of the right shift, times 2^31: e > 0 ? 2^(e+30) : 0 (e = max(-shift, 0)). */
  readonly rnd: number;
  /** i64[Np] -2^31 where e > 0 (a negative value rounds away from zero), else 0. */
  readonly negm: number;
  /** i64[Np] 2^(31-e): floor(y / 2^e) = (y·2^(31-e)) >> 31 lane by lane. */
  readonly pw: number;
  readonly bytes: number;
}

export function gemmI8Layout(K: number, N: number, nr = I8_NR): GemmI8Layout {
  const Kp = Math.ceil(K / 4) * 4;
  const Np = Math.ceil(N / nr) * nr;
  const align = (x: number) => Math.ceil(x / 16) * 16;
  const weights = 0;
  const corr = align(Kp * Np);
  const bias = corr + Np * 4;
  const mult = bias + Np * 4;
  const lmul = mult + Np * 4;
  const rnd = lmul + Np * 4;
  const negm = rnd + Np * 8;
  const pw = negm + Np * 8;
  return { K, N, nr, Kp, Np, weights, corr, bias, mult, lmul, rnd, negm, pw, bytes: pw + Np * 8 };
}

export interface GemmI8Constants {
  /** Weight B[k, n] (an integer in [-127, 127]). */
  weight(k: number, n: number): number;
  K: number;
  N: number;
  /** i32 bias per column (length N), added before requantization. */
  bias?: ArrayLike<number>;
  requant?: Requant;
  nr?: number;
}

function perColumn(name: string, xs: readonly number[], N: number): (n: number) => number {
  if (xs.length !== 1 && xs.length !== N) throw new KilnError(`int8 GEMM: ${name} must have 1 or N=${N} entries, got ${xs.length}`);
  return (n) => xs[xs.length === 1 ? 0 : n]!;
}

/** Pack weights, bias and requantization tables into one constant blob (layout gemmI8Layout). */
export function packGemmI8(c: GemmI8Constants): Uint8Array {
  const L = gemmI8Layout(c.K, c.N, c.nr ?? I8_NR);
  const { K, N, nr, Kp, Np } = L;
  const out = new Uint8Array(L.bytes);
  const dv = new DataView(out.buffer);
  const w8 = new Int8Array(out.buffer, 0, Kp * Np);
  const corr = new Int32Array(Np);
  for (let n = 0; n < N; n++) {
    const p = Math.floor(n / nr), c4 = n % nr;
    const base = p * Kp * nr + c4 * 4;
    for (let k = 0; k < K; k++) {
      const w = c.weight(k, n);
      if (!Number.isInteger(w) || w < -127 || w > 127) {
        throw new KilnError(`int8 GEMM: weight [${k}, ${n}] must be an integer in [-127, 127] (symmetric int8), got ${w}`);
      }
      w8[base + (k >> 2) * nr * 4 + (k & 3)] = w;
      if (w < 0) corr[n]! -= w;
    }
  }
  for (let n = 0; n < Np; n++) dv.setInt32(L.corr + n * 4, corr[n]!, true);
  if (c.bias) {
    if (c.bias.length !== N) throw new KilnError(`int8 GEMM: bias must have N=${N} entries, got ${c.bias.length}`);
    for (let n = 0; n < N; n++) dv.setInt32(L.bias + n * 4, c.bias[n]!, true);
  }
  const q = c.requant;
  if (q) {
    const mult = perColumn('multiplier', q.multiplier, N), shift = perColumn('shift', q.shift, N);
    for (let n = 0; n < Np; n++) {
      const m = n < N ? mult(n) : 1 << 30, s = n < N ? shift(n) : 0;
      if (!Number.isInteger(m) || m < 2 ** 30 || m >= 2 ** 31) throw new KilnError(`int8 GEMM: multiplier[${n}] must be a Q31 integer in [2^30, 2^31), got ${m}`);
      if (!Number.isInteger(s) || s < -31 || s > 30) throw new KilnError(`int8 GEMM: shift[${n}] must be an integer in [-31, 30], got ${s}`);
      const e = Math.max(-s, 0);
      dv.setInt32(L.mult + n * 4, m, true);
      dv.setInt32(L.lmul + n * 4, 2 ** Math.max(s, 0) | 0, true);
      dv.setBigInt64(L.rnd + n * 8, e > 0 ? 1n << BigInt(e + 30) : 0n, true);
      dv.setBigInt64(L.negm + n * 8, e > 0 ? -(1n << 31n) : 0n, true);
      dv.setBigInt64(L.pw + n * 8, 1n << BigInt(31 - e), true);
    }
  }
  return out;
}

/** What the kernel code needs to know of the requantization (the tables are in the blob). */
export interface RequantSpec {
  zeroPoint: number;
  min: number;
  max: number;
  /** Some column has a positive (left) shift. */
  leftShift: boolean;
  /** The right shift e = max(-shift, 0) when every column has the same one (cheaper code). */
  uniformRight?: number;
}

/** The RequantSpec of a Requant. */
export function requantSpec(q: Requant): RequantSpec {
  const rights = new Set(q.shift.map((s) => Math.max(-s, 0)));
  return { zeroPoint: q.zeroPoint, min: q.min, max: q.max, leftShift: q.shift.some((s) => s > 0), ...(rights.size === 1 ? { uniformRight: [...rights][0]! } : {}) };
}

export interface GemmI8Spec {
  name: string;
  M: number;
  N: number;
  K: number;
  /** Byte address of A (i8), row i at aAddr + i*lda. */
  aAddr: number;
  /** Row stride of A in bytes (default K). */
  lda?: number;
  /** Byte address of the blob from packGemmI8 (16-byte aligned). */
  constAddr: number;
  /** Byte address of C: i8 when requantizing, else i32. */
  cAddr: number;
  /** Row stride of C in elements (default N). */
  ldc?: number;
  relaxed: boolean;
  /** Requantize to i8 (zero point and clamp; the per-column tables are in the blob); absent: store i32. */
  requant?: RequantSpec;
  /** Add the blob's bias (default true). */
  bias?: boolean;
  mr?: number;
  nr?: number;
}

export interface GemmI8Kernel {
  name: string;
  workItems: number;
  mr: number;
}

type Ref = ExpressionRef;

interface SimdApi {
  _BinaryenSIMDTernary(m: number, op: number, a: number, b: number, c: number): number;
  _BinaryenSIMDShuffle(m: number, a: number, b: number, mask: number): number;
  RelaxedDotI8x16I7x16AddSToVecI32x4: number;
}
const api = binaryen as unknown as SimdApi;

/** i32x4.relaxed_dot_i8x16_i7x16_add_s(a, b, c): lane i = Σ_j a[4i+j]·b[4i+j] + c[i] (b in [0, 127]). */
export function relaxedDotAdd(mod: Module, a: Ref, b: Ref, c: Ref): Ref {
  return api._BinaryenSIMDTernary(mod.ptr, api.RelaxedDotI8x16I7x16AddSToVecI32x4, a, b, c);
}

export function shuffle(mod: Module, a: Ref, b: Ref, lanes: readonly number[]): Ref {
  return mod.i8x16.shuffle(a, b, lanes as number[]);
}

const bytesOfLanes32 = (lanes: readonly number[]): number[] => lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]);
/** Lanes 0 and 2 of two i64x2 vectors (their low 32-bit halves) as one i32x4. */
const LOW_HALVES = bytesOfLanes32([0, 2, 4, 6]);
const EVEN = bytesOfLanes32([0, 2, 4, 6]);
const ODD = bytesOfLanes32([1, 3, 5, 7]);

function i64x2Const(mod: Module, x: bigint): Ref {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setBigInt64(0, x, true);
  dv.setBigInt64(8, x, true);
  return mod.v128.const([...b]);
}

/** v128 scratch locals requantVec needs. */
export interface RequantLocals { x: number; t: number; lo: number }

export type RequantTable = 'mult' | 'lmul' | 'rnd' | 'negm' | 'pw';

/**
 * The exact requantization of an i32x4 of accumulators (bias already added), with per-lane tables
 * from `load(table, half)`: i32 tables (mult, lmul) are one v128, i64 tables two (half 0: lanes
 * 0-1, half 1: lanes 2-3). Returns MultiplyByQuantizedMultiplier per lane (before zero point and
 * clamp) as an i32x4 expression; `pre` receives the statements that must run first.
 *
 * With p = x·m (i64), gemmlowp's SRDHM trunc((p + (p >= 0 ? 2^30 : 1 - 2^30)) / 2^31) equals
 * floor((p + 2^30) / 2^31) for every p (for p < 0, the truncation of v = p + 1 - 2^30 < 0 is
 * floor((v + 2^31 - 1) / 2^31)). RoundingDivideByPOT(q, e) is floor((q + 2^(e-1) - [q < 0]) / 2^e)
 * for e > 0 (half away from zero), and q < 0 exactly when t = p + 2^30 < 0, so with
 * c = 2^(e-1)·2^31 - [t < 0]·2^31 (0 when e = 0): result = floor((t + c) / 2^(31+e)) - one i64 shift
 * when every column has the same e (`uniformRight`), else floor(y / 2^e) with y = (t + c) >> 31
 * computed as (y·2^(31-e)) >> 31 per lane (|y| < 2^32, so the product fits in i64).
 */
export function requantVec(mod: Module, acc: Ref, load: (table: RequantTable, half: number) => Ref, opts: { leftShift: boolean; uniformRight?: number }, l: RequantLocals, pre: Ref[]): Ref {
  const V = binaryen.v128;
  const get = (x: number): Ref => mod.local.get(x, V);
  const set = (x: number, e: Ref): Ref => mod.local.set(x, e);
  const e = opts.uniformRight;
  pre.push(set(l.x, opts.leftShift ? mod.i32x4.mul(acc, load('lmul', 0)) : acc));
  const half = (h: number): Ref => {
    const mult = load('mult', 0);
    const p = h === 0 ? mod.i64x2.extmul_low_i32x4_s(get(l.x), mult) : mod.i64x2.extmul_high_i32x4_s(get(l.x), mult);
    const code: Ref[] = [set(l.t, mod.i64x2.add(p, i64x2Const(mod, 1n << 30n)))];
    const neg = mod.i64x2.shr_s(get(l.t), mod.i32.const(63));
    if (e !== undefined) {
      if (e === 0) code.push(mod.i64x2.shr_s(get(l.t), mod.i32.const(31)));
      else {
        const c = mod.i64x2.add(i64x2Const(mod, 1n << BigInt(e + 30)), mod.v128.and(neg, i64x2Const(mod, -(1n << 31n))));
        code.push(mod.i64x2.shr_s(mod.i64x2.add(get(l.t), c), mod.i32.const(31 + e)));
      }
    } else {
      const y = mod.i64x2.shr_s(mod.i64x2.add(mod.i64x2.add(get(l.t), load('rnd', h)), mod.v128.and(neg, load('negm', h))), mod.i32.const(31));
      code.push(mod.i64x2.shr_s(mod.i64x2.mul(y, load('pw', h)), mod.i32.const(31)));
    }
    return mod.block(null, code, V);
  };
  pre.push(set(l.lo, half(0)));
  return shuffle(mod, get(l.lo), half(1), LOW_HALVES);
}

function checkSpec(s: GemmI8Spec, mr: number, nr: number): void {
  const bad = (msg: string): never => {
    throw new KilnError(`emitGemmI8 '${s.name}' (M=${s.M}, N=${s.N}, K=${s.K}): ${msg}`);
  };
  for (const [k, v] of [['M', s.M], ['N', s.N], ['K', s.K]] as const) {
    if (!Number.isInteger(v) || v < 1) bad(`${k} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(mr) || mr < 1 || mr > 8) bad(`mr must be in 1..8, got ${mr}`);
  if (!Number.isInteger(nr) || nr < 4 || nr % 4 !== 0 || nr > 16) bad(`nr must be a multiple of 4 in 4..16, got ${nr}`);
  if ((s.lda ?? s.K) < s.K) bad(`lda ${s.lda} is smaller than K`);
  if ((s.ldc ?? s.N) < s.N) bad(`ldc ${s.ldc} is smaller than N`);
  if (!Number.isInteger(s.constAddr) || s.constAddr % 16 !== 0) bad(`constAddr must be 16-byte aligned, got ${s.constAddr}`);
  const q = s.requant;
  if (q && !(q.min <= q.max && q.min >= -128 && q.max <= 127 && Number.isInteger(q.zeroPoint))) {
    bad(`requant clamp [${q.min}, ${q.max}] must lie in [-128, 127] with min <= max, zero point ${q.zeroPoint} an integer`);
  }
}

/** Add the int8 GEMM kernel `(start, end)` over row blocks to `mod`. */
export function emitGemmI8(mod: Module, spec: GemmI8Spec): GemmI8Kernel {
  const relaxed = spec.relaxed;
  const mr = spec.mr ?? (relaxed ? I8_MR_RELAXED : I8_MR_PLAIN);
  const nr = spec.nr ?? I8_NR;
  checkSpec(spec, mr, nr);
  const { M, N, K } = spec;
  const L = gemmI8Layout(K, N, nr);
  const lda = spec.lda ?? K;
  const ldc = spec.ldc ?? N;
  const q = spec.requant;
  const es = q ? 1 : 4; // bytes per output element
  const nv = nr / 4;
  const { i32, v128 } = binaryen;

  let next = 2;
  const local = (): number => next++;
  const RB = local(), AROW = local(), CROW = local(), BP = local(), COL = local(), AK = local(), BK = local(), AEND = local(), COFF = local();
  const i32Count = next - 2;
  const AV = local(), AN = local();
  const BV: number[][] = [];
  for (let j = 0; j < nv; j++) BV.push([local(), local()]);
  const ACC: number[][][] = [];
  for (let r = 0; r < mr; r++) {
    ACC.push([]);
    for (let j = 0; j < nv; j++) ACC[r]!.push(relaxed ? [local()] : [local(), local()]);
  }
  const RQ: RequantLocals = { x: local(), t: local(), lo: local() };
  const OUTV = local();
  const v128Count = next - 2 - i32Count;

  const get = (l: number, t: binaryen.Type = i32): Ref => mod.local.get(l, t);
  const vget = (l: number): Ref => mod.local.get(l, v128);
  const set = (l: number, e: Ref): Ref => mod.local.set(l, e);
  const c = (x: number): Ref => mod.i32.const(x);
  const add = (a: Ref, b: Ref): Ref => mod.i32.add(a, b);
  const base = spec.constAddr;
  const quadBytes = nr * 4;
  const panelBytes = L.Kp * nr;
  const fullQuads = Math.floor(K / 4);
  const tailK = K % 4;

  /** The 4 activations of row r at quad kq (relative to AK) as an i32 splat; `part` bytes in a tail quad. */
  const aQuad = (r: number, kq: number, part: number): Ref => {
    const off = spec.aAddr + r * lda + kq * 4;
    if (part === 4) return mod.v128.load32_splat(off, 1, get(AK));
    if (part === 1) return mod.v128.load8_splat(off, 1, get(AK));
    if (part === 2) return mod.v128.load16_splat(off, 1, get(AK));
    return mod.i32x4.splat(mod.i32.or(mod.i32.load16_u(off, 1, get(AK)), mod.i32.shl(mod.i32.load8_u(off + 2, 1, get(AK)), c(16))));
  };

  /** One k quad at quad offset kq from AK / BK. */
  const kStep = (rows: number, vecs: number, kq: number, part: number, out: Ref[]): void => {
    for (let j = 0; j < vecs; j++) {
      const off = kq * quadBytes + j * 16;
      if (relaxed) {
        out.push(set(BV[j]![1]!, mod.v128.load(off, 16, get(BK))));
        out.push(set(BV[j]![0]!, mod.i8x16.max_s(vget(BV[j]![1]!), v128Zero(mod))));
        out.push(set(BV[j]![1]!, mod.i8x16.sub(vget(BV[j]![0]!), vget(BV[j]![1]!))));
      } else {
        out.push(set(BV[j]![0]!, mod.v128.load8x8_s(off, 8, get(BK))));
        out.push(set(BV[j]![1]!, mod.v128.load8x8_s(off + 8, 8, get(BK))));
      }
    }
    for (let r = 0; r < rows; r++) {
      if (relaxed) {
        out.push(set(AV, aQuad(r, kq, part)));
        out.push(set(AN, mod.v128.not(vget(AV))));
        for (let j = 0; j < vecs; j++) {
          const a = ACC[r]![j]![0]!;
          out.push(set(a, relaxedDotAdd(mod, vget(AV), vget(BV[j]![0]!), vget(a))));
          out.push(set(a, relaxedDotAdd(mod, vget(AN), vget(BV[j]![1]!), vget(a))));
        }
      } else {
        out.push(set(AV, mod.i16x8.extend_low_i8x16_s(aQuad(r, kq, part))));
        for (let j = 0; j < vecs; j++) {
          for (const h of [0, 1]) {
            const a = ACC[r]![j]![h]!;
            out.push(set(a, mod.i32x4.add(vget(a), mod.i32x4.dot_i16x8_s(vget(AV), vget(BV[j]![h]!)))));
          }
        }
      }
    }
  };

  /** Per-column table vector for output vector j (i32 tables) or its i64 half. */
  const colLoad = (table: number, bytesPerLane: number, j: number, half: number): Ref =>
    mod.v128.load(table + (j * 4 + half * 2) * bytesPerLane, 16, add(c(base), mod.i32.shl(get(COL), c(bytesPerLane === 4 ? 2 : 3))));

  const storeOut = (r: number, j: number, lanes: number, v: Ref): Ref[] => {
    const off = spec.cAddr + (r * ldc + j * 4) * es;
    const p = get(COFF);
    if (!q) {
      if (lanes === 4) return [mod.v128.store(off, 4, p, v)];
      if (lanes === 1) return [mod.v128.store32_lane(off, 4, 0, p, v)];
      if (lanes === 2) return [mod.v128.store64_lane(off, 4, 0, p, v)];
      return [set(OUTV, v), mod.v128.store64_lane(off, 4, 0, p, vget(OUTV)), mod.v128.store32_lane(off + 8, 4, 2, get(COFF), vget(OUTV))];
    }
    if (lanes === 4) return [mod.v128.store32_lane(off, 1, 0, p, v)];
    if (lanes === 1) return [mod.v128.store8_lane(off, 1, 0, p, v)];
    if (lanes === 2) return [mod.v128.store16_lane(off, 1, 0, p, v)];
    return [set(OUTV, v), mod.v128.store16_lane(off, 1, 0, p, vget(OUTV)), mod.v128.store8_lane(off + 2, 1, 2, get(COFF), vget(OUTV))];
  };

  const epilogue = (r: number, j: number, lanes: number): Ref[] => {
    const out: Ref[] = [];
    let acc: Ref;
    if (relaxed) acc = vget(ACC[r]![j]![0]!);
    else {
      const [a0, a1] = ACC[r]![j]! as [number, number];
      acc = mod.i32x4.add(shuffle(mod, vget(a0), vget(a1), EVEN), shuffle(mod, vget(a0), vget(a1), ODD));
    }
    if (spec.bias !== false) acc = mod.i32x4.add(acc, colLoad(L.bias, 4, j, 0));
    if (!q) return [...out, ...storeOut(r, j, lanes, acc)];
    const tables: Record<RequantTable, number> = { mult: L.mult, lmul: L.lmul, rnd: L.rnd, negm: L.negm, pw: L.pw };
    const load = (t: RequantTable, half: number): Ref => colLoad(tables[t], t === 'mult' || t === 'lmul' ? 4 : 8, j, half);
    let v = requantVec(mod, acc, load, q, RQ, out);
    v = mod.i32x4.add(v, mod.i32x4.splat(c(q.zeroPoint)));
    v = mod.i32x4.min_s(mod.i32x4.max_s(v, mod.i32x4.splat(c(q.min))), mod.i32x4.splat(c(q.max)));
    const n16 = mod.i16x8.narrow_i32x4_s(v, v128Zero(mod));
    return [...out, ...storeOut(r, j, lanes, mod.i8x16.narrow_i16x8_s(n16, v128Zero(mod)))];
  };

  const microKernel = (rows: number, cols: number, label: string): Ref[] => {
    const vecs = Math.ceil(cols / 4);
    const out: Ref[] = [];
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < vecs; j++) {
        for (const a of ACC[r]![j]!) out.push(set(a, relaxed ? colLoad(L.corr, 4, j, 0) : v128Zero(mod)));
      }
    }
    out.push(set(AK, get(AROW)), set(BK, get(BP)));
    if (fullQuads > 0) {
      const body: Ref[] = [];
      kStep(rows, vecs, 0, 4, body);
      body.push(set(AK, add(get(AK), c(4))), set(BK, add(get(BK), c(quadBytes))));
      body.push(mod.br(`k_${label}`, mod.i32.ne(get(AK), get(AEND))));
      out.push(set(AEND, add(get(AROW), c(fullQuads * 4))));
      out.push(mod.loop(`k_${label}`, mod.block(null, body)));
    }
    if (tailK > 0) kStep(rows, vecs, 0, tailK, out);
    out.push(set(COFF, add(get(CROW), mod.i32.mul(get(COL), c(es)))));
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < vecs; j++) out.push(...epilogue(r, j, Math.min(4, cols - j * 4)));
    }
    return out;
  };

  const rowBlock = (rows: number, tag: string): Ref => {
    const fullPanels = Math.floor(N / nr);
    const tailCols = N % nr;
    const out: Ref[] = [
      set(AROW, mod.i32.mul(get(RB), c(mr * lda))),
      set(CROW, mod.i32.mul(get(RB), c(mr * ldc * es))),
      set(BP, c(base + L.weights)),
      set(COL, c(0)),
    ];
    if (fullPanels > 0) {
      const body = microKernel(rows, nr, `${tag}_full`);
      body.push(set(BP, add(get(BP), c(panelBytes))), set(COL, add(get(COL), c(nr))));
      body.push(mod.br(`panels_${tag}`, mod.i32.lt_u(get(COL), c(fullPanels * nr))));
      out.push(mod.loop(`panels_${tag}`, mod.block(null, body)));
    }
    if (tailCols > 0) out.push(...microKernel(rows, tailCols, `${tag}_tail`));
    return mod.block(null, out);
  };

  const blocks = Math.ceil(M / mr);
  const fullBlocks = Math.floor(M / mr);
  const tailRows = M % mr;
  let perBlock: Ref;
  if (tailRows === 0) perBlock = rowBlock(mr, 'm');
  else if (fullBlocks === 0) perBlock = rowBlock(tailRows, 'mt');
  else perBlock = mod.if(mod.i32.lt_u(get(RB), c(fullBlocks)), rowBlock(mr, 'm'), rowBlock(tailRows, 'mt'));

  const body = mod.block(null, [
    set(RB, get(0)),
    mod.block('done', [
      mod.loop('rows', mod.block(null, [
        mod.br('done', mod.i32.ge_u(get(RB), get(1))),
        perBlock,
        set(RB, add(get(RB), c(1))),
        mod.br('rows'),
      ])),
    ]),
  ]);
  const locals = [...Array<binaryen.Type>(i32Count).fill(i32), ...Array<binaryen.Type>(v128Count).fill(v128)];
  addKernel(mod, spec.name, locals, body);
  return { name: spec.name, workItems: blocks, mr };
}
