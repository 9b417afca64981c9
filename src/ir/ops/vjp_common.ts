/**
 * Shared pieces of the reverse-mode (VJP) rules in vjp_*.ts: the explicit "no gradient"
 * declaration, and small emitters the rules use to write cotangent IR through a Builder (so every
 * emitted node is checked and typed by makeValue). Rules return one entry per operand; null means
 * "no contribution" (zero, or not differentiable, like integer indices), which the autodiff
 * transform never materializes.
 */
import type { Builder } from '../builder.js';
import type { DType } from '../dtype.js';
import type { Value } from '../function.js';
import type { VjpRule } from '../registry.js';
import type { TensorType } from '../types.js';

/**
 * Declares an op non-differentiable (or with a zero derivative everywhere it is defined: sign,
 * floor, compare, iota, rng): every operand gets no cotangent.
 */
export const noGradient: VjpRule = (_b, node) => node.inputs.map(() => null);

/** `x` broadcast to `type` (a constant splat). */
export function splat(b: Builder, x: number, type: TensorType): Value {
  return b.full(x, type);
}

export function zerosLike(b: Builder, v: Value): Value {
  return b.full(0, v.type);
}

export function binary(b: Builder, op: 'add' | 'sub' | 'mul' | 'div' | 'and' | 'or' | 'pow', x: Value, y: Value): Value {
  return b.op(op, [x, y]);
}

export function unary(b: Builder, op: string, x: Value): Value {
  return b.op(op, [x]);
}

export function compare(b: Builder, dir: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge', x: Value, y: Value): Value {
  return b.op('compare', [x, y], { dir });
}

export function select(b: Builder, pred: Value, x: Value, y: Value): Value {
  return b.op('select', [pred, x, y]);
}

/** `g` where `pred`, zero elsewhere. */
export function maskBy(b: Builder, pred: Value, g: Value): Value {
  return select(b, pred, g, zerosLike(b, g));
}

/** Cast only when the dtype differs (cotangents of widened dot/conv results come back narrowed). */
export function castTo(b: Builder, g: Value, dtype: DType): Value {
  return g.dtype === dtype ? g : b.op('cast', [g], { dtype });
}

export function reshapeTo(b: Builder, g: Value, shape: readonly number[]): Value {
  const same = g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i]);
  return same ? g : b.op('reshape', [g], { shape });
}

export function transposeBy(b: Builder, g: Value, perm: readonly number[]): Value {
  return perm.every((p, i) => p === i) ? g : b.op('transpose', [g], { perm });
}

/**
 * Broadcast `g` (whose dims are `x`'s dims minus `axes`) back to `shape` (the reduction's
 * inverse: the cotangent of a reduce over `axes`).
 */
export function broadcastBack(b: Builder, g: Value, shape: readonly number[], axes: readonly number[]): Value {
  const dims = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  if (axes.length === 0) return g;
  return b.op('broadcast_in_dim', [g], { shape, dims });
}

/** Sum `g` over `axes` (no node when there are none). */
export function sumOver(b: Builder, g: Value, axes: readonly number[]): Value {
  return axes.length === 0 ? g : b.op('reduce', [g], { op: 'sum', axes });
}
