import * as tf from '@tensorflow/tfjs-core';
import { isDType, isFloat, type DType } from '../dtype.js';
import { attr, type OpDef } from '../registry.js';
import { normalValues, uniformValues } from '../rng.js';
import { numel, opError, shapesEqual, tensorType } from '../types.js';
import { checkShapeAttr } from './common.js';
import { noGradient } from './vjp_common.js';

/**
 * Seeded random sources: `rng_uniform` in [0, 1) and `rng_normal` (standard normal). They are
 * counter-based (Threefry-2x32, see src/ir/rng.ts), so a key determines every element on every
 * target, and splitting work across threads or kernels needs no shared state.
 */

function rngOp(name: string, values: (k0: number, k1: number, n: number) => Float32Array): OpDef {
  return {
    name, kind: 'source', arity: 1,
    attrs: { shape: { kind: 'ints' }, dtype: { kind: 'dtype', default: 'f32' } },
    infer(ins, attrs) {
      const key = ins[0]!;
      if (key.dtype !== 'i32' || !shapesEqual(key.shape, [2])) opError(name, ins, 'key must be i32[2]');
      const shape = attr.ints(attrs, 'shape');
      checkShapeAttr(name, ins, 'shape', shape);
      const dtype = attr.str(attrs, 'dtype');
      if (!isDType(dtype) || !isFloat(dtype)) opError(name, ins, `attribute 'dtype' must be a float dtype (f32, f16, bf16), got '${dtype}'`);
      return tensorType(shape, dtype as DType);
    },
    interpret([key], _attrs, out) {
      const [k0, k1] = key!.dataSync() as Int32Array;
      return tf.tensor(values(k0! >>> 0, k1! >>> 0, numel(out.shape)), [...out.shape], 'float32');
    },
    // The key is an integer: random draws are constants to differentiation.
    vjp: noGradient,
  };
}

export const randomOps: OpDef[] = [rngOp('rng_uniform', uniformValues), rngOp('rng_normal', normalValues)];
