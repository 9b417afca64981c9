import type { DType } from './dtype.js';

export type Shape = readonly number[];

/**
 * The static type of an IR value: a shape and an element type. A control-flow node (cond, while,
 * scan) has several results; its value has a tuple type (`tuple` lists the element types, shape
 * and dtype are the placeholder `u8[0]`, which holds no bytes) and `get_result` projects one.
 */
export interface TensorType {
  readonly shape: Shape;
  readonly dtype: DType;
  readonly tuple?: readonly TensorType[];
}

/** The type of a node with several results: `(f32[2], i32[])`. */
export function tupleType(elements: readonly TensorType[]): TensorType {
  return { shape: Object.freeze([0]), dtype: 'u8', tuple: Object.freeze([...elements]) };
}

export function isTupleType(t: TensorType): t is TensorType & { readonly tuple: readonly TensorType[] } {
  return t.tuple !== undefined;
}

export function tensorType(shape: Shape, dtype: DType): TensorType {
  return { shape: Object.freeze([...shape]), dtype };
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function typesEqual(a: TensorType, b: TensorType): boolean {
  if (a.tuple || b.tuple) {
    if (!a.tuple || !b.tuple || a.tuple.length !== b.tuple.length) return false;
    return a.tuple.every((t, i) => typesEqual(t, b.tuple![i]!));
  }
  return a.dtype === b.dtype && shapesEqual(a.shape, b.shape);
}

/** `f32[2,3]`; a scalar prints as `f32[]`; a tuple as `(f32[2], i32[])`. */
export function typeToString(t: TensorType): string {
  if (t.tuple) return `(${t.tuple.map(typeToString).join(', ')})`;
  return `${t.dtype}[${t.shape.join(',')}]`;
}

/** Row-major strides in elements. */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/**
 * An error in the user's program or in IR handed to Kiln: bad shapes, dtypes or
 * attributes. Messages name the op, the shapes and the attribute involved.
 */
export class KilnError extends Error {
  override name = 'KilnError';
}

/** Throw a KilnError for op `op` with a message that lists its operand types. */
export function opError(op: string, inputs: readonly TensorType[], msg: string): never {
  const types = inputs.map(typeToString).join(', ');
  throw new KilnError(`${op}(${types}): ${msg}`);
}
