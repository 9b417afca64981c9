import * as tf from '@tensorflow/tfjs-core';
import { castScalar } from '../dtype.js';
import { attr, type OpDef } from '../registry.js';
import { numel, opError, tensorType, typeToString, type TensorType } from '../types.js';
import { checkAtLeast, checkAxes, checkAxis, checkLength, checkShapeAttr, fillOf, isEmpty, zerosOf } from './common.js';
import { movementVjp } from './vjp_movement.js';

/**
 * Movement ops: pure index remapping with no arithmetic (broadcast_in_dim, reshape, transpose,
 * slice, pad, concat). Every kernel routes zero-size results through zerosOf/fillOf because
 * tfjs-core mishandles several empty cases.
 */

/**
 * Pad `x` (of IR type `xt`) along every dim: `interior` fill elements between neighbours, then
 * `low`/`high` at the ends, where a negative amount removes elements instead. Shared with conv
 * (lhs dilation and negative padding).
 */
export function padTensor(x: tf.Tensor, xt: TensorType, low: readonly number[], high: readonly number[], interior: readonly number[], value: number): tf.Tensor {
  const outShape = padShape(xt.shape, low, high, interior);
  const out = tensorType(outShape, xt.dtype);
  if (isEmpty(out)) return zerosOf(out);
  const v = castScalar(value, xt.dtype);
  if (isEmpty(xt)) return fillOf(out, v);
  // tfjs pads bool tensors poorly; do it on int32 and convert back.
  const isBool = x.dtype === 'bool';
  let t = isBool ? tf.cast(x, 'int32') : x;
  const rank = xt.shape.length;
  for (let d = 0; d < rank; d++) {
    const k = interior[d]!, n = t.shape[d]!;
    if (k === 0 || n <= 1) continue;
    // [.., n, ..] -> [.., n, 1, ..] -> pad the new axis by k -> [.., n*(k+1), ..] -> drop the trailing k.
    const shape = [...t.shape];
    const expanded = tf.reshape(t, [...shape.slice(0, d + 1), 1, ...shape.slice(d + 1)]);
    const pads = expanded.shape.map((_, i) => (i === d + 1 ? [0, k] : [0, 0]) as [number, number]);
    const spread = tf.reshape(tf.pad(expanded, pads, v), [...shape.slice(0, d), n * (k + 1), ...shape.slice(d + 1)]);
    const size = spread.shape.map((s, i) => (i === d ? (n - 1) * (k + 1) + 1 : s));
    t = tf.slice(spread, spread.shape.map(() => 0), size);
  }
  if (low.some((l) => l > 0) || high.some((h) => h > 0)) {
    t = tf.pad(t, low.map((l, i) => [Math.max(l, 0), Math.max(high[i]!, 0)] as [number, number]), v);
  }
  if (low.some((l) => l < 0) || high.some((h) => h < 0)) {
    t = tf.slice(t, low.map((l) => Math.max(-l, 0)), outShape);
  }
  return isBool ? tf.cast(t, 'bool') : t;
}

export function padShape(shape: readonly number[], low: readonly number[], high: readonly number[], interior: readonly number[]): number[] {
  return shape.map((n, i) => low[i]! + high[i]! + n + Math.max(n - 1, 0) * interior[i]!);
}

