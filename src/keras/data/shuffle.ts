/**
 * Buffered shuffling, as tf.data does it: fill a buffer with the first `bufferSize` elements,
 * then repeatedly emit a uniformly chosen buffered element and put the next input element in its
 * place; at the end, drain the buffer in random order. A buffer at least as large as the dataset
 * gives a uniform permutation; a smaller one only mixes nearby elements (element i never comes
 * out before position i - bufferSize + 1). The random stream is seeded from (seed, iteration), so
 * every epoch has its own order and every run the same sequence of orders.
 */
import { SeededRandom } from '../initializers.js';

/** A uint32 seed for iteration `i` of a dataset shuffled with `seed` (distinct, well mixed). */
export function iterationSeed(seed: number, i: number): number {
  let h = (seed ^ Math.imul(i + 1, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

export async function* shuffled<T>(src: AsyncIterator<T>, bufferSize: number, seed: number, iteration: number): AsyncGenerator<T> {
  const rng = new SeededRandom(iterationSeed(seed, iteration));
  const buf: T[] = [];
  for (;;) {
    const r = await src.next();
    if (r.done) break;
    if (buf.length < bufferSize) {
      buf.push(r.value);
      continue;
    }
    const j = Math.floor(rng.next() * bufferSize);
    const out = buf[j]!;
    buf[j] = r.value;
    yield out;
  }
  while (buf.length > 0) {
    const j = Math.floor(rng.next() * buf.length);
    const out = buf[j]!;
    buf[j] = buf[buf.length - 1]!;
    buf.pop();
    yield out;
  }
}

/** The same algorithm over a synchronous iterator (the same order for the same seed and iteration). */
export function* shuffledSync<T>(src: Iterator<T>, bufferSize: number, seed: number, iteration: number): Generator<T> {
  const rng = new SeededRandom(iterationSeed(seed, iteration));
  const buf: T[] = [];
  for (let r = src.next(); !r.done; r = src.next()) {
    if (buf.length < bufferSize) {
      buf.push(r.value);
      continue;
    }
    const j = Math.floor(rng.next() * bufferSize);
    const out = buf[j]!;
    buf[j] = r.value;
    yield out;
  }
  while (buf.length > 0) {
    const j = Math.floor(rng.next() * buf.length);
    const out = buf[j]!;
    buf[j] = buf[buf.length - 1]!;
    buf.pop();
    yield out;
  }
}
