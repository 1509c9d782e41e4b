// A single-consumer async queue: the building block of subscriptions and response streams.
// The producer pushes; the consumer iterates. `closed` resolves (never rejects) when the
// queue ends, with the error it ended with, if any. Breaking out of the iteration runs the
// `onReturn` hook so that the producer can release what it holds.

export interface Subscription<T> extends AsyncIterable<T> {
  /** Resolves when the subscription ends: undefined on a clean end, the error otherwise. */
  readonly closed: Promise<void | Error>;
  /** Stops delivery now; pending items are dropped. */
  unsubscribe(): void;
}

export interface AsyncQueueOptions {
  /** Called once when the consumer stops early (break, return, unsubscribe). */
  onReturn?: () => void;
  /** Items kept while the consumer is slow; older items are dropped past this (0: unbounded). */
  maxPending?: number;
}

export class AsyncQueue<T> implements Subscription<T> {
  private readonly items: T[] = [];
  private head = 0;
  private waiter: ((r: IteratorResult<T>) => void) | null = null;
  private failer: ((e: Error) => void) | null = null;
  private ended = false;
  private error: Error | undefined;
  private iterating = false;
  private resolveClosed!: (v: void | Error) => void;
  readonly closed: Promise<void | Error>;
  /** Items dropped because the consumer was slower than maxPending allows. */
  numDropped = 0;

  constructor(private readonly options: AsyncQueueOptions = {}) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  get isEnded(): boolean {
    return this.ended;
  }

  get pending(): number {
    return this.items.length - this.head;
  }

  push(item: T): boolean {
    if (this.ended) return false;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = this.failer = null;
      w({ value: item, done: false });
      return true;
    }
    const max = this.options.maxPending ?? 0;
    if (max > 0 && this.pending >= max) {
      this.head++;
      this.numDropped++;
    }
    this.items.push(item);
    return true;
  }

  /** Ends the queue; the consumer sees the remaining items, then the end (or the error). */
  end(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    if (this.waiter) {
      const w = this.waiter;
      const f = this.failer!;
      this.waiter = this.failer = null;
      if (error) f(error);
      else w({ value: undefined, done: true });
    }
    this.resolveClosed(error);
  }

  unsubscribe(): void {
    this.items.length = 0;
    this.head = 0;
    const wasEnded = this.ended;
    this.end();
    if (!wasEnded) this.options.onReturn?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.iterating) throw new Error("AsyncQueue: only one consumer may iterate");
    this.iterating = true;
    return {
      next: () => {
        if (this.head < this.items.length) {
          const value = this.items[this.head]!;
          this.items[this.head++] = undefined as T;
          if (this.head > 1024 && this.head * 2 > this.items.length) {
            this.items.splice(0, this.head);
            this.head = 0;
          }
          return Promise.resolve({ value, done: false });
        }
        if (this.ended) {
          if (this.error) {
            const e = this.error;
            this.error = undefined;
            return Promise.reject(e);
          }
          return Promise.resolve({ value: undefined, done: true });
        }
        return new Promise<IteratorResult<T>>((resolve, reject) => {
          this.waiter = resolve;
          this.failer = reject;
        });
      },
      return: () => {
        this.unsubscribe();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
