// Read-ahead with batching: pulls items from a source as fast as it gives them, up to a bound,
// and hands the consumer everything that has arrived since its last pull, as one batch. A
// consumer that keeps up gets batches of one (no added latency); one that falls behind gets
// fewer, larger batches, so per-item costs downstream (SSE events, network frames) shrink
// exactly when they matter. The bound keeps backpressure: past `maxBuffered` items the pump
// waits for the consumer.
//
// On the token path, so written with as few promises as it takes: a consumer waiting for an
// item gets it straight from the pump (one promise, no async function around it), and a
// consumer that is behind gets its batch at once.

const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true };

export function readAhead<T>(source: AsyncIterable<T>, maxBuffered: number): AsyncIterable<T[]> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T[]> {
      const it = source[Symbol.asyncIterator]();
      let buffer: T[] = [];
      let ended = false;
      let failure: { error: unknown } | null = null;
      let stopped = false;
      // The consumer's pending `next`, when it waits for an item.
      let waiting: { resolve: (r: IteratorResult<T[]>) => void; reject: (e: unknown) => void } | null = null;
      let wakePump: (() => void) | null = null;
      const take = (): IteratorResult<T[]> => {
        const batch = buffer;
        buffer = [];
        const w = wakePump;
        wakePump = null;
        w?.();
        return { value: batch, done: false };
      };
      const pump = async (): Promise<void> => {
        try {
          while (!stopped) {
            if (buffer.length >= maxBuffered) {
              await new Promise<void>((r) => (wakePump = r));
              continue;
            }
            const r = await it.next();
            if (r.done) break;
            buffer.push(r.value);
            const w = waiting;
            if (w) {
              waiting = null;
              w.resolve(take());
            }
          }
        } catch (error) {
          failure = { error };
        }
        ended = true;
        const w = waiting;
        waiting = null;
        if (w) {
          if (buffer.length > 0) w.resolve(take());
          else if (failure) w.reject(failure.error);
          else w.resolve(DONE);
        }
      };
      void pump();
      return {
        next(): Promise<IteratorResult<T[]>> {
          if (buffer.length > 0) return Promise.resolve(take());
          if (ended) return failure ? Promise.reject(failure.error) : Promise.resolve(DONE);
          return new Promise((resolve, reject) => (waiting = { resolve, reject }));
        },
        async return(): Promise<IteratorResult<T[]>> {
          stopped = true;
          const w = wakePump;
          wakePump = null;
          w?.();
          it.return?.().catch(() => undefined);
          return DONE;
        },
      };
    },
  };
}
