/**
 * Creating concrete tensors: from JS values (`tensor`, `scalar`), filled (`zeros`, `ones`,
 * `fill`, ...), index ramps (`range`, `iota`), seeded random numbers (through the IR's
 * counter-based rng ops, so the same seed gives the same values on every target) and `oneHot`.
 * Inside a trace these are still concrete; ops capture them as constants.
 */
import { parseDType, type DType, type DTypeLike } from '../ir/dtype.js';
import { hasOp } from '../ir/registry.js';
import { literal } from '../ir/literal.js';
import { KilnError, numel } from '../ir/types.js';
import { emit } from './emit.js';
import { Tensor } from './tensor.js';

type TypedArray = Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint8Array | Uint16Array | Uint32Array | Uint8ClampedArray;
/** Nested JS arrays of numbers or booleans. */
export type TensorValues = number | boolean | TypedArray | readonly (number | boolean | TensorValues)[];

function checkShape(op: string, shape: readonly number[]): void {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new KilnError(`${op}: shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  }
}

/** Kiln's ('f32') or Keras/tfjs's ('float32') dtype names, normalized; others refused naming `op`. */
function checkDtype(op: string, dtype: unknown): DType {
  return parseDType(dtype, op);
}

/** Flatten nested arrays, inferring the shape; ragged arrays are an error. */
function flatten(values: TensorValues): { flat: number[]; shape: number[]; sawBool: boolean } {
  const flat: number[] = [];
  let sawBool = false;
  let shape: number[] | undefined;
  const walk = (v: TensorValues, dims: number[]): void => {
    if (typeof v === 'number' || typeof v === 'boolean') {
      if (typeof v === 'boolean') sawBool = true;
      if (!shape) shape = dims;
      else if (shape.length !== dims.length || shape.some((d, i) => d !== dims[i])) {
        throw new KilnError(`tensor: ragged nested array: an element at depth ${dims.length} but the first element has depth ${shape.length} (shape [${shape.join(',')}])`);
      }
      flat.push(typeof v === 'boolean' ? (v ? 1 : 0) : v);
      return;
    }
    const arr = v as ArrayLike<number | boolean | TensorValues>;
    if (shape && (dims.length >= shape.length || shape[dims.length] !== arr.length)) {
      throw new KilnError(`tensor: ragged nested array: length ${arr.length} at depth ${dims.length} where [${shape.join(',')}] was inferred`);
    }
    if (arr.length === 0 && !shape) shape = [...dims, 0];
    for (let i = 0; i < arr.length; i++) walk(arr[i]!, [...dims, arr.length]);
  };
  walk(values, []);
  return { flat, shape: shape ?? [], sawBool };
}

/**
 * A concrete tensor from JS values. The dtype defaults to f32 (i32 for an Int32Array, bool for
 * booleans); `shape` reshapes flat values and is checked against their count.
 */
export function tensor(values: TensorValues | Tensor, shape?: readonly number[], dtypeLike?: DTypeLike): Tensor {
  const dtype = dtypeLike === undefined ? undefined : checkDtype('tensor', dtypeLike);
  if (values instanceof Tensor) {
    if (values.isSymbolic) return values;
    values = values.dataSync() as TypedArray;
  }
  let flat: ArrayLike<number>;
  let inferred: number[];
  let dt: DType = dtype ?? 'f32';
  if (ArrayBuffer.isView(values)) {
    flat = values as TypedArray;
    inferred = [flat.length];
    if (!dtype && values instanceof Int32Array) dt = 'i32';
  } else {
    const f = flatten(values);
    flat = f.flat;
    inferred = f.shape;
    if (!dtype && f.sawBool) dt = 'bool';
  }
  let finalShape = inferred;
  if (shape) {
    checkShape('tensor', shape);
    if (numel(shape) !== flat.length) {
      if (flat.length === 1 && inferred.length === 0) return fill(shape, flat[0]!, dt);
      throw new KilnError(`tensor: ${flat.length} values (shape [${inferred.join(',')}]) do not fill shape [${shape.join(',')}] (${numel(shape)} elements)`);
    }
    finalShape = [...shape];
  }
  return Tensor.concrete(literal(finalShape, dt, flat));
}

export function scalar(value: number | boolean, dtype?: DTypeLike): Tensor {
  return tensor(value, [], dtype);
}

export function fill(shape: readonly number[], value: number, dtype: DTypeLike = 'f32'): Tensor {
  checkShape('fill', shape);
  return Tensor.concrete(literal(shape, checkDtype('fill', dtype), value));
}

export function zeros(shape: readonly number[], dtype: DTypeLike = 'f32'): Tensor {
  return fill(shape, 0, dtype);
}

export function ones(shape: readonly number[], dtype: DTypeLike = 'f32'): Tensor {
  return fill(shape, 1, dtype);
}

export function zerosLike(x: Tensor): Tensor {
  return fill(x.shape, 0, x.dtype);
}

export function onesLike(x: Tensor): Tensor {
  return fill(x.shape, 1, x.dtype);
}

/** `start, start+step, ...` up to (excluding) `stop`; `range(n)` counts 0..n-1, like tf.range. */
export function range(start: number, stop?: number, step = 1, dtype: DTypeLike = 'f32'): Tensor {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new KilnError(`range: step must not be 0 (start=${start}, stop=${stop})`);
  const n = Math.max(Math.ceil((stop - start) / step), 0);
  const values = new Array<number>(n);
  for (let i = 0; i < n; i++) values[i] = start + i * step;
  return Tensor.concrete(literal([n], checkDtype('range', dtype), values));
}

/** A tensor of `shape` whose elements are their index along `dim` (the IR's iota). */
export function iota(shape: readonly number[], dim = 0, dtype: DTypeLike = 'i32'): Tensor {
  checkShape('iota', shape);
  if (!Number.isInteger(dim) || dim < 0 || dim >= shape.length) {
    throw new KilnError(`iota: dim ${dim} is out of range for shape [${shape.join(',')}]`);
  }
  const n = numel(shape);
  let inner = 1;
  for (let i = dim + 1; i < shape.length; i++) inner *= shape[i]!;
  const values = new Array<number>(n);
  for (let i = 0; i < n; i++) values[i] = Math.floor(i / inner) % shape[dim]!;
  return Tensor.concrete(literal(shape, checkDtype('iota', dtype), values));
}

/**
 * A seed: a number (key [seed, 0]), or a tensor, i32 scalar or i32[2] key. A tensor seed may be
 * symbolic (an argument of a traced function), which gives fresh numbers per call of the
 * compiled program; a number seed, or none, is evaluated at trace time and baked in.
 */
export type Seed = number | Tensor;

export interface RandomUniformOptions {
  minval?: number;
  maxval?: number;
  seed?: Seed;
  dtype?: DTypeLike;
}

export interface RandomNormalOptions {
  mean?: number;
  stddev?: number;
  seed?: Seed;
  dtype?: DTypeLike;
}

function seedKey(seed: Seed | undefined): Tensor {
  if (seed instanceof Tensor) {
    if (seed.dtype === 'i32' && seed.rank === 1 && seed.shape[0] === 2) return seed;
    if (seed.dtype === 'i32' && seed.rank === 0) {
      const lo = emit('broadcast_in_dim', [seed], { shape: [1], dims: [] });
      return emit('concat', [lo, Tensor.concrete(literal([1], 'i32', [0]))], { axis: 0 });
    }
    throw new KilnError(`random: a tensor seed must be an i32 scalar or an i32[2] key, got ${seed.describe()}`);
  }
  const s = seed ?? Math.floor(Math.random() * 0x7fffffff);
  if (!Number.isFinite(s)) throw new KilnError(`random: seed must be a finite number, got ${s}`);
  return Tensor.concrete(literal([2], 'i32', [s | 0, 0]));
}

function randomBase(op: 'rng_uniform' | 'rng_normal', shape: readonly number[], seed: Seed | undefined, dtypeLike: DTypeLike): Tensor {
  checkShape(op, shape);
  const dtype = checkDtype(op, dtypeLike);
  if (!hasOp(op)) throw new KilnError(`${op}: the IR op is not registered in this build`);
  return emit(op, [seedKey(seed)], { shape: [...shape], dtype });
}

/** Uniform in [minval, maxval); with a seed, the values are reproducible on every target. */
export function randomUniform(shape: readonly number[], opts: RandomUniformOptions = {}): Tensor {
  const { minval = 0, maxval = 1, seed, dtype = 'f32' } = opts;
  const u = randomBase('rng_uniform', shape, seed, dtype);
  if (minval === 0 && maxval === 1) return u;
  return affine(u, maxval - minval, minval);
}

export function randomNormal(shape: readonly number[], opts: RandomNormalOptions = {}): Tensor {
  const { mean = 0, stddev = 1, seed, dtype = 'f32' } = opts;
  const z = randomBase('rng_normal', shape, seed, dtype);
  if (mean === 0 && stddev === 1) return z;
  return affine(z, stddev, mean);
}

function affine(x: Tensor, scale: number, shift: number): Tensor {
  const s = fill(x.shape, scale, x.dtype), b = fill(x.shape, shift, x.dtype);
  return emit('add', [emit('mul', [x, s]), b]);
}

/**
 * `indices` (i32) one-hot encoded along a new last axis of size `depth`: `onValue` where the
 * index matches, `offValue` elsewhere (out-of-range indices give all `offValue`). Like tf.oneHot
 * the default dtype is i32.
 */
export function oneHot(indices: Tensor | readonly number[], depth: number, onValue = 1, offValue = 0, dtypeLike: DTypeLike = 'i32'): Tensor {
  const dtype = checkDtype('oneHot', dtypeLike);
  const idx = indices instanceof Tensor ? indices : tensor(indices as number[], undefined, 'i32');
  if (idx.dtype !== 'i32') throw new KilnError(`oneHot: indices must be i32, got ${idx.describe()}; cast them first`);
  if (!Number.isInteger(depth) || depth < 0) throw new KilnError(`oneHot: depth must be a non-negative integer, got ${depth}`);
  const outShape = [...idx.shape, depth];
  const expanded = emit('broadcast_in_dim', [idx], { shape: outShape, dims: idx.shape.map((_, i) => i) });
  const hit = emit('compare', [expanded, iota(outShape, idx.rank, 'i32')], { dir: 'eq' });
  return emit('select', [hit, fill(outShape, onValue, dtype), fill(outShape, offValue, dtype)]);
}

/** The identity matrix [n, m] (m defaults to n). */
export function eye(n: number, m = n, dtype: DTypeLike = 'f32'): Tensor {
  checkShape('eye', [n, m]);
  const values = new Array<number>(n * m).fill(0);
  for (let i = 0; i < Math.min(n, m); i++) values[i * m + i] = 1;
  return Tensor.concrete(literal([n, m], checkDtype('eye', dtype), values));
}

/** `num` evenly spaced values from `start` to `stop` inclusive, like tf.linspace. */
export function linspace(start: number, stop: number, num: number): Tensor {
  if (!Number.isInteger(num) || num < 0) throw new KilnError(`linspace: num must be a non-negative integer, got ${num}`);
  const step = num > 1 ? (stop - start) / (num - 1) : 0;
  const values = Array.from({ length: num }, (_, i) => start + i * step);
  return Tensor.concrete(literal([num], 'f32', values));
}
