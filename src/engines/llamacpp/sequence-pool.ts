// The context's K sequences: a request holds one from admission to its last token. Waiting
// requests queue FIFO; a free sequence whose live KV shares the longest prefix with the
// request is preferred, so a follow-up on the same conversation reuses it without a load.
import type { LlamaContext, LlamaContextSequence, Token } from "node-llama-cpp";

interface Waiter {
  tokens: readonly number[];
  resolve(seq: LlamaContextSequence): void;
  reject(err: Error): void;
  signal: AbortSignal;
  onAbort(): void;
}

export class SequencePool {
  readonly numSequences: number;
  private readonly free: LlamaContextSequence[] = [];
  private readonly waiters: Waiter[] = [];
  private busy = 0;
  private idle: (() => void) | null = null;

  constructor(context: LlamaContext, numSequences: number) {
    this.numSequences = numSequences;
    for (let i = 0; i < numSequences; i++) this.free.push(context.getSequence());
  }

  get numBusy(): number {
    return this.busy;
  }

  get numWaiting(): number {
    return this.waiters.length;
  }

  /** A free sequence for `tokens`; rejects when `signal` aborts first (the request leaves the queue). */
  acquire(tokens: readonly number[], signal: AbortSignal): Promise<LlamaContextSequence> {
    if (signal.aborted) return Promise.reject(new Error("aborted"));
    if (this.free.length > 0 && this.waiters.length === 0) return Promise.resolve(this.take(tokens));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        tokens,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const at = this.waiters.indexOf(waiter);
          if (at !== -1) this.waiters.splice(at, 1);
          reject(new Error("aborted"));
        },
      };
      signal.addEventListener("abort", waiter.onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(seq: LlamaContextSequence): void {
    this.busy--;
    this.free.push(seq);
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      waiter.signal.removeEventListener("abort", waiter.onAbort);
      waiter.resolve(this.take(waiter.tokens));
    } else if (this.busy === 0) this.idle?.();
  }

  /** Rejects waiting requests and resolves when every sequence is back. */
  async drain(): Promise<void> {
    for (const w of this.waiters.splice(0)) {
      w.signal.removeEventListener("abort", w.onAbort);
      w.reject(new Error("engine closed"));
    }
    if (this.busy > 0) await new Promise<void>((r) => (this.idle = r));
  }

  private take(tokens: readonly number[]): LlamaContextSequence {
    let best = 0;
    let bestLen = -1;
    for (let i = 0; i < this.free.length; i++) {
      const len = this.free[i]!.compareContextTokens(tokens as Token[]).firstDifferentIndex;
      if (len > bestLen) {
        best = i;
        bestLen = len;
      }
    }
    const [seq] = this.free.splice(best, 1);
    this.busy++;
    return seq!;
  }
}
