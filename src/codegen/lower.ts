/**
 * Lowering: one fusion group -> kernel IR. Every member value is computed as a function of its
 * output multi-index (`valueAt`): elementwise ops become scalar math, movement ops become index
 * arithmetic on the symbolic indices of their operand, values defined outside the group become
 * loads. Anchors that need loops of their own (reduce, reduce_window, dot_general, conv, gather)
 * emit statements computing an accumulator first; their epilogues read it through `bound`.
 * Anything this file cannot express throws LoweringError, and the compiler then splits the group.
 */
import type { Value } from '../ir/function.js';
import { attr } from '../ir/registry.js';
import { numel } from '../ir/types.js';
import type { DType } from '../ir/dtype.js';
import { GEMM_MR, GEMM_NR, type Expr, type Kernel, type KernelBuf, type ReduceOp, type ScalarType, type Stmt, type UnOp, type BinOp, type CmpOp } from './kernel_ir.js';
import {
  isConst, linearize, sadd, sclamp, sconst, sdiv, smod, smul, ssub, strideOf, svar, unflatten, type Sym,
} from './symbolic.js';
import { packPanels, type PanelView } from './wasm/pack.js';
import { lowerConvI8, lowerDotI8, quantExpr } from './lower_i8.js';
import { lowerPieces } from './lower_pieces.js';
import { hoistedPackSink, packedBefore, rememberPacked, withPackRollback } from './packed_operands.js';

export class LoweringError extends Error {
  override name = 'LoweringError';
}

export function scalarType(d: DType): ScalarType {
  if (d === 'f32' || d === 'f16' || d === 'bf16') return 'f32';
  if (d === 'bool') return 'bool';
  return 'i32';
}

/** What lowering needs to know about the group and the program's buffers. */
export interface LowerGroup {
  readonly name: string;
  readonly kind: string;
  readonly root: Value;
  readonly values: readonly Value[];
  readonly outputs: readonly Value[];
}

export interface LowerContext {
  /** Buffer id of a value materialized outside the group (params, constants, other groups' outputs). */
  bufOf(v: Value): number;
  /** Concrete data of a constant value, if it is one (scalars become immediates; weights may be packed). */
  constData(v: Value): Float32Array | Int32Array | Int8Array | Uint8Array | undefined;
  /** A new constant buffer holding `data` (packed weights). */
  constBuffer(data: Float32Array, note: string): number;
  /** A new i32 constant buffer (per-channel requantization multipliers and shifts). */
  constI32?(data: Int32Array, note: string): number;
  /** A new scratch buffer (e.g. operands packed at run time). */
  tempBuffer(dtype: DType, shape: readonly number[], note: string): number;
  /**
   * Resident-weight programs (the compiled predict): a buffer that keeps `v`'s packed form between
   * runs when `v` is state the program never updates, else undefined. The kernel that packs into it
   * goes to `refreshKernel` (run when the state changes) instead of the group's kernels.
   */
  persistentPack?(v: Value, dtype: DType, shape: readonly number[], note: string): number | undefined;
  refreshKernel?(k: Kernel): void;
  /** Whether the target has blocked conv2d/pool kernels (`conv2d` statements). */
  readonly windowKernels?: boolean;
  /** Whether the target's GEMM honours Gemm.nSplit (column slices as extra work items). */
  readonly gemmColumnSplit?: boolean;
  /** Whether the target's GEMM takes f16/bf16 A and packed B (same dtype) with an f32 result. */
  readonly lowPrecisionGemm?: boolean;
}

const UNARY = new Set<string>(['neg', 'abs', 'sign', 'exp', 'log', 'log1p', 'sqrt', 'rsqrt', 'tanh', 'logistic', 'sin', 'cos', 'floor', 'ceil', 'round', 'erf', 'not']);
const BINARY = new Set<string>(['add', 'sub', 'mul', 'div', 'pow', 'max', 'min', 'and', 'or']);

const symKey = (idx: readonly Sym[]): string => idx.map((s) => s.key).join('|');

/** Builds expressions for one kernel. */
export class Lowerer {
  private readonly members: Set<Value>;
  /** Values whose expression at a specific index is an already computed local (reduce results, accumulators). */
  readonly bound = new Map<Value, { key: string; expr: Expr }>();
  readonly bufs = new Map<number, KernelBuf>();
  private tmp = 0;

  constructor(readonly g: LowerGroup, readonly ctx: LowerContext) {
    this.members = new Set(g.values);
  }

  fresh(prefix: string): string {
    return `${prefix}${this.tmp++}`;
  }

  buf(v: Value): number {
    const id = this.ctx.bufOf(v);
    if (!this.bufs.has(id)) this.bufs.set(id, { id, dtype: v.dtype, elems: numel(v.shape) });
    return id;
  }

  load(v: Value, idx: readonly Sym[]): Expr {
    const data = v.op === 'constant' ? this.ctx.constData(v) : undefined;
    if (data && data.length === 1) return { k: 'const', t: scalarType(v.dtype), v: data[0]! };
    return { k: 'load', buf: this.buf(v), at: linearize(idx, v.shape), t: scalarType(v.dtype) };
  }

  private readonly memo = new Map<Value, Map<string, Expr>>();

  /** The value of member (or input) `v` at multi-index `idx`; shared subtrees are the same object. */
  valueAt(v: Value, idx: readonly Sym[]): Expr {
    let m = this.memo.get(v);
    if (!m) this.memo.set(v, (m = new Map()));
    const key = symKey(idx);
    const hit = m.get(key);
    if (hit) return hit;
    const e = this.compute(v, idx);
    m.set(key, e);
    return e;
  }

  private compute(v: Value, idx: readonly Sym[]): Expr {
    const b = this.bound.get(v);
    if (b) {
      if (b.key !== symKey(idx)) {
        throw new LoweringError(`${this.g.name}: ${v.op} value is read at index [${symKey(idx)}] but computed at [${b.key}]`);
      }
      return b.expr;
    }
    if (!this.members.has(v)) return this.load(v, idx);
    const t = scalarType(v.dtype);
    const ins = v.inputs;
    const op = v.op;
    if (UNARY.has(op)) return { k: 'un', op: op as UnOp, a: this.valueAt(ins[0]!, idx), t };
    if (BINARY.has(op)) return { k: 'bin', op: op as BinOp, a: this.valueAt(ins[0]!, idx), b: this.valueAt(ins[1]!, idx), t };
    switch (op) {
      case 'compare':
        return { k: 'cmp', op: attr.str(v.attrs, 'dir') as CmpOp, a: this.valueAt(ins[0]!, idx), b: this.valueAt(ins[1]!, idx), t: 'bool' };
      case 'select':
        return { k: 'sel', c: this.valueAt(ins[0]!, idx), a: this.valueAt(ins[1]!, idx), b: this.valueAt(ins[2]!, idx), t };
      case 'cast':
        return { k: 'cast', a: this.valueAt(ins[0]!, idx), to: v.dtype, t };
      case 'constant':
        return this.load(v, idx);
      case 'iota':
        return { k: 'cast', a: { k: 'index', s: idx[attr.int(v.attrs, 'dim')]! }, to: v.dtype, t };
      case 'broadcast_in_dim': {
        const x = ins[0]!;
        const dims = attr.ints(v.attrs, 'dims');
        return this.valueAt(x, x.shape.map((n, j) => (n === 1 ? sconst(0) : idx[dims[j]!]!)));
      }
      case 'reshape': {
        const x = ins[0]!;
        return this.valueAt(x, unflatten(linearize(idx, v.shape), x.shape));
      }
      case 'transpose': {
        const x = ins[0]!;
        const perm = attr.ints(v.attrs, 'perm');
        const xi = new Array<Sym>(x.shape.length);
        perm.forEach((p, i) => { xi[p] = idx[i]!; });
        return this.valueAt(x, xi);
      }
      case 'slice': {
        const start = attr.ints(v.attrs, 'start');
        const strides = attr.ints(v.attrs, 'strides');
        return this.valueAt(ins[0]!, idx.map((s, d) => sadd(smul(s, strides[d]!), start[d]!)));
      }
      case 'pad': return this.pad(v, idx);
      case 'concat': return this.concat(v, idx);
      case 'rng_uniform':
      case 'rng_normal': {
        const key = ins[0]!;
        return {
          k: 'rng', dist: op === 'rng_uniform' ? 'uniform' : 'normal', t: 'f32',
          k0: this.valueAt(key, [sconst(0)]), k1: this.valueAt(key, [sconst(1)]), counter: linearize(idx, v.shape),
        };
      }
      case 'gather': return this.gather(v, idx);
      case 'quantize': case 'dequantize': case 'requantize':
        return quantExpr(v, this.valueAt(ins[0]!, idx), idx, (data) => {
          const id = data instanceof Int32Array
            ? this.ctx.constI32?.(data, `${op} parameters`) ?? fail(`${this.g.name}: this target has no i32 constant tables for a per-channel ${op}`)
            : this.ctx.constBuffer(data, `${op} parameters`);
          this.bufs.set(id, { id, dtype: data instanceof Int32Array ? 'i32' : 'f32', elems: data.length });
          return id;
        });
      default:
        throw new LoweringError(`${this.g.name}: ${op} cannot be computed inside a fused loop`);
    }
  }

