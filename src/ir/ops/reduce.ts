import * as tf from '@tensorflow/tfjs-core';
import { isInt } from '../dtype.js';
import { attr, type OpDef } from '../registry.js';
import { tensorType, type TensorType } from '../types.js';
import { checkAxes, checkNotBool, fillOf, highest, isEmpty, lowest, zerosOf } from './common.js';
import { reduceVjp } from './vjp_movement.js';

/**
 * `reduce`: sum/max/min/prod over a set of axes, which are removed from the shape. Reducing an
 * empty axis yields the identity (0, lowest value, highest value, 1); integer sums and products
 * wrap like i32 arithmetic.
 */

export const REDUCE_OPS = ['sum', 'max', 'min', 'prod'] as const;
export type ReduceOp = (typeof REDUCE_OPS)[number];

export function reduceIdentity(op: ReduceOp, t: TensorType): number {
  switch (op) {
    case 'sum': return 0;
    case 'prod': return 1;
    case 'max': return lowest(t.dtype);
    case 'min': return highest(t.dtype);
  }
}

const tfReduce: Record<ReduceOp, (x: tf.Tensor, axes: number[]) => tf.Tensor> = {
  sum: (x, a) => tf.sum(x, a),
  max: (x, a) => tf.max(x, a),
  min: (x, a) => tf.min(x, a),
  prod: (x, a) => tf.prod(x, a),
};

/** Integer product with i32 wrap-around at every step (tfjs multiplies in doubles and loses bits). */
function intProd(x: tf.Tensor, axes: readonly number[], out: TensorType): tf.Tensor {
  const keep = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const moved = tf.transpose(x, [...keep, ...axes]);
  const data = moved.dataSync() as Int32Array;
  const group = axes.reduce((n, a) => n * x.shape[a]!, 1);
  const res = new Int32Array(data.length / group);
  for (let o = 0; o < res.length; o++) {
    let p = 1;
    for (let k = 0; k < group; k++) p = Math.imul(p, data[o * group + k]!);
    res[o] = p;
  }
  return tf.tensor(res, [...out.shape], 'int32');
}

export const reduceOps: OpDef[] = [
  {
    name: 'reduce', kind: 'reduction', arity: 1,
    attrs: { op: { kind: 'string', oneOf: REDUCE_OPS }, axes: { kind: 'ints' } },
    infer(ins, attrs) {
      const x = ins[0]!;
      const axes = attr.ints(attrs, 'axes');
      checkNotBool('reduce', ins, x.dtype);
      checkAxes('reduce', ins, 'axes', axes, x.shape.length);
      return tensorType(x.shape.filter((_, i) => !axes.includes(i)), x.dtype);
    },
    interpret([x], attrs, out, [xt]) {
      const op = attr.str(attrs, 'op') as ReduceOp;
      const axes = [...attr.ints(attrs, 'axes')].sort((a, b) => a - b);
      if (axes.length === 0) return x!;
      if (isEmpty(out)) return zerosOf(out);
      if (isEmpty(xt!)) return fillOf(out, reduceIdentity(op, xt!));
      if (op === 'prod' && isInt(xt!.dtype)) return intProd(x!, axes, out);
      return tf.reshape(tfReduce[op](x!, axes), [...out.shape]);
    },
    vjp: reduceVjp,
  },
];
