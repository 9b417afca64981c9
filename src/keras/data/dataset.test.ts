/**
 * kiln.data transforms against plain-array oracles: map, filter, batch (remainder and
 * dropRemainder), take/skip, repeat, cardinality; shuffle's determinism under a seed, a new
 * order each epoch, its buffer locality; sync and async generators; prefetch keeping order and
 * overlapping an awaited preparation with the consumer's synchronous work; bad arguments.
 */
import { describe, expect, it } from 'vitest';
import { KilnError } from '../../ir/types.js';
import { literal } from '../../ir/literal.js';
import { Tensor } from '../backend.js';
import { fromArrays, fromGenerator } from './arrays.js';
import type { Element } from './element.js';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const num = (e: Element): number => (e as Tensor).dataSync()[0]!;
const nums = async (ds: { toArray(): Promise<Element[]> }): Promise<number[]> => (await ds.toArray()).map(num);

describe('fromArrays and transforms vs plain arrays', () => {
  const xs = Float32Array.from(range(10), (i) => i * 1.5);
  it('fromArrays slices rows of tensors, typed arrays and {xs, ys} objects', async () => {
    const img = Tensor.concrete(literal([4, 2, 3], 'f32', range(24)));
    const ds = fromArrays({ xs: img, ys: Int32Array.of(7, 8, 9, 10) });
    expect(ds.cardinality).toBe(4);
    const els = (await ds.toArray()) as { xs: Tensor; ys: Tensor }[];
    expect(els.length).toBe(4);
    els.forEach((e, i) => {
      expect(e.xs.shape).toEqual([2, 3]);
      expect(Array.from(e.xs.dataSync())).toEqual(range(6).map((k) => i * 6 + k));
      expect(e.ys.dtype).toBe('i32');
      expect(e.ys.shape).toEqual([]);
      expect(e.ys.dataSync()[0]).toBe(7 + i);
    });
    expect(() => fromArrays({ a: Float32Array.of(1, 2), b: Float32Array.of(1) })).toThrow(/'a' has 2, 'b' has 1/);
  });

  it('map, filter, take, skip, repeat follow Array methods', async () => {
    const plain = Array.from(xs);
    const ds = fromArrays(xs);
    expect(await nums(ds.map((e) => (e as Tensor).dataSync()[0]! * 2 as unknown as Element).map((v) => Tensor.concrete(literal([], 'f32', [v as unknown as number])))))
      .toEqual(plain.map((v) => v * 2));
    const even = ds.filter((e) => num(e) % 3 === 0);
    expect(even.cardinality).toBeUndefined();
    expect(await nums(even)).toEqual(plain.filter((v) => v % 3 === 0));
    expect(await nums(ds.take(3))).toEqual(plain.slice(0, 3));
    expect(ds.take(30).cardinality).toBe(10);
    expect(await nums(ds.skip(7))).toEqual(plain.slice(7));
    expect(ds.skip(7).cardinality).toBe(3);
    expect(await nums(ds.take(2).repeat(3))).toEqual([...plain.slice(0, 2), ...plain.slice(0, 2), ...plain.slice(0, 2)]);
    expect(ds.repeat(3).cardinality).toBe(30);
    expect(ds.repeat().cardinality).toBe(Infinity);
    expect(await nums(ds.repeat().take(25))).toEqual([...plain, ...plain, ...plain.slice(0, 5)]);
    // async map functions
    expect(await nums(ds.map(async (e) => { await new Promise((r) => setTimeout(r, 1)); return e; }))).toEqual(plain);
  });

  it('batch stacks along a new axis; the remainder batch is kept or dropped', async () => {
    const img = Tensor.concrete(literal([10, 2], 'f32', range(20)));
    const ds = fromArrays({ xs: img, ys: xs });
    const b = (await ds.batch(4).toArray()) as { xs: Tensor; ys: Tensor }[];
    expect(ds.batch(4).cardinality).toBe(3);
    expect(ds.batch(4).batchInfo).toEqual({ size: 4, remainder: 2 });
    expect(b.map((e) => e.xs.shape)).toEqual([[4, 2], [4, 2], [2, 2]]);
    b.forEach((e, j) => {
      expect(Array.from(e.xs.dataSync())).toEqual(range(20).slice(j * 8, j * 8 + e.xs.shape[0]! * 2));
      expect(Array.from(e.ys.dataSync())).toEqual(Array.from(xs).slice(j * 4, j * 4 + e.ys.shape[0]!));
    });
    // In-memory rows are gathered straight into batches; a generator source goes element by element: same batches.
    const direct = (await ds.shuffle(10, { seed: 3 }).take(9).batch(4).toArray()) as { xs: Tensor; ys: Tensor }[];
    const elements = await ds.toArray();
    const generic = (await fromGenerator(() => elements).shuffle(10, { seed: 3 }).take(9).batch(4).toArray()) as { xs: Tensor; ys: Tensor }[];
    expect(direct.map((e) => e.xs.shape)).toEqual([[4, 2], [4, 2], [1, 2]]);
    direct.forEach((e, j) => {
      expect(Array.from(e.xs.dataSync())).toEqual(Array.from(generic[j]!.xs.dataSync()));
      expect(Array.from(e.ys.dataSync())).toEqual(Array.from(generic[j]!.ys.dataSync()));
    });
    const dropped = (await ds.batch(4, { dropRemainder: true }).toArray()) as { xs: Tensor }[];
    expect(dropped.map((e) => e.xs.shape[0])).toEqual([4, 4]);
    expect(ds.batch(4, { dropRemainder: true }).cardinality).toBe(2);
    // numbers stack into an f32 vector; mismatched shapes are refused naming the element and path
    expect(Array.from(((await fromGenerator(() => [1, 2, 3]).batch(3).toArray())[0] as Tensor).dataSync())).toEqual([1, 2, 3]);
    const ragged = fromGenerator(() => [Tensor.concrete(literal([2], 'f32', [1, 2])), Tensor.concrete(literal([3], 'f32', [1, 2, 3]))]);
    await expect(ragged.batch(2).toArray()).rejects.toThrow(/element 1 at '\(root\)' is f32\[3\], element 0 is f32\[2\]/);
  });

  it('shuffle: a permutation, the same for a seed, new each epoch, and local for a small buffer', async () => {
    const n = 50;
    const ds = fromArrays(Float32Array.from(range(n)));
    const s = ds.shuffle(n, { seed: 42 });
    const e1 = await nums(s);
    const e2 = await nums(s);
    expect([...e1].sort((a, b) => a - b)).toEqual(range(n));
    expect(e1).not.toEqual(range(n));
    expect(e2).not.toEqual(e1); // reshuffled per iteration
    const again = ds.shuffle(n, { seed: 42 });
    expect(await nums(again)).toEqual(e1); // deterministic under the seed, epoch by epoch
    expect(await nums(again)).toEqual(e2);
    expect(await nums(ds.shuffle(n, { seed: 43 }))).not.toEqual(e1);
    // The asynchronous path (a generator source) draws the same order as the in-memory one.
    const viaGen = fromGenerator(() => range(n).map((i) => Tensor.concrete(literal([], 'f32', [i])))).shuffle(n, { seed: 42 });
    expect(await nums(viaGen)).toEqual(e1);
    expect(await nums(viaGen)).toEqual(e2);
    const fixed = ds.shuffle(n, { seed: 1, reshuffleEachIteration: false });
    expect(await nums(fixed)).toEqual(await nums(fixed));
    expect(await nums(ds.shuffle(1, { seed: 5 }))).toEqual(range(n)); // a buffer of one keeps the order
    const k = 4;
    const local = await nums(ds.shuffle(k, { seed: 9 }));
    local.forEach((v, pos) => expect(pos).toBeGreaterThanOrEqual(v - k + 1));
    expect(() => ds.shuffle(10, { sed: 1 } as never)).toThrow(/unknown option 'sed' \(did you mean 'seed'\?\)/);
  });

  it('fromGenerator takes sync and async generator functions (called per iteration) and iterables', async () => {
    const t = (v: number): Tensor => Tensor.concrete(literal([], 'f32', [v]));
    function* gen(): Generator<Tensor> { for (let i = 0; i < 5; i++) yield t(i); }
    async function* agen(): AsyncGenerator<Tensor> { for (let i = 0; i < 5; i++) { await new Promise((r) => setTimeout(r, 0)); yield t(i * 10); } }
    const d1 = fromGenerator(gen);
    expect(d1.cardinality).toBeUndefined();
    expect(await nums(d1)).toEqual(range(5));
    expect(await nums(d1)).toEqual(range(5)); // called anew each time
    expect(await nums(fromGenerator(agen))).toEqual(range(5).map((i) => i * 10));
    expect(await nums(fromGenerator([t(1), t(2)]))).toEqual([1, 2]);
    const once = fromGenerator(gen());
    expect(await nums(once)).toEqual(range(5));
    await expect(once.toArray()).rejects.toThrow(/already consumed; pass the generator function/);
    expect(fromGenerator(gen, { cardinality: 5 }).batch(2).cardinality).toBe(3);
    expect(() => fromGenerator(42 as never)).toThrow(KilnError);
  });

  it('prefetch keeps order and overlaps an awaited preparation with the consumer', async () => {
    const t = (v: number): Tensor => Tensor.concrete(literal([], 'f32', [v]));
    const prepMs = 15;
    const n = 8;
    // The source's preparation is an await (I/O, a decoder on another thread); the consumer's work is synchronous.
    const source = fromGenerator(async function* () {
      for (let i = 0; i < n; i++) { await new Promise((r) => setTimeout(r, prepMs)); yield t(i); }
    });
    const busy = (ms: number): void => { const end = performance.now() + ms; while (performance.now() < end) { /* compute */ } };
    const consume = async (ds: typeof source): Promise<{ ms: number; order: number[] }> => {
      const t0 = performance.now();
      const order: number[] = [];
      for await (const e of ds) { order.push(num(e)); busy(prepMs); }
      return { ms: performance.now() - t0, order };
    };
    const plain = await consume(source);
    const pre = await consume(source.prefetch(2));
    expect(pre.order).toEqual(range(n));
    expect(plain.order).toEqual(range(n));
    // Without prefetch each element costs preparation + work (~2 * prepMs); with it, about max of the two.
    expect(plain.ms).toBeGreaterThan(n * 2 * prepMs * 0.95);
    expect(pre.ms).toBeLessThan(plain.ms * 0.75);
  });

  it('refuses bad arguments naming them', () => {
    const ds = fromArrays(Float32Array.of(1, 2, 3));
    expect(() => ds.batch(0)).toThrow(/batch: size must be an integer >= 1, got 0/);
    expect(() => ds.batch(2, { dropRemainer: true } as never)).toThrow(/did you mean 'dropRemainder'/);
    expect(() => ds.take(-1)).toThrow(/take: count must be an integer >= 0, got -1/);
    expect(() => ds.prefetch(0)).toThrow(/prefetch: bufferSize/);
    expect(() => ds.map(3 as never)).toThrow(/map: expects a function/);
  });
});
