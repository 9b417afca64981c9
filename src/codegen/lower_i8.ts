/**
 * Lowering of integer (int8) groups. A group anchored on an integer `dot_general` or `conv`
 * (i8 x i8 -> i32) whose epilogue is at most `+ i32 bias` (a constant per output column) and
 * `requantize` (per tensor or per output channel) becomes one `gemm_i8` statement: the weights
 * (a constant) are packed at compile time with the bias and the requantization tables
 * (codegen/wasm/gemm_i8.ts), the activations are read in place (dense layers, 1x1 convolutions)
 * or gathered first into patch rows by a loop kernel (other convolutions; a fused `pad` prologue,
 * which the quantize pass emits with the input zero point as its value, is computed there).
 * Anything else returns undefined and the generic lowering runs (exact, scalar).
 *
 * `quantize` and `dequantize` lower to scalar math in loop kernels (quantExpr), with TFLite's
 * rounding: f32 division, round half away from zero (not f32.nearest, which rounds half to even),
 * NaN to the zero point.
 */
import type { Value } from '../ir/function.js';
import { attr } from '../ir/registry.js';
import { numel } from '../ir/types.js';
import { GEMM_I8_MR, type CmpOp, type Expr, type GemmI8, type Kernel, type Stmt } from './kernel_ir.js';
import { sadd, sclamp, sconst, smul, ssub, svar, unflatten, type Sym } from './symbolic.js';
import { gemmI8Layout, packGemmI8, requantSpec, type Requant } from './wasm/gemm_i8.js';
import type { LowerContext, LowerGroup, Lowerer } from './lower.js';

type NewLowerer = (g: LowerGroup, ctx: LowerContext) => Lowerer;

const isI8Product = (v: Value): boolean => v.dtype === 'i32' && v.inputs.length >= 2 && v.inputs[0]!.dtype === 'i8' && v.inputs[1]!.dtype === 'i8';

/** The epilogue an int8 kernel applies: + bias per column, then requantize. */
interface I8Epilogue {
  bias?: Int32Array;
  requant?: Requant;
  /** Group members the epilogue accounts for. */
  covered: Set<Value>;
}

/** An i32 value that is a constant per output column (numel N), possibly broadcast along the rows. */
function columnConstant(v: Value, ctx: LowerContext, N: number, covered: Set<Value>): Int32Array | undefined {
  let x = v;
  const seen: Value[] = [];
  for (;;) {
    seen.push(x);
    if (x.op === 'broadcast_in_dim') {
      const dims = attr.ints(x.attrs, 'dims');
      const src = x.inputs[0]!;
      // The source's non-unit dims must map onto the output's trailing (column) dims.
      const rank = x.shape.length;
      const ok = src.shape.every((n, j) => n === 1 || dims[j]! >= rank - src.shape.filter((m) => m !== 1).length);
      if (!ok || numel(src.shape) !== N) return undefined;
      x = src;
    } else if (x.op === 'reshape') {
      if (numel(x.shape) !== N) return undefined;
      x = x.inputs[0]!;
    } else break;
  }
  if (x.op !== 'constant' || x.dtype !== 'i32' || numel(x.shape) !== N) return undefined;
  const data = ctx.constData(x);
  if (!(data instanceof Int32Array)) return undefined;
  for (const s of seen) covered.add(s);
  return data;
}

/** Lowers a sub-group (a loop kernel) with the program's context; lower.ts's lowerGroup. */
export type LowerSub = (g: LowerGroup, ctx: LowerContext) => Kernel[];

/** The context with `v` stored in buffer `buf` (a temporary between the int8 kernel and the rest of its group). */
function withBuffer(ctx: LowerContext, v: Value, buf: number): LowerContext {
  return { ...ctx, bufOf: (x: Value) => (x === v ? buf : ctx.bufOf(x)) };
}

/**
 * The chain anchor -> [add column constant] -> [requantize] (N output columns along the last
 * dim), and how the rest of the group splits around it: `pre` members compute the anchor's
 * activation operand (a fused quantize or pad), `post` members consume the chain's end (a fused
 * dequantize). Undefined when some member reads the chain in the middle.
 */
