// One request's output stream: a single-consumer async iterable over a queue that the
// engine loop pushes into. Breaking out of the iteration (return()) cancels the request.
import type { EngineOutput } from "../../protocols/index.ts";

export class RequestStream implements AsyncIterableIterator<EngineOutput> {
  private readonly queue: EngineOutput[] = [];
  private head = 0;
  private waiter: ((result: IteratorResult<EngineOutput>) => void) | null = null;
  /** No more items will be pushed (the last one carried a finish reason). */
  private finished = false;
  private onCancel: (() => void) | null;

  constructor(onCancel: () => void) {
    this.onCancel = onCancel;
  }

  /** Whether the final item was pushed (or the consumer left). */
  get isFinished(): boolean {
    return this.finished;
  }

  /** Delivers one item; an item with a finish reason ends the stream. Ignored once finished. */
  push(output: EngineOutput): void {
    if (this.finished) return;
    if (output.finishReason !== undefined) {
      this.finished = true;
      this.onCancel = null;
    }
    const waiter = this.waiter;
    if (waiter !== null) {
      this.waiter = null;
      waiter({ value: output, done: false });
    } else {
      this.queue.push(output);
    }
  }

  next(): Promise<IteratorResult<EngineOutput>> {
    if (this.head < this.queue.length) {
      const value = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as EngineOutput;
      if (this.head === this.queue.length) {
        this.queue.length = 0;
        this.head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.finished) return Promise.resolve({ value: undefined, done: true });
    if (this.waiter !== null) return Promise.reject(new Error("RequestStream: only one consumer may wait at a time"));
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** The consumer leaves: the request is cancelled if it is still going. */
  return(): Promise<IteratorResult<EngineOutput>> {
    const cancel = this.onCancel;
    this.onCancel = null;
    this.finished = true;
    this.queue.length = 0;
    this.head = 0;
    const waiter = this.waiter;
    this.waiter = null;
    if (waiter !== null) waiter({ value: undefined, done: true });
    if (cancel !== null) cancel();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<EngineOutput> {
    return this;
  }
}