  private pad(v: Value, idx: readonly Sym[]): Expr {
    const x = v.inputs[0]!;
    const low = attr.ints(v.attrs, 'low');
    const interior = attr.ints(v.attrs, 'interior');
    const padValue: Expr = { k: 'const', t: scalarType(v.dtype), v: attr.float(v.attrs, 'value') };
    if (numel(x.shape) === 0) return padValue;
    const xi: Sym[] = [];
    const conds: Expr[] = [];
    x.shape.forEach((n, d) => {
      const t = ssub(idx[d]!, low[d]!);
      const s = interior[d]! + 1;
      const q = sdiv(t, s);
      xi.push(sclamp(q, n));
      if (t.lo < 0) conds.push(cmpIdx('ge', t, sconst(0)));
      if (s > 1) conds.push(cmpIdx('eq', smod(t, s), sconst(0)));
      if (q.hi > n - 1) conds.push(cmpIdx('lt', q, sconst(n)));
    });
    const inner = this.valueAt(x, xi);
    if (conds.length === 0) return inner;
    return { k: 'sel', c: andAll(conds), a: inner, b: padValue, t: scalarType(v.dtype) };
  }

  private concat(v: Value, idx: readonly Sym[]): Expr {
    const axis = attr.int(v.attrs, 'axis');
    const i = idx[axis]!;
    let offset = 0;
    const parts: { lo: number; hi: number; x: Value }[] = [];
    for (const x of v.inputs) {
      parts.push({ lo: offset, hi: offset + x.shape[axis]!, x });
      offset += x.shape[axis]!;
    }
    const live = parts.filter((p) => p.hi > p.lo && p.hi > i.lo && p.lo <= i.hi);
    let expr: Expr | undefined;
    for (let k = live.length - 1; k >= 0; k--) {
      const p = live[k]!;
      const xi = idx.map((s, d) => (d === axis ? sclamp(ssub(s, p.lo), p.hi - p.lo) : s));
      const val = this.valueAt(p.x, xi);
      expr = expr === undefined ? val : { k: 'sel', c: cmpIdx('lt', i, sconst(p.hi)), a: val, b: expr, t: scalarType(v.dtype) };
    }
    if (!expr) throw new LoweringError(`${this.g.name}: concat has no operand covering the index`);
    return expr;
  }

  private gather(v: Value, idx: readonly Sym[]): Expr {
    const [operand, indices] = v.inputs as [Value, Value];
    const axis = attr.int(v.attrs, 'axis');
    const r = indices.shape.length;
    const pre = idx.slice(0, axis);
    const ind = idx.slice(axis, axis + r);
    const post = idx.slice(axis + r);
    const n = operand.shape[axis]!;
    const postSize = numel(operand.shape.slice(axis + 1));
    const base = smul(linearize(pre, operand.shape.slice(0, axis)), n * postSize);
    const rawIndex = this.valueAt(indices, ind);
    // Out-of-range indices are clamped (tf.gather on CPU throws; a compiled kernel must not read out of bounds).
    const clamped: Expr = { k: 'bin', op: 'min', t: 'i32', a: { k: 'bin', op: 'max', t: 'i32', a: rawIndex, b: { k: 'const', t: 'i32', v: 0 } }, b: { k: 'const', t: 'i32', v: n - 1 } };
    const at: Expr = {
      k: 'bin', op: 'add', t: 'i32',
      a: { k: 'index', s: sadd(base, linearize(post, operand.shape.slice(axis + 1))) },
      b: { k: 'bin', op: 'mul', t: 'i32', a: clamped, b: { k: 'const', t: 'i32', v: postSize } },
    };
    if (this.members.has(operand)) throw new LoweringError(`${this.g.name}: gather operand must be materialized`);
    return { k: 'loadx', buf: this.buf(operand), at, t: scalarType(v.dtype) };
  }
}

function fail(msg: string): never {
  throw new LoweringError(msg);
}

function cmpIdx(op: CmpOp, a: Sym, b: Sym): Expr {
  return { k: 'cmp', op, a: { k: 'index', s: a }, b: { k: 'index', s: b }, t: 'bool' };
}

function andAll(conds: readonly Expr[]): Expr {
  return conds.reduce((acc, c) => ({ k: 'bin', op: 'and', a: acc, b: c, t: 'bool' }));
}

const REDUCE_INIT: Record<ReduceOp, number> = { sum: 0, prod: 1, max: -Infinity, min: Infinity };

function initFor(op: ReduceOp, t: ScalarType): Expr {
  let v = REDUCE_INIT[op];
  if (t === 'i32' && !Number.isFinite(v)) v = v > 0 ? 2147483647 : -2147483648;
  return { k: 'const', t, v };
}

/** Loop over the elements of `shape` row by row: work items index all but the last dim. */
interface Domain {
  work: number;
  /** Multi-index of the output given the work var `w` and inner var `i`. */
  idx: Sym[];
  /** Wraps the per-element statements in the inner loop. */
  wrap(body: Stmt[], vectorizable: boolean): Stmt[];
  innerVar: string | undefined;
}

const FLAT_CHUNK = 1024;

function rowDomain(shape: readonly number[]): Domain {
  const r = shape.length;
  if (r === 0) return { work: 1, idx: [], wrap: (b) => b, innerVar: undefined };
  const inner = shape[r - 1]!;
  const outerShape = shape.slice(0, r - 1);
  const work = numel(outerShape);
  const w = svar('w', Math.max(1, work));
  const i = svar('i', inner);
  return {
    work, idx: [...unflatten(w, outerShape), i], innerVar: 'i',
    wrap: (body, vec) => [{ k: 'for', v: 'i', n: inner, body, vector: vec ? 4 : undefined }],
  };
}

