/**
 * Kernel IR: what one fused group becomes, shared by every target (WebAssembly now, PTX next).
 * A kernel is a loop nest over `work` parallel items (the outermost loop, split across threads or
 * CUDA blocks), with index expressions (symbolic, see symbolic.ts), loads, stores, scalar math,
 * mutable scalar accumulators for reductions, and per-loop annotations: `vector` (lanes the
 * target may vectorize the loop by) and the work axis being parallel. Structured ops that need
 * hand-tuned micro-kernels (GEMM, convolution) are `gemm` statements with an epilogue expression
 * instead of raw loops, so each target picks its own blocking.
 */
import type { DType } from '../ir/dtype.js';
import type { Sym } from './symbolic.js';

/** Scalar types kernels compute in. Memory dtypes i8/u8/bool load as i32; f16/bf16 are not stored by the wasm target. */
export type ScalarType = 'f32' | 'i32' | 'bool';

export type UnOp =
  | 'neg' | 'abs' | 'sign' | 'exp' | 'log' | 'log1p' | 'sqrt' | 'rsqrt' | 'tanh' | 'logistic'
  | 'sin' | 'cos' | 'floor' | 'ceil' | 'round' | 'erf' | 'not';
export type BinOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'max' | 'min' | 'and' | 'or';
export type CmpOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';

export type Expr =
  | { readonly k: 'const'; readonly t: ScalarType; readonly v: number }
  /** An integer index expression, e.g. an iota value or a gather index arithmetic result. */
  | { readonly k: 'index'; readonly s: Sym }
  | { readonly k: 'load'; readonly buf: number; readonly at: Sym; readonly t: ScalarType }
  /** Load at a data-dependent element index (gather): `at` is an i32 Expr. */
  | { readonly k: 'loadx'; readonly buf: number; readonly at: Expr; readonly t: ScalarType }
  | { readonly k: 'local'; readonly name: string; readonly t: ScalarType }
  | { readonly k: 'un'; readonly op: UnOp; readonly a: Expr; readonly t: ScalarType }
  | { readonly k: 'bin'; readonly op: BinOp; readonly a: Expr; readonly b: Expr; readonly t: ScalarType }
  | { readonly k: 'cmp'; readonly op: CmpOp; readonly a: Expr; readonly b: Expr; readonly t: 'bool' }
  | { readonly k: 'sel'; readonly c: Expr; readonly a: Expr; readonly b: Expr; readonly t: ScalarType }
  /** Conversion to `to` (float->int truncates toward zero; i8/u8 wrap), computed in `t`. */
  | { readonly k: 'cast'; readonly a: Expr; readonly to: DType; readonly t: ScalarType }
  /** Threefry-2x32-20 draw for element `counter` under key (k0, k1): uniform [0,1) or normal. */
  | { readonly k: 'rng'; readonly dist: 'uniform' | 'normal'; readonly k0: Expr; readonly k1: Expr; readonly counter: Sym; readonly t: 'f32' }
  /**
   * TFLite's MultiplyByQuantizedMultiplier(a, m, s) in exact 64-bit arithmetic (gemmlowp's
   * SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT; s > 0 shifts left first): the
   * `requantize` op's core, with its multiplier `m` and shift `s` as i32 expressions.
   */
  | { readonly k: 'requant'; readonly a: Expr; readonly m: Expr; readonly s: Expr; readonly t: 'i32' }
  /** The accumulator of the enclosing gemm statement (epilogues only). */
  | { readonly k: 'acc'; readonly t: 'f32' };

export type ReduceOp = 'sum' | 'max' | 'min' | 'prod';

export type Stmt =
  /**
   * for v in [0, min(n, end)): body. `vector`: lanes a target may use (the loop's accesses were
   * checked). `end` is an optional runtime bound (the partial last chunk of a flat loop).
   */
  | { readonly k: 'for'; readonly v: string; readonly n: number; readonly body: readonly Stmt[]; readonly vector?: number; readonly end?: Sym }
  | { readonly k: 'store'; readonly buf: number; readonly at: Sym; readonly val: Expr }
  /** Store at a data-dependent index (scatter). */
  | { readonly k: 'storex'; readonly buf: number; readonly at: Expr; readonly val: Expr }
  /** Declare a mutable scalar local with an initial value. */
  | { readonly k: 'decl'; readonly name: string; readonly t: ScalarType; readonly init: Expr }
  /** Combine into a declared accumulator: name = op(name, val). Vectorizable inside vector loops. */
  | { readonly k: 'accum'; readonly name: string; readonly op: ReduceOp; readonly val: Expr }
  | { readonly k: 'set'; readonly name: string; readonly val: Expr }
  | { readonly k: 'gemm'; readonly g: Gemm }
  | { readonly k: 'conv2d'; readonly c: Conv2d }
  | { readonly k: 'gemm_i8'; readonly g: GemmI8 };

