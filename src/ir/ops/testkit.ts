import { Builder } from '../builder.js';
import type { DType } from '../dtype.js';
import type { Attrs } from '../function.js';
import { interpret } from '../interpreter.js';
import { literal, type Literal } from '../literal.js';
import { KilnError, numel, tensorType, type Shape } from '../types.js';

/**
 * Small helpers for op tests (here and in code generator tests): run one op through the
 * interpreter, make deterministic pseudo-random literals, and measure differences.
 */

/** Build `op(params...)` as a one-node Func and interpret it on `inputs`. */
export function runOp(op: string, inputs: readonly Literal[], attrs: Attrs = {}): Literal {
  const b = new Builder(op);
  const params = inputs.map((l) => b.param(tensorType(l.type.shape, l.type.dtype)));
  const y = b.op(op, params, attrs);
  return interpret(b.build([y]), inputs)[0]!;
}

/** Deterministic uniform values in [lo, hi) (mulberry32), rounded to integers for int dtypes. */
export function randomLiteral(shape: Shape, dtype: DType = 'f32', seed = 1, lo = -2, hi = 2): Literal {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const n = numel(shape);
  const vals = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const u = lo + (hi - lo) * next();
    vals[i] = dtype === 'bool' ? (u > (lo + hi) / 2 ? 1 : 0) : dtype === 'f32' || dtype === 'f16' || dtype === 'bf16' ? u : Math.floor(u);
  }
  return literal(shape, dtype, vals);
}

/** Largest absolute elementwise difference (Infinity when lengths differ, NaN-aware). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = b[i]!;
    if (x === y) continue;
    const d = Math.abs(x - y);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Row-major multi-index of flat position `flat` in `shape`. */
export function unravel(flat: number, shape: Shape): number[] {
  const idx = new Array<number>(shape.length);
  for (let i = shape.length - 1; i >= 0; i--) {
    idx[i] = flat % shape[i]!;
    flat = Math.floor(flat / shape[i]!);
  }
  return idx;
}

/** Row-major flat position of multi-index `idx` in `shape`. */
export function ravel(idx: readonly number[], shape: Shape): number {
  let flat = 0;
  for (let i = 0; i < shape.length; i++) flat = flat * shape[i]! + idx[i]!;
  return flat;
}

/** The message of the KilnError `f` throws; throws itself when `f` succeeds or throws something else. */
export function kilnErrorMessage(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof KilnError) return e.message;
    throw new Error(`expected a KilnError, got ${String(e)}`);
  }
  throw new Error('expected a KilnError, but nothing was thrown');
}
