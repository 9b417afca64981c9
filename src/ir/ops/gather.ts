import * as tf from '@tensorflow/tfjs-core';
import { attr, type OpDef } from '../registry.js';
import { numel, opError, shapesEqual, tensorType, typeToString, type TensorType } from '../types.js';
import { checkAxis, checkNotBool, invertPerm, isEmpty, zerosOf } from './common.js';
import { gatherVjp, scatterAddVjp } from './vjp_movement.js';

/**
 * Data-dependent indexing along one axis: `gather` (embedding lookup, take) and its transpose
 * `scatter_add` (the gradient of gather; also one-hot accumulation). Out-of-range indices follow
 * XLA: gather clamps them into [0, n-1], scatter_add drops their updates.
 */

/** The shape gather produces and scatter_add's updates must have. */
export function gatherShape(operand: readonly number[], indices: readonly number[], axis: number): number[] {
  return [...operand.slice(0, axis), ...indices, ...operand.slice(axis + 1)];
}

function checkIndices(op: string, ins: readonly TensorType[], idx: TensorType): void {
  if (idx.dtype !== 'i32') opError(op, ins, `indices must be i32, got ${idx.dtype}; cast first`);
}

export const gatherOps: OpDef[] = [
  {
    name: 'gather', kind: 'gather', arity: 2,
    attrs: { axis: { kind: 'int' } },
    infer(ins, attrs) {
      const [x, idx] = ins as [TensorType, TensorType];
      checkIndices('gather', ins, idx);
      const axis = attr.int(attrs, 'axis');
      checkAxis('gather', ins, 'axis', axis, x.shape.length);
      return tensorType(gatherShape(x.shape, idx.shape, axis), x.dtype);
    },
    interpret([x, idx], attrs, out, [xt]) {
      const axis = attr.int(attrs, 'axis');
      const n = xt!.shape[axis]!;
      // An empty axis has nothing to clamp into: the (non-empty) result is defined as zeros.
      if (isEmpty(out) || n === 0) return zerosOf(out);
      const clamped = tf.clipByValue(tf.reshape(idx!, [numel(idx!.shape)]), 0, n - 1);
      return tf.reshape(tf.gather(x!, clamped, axis), [...out.shape]);
    },
    vjp: gatherVjp,
  },
  {
    name: 'scatter_add', kind: 'scatter', arity: 3,
    attrs: { axis: { kind: 'int' } },
    infer(ins, attrs) {
      const [base, idx, upd] = ins as [TensorType, TensorType, TensorType];
      checkIndices('scatter_add', ins, idx);
      checkNotBool('scatter_add', ins, base.dtype);
      const axis = attr.int(attrs, 'axis');
      checkAxis('scatter_add', ins, 'axis', axis, base.shape.length);
      if (upd.dtype !== base.dtype) opError('scatter_add', ins, `updates dtype ${upd.dtype} differs from base dtype ${base.dtype}`);
      const want = gatherShape(base.shape, idx.shape, axis);
      if (!shapesEqual(upd.shape, want)) {
        opError('scatter_add', ins, `updates must have shape base[:axis] + indices + base[axis+1:] = [${want.join(',')}] for axis ${axis}, got ${typeToString(upd)} (attribute 'axis')`);
      }
      return base;
    },
    interpret([base, idx, upd], attrs, out, [bt, it, ut]) {
      const axis = attr.int(attrs, 'axis');
      const n = bt!.shape[axis]!;
      const k = numel(it!.shape);
      if (isEmpty(out) || k === 0 || isEmpty(ut!)) return base!;
      const r = bt!.shape.length;
      const pre = bt!.shape.slice(0, axis), post = bt!.shape.slice(axis + 1);
      // Move the scattered axis to the front: base [n, pre, post], updates [k, pre, post].
      const basePerm = [axis, ...Array.from({ length: r }, (_, i) => i).filter((i) => i !== axis)];
      const ir = it!.shape.length;
      const updPerm = [
        ...Array.from({ length: ir }, (_, i) => axis + i),
        ...Array.from({ length: axis }, (_, i) => i),
        ...Array.from({ length: ut!.shape.length - axis - ir }, (_, i) => axis + ir + i),
      ];
      const flatIdx = tf.reshape(idx!, [k]);
      const valid = tf.logicalAnd(tf.greaterEqual(flatIdx, 0), tf.less(flatIdx, n));
      const updates = tf.reshape(tf.transpose(upd!, updPerm), [k, ...pre, ...post]);
      const mask = tf.reshape(valid, [k, ...pre.map(() => 1), ...post.map(() => 1)]);
      const masked = tf.where(tf.broadcastTo(mask, updates.shape), updates, tf.zerosLike(updates));
      const summed = tf.scatterND(tf.reshape(tf.clipByValue(flatIdx, 0, n - 1), [k, 1]), masked, [n, ...pre, ...post]);
      return tf.add(base!, tf.transpose(summed, invertPerm(basePerm)));
    },
    vjp: scatterAddVjp,
  },
];
