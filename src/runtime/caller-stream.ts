// The caller's side of one call on a remote request plane: a queue the transport fills and
// the consumer drains. Credit goes back as the consumer pulls (half a window at a time), so
// at most `window` items are ever in transit or buffered. An abort, a `break` or an early
// return sends a cancel; a transport failure ends the stream with its error.
import { TurbineError } from "../protocols/index.ts";
import { AsyncQueue } from "./async-queue.ts";

export interface CallerStreamControl {
  credit(n: number): void;
  cancel(): void;
  /** Frees the transport's resources of this stream (always called once, at the end). */
  release(): void;
}

export const cancelledError = (): TurbineError => new TurbineError("RUNTIME_CANCELLED", "request cancelled by the caller");

export class CallerStream {
  private readonly queue = new AsyncQueue<unknown>();
  /** The remote side ended the stream (end, error or connection loss): no cancel needed. */
  private remoteDone = false;

  constructor(readonly window: number) {}

  get isDone(): boolean {
    return this.remoteDone;
  }

  push(item: unknown): void {
    this.queue.push(item);
  }

  end(error?: Error): void {
    this.remoteDone = true;
    this.queue.end(error);
  }

  async *iterate(control: CallerStreamControl, signal: AbortSignal | undefined): AsyncGenerator<unknown> {
    const onAbort = (): void => this.queue.end(cancelledError());
    signal?.addEventListener("abort", onAbort, { once: true });
    const half = Math.max(1, this.window >> 1);
    let consumed = 0;
    try {
      if (signal?.aborted) throw cancelledError();
      for await (const item of this.queue) {
        yield item;
        if (++consumed >= half) {
          control.credit(consumed);
          consumed = 0;
        }
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      if (!this.remoteDone) control.cancel();
      this.remoteDone = true;
      control.release();
    }
  }
}