/** Flat iteration in chunks of FLAT_CHUNK elements (the last chunk is bounded by `end`). */
function flatDomain(shape: readonly number[]): Domain {
  const n = numel(shape);
  const chunk = Math.min(FLAT_CHUNK, n);
  const work = Math.ceil(n / chunk);
  const w = svar('w', work);
  const i = svar('i', chunk);
  const flat = sadd(smul(w, chunk), i);
  // The last chunk may be partial: bound the loop at runtime by the remaining element count.
  const exact = n % chunk === 0;
  return {
    work, idx: unflatten(flat, shape), innerVar: 'i',
    wrap: (body, vec) => [exact
      ? { k: 'for', v: 'i', n: chunk, body, vector: vec ? 4 : undefined }
      : { k: 'for', v: 'i', n: chunk, body, vector: vec ? 4 : undefined, end: ssub(n, smul(w, chunk)) }],
  };
}

/** Every load/index in `exprs` either ignores `v` or walks it with stride 1 (so SIMD lanes are contiguous). */
export function vectorFriendly(exprs: readonly Expr[], stores: readonly Sym[], v: string): boolean {
  const ok = (s: Sym, allowStride: (n: number) => boolean) => {
    const st = strideOf(s, v);
    return st !== 'complex' && allowStride(st);
  };
  if (!stores.every((s) => ok(s, (n) => n === 1))) return false;
  const seen = new Set<Expr>();
  const visit = (e: Expr): boolean => {
    if (seen.has(e)) return true;
    seen.add(e);
    switch (e.k) {
      case 'const': case 'local': case 'acc': return true;
      case 'index': return ok(e.s, () => true);
      case 'load': return e.t === 'f32' && ok(e.at, (n) => n === 0 || n === 1);
      case 'loadx': return false;
      case 'un': return visit(e.a);
      case 'bin': return visit(e.a) && visit(e.b);
      case 'cmp': return visit(e.a) && visit(e.b);
      case 'sel': return visit(e.c) && visit(e.a) && visit(e.b);
      case 'cast': return e.t === 'f32' && visit(e.a);
      case 'rng': case 'requant': return false;
    }
  };
  return exprs.every((e) => exprType(e) === 'f32' && visit(e));
}

export function exprType(e: Expr): ScalarType {
  return e.k === 'index' ? 'i32' : e.t;
}

function kernel(l: Lowerer, name: string, work: number, body: Stmt[], note: string): Kernel {
  return { name, bufs: [...l.bufs.values()], work, body, note };
}

/** Lower a loop (elementwise/movement) group: one kernel per distinct output shape. */
function lowerLoop(g: LowerGroup, ctx: LowerContext): Kernel[] {
  const pieces = lowerPieces(g, ctx);
  if (pieces) return pieces;
  const byShape = new Map<string, Value[]>();
  for (const o of g.outputs) {
    const k = o.shape.join(',');
    byShape.set(k, [...(byShape.get(k) ?? []), o]);
  }
  let n = 0;
  return [...byShape.values()].map((outs) => {
    const shape = outs[0]!.shape;
    const build = (dom: Domain) => {
      const l = new Lowerer(g, ctx);
      const vals = outs.map((o) => l.valueAt(o, dom.idx));
      const stores = outs.map((o) => linearize(dom.idx, o.shape));
      const vec = dom.innerVar !== undefined && vectorFriendly(vals, stores, dom.innerVar);
      const body: Stmt[] = outs.map((o, k) => ({ k: 'store', buf: l.buf(o), at: stores[k]!, val: vals[k]! }));
      return { l, body: dom.wrap(body, vec), work: dom.work, vec };
    };
    const flat = numel(shape) > 0 ? build(flatDomain(shape)) : undefined;
    const rows = build(rowDomain(shape));
    const pick = flat && flat.vec ? flat : rows;
    return kernel(pick.l, `${g.name}${n++ ? `_${n}` : ''}`, pick.work, pick.body, outs.map((o) => o.op).join(','));
  });
}

/** Merge a kept index and a reduced index back into a full multi-index of rank `rank`. */
function mergeIdx(rank: number, axes: readonly number[], kept: readonly Sym[], red: readonly Sym[]): Sym[] {
  const out: Sym[] = [];
  let ki = 0, ri = 0;
  for (let d = 0; d < rank; d++) out.push(axes.includes(d) ? red[ri++]! : kept[ki++]!);
  return out;
}

/**
 * Lower a reduction group as a row kernel: one work item per kept index; each reduce of the
 * group is an accumulation loop over the reduced elements (later reduces may read earlier ones,
 * as softmax's sum reads its max); then outputs are stored per row or per element.
 */
function lowerReduction(g: LowerGroup, ctx: LowerContext): Kernel[] {
  const reduces = g.values.filter((v) => v.op === 'reduce');
  if (reduces.length === 0) throw new LoweringError(`${g.name}: reduction group without reduce`);
  const first = reduces[0]!;
  const inShape = first.inputs[0]!.shape;
  const axes = [...attr.ints(first.attrs, 'axes')].sort((a, b) => a - b);
  for (const r of reduces) {
    const same = r.inputs[0]!.shape.join(',') === inShape.join(',') && [...attr.ints(r.attrs, 'axes')].sort((a, b) => a - b).join(',') === axes.join(',');
    if (!same) throw new LoweringError(`${g.name}: reductions over different shapes/axes in one group`);
  }
  const keptShape = inShape.filter((_, d) => !axes.includes(d));
  const redShape = axes.map((d) => inShape[d]!);
  const nRed = numel(redShape);
  const last = inShape.length - 1;
  if (last >= 0 && !axes.includes(last) && inShape[last]! >= 4 && nRed > 1) {
    const col = lowerColumnReduction(g, ctx, reduces, inShape, axes, keptShape, redShape);
    if (col) return col;
  }
  const work = Math.max(1, numel(keptShape));
  const l = new Lowerer(g, ctx);
  const w = svar('w', work);
  const kidx = unflatten(w, keptShape);
  const r = svar('r', nRed);
  const fullIdx = mergeIdx(inShape.length, axes, kidx, unflatten(r, redShape));
  const body: Stmt[] = [];
  for (const red of reduces) {
    const op = attr.str(red.attrs, 'op') as ReduceOp;
    const t = scalarType(red.dtype);
    const name = l.fresh('acc');
    const val = l.valueAt(red.inputs[0]!, fullIdx);
    const vec = vectorFriendly([val], [], 'r') && t === 'f32';
    body.push({ k: 'decl', name, t, init: initFor(op, t) });
    if (nRed > 0) body.push({ k: 'for', v: 'r', n: nRed, body: [{ k: 'accum', name, op, val }], vector: vec ? 4 : undefined });
    l.bound.set(red, { key: symKey(kidx), expr: { k: 'local', name, t } });
  }
  const perElement: Stmt[] = [];
  for (const o of g.outputs) {
    if (numel(o.shape) === numel(keptShape) && (o.op === 'reduce' || o.shape.length <= keptShape.length || numel(o.shape) !== numel(inShape))) {
      const oi = o.shape.join(',') === keptShape.join(',') ? kidx : unflatten(linearize(kidx, keptShape), o.shape);
      body.push({ k: 'store', buf: l.buf(o), at: linearize(oi, o.shape), val: l.valueAt(o, oi) });
    } else if (o.shape.join(',') === inShape.join(',')) {
      perElement.push({ k: 'store', buf: l.buf(o), at: linearize(fullIdx, o.shape), val: l.valueAt(o, fullIdx) });
    } else {
      throw new LoweringError(`${g.name}: output ${o.op} of shape [${o.shape}] is neither per-row nor per-element`);
    }
  }
  if (perElement.length > 0 && nRed > 0) {
    const vals = perElement.map((s) => (s as { val: Expr }).val);
    const stores = perElement.map((s) => (s as { at: Sym }).at);
    body.push({ k: 'for', v: 'r', n: nRed, body: perElement, vector: vectorFriendly(vals, stores, 'r') ? 4 : undefined });
  }
  return [kernel(l, g.name, work, body, reduces.map((x) => `reduce(${attr.str(x.attrs, 'op')})`).join(','))];
}