export const movementOps: OpDef[] = [
  {
    name: 'broadcast_in_dim', kind: 'movement', arity: 1,
    attrs: { shape: { kind: 'ints' }, dims: { kind: 'ints' } },
    infer(ins, attrs) {
      const x = ins[0]!;
      const shape = attr.ints(attrs, 'shape'), dims = attr.ints(attrs, 'dims');
      checkShapeAttr('broadcast_in_dim', ins, 'shape', shape);
      checkLength('broadcast_in_dim', ins, 'dims', dims, x.shape.length, 'one output dim per operand dim');
      checkAxes('broadcast_in_dim', ins, 'dims', dims, shape.length);
      x.shape.forEach((n, i) => {
        const target = shape[dims[i]!]!;
        if (n !== 1 && n !== target) {
          opError('broadcast_in_dim', ins, `operand dim ${i} has size ${n} but maps to output dim ${dims[i]} of size ${target} (attribute 'dims'); it must be 1 or ${target}`);
        }
      });
      return tensorType(shape, x.dtype);
    },
    interpret([x], attrs, out) {
      if (isEmpty(out)) return zerosOf(out);
      const dims = attr.ints(attrs, 'dims');
      // Put operand dims in output order, then insert size-1 dims and broadcast.
      const order = dims.map((d, i) => [d, i] as const).sort((a, b) => a[0] - b[0]);
      let t = x!;
      if (order.some(([, i], k) => i !== k)) t = tf.transpose(t, order.map(([, i]) => i));
      const withOnes = out.shape.map(() => 1);
      order.forEach(([d], k) => { withOnes[d] = t.shape[k]!; });
      return tf.broadcastTo(tf.reshape(t, withOnes), [...out.shape]);
    },
    vjp: movementVjp.broadcast_in_dim,
  },
  {
    name: 'reshape', kind: 'movement', arity: 1,
    attrs: { shape: { kind: 'ints' } },
    infer(ins, attrs) {
      const x = ins[0]!;
      const shape = attr.ints(attrs, 'shape');
      checkShapeAttr('reshape', ins, 'shape', shape);
      if (numel(shape) !== numel(x.shape)) {
        opError('reshape', ins, `attribute 'shape' = [${shape.join(',')}] has ${numel(shape)} elements but the operand has ${numel(x.shape)}`);
      }
      return tensorType(shape, x.dtype);
    },
    interpret: ([x], _attrs, out) => (isEmpty(out) ? zerosOf(out) : tf.reshape(x!, [...out.shape])),
    vjp: movementVjp.reshape,
  },
  {
    name: 'transpose', kind: 'movement', arity: 1,
    attrs: { perm: { kind: 'ints' } },
    infer(ins, attrs) {
      const x = ins[0]!;
      const perm = attr.ints(attrs, 'perm');
      checkLength('transpose', ins, 'perm', perm, x.shape.length);
      checkAxes('transpose', ins, 'perm', perm, x.shape.length);
      return tensorType(perm.map((p) => x.shape[p]!), x.dtype);
    },
    interpret: ([x], attrs, out) => (isEmpty(out) ? zerosOf(out) : tf.transpose(x!, [...attr.ints(attrs, 'perm')])),
    vjp: movementVjp.transpose,
  },
  {
    name: 'slice', kind: 'movement', arity: 1,
    attrs: { start: { kind: 'ints' }, limit: { kind: 'ints' }, strides: { kind: 'ints' } },
    infer(ins, attrs) {
      const x = ins[0]!;
      const rank = x.shape.length;
      const start = attr.ints(attrs, 'start'), limit = attr.ints(attrs, 'limit'), strides = attr.ints(attrs, 'strides');
      checkLength('slice', ins, 'start', start, rank);
      checkLength('slice', ins, 'limit', limit, rank);
      checkLength('slice', ins, 'strides', strides, rank);
      checkAtLeast('slice', ins, 'strides', strides, 1);
      x.shape.forEach((n, i) => {
        if (start[i]! < 0 || start[i]! > limit[i]! || limit[i]! > n) {
          opError('slice', ins, `dim ${i}: start ${start[i]} and limit ${limit[i]} must satisfy 0 <= start <= limit <= ${n} (attributes 'start', 'limit')`);
        }
      });
      return tensorType(x.shape.map((_, i) => Math.ceil((limit[i]! - start[i]!) / strides[i]!)), x.dtype);
    },
    interpret([x], attrs, out) {
      if (isEmpty(out)) return zerosOf(out);
      if (out.shape.length === 0) return x!; // tfjs refuses to slice scalars
      const start = attr.ints(attrs, 'start'), limit = attr.ints(attrs, 'limit'), strides = attr.ints(attrs, 'strides');
      if (strides.every((s) => s === 1)) return tf.slice(x!, [...start], [...out.shape]);
      return tf.stridedSlice(x!, [...start], [...limit], [...strides]);
    },
    vjp: movementVjp.slice,
  },
  {
    name: 'pad', kind: 'movement', arity: 1,
    attrs: { low: { kind: 'ints' }, high: { kind: 'ints' }, interior: { kind: 'ints' }, value: { kind: 'float', default: 0 } },
    infer(ins, attrs) {
      const x = ins[0]!;
      const rank = x.shape.length;
      const low = attr.ints(attrs, 'low'), high = attr.ints(attrs, 'high'), interior = attr.ints(attrs, 'interior');
      checkLength('pad', ins, 'low', low, rank);
      checkLength('pad', ins, 'high', high, rank);
      checkLength('pad', ins, 'interior', interior, rank);
      checkAtLeast('pad', ins, 'interior', interior, 0);
      const shape = padShape(x.shape, low, high, interior);
      shape.forEach((n, i) => {
        if (n < 0) opError('pad', ins, `dim ${i}: negative padding low ${low[i]} high ${high[i]} removes more than the ${x.shape[i]! + Math.max(x.shape[i]! - 1, 0) * interior[i]!} elements there (attributes 'low', 'high')`);
      });
      return tensorType(shape, x.dtype);
    },
    interpret: ([x], attrs, _out, [xt]) => padTensor(x!, xt!, attr.ints(attrs, 'low'), attr.ints(attrs, 'high'), attr.ints(attrs, 'interior'), attr.float(attrs, 'value')),
    vjp: movementVjp.pad,
  },
  {
    name: 'concat', kind: 'movement', arity: 'variadic',
    attrs: { axis: { kind: 'int' } },
    infer(ins, attrs) {
      const first = ins[0]!;
      const axis = attr.int(attrs, 'axis');
      checkAxis('concat', ins, 'axis', axis, first.shape.length);
      let total = 0;
      ins.forEach((t, k) => {
        if (t.dtype !== first.dtype) opError('concat', ins, `operand ${k} has dtype ${t.dtype} but operand 0 has ${first.dtype}; cast first`);
        const sameRest = t.shape.length === first.shape.length && t.shape.every((d, i) => i === axis || d === first.shape[i]);
        if (!sameRest) opError('concat', ins, `operand ${k} (${typeToString(t)}) must match operand 0 (${typeToString(first)}) in every dim except axis ${axis} (attribute 'axis')`);
        total += t.shape[axis]!;
      });
      return tensorType(first.shape.map((d, i) => (i === axis ? total : d)), first.dtype);
    },
    interpret(ins, attrs, out, inTypes) {
      if (isEmpty(out)) return zerosOf(out);
      const parts = ins.filter((_, k) => !isEmpty(inTypes[k]!));
      return parts.length === 1 ? parts[0]! : tf.concat([...parts], attr.int(attrs, 'axis'));
    },
    vjp: movementVjp.concat,
  },
];