function matchEpilogue(g: LowerGroup, ctx: LowerContext, anchor: Value, N: number, operand: Value): I8Epilogue & { end: Value; pre: Value[]; post: Value[] } | undefined {
  const members = new Set(g.values);
  const consumers = (v: Value): Value[] => g.values.filter((u) => u.inputs.includes(v));
  const covered = new Set<Value>([anchor]);
  const outs = new Set(g.outputs);
  let end = anchor;
  let requant: Requant | undefined;
  let bias: Int32Array | undefined;
  const next = (): Value | undefined => {
    const c = consumers(end);
    return c.length === 1 && !outs.has(end) ? c[0] : undefined;
  };
  let c = next();
  if (c && c.op === 'add' && c.dtype === 'i32') {
    const [a, b] = c.inputs as [Value, Value];
    const other = a === end ? b : a;
    const data = other !== end ? columnConstant(other, ctx, N, covered) : undefined;
    if (data) { bias = data; covered.add(c); end = c; c = next(); }
  }
  if (c && c.op === 'requantize') {
    const axis = attr.int(c.attrs, 'axis');
    const shift = attr.ints(c.attrs, 'shift');
    if ((axis === -1 || axis === c.shape.length - 1) && shift.every((s) => s >= -31 && s <= 30)) {
      requant = { multiplier: attr.ints(c.attrs, 'multiplier'), shift, zeroPoint: attr.int(c.attrs, 'zero_point'), min: attr.int(c.attrs, 'min'), max: attr.int(c.attrs, 'max') };
      covered.add(c);
      end = c;
    }
  }
  // Members upstream of the operand (its fused producers) and downstream of the chain's end.
  const pre = new Set<Value>();
  const up = (v: Value): void => {
    if (!members.has(v) || pre.has(v) || v.op === 'constant') return;
    pre.add(v);
    v.inputs.forEach(up);
  };
  up(operand);
  const post: Value[] = [];
  for (const v of g.values) {
    if (covered.has(v) || pre.has(v) || v.op === 'constant' || v.op === 'parameter') continue;
    if (v.inputs.some((x) => covered.has(x) && x !== end)) return undefined;
    post.push(v);
  }
  if ([...pre].some((v) => consumers(v).some((u) => !pre.has(u) && u !== anchor))) return undefined;
  if (post.length === 0 && !outs.has(end)) return undefined;
  return { bias, requant, covered, end, pre: [...pre], post };
}

/**
 * The int8 kernel for `anchor` bracketed by the rest of its group: the chain's end goes to its own
 * buffer (or a temporary) and the post members run after it as a loop kernel reading it.
 */
function withPost(g: LowerGroup, ctx: LowerContext, epi: { end: Value; post: Value[] }, lowerSub: LowerSub, make: (out: LowerGroup, octx: LowerContext) => Kernel[]): Kernel[] {
  if (epi.post.length === 0) return make({ ...g, outputs: [epi.end] }, ctx);
  const outs = g.outputs.filter((o) => o !== epi.end);
  const stored = g.outputs.includes(epi.end);
  const buf = stored ? ctx.bufOf(epi.end) : ctx.tempBuffer(epi.end.dtype, epi.end.shape, 'int8 kernel result');
  const octx = withBuffer(ctx, epi.end, buf);
  const main = make({ ...g, outputs: [epi.end] }, octx);
  const rest = lowerSub({ name: `${g.name}_post`, kind: 'loop', root: outs[0]!, values: epi.post, outputs: outs }, octx);
  return [...main, ...rest];
}

function cmpIdx(op: CmpOp, a: Sym, b: Sym): Expr {
  return { k: 'cmp', op, a: { k: 'index', s: a }, b: { k: 'index', s: b }, t: 'bool' };
}

