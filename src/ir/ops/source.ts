import * as tf from '@tensorflow/tfjs-core';
import { isDType, type DType } from '../dtype.js';
import { literalToTensor, tfDtype } from '../interpreter.js';
import { attr, type OpDef } from '../registry.js';
import { opError, tensorType } from '../types.js';
import { checkAxis, checkShapeAttr, isEmpty, zerosOf } from './common.js';
import { noGradient } from './vjp_common.js';

/**
 * Source ops without operands: `constant` (a literal baked into the IR) and `iota` (the index
 * along one dimension, the building block of one-hot, masks and position ids). The random
 * sources live in random.ts.
 */

export const sourceOps: OpDef[] = [
  {
    name: 'constant', kind: 'source', arity: 0,
    attrs: { value: { kind: 'literal' } },
    infer(_ins, attrs) {
      const lit = attr.literal(attrs, 'value');
      return tensorType(lit.type.shape, lit.type.dtype);
    },
    interpret: (_ins, attrs) => literalToTensor(attr.literal(attrs, 'value')),
    vjp: noGradient,
  },
  {
    name: 'iota', kind: 'movement', arity: 0,
    attrs: { shape: { kind: 'ints' }, dtype: { kind: 'dtype' }, dim: { kind: 'int' } },
    infer(ins, attrs) {
      const shape = attr.ints(attrs, 'shape');
      const dtype = attr.str(attrs, 'dtype');
      checkShapeAttr('iota', ins, 'shape', shape);
      if (!isDType(dtype) || dtype === 'bool') opError('iota', ins, `attribute 'dtype' must be a numeric dtype, got '${dtype}'`);
      checkAxis('iota', ins, 'dim', attr.int(attrs, 'dim'), shape.length);
      return tensorType(shape, dtype as DType);
    },
    interpret(_ins, attrs, out) {
      if (isEmpty(out)) return zerosOf(out);
      const dim = attr.int(attrs, 'dim');
      const n = out.shape[dim]!;
      const lineShape = out.shape.map((d, i) => (i === dim ? d : 1));
      const line = tf.reshape(tf.range(0, n, 1, tfDtype(out.dtype) === 'int32' ? 'int32' : 'float32'), lineShape);
      return tf.broadcastTo(line, [...out.shape]);
    },
    vjp: noGradient,
  },
];