/**
 * The column layout of a row kernel, for reductions that keep the innermost dim (bias gradients,
 * batch-norm statistics over N, H, W): each work item owns a block of the kept innermost dim,
 * iterated as a SIMD loop, and runs every reduction loop inside it, so the reduced elements are
 * read four contiguous channels at a time instead of one strided scalar at a time. Undefined when
 * the body does not vectorize (the row layout is used then).
 */
function lowerColumnReduction(g: LowerGroup, ctx: LowerContext, reduces: readonly Value[], inShape: readonly number[], axes: readonly number[], keptShape: readonly number[], redShape: readonly number[]): Kernel[] | undefined {
  const C = keptShape[keptShape.length - 1]!;
  const outer = keptShape.slice(0, -1);
  const nOuter = numel(outer);
  const nRed = numel(redShape);
  // Enough work items for the threads: with few rows, split the channels into about 8 blocks
  // (each still whole SIMD vectors).
  const CB = nOuter >= 8 ? C : Math.min(C, 4 * Math.ceil(C / (4 * Math.max(1, Math.floor(8 / nOuter)))));
  const nb = Math.ceil(C / CB);
  const work = nOuter * nb;
  const l = new Lowerer(g, ctx);
  const w = svar('w', work);
  const c = svar('c', CB);
  const block = smod(w, nb);
  const cAbs = sadd(smul(block, CB), c);
  const kidx = [...unflatten(sdiv(w, nb), outer), cAbs];
  const r = svar('r', nRed);
  const fullIdx = mergeIdx(inShape.length, axes, kidx, unflatten(r, redShape));
  const inner: Stmt[] = [];
  for (const red of reduces) {
    const op = attr.str(red.attrs, 'op') as ReduceOp;
    const t = scalarType(red.dtype);
    if (t !== 'f32') return undefined;
    const name = l.fresh('acc');
    inner.push({ k: 'decl', name, t, init: initFor(op, t) });
    inner.push({ k: 'for', v: 'r', n: nRed, body: [{ k: 'accum', name, op, val: l.valueAt(red.inputs[0]!, fullIdx) }] });
    l.bound.set(red, { key: symKey(kidx), expr: { k: 'local', name, t } });
  }
  const perElement: Stmt[] = [];
  const stores: Sym[] = [];
  for (const o of g.outputs) {
    if (o.shape.join(',') === inShape.join(',')) {
      const at = linearize(fullIdx, o.shape);
      perElement.push({ k: 'store', buf: l.buf(o), at, val: l.valueAt(o, fullIdx) });
      stores.push(at);
    } else if (numel(o.shape) === numel(keptShape)) {
      const oi = o.shape.join(',') === keptShape.join(',') ? kidx : unflatten(linearize(kidx, keptShape), o.shape);
      const at = linearize(oi, o.shape);
      inner.push({ k: 'store', buf: l.buf(o), at, val: l.valueAt(o, oi) });
      stores.push(at);
    } else {
      return undefined;
    }
  }
  if (perElement.length) inner.push({ k: 'for', v: 'r', n: nRed, body: perElement });
  if (!vectorFriendly(collectExprs(inner), stores, 'c')) return undefined;
  const end = C % CB === 0 ? undefined : ssub(C, smul(block, CB));
  const body: Stmt[] = [{ k: 'for', v: 'c', n: CB, body: inner, vector: 4, end }];
  return [kernel(l, g.name, work, body, reduces.map((x) => `reduce(${attr.str(x.attrs, 'op')}) columns`).join(','))];
}

/**
 * Anchors computed per output element by an inner loop (generic dot, conv, reduce_window): the
 * accumulator is bound to the anchor at the output index, then the epilogue is stored.
 */
function lowerPerElement(g: LowerGroup, ctx: LowerContext, anchorStmts: (l: Lowerer, idx: Sym[], acc: string) => { stmts: Stmt[]; t: ScalarType }): Kernel[] {
  const root = g.root;
  const shape = root.shape;
  for (const o of g.outputs) {
    if (numel(o.shape) !== numel(shape)) throw new LoweringError(`${g.name}: output of shape [${o.shape}] differs from the anchor's [${shape}]`);
  }
  const build = (dom: Domain) => {
    const l = new Lowerer(g, ctx);
    const acc = l.fresh('acc');
    const { stmts, t } = anchorStmts(l, dom.idx, acc);
    l.bound.set(root, { key: symKey(dom.idx), expr: { k: 'local', name: acc, t } });
    const lin = linearize(dom.idx, shape);
    const outs = g.outputs.map((o) => {
      const oi = o.shape.join(',') === shape.join(',') ? dom.idx : unflatten(lin, o.shape);
      return { buf: l.buf(o), at: linearize(oi, o.shape), val: l.valueAt(o, oi) };
    });
    const inner = [...stmts, ...outs.map((o): Stmt => ({ k: 'store', buf: o.buf, at: o.at, val: o.val }))];
    const allExprs = [...outs.map((o) => o.val), ...collectExprs(stmts)];
    const vec = dom.innerVar !== undefined && t === 'f32' && vectorFriendly(allExprs, outs.map((o) => o.at), dom.innerVar);
    return { l, body: dom.wrap(inner, vec), work: dom.work };
  };
  const b = build(rowDomain(shape));
  return [kernel(b.l, g.name, b.work, b.body, root.op)];
}

function collectExprs(stmts: readonly Stmt[]): Expr[] {
  const out: Expr[] = [];
  const walk = (ss: readonly Stmt[]) => {
    for (const s of ss) {
      switch (s.k) {
        case 'for': walk(s.body); break;
        case 'store': out.push(s.val); break;
        case 'storex': out.push(s.at, s.val); break;
        case 'decl': out.push(s.init); break;
        case 'accum': case 'set': out.push(s.val); break;
        case 'gemm': case 'conv2d': break;
      }
    }
  };
  walk(stmts);
  return out;
}

/** Nested loops over `dims` (skipping size-1 dims), innermost last; returns the index per dim. */
function loops(l: Lowerer, dims: readonly number[], prefix: string, body: (idx: Sym[]) => Stmt[]): Stmt[] {
  const vars = dims.map((n) => (n === 1 ? { name: '', s: sconst(0) } : { name: l.fresh(prefix), n }));
  const idx = vars.map((v, d) => ('n' in v ? svar(v.name, v.n!) : sconst(0)) as Sym);
  let stmts = body(idx);
  for (let d = dims.length - 1; d >= 0; d--) {
    const v = vars[d]!;
    if ('n' in v) stmts = [{ k: 'for', v: v.name, n: v.n!, body: stmts }];
  }
  return stmts;
}