/** Rows of C per GEMM work item, and the panel width B is packed in (packB in codegen/wasm/pack.ts). */
/** Live row blocks under which a batch-polymorphic GEMM splits columns (Gemm.live.smallSplit). */
export const GEMM_SPLIT_BELOW = 4;
export const GEMM_MR = 4;
export const GEMM_NR = 8;

/**
 * C[m, n] = Σ_k A[m, k] · B[k, n], then `epilogue` (an Expr over `acc` and loads indexed by the
 * symbolic variables `m` and `n`) stored at m*N + n of `out`. A is addressed with a row stride
 * (`lda`) or transposed; B is stored packed in column panels of width GEMM_NR (zero-padded), so
 * targets stream it with unit stride. Work items are blocks of GEMM_MR rows.
 */
export interface Gemm {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly a: { readonly buf: number; readonly offset: number; readonly lda: number; readonly transA: boolean };
  readonly bPacked: number;
  readonly out: number;
  readonly epilogue: Expr;
  /**
   * Column chunks per row block (default 1): work item w covers row block w / nSplit and panel
   * range w % nSplit, so small-M products (batch-1 dense layers) still spread over threads.
   */
  readonly nSplit?: number;
  /**
   * Batch-polymorphic programs: only the first rowsPerItem * (the i32 in buffer `slot`, the run's
   * batch size) rows are computed; a partial last row block computes only its live rows. With
   * segmentRows (a time-major GEMM, codegen/batch_work.ts), rows count from each segment's start.
   */
  readonly live?: {
    readonly slot: number;
    readonly rowsPerItem: number;
    readonly segmentRows?: number;
    /**
     * Column chunks for small batches: while fewer than GEMM_SPLIT_BELOW row blocks are live,
     * work item w is row block w / smallSplit, chunk w % smallSplit (threads share a batch-1
     * product); from then on w is a row block over every chunk, as an unsplit GEMM.
     */
    readonly smallSplit?: number;
  };
}

/**
 * A 2-D NHWC window op with a hand-blocked kernel per target: implicit-GEMM convolution (weights
 * HWIO packed like a GEMM B of [KH*KW*Cin, Cout]), depthwise convolution (multiplier 1, weights
 * [KH, KW, C] unpacked) or max pooling. `epilogue` follows the GEMM convention: `m` is the flat
 * output pixel (n*OH*OW + oy*OW + ox), `n` the channel, stored at m*Cout + n. Work items are
 * output rows (batch*OH).
 */
export interface Conv2d {
  readonly kind: 'conv' | 'depthwise' | 'maxpool';
  readonly batch: number;
  readonly H: number;
  readonly W: number;
  readonly Cin: number;
  readonly Cout: number;
  readonly KH: number;
  readonly KW: number;
  readonly strides: readonly [number, number];
  readonly dilations: readonly [number, number];
  /** [top, bottom, left, right] */
  readonly pads: readonly [number, number, number, number];
  readonly OH: number;
  readonly OW: number;
  readonly input: number;
  /** conv: packed weights; depthwise: raw weights; maxpool: -1. */
  readonly weights: number;
  readonly out: number;
  readonly epilogue: Expr;
}

/** Rows per work item of an int8 GEMM (codegen/wasm/gemm_i8.ts I8_MR_PLAIN). */
export const GEMM_I8_MR = 4;

/**
 * int8 GEMM: acc[m, n] = Σ_k A[m, k]·B[k, n] (+ bias[n]) in exact i32 arithmetic, stored as i32, or
 * requantized to i8 (TFLite's MultiplyByQuantizedMultiplier, + zero point, clamp). A is i8 with a
 * row stride of `lda` bytes; B, the bias and the requantization tables are packed at compile time
 * into one constant buffer (`packed`, layout gemmI8Layout in codegen/wasm/gemm_i8.ts). Work items
 * are blocks of GEMM_I8_MR rows.
 */
export interface GemmI8 {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly a: { readonly buf: number; readonly lda: number };
  readonly packed: number;
  readonly out: number;
  readonly bias: boolean;
  readonly requant?: {
    readonly zeroPoint: number;
    readonly min: number;
    readonly max: number;
    readonly leftShift: boolean;
    readonly uniformRight?: number;
  };
}

export type BufRole = 'input' | 'output' | 'temp' | 'const';

export interface KernelBuf {
  readonly id: number;
  readonly dtype: DType;
  readonly elems: number;
}

export interface Kernel {
  readonly name: string;
  /** Buffers referenced by id in loads and stores. */
  readonly bufs: readonly KernelBuf[];
  /** Number of parallel work items; the body reads the work item as index variable `w`. */
  readonly work: number;
  readonly body: readonly Stmt[];
  /** Which IR values this kernel computes (for explain and debugging). */
  readonly note: string;
}

export const c32 = (v: number): Expr => ({ k: 'const', t: 'f32', v });
export const ci32 = (v: number): Expr => ({ k: 'const', t: 'i32', v });