/** The gemm_i8 kernel over A (i8 buffer `aBuf`, row stride lda bytes) with constant weights B[k, n] = weight(k, n). */
function gemmKernel(l: Lowerer, g: LowerGroup, ctx: LowerContext, M: number, N: number, K: number, aBuf: number, lda: number, weight: (k: number, n: number) => number, epi: I8Epilogue, note: string): Kernel {
  const blob = packGemmI8({ weight, K, N, bias: epi.bias, requant: epi.requant });
  const packed = ctx.constBuffer(new Float32Array(blob.buffer, blob.byteOffset, blob.byteLength / 4), `packed int8 ${note}`);
  l.bufs.set(packed, { id: packed, dtype: 'f32', elems: gemmI8Layout(K, N).bytes / 4 });
  const out = l.buf(g.outputs[0]!);
  const spec: GemmI8 = { M, N, K, a: { buf: aBuf, lda }, packed, out, bias: epi.bias !== undefined, ...(epi.requant ? { requant: requantSpec(epi.requant) } : {}) };
  return { name: g.name, bufs: [...l.bufs.values()], work: Math.ceil(M / GEMM_I8_MR), body: [{ k: 'gemm_i8', g: spec }], note: `int8 gemm ${M}x${N}x${K} ${note}` };
}

/** Int8 dot_general as gemm_i8 (constant i8 weights, K-contiguous activations), or undefined. */
export function lowerDotI8(g: LowerGroup, ctx: LowerContext, dot: Value, newLowerer: NewLowerer, lowerSub: LowerSub): Kernel[] | undefined {
  if (ctx.windowKernels === false || !isI8Product(dot)) return undefined; // blocked CPU kernels only (not CUDA)
  const [lhs, rhs] = dot.inputs as [Value, Value];
  const lb = attr.ints(dot.attrs, 'lhs_batch'), lc = attr.ints(dot.attrs, 'lhs_contract'), rc = attr.ints(dot.attrs, 'rhs_contract');
  if (lb.length !== 0 || lc.length !== 1 || rc.length !== 1) return undefined;
  const w = ctx.constData(rhs);
  if (rhs.op !== 'constant' || !(w instanceof Int8Array)) return undefined;
  const kd = lc[0]!, rk = rc[0]!;
  const lFree = lhs.shape.map((_, d) => d).filter((d) => d !== kd);
  const rFree = rhs.shape.map((_, d) => d).filter((d) => d !== rk);
  const M = lFree.reduce((a, d) => a * lhs.shape[d]!, 1), N = rFree.reduce((a, d) => a * rhs.shape[d]!, 1), K = lhs.shape[kd]!;
  if (M === 0 || N === 0 || K === 0) return undefined;
  // A row-major with K contiguous: the contracting dim is the last one.
  if (kd !== lhs.shape.length - 1) return undefined;
  const epi = matchEpilogue(g, ctx, dot, N, lhs);
  if (!epi) return undefined;
  const rStrides = strides(rhs.shape);
  const nShape = rFree.map((d) => rhs.shape[d]!);
  const weight = (k: number, n: number): number => {
    let at = k * rStrides[rk]!;
    let rest = n;
    for (let t = rFree.length - 1; t >= 0; t--) {
      at += (rest % nShape[t]!) * rStrides[rFree[t]!]!;
      rest = Math.floor(rest / nShape[t]!);
    }
    return w[at]!;
  };
  return withPost(g, ctx, epi, lowerSub, (og, octx) => {
    const kernels: Kernel[] = [];
    let actx = octx;
    if (epi.pre.length > 0) {
      // A fused producer of the activations (quantize): materialized first by a loop kernel.
      const buf = octx.tempBuffer(lhs.dtype, lhs.shape, 'int8 gemm operand');
      actx = withBuffer(octx, lhs, buf);
      kernels.push(...lowerSub({ name: `${g.name}_pre`, kind: 'loop', root: lhs, values: epi.pre, outputs: [lhs] }, actx));
    }
    const l = newLowerer({ ...og, values: og.values.filter((v) => !epi.pre.includes(v)) }, actx);
    kernels.push(gemmKernel(l, og, actx, M, N, K, l.buf(lhs), K, weight, epi, 'dense'));
    return kernels;
  });
}

/**
 * Int8 conv (groups 1, no input dilation, constant HWIO weights) as gemm_i8: 1x1 stride-1 convs
 * of a materialized input read it in place; others gather patch rows A[pixel, (kh, kw, ci)] first,
 * computing a fused prologue (the zero-point pad) inline.
 */