function dotAnchor(v: Value) {
  return (l: Lowerer, idx: Sym[], acc: string) => {
    const [lhs, rhs] = v.inputs as [Value, Value];
    const lb = attr.ints(v.attrs, 'lhs_batch'), rb = attr.ints(v.attrs, 'rhs_batch');
    const lc = attr.ints(v.attrs, 'lhs_contract'), rc = attr.ints(v.attrs, 'rhs_contract');
    const lFree = lhs.shape.map((_, d) => d).filter((d) => !lb.includes(d) && !lc.includes(d));
    const rFree = rhs.shape.map((_, d) => d).filter((d) => !rb.includes(d) && !rc.includes(d));
    const t = scalarType(v.dtype);
    const stmts = loops(l, lc.map((d) => lhs.shape[d]!), 'k', (kidx) => {
      const li = new Array<Sym>(lhs.shape.length), ri = new Array<Sym>(rhs.shape.length);
      let o = 0;
      lb.forEach((d, j) => { li[d] = idx[o]!; ri[rb[j]!] = idx[o]!; o++; });
      for (const d of lFree) li[d] = idx[o++]!;
      for (const d of rFree) ri[d] = idx[o++]!;
      lc.forEach((d, j) => { li[d] = kidx[j]!; ri[rc[j]!] = kidx[j]!; });
      const prod: Expr = { k: 'bin', op: 'mul', a: l.valueAt(lhs, li), b: l.valueAt(rhs, ri), t };
      return [{ k: 'accum', name: acc, op: 'sum', val: prod }];
    });
    return { stmts: [{ k: 'decl', name: acc, t, init: { k: 'const', t, v: 0 } } as Stmt, ...stmts], t };
  };
}

function convAnchor(v: Value) {
  return (l: Lowerer, idx: Sym[], acc: string) => {
    const [x, w] = v.inputs as [Value, Value];
    const [, H, W, C] = x.shape as [number, number, number, number];
    const [KH, KW, CI, O] = w.shape as [number, number, number, number];
    const strides = attr.ints(v.attrs, 'strides'), padLo = attr.ints(v.attrs, 'pad_lo');
    const ld = attr.ints(v.attrs, 'lhs_dilation'), rd = attr.ints(v.attrs, 'rhs_dilation');
    const groups = attr.int(v.attrs, 'groups');
    const og = O / groups;
    const t = scalarType(v.dtype);
    const [n, oh, ow, o] = idx as [Sym, Sym, Sym, Sym];
    const gIdx = sdiv(o, og);
    const stmts = loops(l, [KH, KW, CI], 'k', ([kh, kw, ci]) => {
      const conds: Expr[] = [];
      const spatial = (out: Sym, k: Sym, s: number, lo: number, dil: number, ldil: number, size: number): Sym => {
        const p = ssub(sadd(smul(out, s), smul(k, dil)), lo);
        const q = sdiv(p, ldil);
        if (p.lo < 0) conds.push(cmpIdx('ge', p, sconst(0)));
        if (ldil > 1) conds.push(cmpIdx('eq', smod(p, ldil), sconst(0)));
        if (q.hi > size - 1) conds.push(cmpIdx('lt', q, sconst(size)));
        return sclamp(q, size);
      };
      const ih = spatial(oh, kh!, strides[0]!, padLo[0]!, rd[0]!, ld[0]!, H);
      const iw = spatial(ow, kw!, strides[1]!, padLo[1]!, rd[1]!, ld[1]!, W);
      const c = sadd(smul(gIdx, CI), ci!);
      void C;
      let xv = l.valueAt(x, [n, ih, iw, c]);
      if (conds.length) xv = { k: 'sel', c: andAll(conds), a: xv, b: { k: 'const', t, v: 0 }, t };
      const prod: Expr = { k: 'bin', op: 'mul', a: xv, b: l.valueAt(w, [kh!, kw!, ci!, o]), t };
      return [{ k: 'accum', name: acc, op: 'sum', val: prod }];
    });
    return { stmts: [{ k: 'decl', name: acc, t, init: { k: 'const', t, v: 0 } } as Stmt, ...stmts], t };
  };
}

function windowAnchor(v: Value) {
  return (l: Lowerer, idx: Sym[], acc: string) => {
    const x = v.inputs[0]!;
    const op = attr.str(v.attrs, 'op') as ReduceOp;
    const win = attr.ints(v.attrs, 'window'), strides = attr.ints(v.attrs, 'strides'), lo = attr.ints(v.attrs, 'pad_lo');
    const t = scalarType(v.dtype);
    const init = initFor(op, t);
    const stmts = loops(l, win, 'k', (kidx) => {
      const conds: Expr[] = [];
      const xi = x.shape.map((n, d) => {
        const p = ssub(sadd(smul(idx[d]!, strides[d]!), kidx[d]!), lo[d]!);
        if (p.lo < 0) conds.push(cmpIdx('ge', p, sconst(0)));
        if (p.hi > n - 1) conds.push(cmpIdx('lt', p, sconst(n)));
        return sclamp(p, n);
      });
      let xv = l.valueAt(x, xi);
      if (conds.length) xv = { k: 'sel', c: andAll(conds), a: xv, b: init, t };
      return [{ k: 'accum', name: acc, op, val: xv }];
    });
    return { stmts: [{ k: 'decl', name: acc, t, init } as Stmt, ...stmts], t };
  };
}

/** scatter_add: copy base, then add updates; parallel over (pre, post) so no two items collide. */
function lowerScatter(g: LowerGroup, ctx: LowerContext): Kernel[] {
  const v = g.root;
  if (g.values.length !== 1) throw new LoweringError(`${g.name}: scatter_add does not fuse`);
  const [base, indices, updates] = v.inputs as [Value, Value, Value];
  const axis = attr.int(v.attrs, 'axis');
  const l = new Lowerer(g, ctx);
  const out = l.buf(v);
  const n = numel(v.shape);
  const copyVal = l.valueAt(base, unflatten(svar('i', n), base.shape));
  const copyVec = vectorFriendly([copyVal], [svar('i', n)], 'i');
  const copy: Stmt[] = n === 0 ? [] : [{ k: 'for', v: 'i', n, body: [{ k: 'store', buf: out, at: svar('i', n), val: copyVal }], vector: copyVec ? 4 : undefined }];
  const preShape = v.shape.slice(0, axis), postShape = v.shape.slice(axis + 1);
  const N = v.shape[axis]!;
  const nPre = numel(preShape), nPost = numel(postShape), nInd = numel(indices.shape);
  const work = nPre * nPost;
  const w = svar('w', Math.max(1, work));
  const pre = sdiv(w, Math.max(1, nPost)), post = smod(w, Math.max(1, nPost));
  const j = svar('j', nInd);
  const raw = l.valueAt(indices, unflatten(j, indices.shape));
  // Out-of-range indices are dropped (XLA and the interpreter); the clamped address keeps the access in bounds.
  const clamped: Expr = { k: 'bin', op: 'min', t: 'i32', a: { k: 'bin', op: 'max', t: 'i32', a: raw, b: { k: 'const', t: 'i32', v: 0 } }, b: { k: 'const', t: 'i32', v: N - 1 } };
  const inRange: Expr = { k: 'cmp', op: 'eq', t: 'bool', a: raw, b: clamped };
  const at: Expr = {
    k: 'bin', op: 'add', t: 'i32',
    a: { k: 'index', s: sadd(smul(pre, N * nPost), post) },
    b: { k: 'bin', op: 'mul', t: 'i32', a: clamped, b: { k: 'const', t: 'i32', v: nPost } },
  };
  const updIdx = [...unflatten(pre, preShape), ...unflatten(j, indices.shape), ...unflatten(post, postShape)];
  const t = scalarType(v.dtype);
  const old: Expr = { k: 'loadx', buf: out, at, t };
  const sum: Expr = { k: 'bin', op: 'add', t, a: old, b: l.valueAt(updates, updIdx) };
  const add: Stmt = { k: 'storex', buf: out, at, val: { k: 'sel', c: inRange, a: sum, b: old, t } };
  const kernels: Kernel[] = [];
  if (copy.length) kernels.push(kernel(l, `${g.name}_copy`, 1, copy, 'scatter_add base copy'));
  if (work > 0 && nInd > 0) kernels.push(kernel(l, `${g.name}_add`, work, [{ k: 'for', v: 'j', n: nInd, body: [add] }], 'scatter_add'));
  return kernels;
}

