/**
 * kiln.data's Dataset (after tf.data and tfjs-data): a recipe for a stream of elements that
 * makes a fresh iterator each time it is iterated (each epoch of fit), so nothing is held but
 * what the transforms buffer (shuffle's buffer, prefetch's queue, one batch). Transforms return
 * new Datasets and never mutate their source. Iteration is asynchronous (sources may read files
 * or await generators); `prefetch` lets preparation run while the consumer awaits.
 *
 * `cardinality` is the element count when it is known (Infinity for an endless repeat, undefined
 * when a filter or a generator makes it unknowable); fit's progress bar shows it as the total.
 */
import { KilnError } from '../../ir/types.js';
import { suggestion } from '../layers/args.js';
import type { HostArray } from '../../ir/dtype.js';
import { hostArray } from '../../ir/dtype.js';
import { rebuild, stack, viewTensor, type Column, type Element } from './element.js';
import { shuffled, shuffledSync } from './shuffle.js';
import { prefetched } from './prefetch.js';

/** Element count: a number, Infinity (endless), or undefined (unknown). */
export type Cardinality = number | undefined;

/** Known batch sizes of a batched dataset (fit compiles one step entry per size before it starts). */
export interface BatchInfo {
  size: number;
  /** The last batch's size when known (equal to size when there is no remainder). */
  remainder?: number;
}

/** @internal In-memory columns (one per leaf of `structure`) and the stream of row indices to pick. */
export interface RowSource {
  cols: Column[];
  structure: Element;
  index: Dataset<number>;
}

export function checkKeys(who: string, options: unknown, valid: readonly string[]): Record<string, unknown> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new KilnError(`${who}: options must be an object with keys among {${valid.join(', ')}}, got ${options === null ? 'null' : typeof options}`);
  }
  for (const k of Object.keys(options)) if (!valid.includes(k)) throw new KilnError(`${who}: unknown option '${k}' ${suggestion(k, valid)}`);
  return options as Record<string, unknown>;
}

export function countArg(who: string, name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new KilnError(`${who}: ${name} must be an integer >= ${min}, got ${typeof v === 'number' ? v : typeof v}`);
  }
  return v;
}

export class Dataset<T = Element> implements AsyncIterable<T> {
  /** @internal */
  constructor(
    private readonly make: () => AsyncIterator<T>,
    readonly cardinality: Cardinality,
    /** @internal Set by batch(): the sizes its batches come in. */
    readonly batchInfo?: BatchInfo,
    /**
     * @internal A synchronous way to the same elements, when every stage up to here is synchronous
     * (in-memory sources, shuffle, batch, take, skip, repeat): such chains run as plain
     * generators and cross into async iteration once, at the first stage that needs it, instead
     * of awaiting at every stage for every element.
     */
    readonly makeSync?: () => Iterator<T>,
    /** @internal Set by fromArrays and kept by index-only transforms (shuffle, take, skip, repeat). */
    readonly rows?: RowSource,
  ) {}

  /**
   * @internal Rows of in-memory columns: elements are rows picked by an index stream. Shuffle,
   * take, skip and repeat transform the index stream only, and batch copies the picked rows
   * straight into the batch arrays: no per-element tensors on the way to fit.
   */
  static fromRows(rows: RowSource): Dataset<Element> {
    const { cols, structure, index } = rows;
    const makeSync = function* (): Generator<Element> {
      const it = index.makeSync!();
      for (let r = it.next(); !r.done; r = it.next()) {
        const i = r.value;
        yield rebuild(structure, cols.map((c) => viewTensor(c.shape, c.dtype, c.data.subarray(i * c.row, (i + 1) * c.row) as HostArray)));
      }
    };
    const d = Dataset.fromSync(makeSync, index.cardinality);
    return new Dataset<Element>(d.make, index.cardinality, undefined, makeSync, rows);
  }

  /** @internal A dataset whose elements come from a synchronous generator. */
  static fromSync<T>(makeSync: () => Iterator<T>, cardinality: Cardinality, batchInfo?: BatchInfo): Dataset<T> {
    return new Dataset<T>(async function* () {
      const it = makeSync();
      for (;;) {
        const r = it.next();
        if (r.done) return;
        yield r.value;
      }
    } as () => AsyncIterator<T>, cardinality, batchInfo, makeSync);
  }

  /** A fresh iterator from the start (each call is one pass, e.g. one epoch). */
  iterator(): AsyncIterator<T> {
    return this.make();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.make();
  }

