/**
 * In-memory and generated sources: `fromArrays` slices tensors / typed arrays (or arrays and
 * objects of them, e.g. {xs, ys}) along their first axis, each element a zero-copy view of one
 * row; `fromGenerator` wraps a sync or async generator function (called once per iteration),
 * so data larger than memory can stream through.
 */
import type { DType, HostArray } from '../../ir/dtype.js';
import { KilnError, typeToString } from '../../ir/types.js';
import { Tensor } from '../backend.js';
import { Dataset } from './dataset.js';
import type { Column, Element } from './element.js';

export type TypedArray = Float32Array | Int32Array | Uint8Array | Int8Array;
/** What fromArrays slices: tensors, typed arrays (1-D), number arrays (1-D f32), nested in arrays/objects. */
export type ArraysSource = Tensor | TypedArray | readonly number[] | readonly ArraysSource[] | { readonly [key: string]: ArraysSource };

function typedDType(a: TypedArray): DType {
  if (a instanceof Float32Array) return 'f32';
  if (a instanceof Int32Array) return 'i32';
  if (a instanceof Uint8Array) return 'u8';
  return 'i8';
}


function columns(src: ArraysSource, path: string, out: Column[]): Element {
  const name = path || '(root)';
  if (src instanceof Tensor) {
    if (src.isSymbolic) throw new KilnError(`fromArrays: '${name}' is a symbolic tensor; datasets hold concrete tensors`);
    if (src.rank === 0) throw new KilnError(`fromArrays: '${name}' is a scalar (${typeToString(src.type)}); it needs a first axis to slice into elements`);
    out.push({ path: name, shape: src.shape.slice(1), dtype: src.dtype, data: src.dataSync(), row: src.shape.slice(1).reduce((a, b) => a * b, 1) });
    return src;
  }
  if (ArrayBuffer.isView(src)) {
    const a = src as TypedArray;
    if (!(a instanceof Float32Array || a instanceof Int32Array || a instanceof Uint8Array || a instanceof Int8Array)) {
      throw new KilnError(`fromArrays: '${name}' is a ${(a as ArrayBufferView).constructor.name}; expected a Float32Array, Int32Array, Uint8Array or Int8Array (or a Tensor)`);
    }
    out.push({ path: name, shape: [], dtype: typedDType(a), data: a, row: 1 });
    return 0;
  }
  if (Array.isArray(src) && src.every((v) => typeof v === 'number')) {
    out.push({ path: name, shape: [], dtype: 'f32', data: Float32Array.from(src as number[]), row: 1 });
    return 0;
  }
  if (Array.isArray(src)) return (src as readonly ArraysSource[]).map((s, i) => columns(s, `${path}[${i}]`, out));
  if (src !== null && typeof src === 'object') {
    return Object.fromEntries(Object.entries(src).map(([k, v]) => [k, columns(v as ArraysSource, path ? `${path}.${k}` : k, out)]));
  }
  throw new KilnError(`fromArrays: '${name}' must be a Tensor, a typed array, an array of numbers, or an array/object of them, got ${src === null ? 'null' : typeof src}`);
}

/**
 * A dataset of the rows of `data`: element i holds row i of every leaf (same structure). All
 * leaves must have the same number of rows.
 */
export function fromArrays(data: ArraysSource): Dataset<Element> {
  const cols: Column[] = [];
  const structure = columns(data, '', cols);
  if (cols.length === 0) throw new KilnError('fromArrays: no arrays given');
  const counts = cols.map((c) => c.data.length / c.row);
  const n = counts[0]!;
  cols.forEach((c, i) => {
    if (counts[i] !== n) {
      throw new KilnError(`fromArrays: every array needs the same number of rows; '${cols[0]!.path}' has ${n}, '${c.path}' has ${counts[i]}`);
    }
  });
  const index = Dataset.fromSync(function* () {
    for (let i = 0; i < n; i++) yield i;
  }, n);
  return Dataset.fromRows({ cols, structure, index });
}

type AnyIterable<T> = Iterable<T> | AsyncIterable<T>;

/**
 * A dataset from a generator: `source` is a function returning a (sync or async) iterable or
 * iterator, called anew for every iteration (every epoch), or an iterable object. A generator
 * object can be consumed only once: pass its generator function to iterate again. The count is
 * unknown (give it as `cardinality` when known: the progress bar and stepsPerEpoch use it).
 */
export function fromGenerator<T>(source: (() => AnyIterable<T> | Iterator<T> | AsyncIterator<T>) | AnyIterable<T>, options?: { cardinality?: number }): Dataset<T> {
  const card = options?.cardinality;
  if (options !== undefined) {
    const extra = Object.keys(options).filter((k) => k !== 'cardinality');
    if (extra.length > 0) throw new KilnError(`fromGenerator: unknown option '${extra[0]}' (valid: cardinality)`);
    if (card !== undefined && !(card === Infinity || (Number.isInteger(card) && card >= 0))) throw new KilnError(`fromGenerator: cardinality must be a non-negative integer or Infinity, got ${card}`);
  }
  const isIterable = (x: unknown): boolean => x !== null && typeof x === 'object' && (Symbol.iterator in x || Symbol.asyncIterator in x);
  if (typeof source !== 'function' && !isIterable(source)) {
    throw new KilnError(`fromGenerator: expects a generator function (sync or async) or an iterable, got ${source === null ? 'null' : typeof source}`);
  }
  let consumed = false;
  return new Dataset<T>(async function* () {
    let it: unknown = typeof source === 'function' ? source() : source;
    if (typeof source !== 'function') {
      // An iterator that is its own iterable (a generator object) runs only once.
      const self = typeof (it as { next?: unknown }).next === 'function';
      if (self && consumed) throw new KilnError('fromGenerator: the generator object was already consumed; pass the generator function (() => gen()) to iterate the dataset again (e.g. for more than one epoch)');
      consumed = true;
    }
    if (it !== null && typeof it === 'object' && Symbol.asyncIterator in it) {
      yield* it as AsyncIterable<T>;
    } else if (it !== null && typeof it === 'object' && Symbol.iterator in it) {
      yield* it as Iterable<T>;
    } else if (it !== null && typeof it === 'object' && typeof (it as { next?: unknown }).next === 'function') {
      const iter = it as AsyncIterator<T>;
      for (;;) {
        const r = await iter.next();
        if (r.done) return;
        yield r.value;
      }
    } else {
      throw new KilnError(`fromGenerator: the function returned ${it === null ? 'null' : typeof it}, not an iterable or iterator`);
    }
  } as () => AsyncIterator<T>, card);
}