/** Row-major strides (elements) of a shape. */
function stridesOf(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) { st[d] = acc; acc *= shape[d]!; }
  return st;
}

/** Whether `dims` (in order) are contiguous in row-major `shape`, i.e. merge into one stride-`inner` dim. */
function mergeable(shape: readonly number[], dims: readonly number[]): boolean {
  const st = stridesOf(shape);
  for (let i = 0; i + 1 < dims.length; i++) if (st[dims[i]!] !== st[dims[i + 1]!]! * shape[dims[i + 1]!]!) return false;
  return true;
}

/** Epilogue expressions a GEMM target can apply per output vector: elementwise f32 math on `acc`, column/row/output-indexed loads. */
/** The unary ops gemm_epilogue.ts translates (every f32 one of kernel IR's, listed so a new op is not admitted by default). */
const GEMM_EPILOGUE_UNARY: ReadonlySet<string> = new Set(['neg', 'abs', 'sign', 'sqrt', 'rsqrt', 'floor', 'ceil', 'round', 'exp', 'log', 'log1p', 'tanh', 'logistic', 'erf', 'sin', 'cos']);

/** `at - outAt` when the two differ by a constant only (same terms), else undefined. */
export function offsetFromOutput(at: Sym, outAt: Sym): number | undefined {
  if (at.terms.length !== outAt.terms.length) return undefined;
  for (let i = 0; i < at.terms.length; i++) {
    const a = at.terms[i]!, b = outAt.terms[i]!;
    if (a.key !== b.key || a.coef !== b.coef) return undefined;
  }
  return at.c - outAt.c;
}

export function gemmEpilogueSupported(e: Expr, outAt: Sym): boolean {
  const ok = (x: Expr): boolean => {
    switch (x.k) {
      case 'acc': case 'const': return x.k === 'acc' || x.t === 'f32';
      case 'load': {
        if (x.t !== 'f32') return false;
        // At the output's index, or at a fixed offset from it (a contiguous block of a bigger buffer).
        if (offsetFromOutput(x.at, outAt) !== undefined) return true;
        const sn = strideOf(x.at, 'n'), sm = strideOf(x.at, 'm');
        if (sn === 'complex' || sm === 'complex') return false;
        const vars = new Set(x.at.terms.map((t) => (t.atom.k === 'var' ? t.atom.name : '?')));
        if (vars.has('?')) return false;
        return (sn === 1 && !vars.has('m')) || (sn === 0);
      }
      case 'un': return x.t === 'f32' && GEMM_EPILOGUE_UNARY.has(x.op) && ok(x.a);
      case 'bin': return x.t === 'f32' && x.op !== 'pow' && ok(x.a) && ok(x.b);
      case 'cmp': return ok(x.a) && ok(x.b) && x.a.k !== 'index';
      case 'sel': return x.t === 'f32' && ok(x.c) && ok(x.a) && ok(x.b);
      case 'cast': return x.t === 'f32' && x.to === 'f32' && ok(x.a);
      default: return false;
    }
  };
  return ok(e);
}

/**
 * The epilogue of a GEMM-style anchor (dot, blocked conv): the anchor's value at `idx` (its
 * output index in terms of the symbolic row `m` and column `n`) is the accumulator, and the
 * group's single output, read at the same element, becomes an Expr over it. Undefined when the
 * output is not stored at m*N + n or the epilogue is beyond what GEMM targets apply per vector.
 */
function gemmStyleEpilogue(l: Lowerer, g: LowerGroup, anchor: Value, idx: readonly Sym[], m: Sym, n: Sym, N: number): Expr | undefined {
  l.bound.set(anchor, { key: symKey(idx), expr: { k: 'acc', t: 'f32' } });
  const o = g.outputs[0]!;
  const oi = o.shape.join(',') === anchor.shape.join(',') ? idx : unflatten(linearize(idx, anchor.shape), o.shape);
  let epilogue: Expr;
  try {
    epilogue = l.valueAt(o, oi);
  } catch (e) {
    if (e instanceof LoweringError) return undefined;
    throw e;
  }
  const outAt = linearize(oi, o.shape);
  if (outAt.key !== sadd(smul(m, N), n).key || !gemmEpilogueSupported(epilogue, outAt)) return undefined;
  return epilogue;
}

/**
 * dot_general as a GEMM: one contracting dim, no batch dims, A addressable with a row stride
 * (or transposed), B packed in panels (at compile time when constant, else by a pack kernel),
 * one output, and an epilogue the GEMM can apply. Returns undefined when any of that fails.
 */
function lowerGemm(g: LowerGroup, ctx: LowerContext, dot: Value): Kernel[] | undefined {
  const [lhs, rhs] = dot.inputs as [Value, Value];
  const low = (d: string) => d === 'f16' || d === 'bf16';
  const operandsOk = (lhs.dtype === 'f32' && rhs.dtype === 'f32') || (ctx.lowPrecisionGemm === true && low(lhs.dtype) && lhs.dtype === rhs.dtype);
  if (dot.dtype !== 'f32' || !operandsOk) return undefined;
  const lb = attr.ints(dot.attrs, 'lhs_batch'), lc = attr.ints(dot.attrs, 'lhs_contract');
  const rc = attr.ints(dot.attrs, 'rhs_contract');
  if (lb.length !== 0 || lc.length !== 1 || rc.length !== 1) return undefined;
  if (g.outputs.length !== 1 || numel(g.outputs[0]!.shape) !== numel(dot.shape)) return undefined;
  const members = new Set(g.values);
  // Operands computed in the group: only splats (an initial state of zeros), written to memory first.
  if ((members.has(lhs) && !splatOperand(lhs, members)) || (members.has(rhs) && !splatOperand(rhs, members))) return undefined;
  const kd = lc[0]!, rk = rc[0]!;
  const lFree = lhs.shape.map((_, d) => d).filter((d) => d !== kd);
  const rFree = rhs.shape.map((_, d) => d).filter((d) => d !== rk);
  const M = lFree.reduce((a, d) => a * lhs.shape[d]!, 1);
  const N = rFree.reduce((a, d) => a * rhs.shape[d]!, 1);
  const K = lhs.shape[kd]!;
  if (M === 0 || N === 0 || K === 0) return undefined;
  if (!mergeable(lhs.shape, lFree)) return undefined;
  const lst = stridesOf(lhs.shape);
  const mStride = lFree.length ? lst[lFree[lFree.length - 1]!]! : 1;
  let transA: boolean, lda: number;
  // A single row (M = 1) has no row stride to speak of: read it as a [1, K] row.
  if (M === 1 && lst[kd] === 1) { transA = false; lda = K; }
  else if (lst[kd] === 1) { transA = false; lda = mStride; }
  else if (mStride === 1 || M === 1) { transA = true; lda = Math.max(lst[kd]!, M); }
  else return undefined;
  const l = new Lowerer(g, ctx);
  // Epilogue at (m, n): the dot's output index is [unflatten(m, lhs free), unflatten(n, rhs free)].
  const m = svar('m', M), n = svar('n', N);
  const mShape = lFree.map((d) => lhs.shape[d]!), nShape = rFree.map((d) => rhs.shape[d]!);
  const idx = [...unflatten(m, mShape), ...unflatten(n, nShape)];
  const epilogue = gemmStyleEpilogue(l, g, dot, idx, m, n, N);
  if (!epilogue) return undefined;
  const o = g.outputs[0]!;
  const kernels: Kernel[] = [];
  // B as a logical [K, N] matrix: element (k, j) of rhs, j unflattened over rhs's free dims.
  const bPacked = packOperand(g, ctx, rhs, { kDims: [K], kAxes: [rk], jDims: nShape, jAxes: rFree }, kernels);
  const panels = Math.ceil(N / GEMM_NR);
  const aBuf = members.has(lhs) ? materializeOperand(g, ctx, lhs, kernels) : l.buf(lhs);
  if (members.has(lhs)) l.bufs.set(aBuf, { id: aBuf, dtype: lhs.dtype, elems: numel(lhs.shape) });
  const outBuf = l.buf(o);
  l.bufs.set(bPacked, { id: bPacked, dtype: rhs.dtype, elems: panels * K * GEMM_NR });
  // Few row blocks: split the panels too, so every thread gets work (enough K to pay for it).
  const rowBlocks = Math.ceil(M / GEMM_MR);
  const nSplit = ctx.gemmColumnSplit !== false && rowBlocks < 4 && K * N >= 16384 ? Math.min(8, panels) : 1;
  kernels.push(kernel(l, g.name, rowBlocks * nSplit, [{ k: 'gemm', g: { M, N, K, a: { buf: aBuf, offset: 0, lda, transA }, bPacked, out: outBuf, epilogue, nSplit } }], `gemm ${M}x${N}x${K}`));
  return kernels;
}

