/**
 * Prefetching: keep up to `n` calls of the source's next() in flight. The source prepares
 * element k+1..k+n (its awaits on file reads, decoders or generators proceed on their own)
 * while the consumer is busy with element k; the consumer waits only when the queue is empty.
 * Calls to an async iterator's next() queue in order, so elements keep their order.
 */
export async function* prefetched<T>(src: AsyncIterator<T>, n: number): AsyncGenerator<T> {
  const queue: Promise<IteratorResult<T>>[] = [];
  let done = false;
  const fill = (): void => {
    while (!done && queue.length < n) {
      const p = src.next();
      // A rejection is reported when the consumer reaches it; keep it from being "unhandled" meanwhile.
      p.catch(() => undefined);
      queue.push(p);
    }
  };
  try {
    for (;;) {
      fill();
      const r = await queue.shift()!;
      if (r.done) { done = true; return; }
      fill(); // start the next one before handing this element out
      yield r.value;
    }
  } finally {
    done = true;
    await src.return?.();
  }
}
