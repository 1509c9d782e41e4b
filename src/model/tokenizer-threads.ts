// Long prompts are tokenized on worker threads, off the frontend's event loop: a Hugging Face
// tokenizer (pure JavaScript) takes about 1.3 s for a million characters, and every stream the
// frontend serves would stall that long. Short texts stay on the loop, where a thread's message
// round trip would cost more than the encoding.
//
// Each thread loads the same tokenizer from the same files (the source the caller loaded its
// own from), so ids are the same either way; the tests compare them. Threads start with the
// first long text (loading a large tokenizer.json takes about a second of CPU, which a model
// that never sees a long prompt should not pay); until one is up, long texts stay on the loop
// as before. A thread that fails or dies answers nothing: what it held is encoded on the loop
// instead (counted as a fallback), and a tokenizer that cannot load in a thread is not tried
// again.
import { Worker } from "node:worker_threads";
import type { TokenizerSource } from "../protocols/index.ts";
import { HfTokenizer } from "./hf-tokenizer.ts";
import type { EncodeOptions, Tokenizer } from "./tokenizer.ts";
import type { ThreadReply, ThreadRequest } from "./tokenizer-thread-main.ts";

/** Texts at least this long go to a thread (characters; about 4,000 tokens, 15-50 ms on the loop). */
export const DEFAULT_TOKENIZER_THREAD_MIN_CHARS = 16_384;

// A thread that keeps dying is not restarted for ever: after this many, text stays on the loop.
const MAX_THREAD_CRASHES = 3;

export interface TokenizerThreadOptions {
  /** Threads per tokenizer (default 1; 0: every text is encoded on the event loop). */
  threads?: number;
  /** Texts shorter than this are encoded on the loop (default 16,384 characters). */
  minChars?: number;
  /** Told when a thread fails (its work was then done on the loop). */
  onFailure?: (err: Error) => void;
}

/** Counters of what went to a thread: done there, or done on the loop after a thread failed. */
export interface TokenizerThreadCounters {
  ok: { inc(value?: number): void };
  fallback: { inc(value?: number): void };
}

export interface TokenizerThreadStats {
  /** Texts (or sets of sections) a thread encoded. */
  encodes: number;
  /** Those a failed thread left, encoded on the loop. */
  fallbacks: number;
  /** Threads running now. */
  threads: number;
}

/** Whether a tokenizer of this source can run in a thread: Hugging Face's, pure JavaScript. */
export function tokenizerRunsInThreads(source: TokenizerSource, tokenizer: Tokenizer): boolean {
  // GGUF vocabularies tokenize natively (about 4x faster) and load a native addon that is not
  // made to be loaded once per thread; the byte tokenizer is a loop over the bytes.
  return source.kind === "huggingface" && tokenizer instanceof HfTokenizer;
}

interface Pending {
  request: ThreadRequest;
  resolve: (reply: ThreadReply) => void;
  reject: (err: Error) => void;
}

/** One thread and the requests it holds, answered in order. */
class TokenizerThread {
  readonly pending = new Map<number, Pending>();
  /** Whether its tokenizer has loaded. */
  ready = false;
  private readonly worker: Worker;

  constructor(
    source: TokenizerSource,
    private readonly onReady: () => void,
    private readonly onExit: (thread: TokenizerThread, err: Error, fatal: boolean) => void,
  ) {
    // Plain JavaScript entry that registers the TypeScript loader itself: worker threads do
    // not inherit a loader that the main thread registered from code (bin/turbine.js).
    this.worker = new Worker(new URL("./tokenizer-thread.js", import.meta.url), { workerData: { source }, execArgv: [] });
    this.worker.unref();
    this.worker.on("message", (reply: ThreadReply) => {
      if (reply.kind === "fatal") {
        this.fail(new Error(`the tokenizer cannot load in a thread: ${reply.message}`), true);
        return;
      }
      if (reply.kind === "ready") {
        this.ready = true;
        this.onReady();
        return;
      }
      const p = this.pending.get(reply.id);
      if (p === undefined) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) this.worker.unref();
      p.resolve(reply);
    });
    this.worker.on("error", (err) => this.fail(err, false));
    this.worker.on("exit", (code) => this.fail(new Error(`tokenizer thread exited with code ${code}`), false));
  }

  send(request: ThreadRequest): Promise<ThreadReply> {
    return new Promise((resolve, reject) => {
      this.pending.set(request.id, { request, resolve, reject });
      // Held while it has work: a process waiting only for a thread's answer does not exit.
      if (this.pending.size === 1) this.worker.ref();
      this.worker.postMessage(request);
    });
  }

  private failed = false;
  private fail(err: Error, fatal: boolean): void {
    if (this.failed) return;
    this.failed = true;
    void this.worker.terminate();
    const held = [...this.pending.values()];
    this.pending.clear();
    this.onExit(this, err, fatal);
    for (const p of held) p.reject(err);
  }

  async close(): Promise<void> {
    this.failed = true;
    const held = [...this.pending.values()];
    this.pending.clear();
    for (const p of held) p.reject(new Error("tokenizer threads closed"));
    await this.worker.terminate();
  }
}

/**
 * A tokenizer's threads. `takes` says whether a text goes to one (and starts them); `encode`
 * and `encodeSections` answer what `tokenizer` would, from a thread (queued while it loads),
 * or on the loop when no thread can.
 */