/** An f32 operand the group computes from constants by movement only (a splat, e.g. a zero initial state). */
function splatOperand(v: Value, members: ReadonlySet<Value>): boolean {
  if (!members.has(v)) return v.op === 'constant';
  const movement = v.op === 'broadcast_in_dim' || v.op === 'reshape' || v.op === 'transpose';
  return v.dtype === 'f32' && (v.op === 'constant' || (movement && v.inputs.every((x) => splatOperand(x, members))));
}

/** A member operand written to a scratch buffer by a loop kernel (appended to `kernels`), for the GEMM to read. */
function materializeOperand(g: LowerGroup, ctx: LowerContext, v: Value, kernels: Kernel[]): number {
  const buf = ctx.tempBuffer(v.dtype, v.shape, 'gemm operand');
  const mk = new Lowerer({ ...g, outputs: [] }, ctx);
  const dom = rowDomain(v.shape);
  const val = mk.valueAt(v, dom.idx);
  const at = linearize(dom.idx, v.shape);
  mk.bufs.set(buf, { id: buf, dtype: v.dtype, elems: numel(v.shape) });
  kernels.push(kernel(mk, `${g.name}_operand`, dom.work, dom.wrap([{ k: 'store', buf, at, val }], vectorFriendly([val], [at], 'i')), 'gemm operand'));
  return buf;
}

/**
 * Pack `rhs` viewed as B[K, N] through `view` into GEMM panels: at compile time when it is a
 * constant (plain typed-array loops over precomputed offsets, packPanels), else with a pack kernel
 * appended to `kernels` (or, for state the program never updates, a kernel handed to
 * ctx.refreshKernel that packs into a persistent buffer). Returns the buffer.
 */
function packOperand(g: LowerGroup, ctx: LowerContext, rhs: Value, view: PanelView, kernels: Kernel[]): number {
  // Packed already by an earlier GEMM of this program (packed_operands.ts): read those panels.
  const shared = packedBefore(ctx, rhs, view);
  if (shared !== undefined) return shared;
  const buf = packOperandOnce(g, ctx, rhs, view, kernels);
  rememberPacked(ctx, rhs, view, buf);
  return buf;
}

function packOperandOnce(g: LowerGroup, ctx: LowerContext, rhs: Value, view: PanelView, kernels: Kernel[]): number {
  const K = numel(view.kDims), N = numel(view.jDims);
  const panels = Math.ceil(N / GEMM_NR);
  const data = ctx.constData(rhs);
  // Constants are packed here only in f32 (host literals hold f16/bf16 widened to f32).
  if (data instanceof Float32Array && rhs.dtype === 'f32') {
    return ctx.constBuffer(packPanels(data, rhs.shape, view, GEMM_NR), `packed ${rhs.op}`);
  }
  const at = (k: Sym, j: Sym): Sym[] => {
    const ri = new Array<Sym>(rhs.shape.length);
    unflatten(k, view.kDims).forEach((s, t) => { ri[view.kAxes[t]!] = s; });
    unflatten(j, view.jDims).forEach((s, t) => { ri[view.jAxes[t]!] = s; });
    return ri;
  };
  const total = panels * K * GEMM_NR;
  // Unchanging state (resident weights) is packed once into a buffer that persists, not on every run.
  const persistent = new Set(g.values).has(rhs) ? undefined : ctx.persistentPack?.(rhs, rhs.dtype, [total], `packed ${rhs.name ?? 'state'}`);
  const buf = persistent ?? ctx.tempBuffer(rhs.dtype, [total], 'packed rhs');
  // Members of the group (a flipped kernel, a transposed operand) are computed inline while packing.
  const pk = new Lowerer({ ...g, outputs: [] }, ctx);
  const w = svar('w', panels * K);
  const j = svar('i', GEMM_NR);
  const col = sadd(smul(sdiv(w, K), GEMM_NR), j);
  let val = pk.valueAt(rhs, at(smod(w, K), sclamp(col, N)));
  if (N % GEMM_NR !== 0) val = { k: 'sel', c: cmpIdx('lt', col, sconst(N)), a: val, b: { k: 'const', t: 'f32', v: 0 }, t: 'f32' };
  const dst = sadd(smul(w, GEMM_NR), j);
  pk.bufs.set(buf, { id: buf, dtype: rhs.dtype, elems: total });
  const pack = kernel(pk, `${g.name}_pack`, panels * K, [{ k: 'for', v: 'i', n: GEMM_NR, body: [{ k: 'store', buf, at: dst, val }], vector: vectorFriendly([val], [dst], 'i') ? 4 : undefined }], persistent === undefined ? 'pack rhs' : 'repack state');
  if (persistent !== undefined) ctx.refreshKernel!(pack);
  else (hoistedPackSink(rhs, g.values) ?? ((k: Kernel) => kernels.push(k)))(pack);
  return buf;
}

/**
 * conv (groups 1, or depthwise with multiplier 1) and 4-D max pooling over H and W as the
 * blocked window kernels, with the group's epilogue; undefined when the op or epilogue doesn't fit.
 */
