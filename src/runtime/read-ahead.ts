// Read-ahead with batching: pulls items from a source as fast as it gives them, up to a bound,
// and hands the consumer everything that has arrived since its last pull, as one batch. A
// consumer that keeps up gets batches of one (no added latency); one that falls behind gets
// fewer, larger batches, so per-item costs downstream (SSE events, network frames) shrink
// exactly when they matter. The bound keeps backpressure: past `maxBuffered` items the pump
// waits for the consumer.

export function readAhead<T>(source: AsyncIterable<T>, maxBuffered: number): AsyncIterable<T[]> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T[]> {
      const it = source[Symbol.asyncIterator]();
      let buffer: T[] = [];
      let ended = false;
      let failure: { error: unknown } | null = null;
      let stopped = false;
      let wakeConsumer: (() => void) | null = null;
      let wakePump: (() => void) | null = null;
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
            const w = wakeConsumer;
            wakeConsumer = null;
            w?.();
          }
        } catch (error) {
          failure = { error };
        }
        ended = true;
        const w = wakeConsumer;
        wakeConsumer = null;
        w?.();
      };
      void pump();
      return {
        async next(): Promise<IteratorResult<T[]>> {
          while (buffer.length === 0 && !ended) await new Promise<void>((r) => (wakeConsumer = r));
          if (buffer.length > 0) {
            const batch = buffer;
            buffer = [];
            const w = wakePump;
            wakePump = null;
            w?.();
            return { value: batch, done: false };
          }
          if (failure) throw (failure as { error: unknown }).error;
          return { value: undefined, done: true };
        },
        async return(): Promise<IteratorResult<T[]>> {
          stopped = true;
          const w = wakePump;
          wakePump = null;
          w?.();
          it.return?.().catch(() => undefined);
          return { value: undefined, done: true };
        },
      };
    },
  };
}
