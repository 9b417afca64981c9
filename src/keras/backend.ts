/**
 * The one place src/keras imports the frontend from: tensors, variables, `fn` and the ops
 * layers are written in. Layers import from here so the frontend's module layout can change
 * without touching every layer.
 */
import { literal } from '../ir/literal.js';
import { Tensor } from '../frontend/tensor.js';

export { Tensor } from '../frontend/tensor.js';
export * as ops from '../frontend/ops.js';
export { fn, variable, Variable } from '../frontend/index.js';
export { autographMethod, type AutographSetting } from '../frontend/autograph/index.js';

/** A concrete f32 tensor over `data` (row-major). */
export function tensorFromData(data: Float32Array, shape: readonly number[]): Tensor {
  return Tensor.concrete(literal(shape, 'f32', data));
}

/** The elements of a concrete tensor as f32 (a copy). */
export function tensorToFloat32(t: Tensor): Float32Array {
  return Float32Array.from(t.dataSync());
}