function lowerWindow2d(g: LowerGroup, ctx: LowerContext, root: Value): Kernel[] | undefined {
  if (ctx.windowKernels === false) return undefined;
  if (root.dtype !== 'f32' || root.inputs.some((x) => x.dtype !== 'f32')) return undefined;
  if (g.outputs.length !== 1 || numel(g.outputs[0]!.shape) !== numel(root.shape)) return undefined;
  const members = new Set(g.values);
  const x = root.inputs[0]!;
  if (x.shape.length !== 4 || numel(root.shape) === 0) return undefined;
  let [batch, H, W, Cin] = x.shape as [number, number, number, number];
  let materialize: { lo: [number, number]; dil: [number, number] } | undefined;
  const [, OH, OW, Cout] = root.shape as [number, number, number, number];
  let kind: 'conv' | 'depthwise' | 'maxpool';
  let KH: number, KW: number, strides: [number, number], dil: [number, number], pads: [number, number, number, number];
  if (root.op === 'conv') {
    const w = root.inputs[1]!;
    const lo = attr.ints(root.attrs, 'pad_lo'), hi = attr.ints(root.attrs, 'pad_hi');
    const ld = attr.ints(root.attrs, 'lhs_dilation');
    if ([...lo, ...hi].some((p) => p < 0)) return undefined;
    const groups = attr.int(root.attrs, 'groups');
    [KH, KW] = w.shape as [number, number];
    const st = attr.ints(root.attrs, 'strides'), rd = attr.ints(root.attrs, 'rhs_dilation');
    strides = [st[0]!, st[1]!]; dil = [rd[0]!, rd[1]!]; pads = [lo[0]!, hi[0]!, lo[1]!, hi[1]!];
    if (ld.some((d) => d !== 1) || members.has(x)) {
      // Transposed conv (input gradients) or a fused prologue: materialize the dilated, padded
      // input once, then run the blocked kernel on it with no padding.
      materialize = { lo: [lo[0]!, lo[1]!], dil: [ld[0]!, ld[1]!] };
      H = lo[0]! + (H - 1) * ld[0]! + 1 + hi[0]!;
      W = lo[1]! + (W - 1) * ld[1]! + 1 + hi[1]!;
      pads = [0, 0, 0, 0];
    }
    if (groups === 1) kind = 'conv';
    else if (groups === Cin && Cout === Cin) kind = 'depthwise';
    else return undefined;
  } else if (root.op === 'reduce_window' && attr.str(root.attrs, 'op') === 'max') {
    if (members.has(x)) return undefined;
    const win = attr.ints(root.attrs, 'window'), st = attr.ints(root.attrs, 'strides');
    const lo = attr.ints(root.attrs, 'pad_lo'), hi = attr.ints(root.attrs, 'pad_hi');
    if (win[0] !== 1 || win[3] !== 1 || st[0] !== 1 || st[3] !== 1 || lo[0] || lo[3] || hi[0] || hi[3]) return undefined;
    kind = 'maxpool';
    KH = win[1]!; KW = win[2]!; strides = [st[1]!, st[2]!]; dil = [1, 1]; pads = [lo[1]!, hi[1]!, lo[2]!, hi[2]!];
    // A window wholly in padding would give -inf; the blocked kernel assumes every window has a tap.
    if (pads[0] >= KH || pads[1] >= KH || pads[2] >= KW || pads[3] >= KW) return undefined;
  } else return undefined;
  const l = new Lowerer(g, ctx);
  const P = batch * OH * OW;
  const m = svar('m', P), n = svar('n', Cout);
  const idx = [...unflatten(m, [batch, OH, OW]), n];
  const epilogue = gemmStyleEpilogue(l, g, root, idx, m, n, Cout);
  if (!epilogue) return undefined;
  const o = g.outputs[0]!;
  const kernels: Kernel[] = [];
  let weights = -1;
  if (kind === 'conv') {
    const w = root.inputs[1]!;
    // HWIO flattened is already B[KH*KW*Cin, Cout]: element (k, j) is w[k / (KW*Cin), (k / Cin) % KW, k % Cin, j].
    weights = packOperand(g, ctx, w, { kDims: [KH, KW, Cin], kAxes: [0, 1, 2], jDims: [Cout], jAxes: [3] }, kernels);
    l.bufs.set(weights, { id: weights, dtype: 'f32', elems: Math.ceil(Cout / GEMM_NR) * KH * KW * Cin * GEMM_NR });
  } else if (kind === 'depthwise') {
    if (members.has(root.inputs[1]!)) return undefined;
    weights = l.buf(root.inputs[1]!);
  }
  let input: number;
  if (materialize) {
    const shape = [batch, H, W, Cin];
    input = ctx.tempBuffer('f32', shape, 'conv input (dilated/padded)');
    const mk = new Lowerer({ ...g, outputs: [] }, ctx);
    const dom = rowDomain(shape);
    const [n, h, wv, ci] = dom.idx as [Sym, Sym, Sym, Sym];
    const conds: Expr[] = [];
    const src = [n, ...([[h, 0], [wv, 1]] as const).map(([v, d]) => {
      const t = ssub(v, materialize!.lo[d]);
      const dl = materialize!.dil[d];
      const q = sdiv(t, dl);
      const size = x.shape[1 + d]!;
      if (t.lo < 0) conds.push(cmpIdx('ge', t, sconst(0)));
      if (dl > 1) conds.push(cmpIdx('eq', smod(t, dl), sconst(0)));
      if (q.hi > size - 1) conds.push(cmpIdx('lt', q, sconst(size)));
      return sclamp(q, size);
    }), ci];
    let val = mk.valueAt(x, src);
    if (conds.length) val = { k: 'sel', c: andAll(conds), a: val, b: { k: 'const', t: 'f32', v: 0 }, t: 'f32' };
    const at = linearize(dom.idx, shape);
    mk.bufs.set(input, { id: input, dtype: 'f32', elems: numel(shape) });
    kernels.push(kernel(mk, `${g.name}_input`, dom.work, dom.wrap([{ k: 'store', buf: input, at, val }], vectorFriendly([val], [at], 'i')), 'conv input'));
    l.bufs.set(input, { id: input, dtype: 'f32', elems: numel(shape) });
  } else {
    input = l.buf(x);
  }
  const out = l.buf(o);
  kernels.push(kernel(l, g.name, batch * OH, [{ k: 'conv2d', c: { kind, batch, H, W, Cin, Cout, KH, KW, strides, dilations: dil, pads, OH, OW, input, weights, out, epilogue } }], `${kind} ${H}x${W}x${Cin}->${OH}x${OW}x${Cout} k${KH}x${KW}`));
  return kernels;
}

const newLowerer = (g: LowerGroup, ctx: LowerContext): Lowerer => new Lowerer(g, ctx);

/** Lower one group to one or more kernels (run in order). */
export function lowerGroup(g: LowerGroup, ctx: LowerContext): Kernel[] {
  return withPackRollback(ctx, () => lowerGroupOnce(g, ctx));
}

function lowerGroupOnce(g: LowerGroup, ctx: LowerContext): Kernel[] {
  const root = g.root;
  if (g.outputs.some((o) => numel(o.shape) === 0)) {
    // Nothing to compute for empty outputs; keep only non-empty ones.
    const outputs = g.outputs.filter((o) => numel(o.shape) > 0);
    if (outputs.length === 0) return [];
    g = { ...g, outputs };
  }
  switch (root.op) {
    case 'reduce': return lowerReduction(g, ctx);
    case 'dot_general': return lowerDotI8(g, ctx, root, newLowerer, lowerGroup) ?? lowerGemm(g, ctx, root) ?? lowerPerElement(g, ctx, dotAnchor(root));
    case 'conv': return lowerConvI8(g, ctx, root, newLowerer, lowerGroup) ?? lowerWindow2d(g, ctx, root) ?? lowerPerElement(g, ctx, convAnchor(root));
    case 'reduce_window': return lowerWindow2d(g, ctx, root) ?? lowerPerElement(g, ctx, windowAnchor(root));
    case 'scatter_add': return lowerScatter(g, ctx);
    default:
      if (g.values.some((v) => v.op === 'reduce')) return lowerReduction({ ...g, root: g.values.find((v) => v.op === 'reduce')! }, ctx);
      for (const anchor of ['dot_general', 'conv', 'reduce_window'] as const) {
        const a = g.values.find((v) => v.op === anchor);
        if (a) {
          const ga = { ...g, root: a };
          const fast = anchor === 'dot_general' ? lowerDotI8(ga, ctx, a, newLowerer, lowerGroup) ?? lowerGemm(ga, ctx, a)
            : (anchor === 'conv' ? lowerConvI8(ga, ctx, a, newLowerer, lowerGroup) : undefined) ?? lowerWindow2d(ga, ctx, a);
          if (fast) return fast;
          const fn = anchor === 'dot_general' ? dotAnchor(a) : anchor === 'conv' ? convAnchor(a) : windowAnchor(a);
          return lowerPerElement({ ...g, root: a }, ctx, fn);
        }
      }
      return lowerLoop(g, ctx);
  }
}

export { isConst };
