import { castScalar, hostArray, type DType, type HostArray } from './dtype.js';
import { numel, shapesEqual, tensorType, type Shape, type TensorType } from './types.js';

/** Concrete tensor data: a constant in the IR, an input or output of the interpreter. */
export interface Literal {
  readonly type: TensorType;
  /** Row-major elements; f16/bf16 are stored as f32 values already rounded to their dtype. */
  readonly data: HostArray;
}

export function literal(shape: Shape, dtype: DType, values?: ArrayLike<number> | number): Literal {
  const n = numel(shape);
  const data = hostArray(dtype, n);
  if (typeof values === 'number') {
    data.fill(castScalar(values, dtype));
  } else if (values !== undefined) {
    if (values.length !== n) {
      throw new Error(`literal: ${values.length} values do not fill shape [${shape.join(',')}] (${n} elements)`);
    }
    const exact = (dtype === 'f32' && values instanceof Float32Array) || (dtype === 'i32' && values instanceof Int32Array);
    if (exact) data.set(values as ArrayLike<number>);
    else for (let i = 0; i < n; i++) data[i] = castScalar(values[i]!, dtype);
  }
  return { type: tensorType(shape, dtype), data };
}

export function literalsEqual(a: Literal, b: Literal): boolean {
  if (a.type.dtype !== b.type.dtype || !shapesEqual(a.type.shape, b.type.shape)) return false;
  for (let i = 0; i < a.data.length; i++) {
    const x = a.data[i]!, y = b.data[i]!;
    if (x !== y && !(Number.isNaN(x) && Number.isNaN(y))) return false;
  }
  return true;
}
