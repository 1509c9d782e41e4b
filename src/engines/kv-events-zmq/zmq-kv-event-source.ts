// Subscribes to an engine's ZMQ KV event publisher (vLLM / SGLang `--kv-events-config`) and
// feeds the translator in sequence-number order. A gap (a batch lost under the publisher's
// high-water mark, a subscriber that connected late) is repaired from the publisher's replay
// socket where it has one; otherwise, or when the replay cannot cover the gap, the worker's
// block set is cleared and re-learned from the events that follow.
import { Dealer, Subscriber } from "zeromq";
import type { EngineKvEvent } from "../engine.ts";
import { KvEventTranslator } from "./kv-event-translator.ts";
import type { KvTranslatorStats } from "./kv-event-translator.ts";
import { decodeKvEventBatch, readSequenceNumber, writeSequenceNumber } from "./vllm-wire.ts";

export interface ZmqKvEventSourceOptions {
  /** The publisher's PUB endpoint, e.g. "tcp://127.0.0.1:5557" (vLLM's `endpoint`, with the host). */
  endpoint: string;
  /** Its ROUTER replay endpoint, e.g. "tcp://127.0.0.1:5558" (vLLM's `replay_endpoint`). */
  replayEndpoint?: string;
  /** Topic prefix to subscribe to (vLLM's `topic`, default "": everything). */
  topic?: string;
  /** The card's KV block size: Turbine's hashes are computed with it. */
  blockSize: number;
  /** How long a replay may take before it is given up for a reset (ms, default 1000). */
  replayTimeoutMs?: number;
  /** Malformed batches and socket errors (default: ignored). */
  onError?: (err: Error) => void;
}

export interface ZmqKvEventSourceStats extends KvTranslatorStats {
  /** Sequence number of the last batch applied (null before the first). */
  lastSeq: number | null;
  numBatches: number;
  /** Gaps seen in the sequence numbers. */
  numGaps: number;
  /** Gaps repaired from the replay socket. */
  numReplays: number;
  /** Gaps (or publisher restarts) answered by clearing the worker's blocks. */
  numResets: number;
}

export class ZmqKvEventSource {
  private readonly sub = new Subscriber({ linger: 0 });
  private readonly translator: KvEventTranslator;
  private dealer: Dealer | null = null;
  private nextSeq: number | null = null;
  private lastSeq: number | null = null;
  private numBatches = 0;
  private numGaps = 0;
  private numReplays = 0;
  private numResets = 0;
  private closed = false;
  private readonly done: Promise<void>;

  constructor(
    private readonly options: ZmqKvEventSourceOptions,
    emit: (event: EngineKvEvent) => void,
  ) {
    this.translator = new KvEventTranslator(options.blockSize, emit);
    this.sub.connect(options.endpoint);
    this.sub.subscribe(options.topic ?? "");
    this.done = this.run();
  }

  stats(): ZmqKvEventSourceStats {
    return {
      ...this.translator.stats(),
      lastSeq: this.lastSeq,
      numBatches: this.numBatches,
      numGaps: this.numGaps,
      numReplays: this.numReplays,
      numResets: this.numResets,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sub.close();
    this.dealer?.close();
    await this.done;
  }

  private async run(): Promise<void> {
    try {
      for await (const frames of this.sub) {
        if (frames.length < 3) continue;
        await this.onBatch(readSequenceNumber(frames[1]!), frames[2]!);
      }
    } catch (err) {
      if (!this.closed) this.options.onError?.(err as Error);
    }
  }

  private async onBatch(seq: number, payload: Uint8Array): Promise<void> {
    // First batch: with a replay socket, learn what was published before we connected.
    const expected = this.nextSeq ?? (this.options.replayEndpoint !== undefined ? 0 : seq);
    if (seq < expected) {
      // Already applied (from a replay), unless the publisher restarted (its engine too).
      if (seq !== 0) return;
      this.numResets++;
      this.translator.reset();
    } else if (seq > expected) {
      if (this.nextSeq !== null) this.numGaps++;
      const repaired = this.options.replayEndpoint !== undefined && (await this.replay(expected, seq));
      if (repaired) {
        if (this.nextSeq !== null) this.numReplays++;
      } else if (this.nextSeq !== null) {
        this.numResets++;
        this.translator.reset();
      }
    }
    this.applyPayload(seq, payload);
  }

  private applyPayload(seq: number, payload: Uint8Array): void {
    this.nextSeq = seq + 1;
    this.lastSeq = seq;
    this.numBatches++;
    let batch;
    try {
      batch = decodeKvEventBatch(payload);
    } catch (err) {
      // A batch we cannot read is a batch lost.
      this.options.onError?.(err as Error);
      this.numResets++;
      this.translator.reset();
      return;
    }
    for (const e of batch.events) this.translator.apply(e);
  }

  /**
   * Asks the replay socket for batches [from, until) and applies them. vLLM's protocol: send the
   * start as 8 big-endian bytes; receive [seq, payload] frames (after the empty delimiter a
   * ROUTER adds) until seq -1. True when every missing batch was applied.
   */
  private async replay(from: number, until: number): Promise<boolean> {
    if (this.closed) return false;
    if (!this.dealer) {
      this.dealer = new Dealer({ linger: 0, receiveTimeout: this.options.replayTimeoutMs ?? 1000 });
      this.dealer.connect(this.options.replayEndpoint!);
    }
    const dealer = this.dealer;
    let next = from;
    try {
      await dealer.send(["", writeSequenceNumber(from)]);
      for (;;) {
        const frames = await dealer.receive();
        const [seqFrame, payload] = frames.length >= 3 ? [frames[1]!, frames[2]!] : [frames[0]!, frames[1]];
        const s = readSequenceNumber(seqFrame);
        if (s === -1) break;
        if (s !== next || s >= until || !payload) continue;
        this.applyPayload(s, payload);
        next = s + 1;
      }
    } catch (err) {
      // Timed out or closed: drop the socket, so late replies cannot mix with the next replay.
      if (!this.closed) this.options.onError?.(err as Error);
      dealer.close();
      this.dealer = null;
      return false;
    }
    return next === until;
  }
}