  /** Apply `f` to each element (sync or async). */
  map<U>(f: (element: T) => U | Promise<U>): Dataset<U> {
    if (typeof f !== 'function') throw new KilnError(`map: expects a function of an element, got ${typeof f}`);
    const src = this;
    return new Dataset<U>(async function* () {
      for await (const e of src) yield await f(e);
    } as () => AsyncIterator<U>, this.cardinality);
  }

  /** Keep the elements for which `predicate` is true (the count becomes unknown). */
  filter(predicate: (element: T) => boolean | Promise<boolean>): Dataset<T> {
    if (typeof predicate !== 'function') throw new KilnError(`filter: expects a predicate function of an element, got ${typeof predicate}`);
    const src = this;
    return new Dataset<T>(async function* () {
      for await (const e of src) if (await predicate(e)) yield e;
    } as () => AsyncIterator<T>, this.cardinality === Infinity ? Infinity : undefined, this.batchInfo);
  }

  /**
   * Stack `size` consecutive elements into one (a new leading axis on every leaf). The last batch
   * holds the remainder unless `dropRemainder`.
   */
  batch(size: number, options?: { dropRemainder?: boolean }): Dataset<Element> {
    countArg('batch', 'size', size, 1);
    const o = checkKeys('batch', options, ['dropRemainder']);
    const drop = o['dropRemainder'] ?? false;
    if (typeof drop !== 'boolean') throw new KilnError(`batch: dropRemainder must be true or false, got ${typeof drop}`);
    const src = this as unknown as Dataset<Element>;
    const c = this.cardinality;
    const card = c === undefined || c === Infinity ? c : drop ? Math.floor(c / size) : Math.ceil(c / size);
    const rem = c === undefined ? undefined : c === Infinity || drop || c % size === 0 ? size : c % size;
    const info = rem === undefined ? { size } : { size, remainder: rem };
    const rows = src.rows;
    if (rows) {
      const { cols, structure, index } = rows;
      const gather = (picked: readonly number[]): Element => rebuild(structure, cols.map((c) => {
        const out = hostArray(c.dtype, picked.length * c.row);
        picked.forEach((i, j) => out.set(c.data.subarray(i * c.row, (i + 1) * c.row) as never, j * c.row));
        return viewTensor([picked.length, ...c.shape], c.dtype, out);
      }));
      return Dataset.fromSync(function* () {
        let buf: number[] = [];
        const it = index.makeSync!();
        for (let r = it.next(); !r.done; r = it.next()) {
          buf.push(r.value);
          if (buf.length === size) {
            const b = buf;
            buf = [];
            yield gather(b);
          }
        }
        if (buf.length > 0 && !drop) yield gather(buf);
      }, card, info);
    }
    const sync = src.makeSync;
    if (sync) {
      return Dataset.fromSync(function* () {
        let buf: Element[] = [];
        const it = sync();
        for (let r = it.next(); !r.done; r = it.next()) {
          buf.push(r.value);
          if (buf.length === size) {
            const b = buf;
            buf = [];
            yield stack(b);
          }
        }
        if (buf.length > 0 && !drop) yield stack(buf);
      }, card, info);
    }
    return new Dataset<Element>(async function* () {
      let buf: Element[] = [];
      for await (const e of src) {
        buf.push(e);
        if (buf.length === size) {
          const b = buf;
          buf = [];
          yield stack(b);
        }
      }
      if (buf.length > 0 && !drop) yield stack(buf);
    } as () => AsyncIterator<Element>, card, info);
  }

  /**
   * Shuffle through a buffer of `bufferSize` elements (tf.data's algorithm: fill the buffer, then
   * emit a random buffered element and refill its place). With a `seed` the order is the same in
   * every run; each new iteration (epoch) draws a new order from the seed and the iteration's
   * number, unless `reshuffleEachIteration` is false.
   */
  shuffle(bufferSize: number, options?: { seed?: number; reshuffleEachIteration?: boolean }): Dataset<T> {
    countArg('shuffle', 'bufferSize', bufferSize, 1);
    const o = checkKeys('shuffle', options, ['seed', 'reshuffleEachIteration']);
    const seed = o['seed'] === undefined ? Math.floor(Math.random() * 2 ** 32) : countArg('shuffle', 'seed', o['seed'], 0);
    const re = o['reshuffleEachIteration'] ?? true;
    if (typeof re !== 'boolean') throw new KilnError(`shuffle: reshuffleEachIteration must be true or false, got ${typeof re}`);
    let iteration = 0;
    if (this.rows) return Dataset.fromRows({ ...this.rows, index: this.rows.index.shuffle(bufferSize, { seed, reshuffleEachIteration: re }) }) as unknown as Dataset<T>;
    const sync = this.makeSync;
    if (sync) return Dataset.fromSync(() => shuffledSync(sync(), bufferSize, seed, re ? iteration++ : 0), this.cardinality, this.batchInfo);
    return new Dataset<T>(() => shuffled(this.make(), bufferSize, seed, re ? iteration++ : 0), this.cardinality, this.batchInfo);
  }