export function lowerConvI8(g: LowerGroup, ctx: LowerContext, conv: Value, newLowerer: NewLowerer, lowerSub: LowerSub): Kernel[] | undefined {
  if (ctx.windowKernels === false || !isI8Product(conv)) return undefined;
  const [x, wv] = conv.inputs as [Value, Value];
  if (x.shape.length !== 4 || attr.int(conv.attrs, 'groups') !== 1) return undefined;
  const w = ctx.constData(wv);
  if (wv.op !== 'constant' || !(w instanceof Int8Array)) return undefined;
  const ld = attr.ints(conv.attrs, 'lhs_dilation');
  if (ld.some((d) => d !== 1)) return undefined;
  const [B, H, W, Cin] = x.shape as [number, number, number, number];
  const [KH, KW, , Cout] = wv.shape as [number, number, number, number];
  const [, OH, OW] = conv.shape as [number, number, number, number];
  const st = attr.ints(conv.attrs, 'strides'), rd = attr.ints(conv.attrs, 'rhs_dilation');
  const lo = attr.ints(conv.attrs, 'pad_lo'), hi = attr.ints(conv.attrs, 'pad_hi');
  const M = B * OH * OW, N = Cout, K = KH * KW * Cin;
  if (M === 0 || N === 0 || K === 0) return undefined;
  const epi = matchEpilogue(g, ctx, conv, N, x);
  if (!epi) return undefined;
  const weight = (k: number, n: number): number => w[k * Cout + n]!;
  const note = `conv ${KH}x${KW} ${H}x${W}x${Cin}->${OH}x${OW}x${Cout}`;
  return withPost(g, ctx, epi, lowerSub, (og, octx) => {
    const l = newLowerer(og, octx);
    const direct = KH === 1 && KW === 1 && st.every((s) => s === 1) && [...lo, ...hi].every((p) => p === 0) && epi.pre.length === 0;
    if (direct) return [gemmKernel(l, og, octx, M, N, K, l.buf(x), Cin, weight, epi, note)];
    // Patch rows: A[p, k] = x[n, oh*s + kh*d - lo, ow*s + kw*d - lo, ci] (0 outside, as conv pads).
    const A = octx.tempBuffer('i8', [M, K], 'int8 conv patches');
    const pk = newLowerer({ ...og, values: epi.pre, outputs: [] }, octx);
    const p = svar('w', M), k = svar('i', K);
    const [n, oh, ow] = unflatten(p, [B, OH, OW]) as [Sym, Sym, Sym];
    const [kh, kw, ci] = unflatten(k, [KH, KW, Cin]) as [Sym, Sym, Sym];
    const conds: Expr[] = [];
    const spatial = (o: Sym, kk: Sym, s: number, pad: number, dil: number, size: number): Sym => {
      const q = ssub(sadd(smul(o, s), smul(kk, dil)), pad);
      if (q.lo < 0) conds.push(cmpIdx('ge', q, sconst(0)));
      if (q.hi > size - 1) conds.push(cmpIdx('lt', q, sconst(size)));
      return sclamp(q, size);
    };
    const ih = spatial(oh, kh, st[0]!, lo[0]!, rd[0]!, H);
    const iw = spatial(ow, kw, st[1]!, lo[1]!, rd[1]!, W);
    let val = pk.valueAt(x, [n, ih, iw, ci]);
    if (conds.length) val = { k: 'sel', c: conds.reduce((a, c) => ({ k: 'bin', op: 'and', a, b: c, t: 'bool' })), a: val, b: { k: 'const', t: 'i32', v: 0 }, t: 'i32' };
    pk.bufs.set(A, { id: A, dtype: 'i8', elems: M * K });
    const body: Stmt[] = [{ k: 'for', v: 'i', n: K, body: [{ k: 'store', buf: A, at: sadd(smul(p, K), k), val }] }];
    const gather: Kernel = { name: `${g.name}_patches`, bufs: [...pk.bufs.values()], work: M, body, note: 'int8 conv patch rows' };
    l.bufs.set(A, { id: A, dtype: 'i8', elems: M * K });
    return [gather, gemmKernel(l, og, octx, M, N, K, A, K, weight, epi, note)];
  });
}

function strides(shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) { out[d] = acc; acc *= shape[d]!; }
  return out;
}

