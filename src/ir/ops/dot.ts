import * as tf from '@tensorflow/tfjs-core';
import { isDType, isFloat, type DType } from '../dtype.js';
import type { Attrs } from '../function.js';
import { attr, type OpDef } from '../registry.js';
import { numel, opError, tensorType, type TensorType } from '../types.js';
import { checkAxes, checkNotBool, zerosOf } from './common.js';
import { dotGeneralVjp } from './vjp_structured.js';

/**
 * `dot_general` with XLA semantics: batch dims pair up, contracting dims are summed, the rest
 * are free. Result dims: batch dims (in lhs_batch order), lhs free dims, rhs free dims, each
 * free group in operand order. The optional `dtype` attribute widens the result (i8 x i8 -> i32);
 * integer dots accumulate exactly with i32 wrap-around.
 */

export interface DotDims {
  readonly lhsBatch: readonly number[];
  readonly rhsBatch: readonly number[];
  readonly lhsContract: readonly number[];
  readonly rhsContract: readonly number[];
}

export function dotDims(attrs: Attrs): DotDims {
  return {
    lhsBatch: attr.ints(attrs, 'lhs_batch'), rhsBatch: attr.ints(attrs, 'rhs_batch'),
    lhsContract: attr.ints(attrs, 'lhs_contract'), rhsContract: attr.ints(attrs, 'rhs_contract'),
  };
}

/** Free (neither batch nor contracting) dims of an operand, in order. */
export function freeDims(rank: number, batch: readonly number[], contract: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < rank; i++) if (!batch.includes(i) && !contract.includes(i)) out.push(i);
  return out;
}

function inferDot(ins: readonly TensorType[], attrs: Attrs): TensorType {
  const [l, r] = ins as [TensorType, TensorType];
  const d = dotDims(attrs);
  const op = 'dot_general';
  checkNotBool(op, ins, l.dtype);
  if (l.dtype !== r.dtype) opError(op, ins, `operand dtypes differ (${l.dtype} vs ${r.dtype}); cast first`);
  if (d.lhsBatch.length !== d.rhsBatch.length) opError(op, ins, `'lhs_batch' [${d.lhsBatch.join(',')}] and 'rhs_batch' [${d.rhsBatch.join(',')}] must have the same length`);
  if (d.lhsContract.length !== d.rhsContract.length) opError(op, ins, `'lhs_contract' [${d.lhsContract.join(',')}] and 'rhs_contract' [${d.rhsContract.join(',')}] must have the same length`);
  checkAxes(op, ins, 'lhs_batch + lhs_contract', [...d.lhsBatch, ...d.lhsContract], l.shape.length);
  checkAxes(op, ins, 'rhs_batch + rhs_contract', [...d.rhsBatch, ...d.rhsContract], r.shape.length);
  d.lhsBatch.forEach((a, i) => {
    const b = d.rhsBatch[i]!;
    if (l.shape[a] !== r.shape[b]) opError(op, ins, `batch dim lhs ${a} (size ${l.shape[a]}) != rhs ${b} (size ${r.shape[b]}) (attributes 'lhs_batch', 'rhs_batch')`);
  });
  d.lhsContract.forEach((a, i) => {
    const b = d.rhsContract[i]!;
    if (l.shape[a] !== r.shape[b]) opError(op, ins, `contracting dim lhs ${a} (size ${l.shape[a]}) != rhs ${b} (size ${r.shape[b]}) (attributes 'lhs_contract', 'rhs_contract')`);
  });
  const want = attr.str(attrs, 'dtype');
  if (want !== '' && (!isDType(want) || want === 'bool')) opError(op, ins, `attribute 'dtype' must be '' or a numeric dtype, got '${want}'`);
  const dtype: DType = want === '' ? l.dtype : (want as DType);
  if (isFloat(dtype) !== isFloat(l.dtype)) opError(op, ins, `attribute 'dtype' = ${dtype} must stay ${isFloat(l.dtype) ? 'floating-point' : 'integer'} like the operands`);
  const shape = [
    ...d.lhsBatch.map((a) => l.shape[a]!),
    ...freeDims(l.shape.length, d.lhsBatch, d.lhsContract).map((a) => l.shape[a]!),
    ...freeDims(r.shape.length, d.rhsBatch, d.rhsContract).map((a) => r.shape[a]!),
  ];
  return tensorType(shape, dtype);
}

/** Transpose and reshape an operand to [batch, free, contract] (lhs) or [batch, contract, free] (rhs). */
function canonical(x: tf.Tensor, batch: readonly number[], contract: readonly number[], contractLast: boolean): tf.Tensor {
  const free = freeDims(x.shape.length, batch, contract);
  const size = (dims: readonly number[]) => dims.reduce((n, a) => n * x.shape[a]!, 1);
  const perm = contractLast ? [...batch, ...free, ...contract] : [...batch, ...contract, ...free];
  const shape = contractLast ? [size(batch), size(free), size(contract)] : [size(batch), size(contract), size(free)];
  const moved = perm.every((p, i) => p === i) ? x : tf.transpose(x, perm);
  return tf.reshape(moved, shape);
}

/** Exact integer batched matmul with i32 wrap-around: [B,M,K] x [B,K,N]. */
function intMatMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const [B, M, K] = a.shape as [number, number, number];
  const N = b.shape[2]!;
  const x = a.dataSync() as Int32Array, y = b.dataSync() as Int32Array;
  const out = new Int32Array(B * M * N);
  for (let bi = 0; bi < B; bi++) {
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc = (acc + Math.imul(x[(bi * M + m) * K + k]!, y[(bi * K + k) * N + n]!)) | 0;
        out[(bi * M + m) * N + n] = acc;
      }
    }
  }
  return tf.tensor(out, [B, M, N], 'int32');
}

export const dotOps: OpDef[] = [
  {
    name: 'dot_general', kind: 'dot', arity: 2,
    attrs: {
      lhs_batch: { kind: 'ints' }, rhs_batch: { kind: 'ints' },
      lhs_contract: { kind: 'ints' }, rhs_contract: { kind: 'ints' },
      dtype: { kind: 'dtype', default: '' },
    },
    infer: inferDot,
    interpret([l, r], attrs, out, [lt]) {
      if (numel(out.shape) === 0) return zerosOf(out);
      const d = dotDims(attrs);
      const a = canonical(l!, d.lhsBatch, d.lhsContract, true);
      const b = canonical(r!, d.rhsBatch, d.rhsContract, false);
      if (a.shape[2] === 0) return zerosOf(out);
      const prod = isFloat(lt!.dtype) ? tf.matMul(a, b) : intMatMul(a, b);
      return tf.reshape(prod, [...out.shape]);
    },
    vjp: dotGeneralVjp,
  },
];
