/**
 * Piecewise lowering of a loop group whose output is assembled from disjoint pieces along one
 * axis: a concat, or a sum of zero pads that tile the axis (what autodiff makes of the slices of
 * a split or an unstack: the per-gate gradients of an LSTM step, the per-step gradients of an
 * unrolled sequence), optionally seen through reshapes and transposes. The generic loop lowering
 * computes such an output per element as a chain of selects, and a WebAssembly select evaluates
 * both arms: every element pays for every piece (4 gates, or 64 time steps). Here each piece gets
 * a loop of its own over its own elements, storing at its place in the output, so each element is
 * computed once; gaps between pieces are stored as zeros.
 */
import type { Value } from '../ir/function.js';
import { attr } from '../ir/registry.js';
import { numel } from '../ir/types.js';
import type { Expr, Kernel, KernelBuf, Stmt } from './kernel_ir.js';
import { Lowerer, scalarType, vectorFriendly, type LowerContext, type LowerGroup } from './lower.js';
import { linearize, sadd, smul, svar, unflatten, type Sym } from './symbolic.js';

/** One piece: the elements [lo, lo + n) of the assembled value along the axis, from `value` (undefined: zeros). */
interface Piece {
  readonly lo: number;
  readonly n: number;
  readonly value?: Value;
}

interface Assembly {
  readonly axis: number;
  readonly pieces: Piece[];
}

/** A zero pad of `v` along one axis only (no interior, no cropping): its axis and range, else undefined. */
function zeroPadAlong(v: Value): { axis: number; lo: number; n: number } | undefined {
  if (v.op !== 'pad' || attr.float(v.attrs, 'value') !== 0) return undefined;
  const low = attr.ints(v.attrs, 'low'), high = attr.ints(v.attrs, 'high'), interior = attr.ints(v.attrs, 'interior');
  if (interior.some((k) => k !== 0) || low.some((k) => k < 0) || high.some((k) => k < 0)) return undefined;
  const axes = low.map((_, d) => d).filter((d) => low[d] !== 0 || high[d] !== 0);
  if (axes.length !== 1) return undefined;
  const axis = axes[0]!;
  return { axis, lo: low[axis]!, n: v.inputs[0]!.shape[axis]! };
}

/** The pieces `x` is assembled from (concat inputs, or the zero pads an add tree sums), sorted and disjoint. */
function assembly(x: Value, members: ReadonlySet<Value>): Assembly | undefined {
  let axis: number;
  let pieces: Piece[] = [];
  if (x.op === 'concat') {
    axis = attr.int(x.attrs, 'axis');
    let lo = 0;
    for (const p of x.inputs) {
      pieces.push({ lo, n: p.shape[axis]!, value: p });
      lo += p.shape[axis]!;
    }
  } else if (x.op === 'add' || x.op === 'pad') {
    const leaves: Value[] = [];
    const stack = [x];
    while (stack.length) {
      const v = stack.pop()!;
      if (v.op === 'add' && members.has(v)) stack.push(v.inputs[0]!, v.inputs[1]!);
      else leaves.push(v);
    }
    let common: number | undefined;
    for (const leaf of leaves) {
      const pad = members.has(leaf) ? zeroPadAlong(leaf) : undefined;
      if (!pad || (common !== undefined && pad.axis !== common)) return undefined;
      common = pad.axis;
      pieces.push({ lo: pad.lo, n: pad.n, value: leaf.inputs[0]! });
    }
    if (common === undefined || (x.op === 'add' && leaves.length < 2)) return undefined;
    axis = common;
  } else {
    return undefined;
  }
  pieces = pieces.filter((p) => p.n > 0).sort((a, b) => a.lo - b.lo);
  // Overlapping pads sum; that is not a tiling (the select form handles it).
  const size = x.shape[axis]!;
  const tiled: Piece[] = [];
  let at = 0;
  for (const p of pieces) {
    if (p.lo < at) return undefined;
    if (p.lo > at) tiled.push({ lo: at, n: p.lo - at });
    tiled.push(p);
    at = p.lo + p.n;
  }
  if (at > size) return undefined;
  if (at < size) tiled.push({ lo: at, n: size - at });
  return tiled.length >= 2 ? { axis, pieces: tiled } : undefined;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * The kernel for `g` when its one output is a piecewise assembly (see the file comment), else
 * undefined. Work items are rows of every piece (the gcd of the pieces' row counts), so each item
 * runs one SIMD row loop per piece.
 */
export function lowerPieces(g: LowerGroup, ctx: LowerContext): Kernel[] | undefined {
  if (g.outputs.length !== 1) return undefined;
  const o = g.outputs[0]!;
  const members = new Set(g.values);
  // The reshapes/transposes between the assembled value and the output only move its elements.
  const chain: Value[] = [];
  let x = o;
  while ((x.op === 'reshape' || x.op === 'transpose') && members.has(x) && members.has(x.inputs[0]!)) {
    chain.push(x);
    x = x.inputs[0]!;
  }
  if (!members.has(x) || x.shape.length === 0) return undefined;
  const asm = assembly(x, members);
  if (!asm) return undefined;
  const up = (idx: readonly Sym[]): Sym[] => {
    let cur = [...idx];
    for (let k = chain.length - 1; k >= 0; k--) {
      const c = chain[k]!;
      if (c.op === 'transpose') {
        const perm = attr.ints(c.attrs, 'perm');
        cur = perm.map((p) => cur[p]!);
      } else {
        cur = unflatten(linearize(cur, c.inputs[0]!.shape), c.shape);
      }
    }
    return cur;
  };
  const r = x.shape.length;
  const shapes = asm.pieces.map((p) => x.shape.map((n, d) => (d === asm.axis ? p.n : n)));
  const rowsOf = (s: readonly number[]) => numel(s.slice(0, r - 1));
  const live = asm.pieces.map((_, k) => k).filter((k) => numel(shapes[k]!) > 0);
  if (live.length === 0) return undefined;
  const work = live.map((k) => rowsOf(shapes[k]!)).reduce(gcd);
  const w = svar('w', work);
  const bufs = new Map<number, KernelBuf>();
  const body: Stmt[] = [];
  const t = scalarType(x.dtype);
  let outBuf = -1;
  for (const k of live) {
    const p = asm.pieces[k]!, shape = shapes[k]!;
    const l = new Lowerer(g, ctx);
    const per = rowsOf(shape) / work;
    const rv = l.fresh('r');
    const row = per === 1 ? w : sadd(smul(w, per), svar(rv, per));
    const i = svar('i', shape[r - 1]!);
    const q = [...unflatten(row, shape.slice(0, r - 1)), i];
    const val: Expr = p.value ? l.valueAt(p.value, q) : { k: 'const', t, v: 0 };
    const at = linearize(up(q.map((s, d) => (d === asm.axis ? sadd(s, p.lo) : s))), o.shape);
    outBuf = l.buf(o);
    const inner: Stmt = { k: 'for', v: 'i', n: shape[r - 1]!, body: [{ k: 'store', buf: outBuf, at, val }], vector: vectorFriendly([val], [at], 'i') ? 4 : undefined };
    body.push(per === 1 ? inner : { k: 'for', v: rv, n: per, body: [inner] });
    for (const [id, b] of l.bufs) bufs.set(id, b);
  }
  return [{ name: g.name, bufs: [...bufs.values()], work, body, note: `${o.op} (${live.length} pieces)` }];
}