export class TokenizerThreads {
  readonly minChars: number;
  private readonly size: number;
  private readonly threads: TokenizerThread[] = [];
  private nextId = 0;
  /** Set when the tokenizer cannot load in a thread, or on close: everything stays on the loop. */
  private off = false;
  private numEncodes = 0;
  private numFallbacks = 0;
  /** Threads that died (not closed): after MAX_THREAD_CRASHES, threads are off. */
  private numCrashes = 0;
  /** `ready()` callers waiting for the first thread to load, or for threads to be off. */
  private waiting: ((up: boolean) => void)[] = [];
  private counters: TokenizerThreadCounters | undefined;

  constructor(
    private readonly source: TokenizerSource,
    private readonly tokenizer: Tokenizer,
    private readonly options: TokenizerThreadOptions = {},
  ) {
    this.size = tokenizerRunsInThreads(source, tokenizer) ? Math.max(0, options.threads ?? 1) : 0;
    this.minChars = options.minChars ?? DEFAULT_TOKENIZER_THREAD_MIN_CHARS;
  }

  /**
   * Whether a text of `chars` characters goes to a thread: long enough, and a thread is up. The
   * first long text starts the threads and is encoded on the loop while they load.
   */
  takes(chars: number): boolean {
    if (this.off || this.size === 0 || chars < this.minChars) return false;
    this.fill();
    return this.threads.some((t) => t.ready);
  }

  /** Starts the threads; resolves true once one is up, false when threads are off (or cannot load). */
  ready(): Promise<boolean> {
    this.fill();
    if (this.off || this.size === 0) return Promise.resolve(false);
    if (this.threads.some((t) => t.ready)) return Promise.resolve(true);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Adds encodes and fallbacks from now on to these counters too. */
  countIn(counters: TokenizerThreadCounters): void {
    this.counters = counters;
  }

  stats(): TokenizerThreadStats {
    return { encodes: this.numEncodes, fallbacks: this.numFallbacks, threads: this.threads.length };
  }

  /** `tokenizer.encode(text, options)`, on a thread. */
  async encode(text: string, options: EncodeOptions = {}): Promise<number[]> {
    const request: ThreadRequest = { kind: "encode", id: this.nextId++, text, addSpecialTokens: options.addSpecialTokens === true, parseSpecialTokens: options.parseSpecialTokens === true };
    const reply = await this.run(request);
    if (reply === undefined) return this.tokenizer.encode(text, options);
    if (reply.kind !== "encoded") throw new Error(`tokenizer thread: unexpected reply ${reply.kind}`);
    return toArray(reply.ids);
  }

  /**
   * The ids of prompt sections, as the tokenizer's segmentation encodes them (`first`: the
   * prompt's first section); undefined for a section that cannot be encoded alone.
   */
  async encodeSections(texts: readonly string[], firsts: readonly boolean[]): Promise<(ArrayLike<number> | undefined)[]> {
    const request: ThreadRequest = { kind: "sections", id: this.nextId++, texts: [...texts], firsts: [...firsts] };
    const reply = await this.run(request);
    if (reply === undefined) {
      const segmentation = (this.tokenizer as HfTokenizer).segmentation;
      return texts.map((t, i) => segmentation?.encodeSection(t, firsts[i]!));
    }
    if (reply.kind !== "sections") throw new Error(`tokenizer thread: unexpected reply ${reply.kind}`);
    return reply.ids.map((ids) => ids ?? undefined);
  }

  async close(): Promise<void> {
    this.off = true;
    this.settleWaiting(false);
    await Promise.all(this.threads.splice(0).map((t) => t.close()));
  }

  private settleWaiting(up: boolean): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) w(up);
  }

  /** The thread's reply, or undefined when the work must be done on the loop. */
  private async run(request: ThreadRequest): Promise<ThreadReply | undefined> {
    this.fill();
    const thread = this.leastBusy();
    if (thread === undefined) return this.fellBack();
    try {
      const reply = await thread.send(request);
      if (reply.kind === "error") throw new Error(reply.message);
      this.numEncodes++;
      this.counters?.ok.inc();
      return reply;
    } catch (err) {
      if (!this.off) this.options.onFailure?.(err as Error);
      return this.fellBack();
    }
  }

  private fellBack(): undefined {
    this.numFallbacks++;
    this.counters?.fallback.inc();
    return undefined;
  }

  private leastBusy(): TokenizerThread | undefined {
    let best: TokenizerThread | undefined;
    for (const t of this.threads) if (best === undefined || t.pending.size < best.pending.size) best = t;
    return best;
  }

  /** Starts threads up to the pool's size (after a crash too), unless threads are off. */
  private fill(): void {
    while (!this.off && this.threads.length < this.size) {
      this.threads.push(
        new TokenizerThread(
          this.source,
          () => this.settleWaiting(true),
          (thread, err, fatal) => {
            const i = this.threads.indexOf(thread);
            if (i >= 0) this.threads.splice(i, 1);
            if (fatal || ++this.numCrashes >= MAX_THREAD_CRASHES) {
              this.off = true;
              this.settleWaiting(false);
              this.options.onFailure?.(err);
            }
          },
        ),
      );
    }
  }
}

function toArray(ids: Uint32Array): number[] {
  const out = new Array<number>(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = ids[i]!;
  return out;
}