/** The per-tensor value or the per-channel table (a constant buffer) of a quantization attribute at `idx`. */
function param(values: readonly number[], axis: number, idx: readonly Sym[], table: (data: Float32Array | Int32Array) => number, t: 'f32' | 'i32'): Expr {
  if (values.length === 1 || axis < 0) return { k: 'const', t, v: t === 'f32' ? Math.fround(values[0]!) : values[0]! };
  return { k: 'load', buf: table(t === 'f32' ? Float32Array.from(values) : Int32Array.from(values)), at: idx[axis]!, t };
}

/**
 * quantize / dequantize / requantize at `idx` as kernel IR over the operand's expression `x`.
 * `table` makes a constant buffer (per-channel parameters) that the kernel may load.
 */
export function quantExpr(v: Value, x: Expr, idx: readonly Sym[], table: (data: Float32Array | Int32Array) => number): Expr {
  const axis = attr.int(v.attrs, 'axis');
  if (v.op === 'requantize') {
    const m = param(attr.ints(v.attrs, 'multiplier'), axis, idx, table, 'i32');
    const s = param(attr.ints(v.attrs, 'shift'), axis, idx, table, 'i32');
    const c = (n: number): Expr => ({ k: 'const', t: 'i32', v: n });
    const y: Expr = { k: 'bin', op: 'add', a: { k: 'requant', a: x, m, s, t: 'i32' }, b: c(attr.int(v.attrs, 'zero_point')), t: 'i32' };
    return { k: 'bin', op: 'min', a: { k: 'bin', op: 'max', a: y, b: c(attr.int(v.attrs, 'min')), t: 'i32' }, b: c(attr.int(v.attrs, 'max')), t: 'i32' };
  }
  const scale = param(attr.floats(v.attrs, 'scale'), axis, idx, table, 'f32');
  const zp = param(attr.ints(v.attrs, 'zero_point'), axis, idx, table, 'f32');
  if (v.op === 'dequantize') {
    // (q - zp) is an exact small integer in f32; one rounding, the multiply.
    const d: Expr = { k: 'bin', op: 'sub', a: { k: 'cast', a: x, to: 'f32', t: 'f32' }, b: zp, t: 'f32' };
    return { k: 'bin', op: 'mul', a: d, b: scale, t: 'f32' };
  }
  // y = f32(x / scale); r = trunc(y) + (|y - trunc(y)| >= 0.5 ? sign(y) : 0) (y - trunc(y) is exact).
  const y: Expr = { k: 'bin', op: 'div', a: x, b: scale, t: 'f32' };
  const zero: Expr = { k: 'const', t: 'f32', v: 0 };
  const neg: Expr = { k: 'cmp', op: 'lt', a: y, b: zero, t: 'bool' };
  const t: Expr = { k: 'sel', c: neg, a: { k: 'un', op: 'ceil', a: y, t: 'f32' }, b: { k: 'un', op: 'floor', a: y, t: 'f32' }, t: 'f32' };
  const frac: Expr = { k: 'un', op: 'abs', a: { k: 'bin', op: 'sub', a: y, b: t, t: 'f32' }, t: 'f32' };
  const away: Expr = { k: 'sel', c: { k: 'cmp', op: 'ge', a: frac, b: { k: 'const', t: 'f32', v: 0.5 }, t: 'bool' }, a: { k: 'un', op: 'sign', a: y, t: 'f32' }, b: zero, t: 'f32' };
  const r: Expr = { k: 'bin', op: 'add', a: { k: 'bin', op: 'add', a: t, b: away, t: 'f32' }, b: zp, t: 'f32' };
  const clamped: Expr = { k: 'bin', op: 'min', a: { k: 'bin', op: 'max', a: r, b: { k: 'const', t: 'f32', v: -128 }, t: 'f32' }, b: { k: 'const', t: 'f32', v: 127 }, t: 'f32' };
  const isNaN: Expr = { k: 'cmp', op: 'ne', a: y, b: y, t: 'bool' };
  return { k: 'cast', a: { k: 'sel', c: isNaN, a: zp, b: clamped, t: 'f32' }, to: 'i8', t: 'i32' };
}
