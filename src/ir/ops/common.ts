import * as tf from '@tensorflow/tfjs-core';
import type { DType } from '../dtype.js';
import { tfDtype } from '../interpreter.js';
import { numel, opError, type TensorType } from '../types.js';

/**
 * Validation and kernel helpers shared by the structured ops: attribute list checks that
 * produce KilnErrors naming the op, its operand types and the attribute, and small tfjs
 * helpers for the cases tfjs-core mishandles (zero-size tensors).
 */

/** Check that `list` (attribute `name`) has exactly `n` entries. */
export function checkLength(op: string, ins: readonly TensorType[], name: string, list: readonly number[], n: number, what = 'the operand rank'): void {
  if (list.length !== n) opError(op, ins, `attribute '${name}' has ${list.length} entries [${list.join(',')}] but needs ${n} (${what})`);
}

/** Check every entry of attribute `name` is >= `min`. */
export function checkAtLeast(op: string, ins: readonly TensorType[], name: string, list: readonly number[], min: number): void {
  list.forEach((v, i) => {
    if (v < min) opError(op, ins, `attribute '${name}' entry ${i} is ${v} but must be >= ${min}`);
  });
}

/** Check `axes` (attribute `name`) are unique and within [0, rank). */
export function checkAxes(op: string, ins: readonly TensorType[], name: string, axes: readonly number[], rank: number): void {
  const seen = new Set<number>();
  for (const a of axes) {
    if (a < 0 || a >= rank) opError(op, ins, `attribute '${name}' = [${axes.join(',')}]: axis ${a} is out of range for rank ${rank} (axes are in [0, ${rank}))`);
    if (seen.has(a)) opError(op, ins, `attribute '${name}' = [${axes.join(',')}]: axis ${a} appears twice`);
    seen.add(a);
  }
}

/** Check a single axis (attribute `name`) is within [0, rank). */
export function checkAxis(op: string, ins: readonly TensorType[], name: string, axis: number, rank: number): void {
  if (axis < 0 || axis >= rank) opError(op, ins, `attribute '${name}' = ${axis} is out of range for rank ${rank} (must be in [0, ${rank}))`);
}

export function checkShapeAttr(op: string, ins: readonly TensorType[], name: string, shape: readonly number[]): void {
  shape.forEach((d, i) => {
    if (d < 0) opError(op, ins, `attribute '${name}' = [${shape.join(',')}] has negative dimension ${d} at ${i}`);
  });
}

export function checkNotBool(op: string, ins: readonly TensorType[], d: DType): void {
  if (d === 'bool') opError(op, ins, 'needs numeric operands, got bool; cast first');
}

/**
 * A zero-filled tensor of the output type. tfjs-core gets several zero-size cases wrong
 * (broadcastTo to a zero dim keeps the old shape, max over an empty axis gives NaN), so
 * kernels route every empty result through here.
 */
export function zerosOf(out: TensorType): tf.Tensor {
  return tf.zeros([...out.shape], tfDtype(out.dtype));
}

export function isEmpty(t: TensorType): boolean {
  return numel(t.shape) === 0;
}

/** A tensor of the output type filled with `value` (works for zero-size shapes). */
export function fillOf(out: TensorType, value: number): tf.Tensor {
  const dt = tfDtype(out.dtype);
  if (isEmpty(out)) return tf.zeros([...out.shape], dt);
  if (dt === 'bool') return tf.cast(tf.fill([...out.shape], value !== 0 ? 1 : 0, 'int32'), 'bool');
  return tf.fill([...out.shape], value, dt);
}

/** Smallest and largest values of a dtype (the identities of max and min reductions). */
export function lowest(d: DType): number {
  switch (d) {
    case 'i32': return -2147483648;
    case 'i8': return -128;
    case 'u8': case 'bool': return 0;
    default: return -Infinity;
  }
}
export function highest(d: DType): number {
  switch (d) {
    case 'i32': return 2147483647;
    case 'i8': return 127;
    case 'u8': return 255;
    case 'bool': return 1;
    default: return Infinity;
  }
}

/** The inverse of a permutation: inv[perm[i]] = i. */
export function invertPerm(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => { inv[p] = i; });
  return inv;
}