  /** Repeat the dataset `count` times (forever when omitted). */
  repeat(count?: number): Dataset<T> {
    if (count !== undefined) countArg('repeat', 'count', count, 0);
    const src = this;
    const c = this.cardinality;
    const card = count === undefined ? (c === 0 ? 0 : Infinity) : c === undefined ? undefined : c * count;
    if (this.rows) return Dataset.fromRows({ ...this.rows, index: this.rows.index.repeat(count) }) as unknown as Dataset<T>;
    const sync = this.makeSync;
    if (sync) {
      return Dataset.fromSync(function* () {
        for (let i = 0; count === undefined || i < count; i++) {
          let any = false;
          const it = sync();
          for (let r = it.next(); !r.done; r = it.next()) { any = true; yield r.value; }
          if (!any) return;
        }
      }, card, this.batchInfo);
    }
    return new Dataset<T>(async function* () {
      for (let i = 0; count === undefined || i < count; i++) {
        let any = false;
        for await (const e of src) { any = true; yield e; }
        if (!any) return; // an empty dataset repeated forever is empty, not a hang
      }
    } as () => AsyncIterator<T>, card, this.batchInfo);
  }

  /** The first `count` elements. */
  take(count: number): Dataset<T> {
    countArg('take', 'count', count, 0);
    const src = this;
    const c = this.cardinality;
    if (this.rows) return Dataset.fromRows({ ...this.rows, index: this.rows.index.take(count) }) as unknown as Dataset<T>;
    const sync = this.makeSync;
    if (sync) {
      return Dataset.fromSync(function* () {
        if (count === 0) return;
        const it = sync();
        for (let i = 0; i < count; i++) {
          const r = it.next();
          if (r.done) return;
          yield r.value;
        }
      }, c === undefined ? (count === 0 ? 0 : undefined) : Math.min(c, count), this.batchInfo);
    }
    return new Dataset<T>(async function* () {
      if (count === 0) return;
      let i = 0;
      for await (const e of src) {
        yield e;
        if (++i >= count) return;
      }
    } as () => AsyncIterator<T>, c === undefined ? (count === 0 ? 0 : undefined) : Math.min(c, count), this.batchInfo);
  }

  /** All but the first `count` elements. */
  skip(count: number): Dataset<T> {
    countArg('skip', 'count', count, 0);
    const src = this;
    const c = this.cardinality;
    if (this.rows) return Dataset.fromRows({ ...this.rows, index: this.rows.index.skip(count) }) as unknown as Dataset<T>;
    const sync = this.makeSync;
    if (sync) {
      return Dataset.fromSync(function* () {
        const it = sync();
        let i = 0;
        for (let r = it.next(); !r.done; r = it.next()) if (i++ >= count) yield r.value;
      }, c === undefined || c === Infinity ? c : Math.max(0, c - count), this.batchInfo);
    }
    return new Dataset<T>(async function* () {
      let i = 0;
      for await (const e of src) if (i++ >= count) yield e;
    } as () => AsyncIterator<T>, c === undefined || c === Infinity ? c : Math.max(0, c - count), this.batchInfo);
  }

  /**
   * Keep up to `bufferSize` elements prepared ahead: their preparation (file reads, decoding,
   * async generators) proceeds while the consumer works on the current one.
   */
  prefetch(bufferSize: number): Dataset<T> {
    countArg('prefetch', 'bufferSize', bufferSize, 1);
    return new Dataset<T>(() => prefetched(this.make(), bufferSize), this.cardinality, this.batchInfo);
  }

  /** Every element, in order (for small datasets and tests). */
  async toArray(): Promise<T[]> {
    if (this.cardinality === Infinity) throw new KilnError('toArray: the dataset is endless (repeat() without a count); take(n) first');
    const out: T[] = [];
    for await (const e of this) out.push(e);
    return out;
  }

  /** Call `f` on each element in order. */
  async forEachAsync(f: (element: T) => void | Promise<void>): Promise<void> {
    for await (const e of this) await f(e);
  }
}

export function isDataset(x: unknown): x is Dataset<unknown> {
  return x instanceof Dataset;
}
