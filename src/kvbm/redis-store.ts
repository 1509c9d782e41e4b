// G4: entries in a Redis shared by every worker of a model. Keys are namespaced by model and
// KV layout (`turbine:kvbm:<model>:<layout>:<hash>`), so workers whose KV is not
// interchangeable never read each other's blocks. Values are the same checksummed frames as
// on disk. Redis is never on a request's critical path as a failure: every call has a
// timeout, a store that is down or slow answers "miss" / "not stored", the first failure of an
// outage logs one warning, and each failed call is counted (`numUnavailable`). The client
// reconnects in the background.
import { createClient, RESP_TYPES } from "redis";
import type { SequenceHash } from "../protocols/index.ts";
import { decodeEntry, encodeEntry, keyHex } from "./entry-codec.ts";
import type { DecodedEntry } from "./entry-codec.ts";
import type { TierEntry } from "./tier-lru.ts";

export interface RedisStoreOptions {
  url: string;
  /** Model name and KV layout (e.g. "llama:blocks16:f16"), part of every key. */
  namespace: string;
  /** Per-call timeout, ms. Default 500. */
  timeoutMs?: number;
  /** Called once per outage (first failure after a success or at start). */
  warn?: (message: string) => void;
}

export class RedisStore {
  readonly prefix: string;
  /** Calls that failed or timed out (the store was unreachable). */
  numUnavailable = 0;
  private readonly client;
  private readonly timeoutMs: number;
  private readonly warn: (message: string) => void;
  private healthy = true;
  private closed = false;

  constructor(options: RedisStoreOptions) {
    this.prefix = `turbine:kvbm:${options.namespace}:`;
    this.timeoutMs = options.timeoutMs ?? 500;
    this.warn = options.warn ?? ((m) => process.emitWarning(m));
    this.client = createClient({
      url: options.url,
      disableOfflineQueue: true,
      socket: { connectTimeout: 1000, reconnectStrategy: (retries) => Math.min(100 * (retries + 1), 2000) },
    }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
    // Errors surface as failed calls (counted there); the client's own event must not crash the process.
    this.client.on("error", () => undefined);
    this.client.connect().catch(() => undefined);
  }

  /** Whether the client is connected right now. */
  get isReady(): boolean {
    return this.client.isReady;
  }

  private key(hash: SequenceHash): string {
    return this.prefix + keyHex(hash);
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
    if (this.closed) return undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      if (!this.client.isReady) throw new Error("not connected");
      const result = await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
        }),
      ]);
      this.healthy = true;
      return result;
    } catch (err) {
      this.numUnavailable++;
      if (this.healthy) {
        this.healthy = false;
        this.warn(`kvbm: remote store unavailable (${what}: ${(err as Error).message}); using local tiers only`);
      }
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  private pointer(hash: SequenceHash): string {
    return `${this.prefix}p:${keyHex(hash)}`;
  }

  /** Stores an entry and its blocks' pointers; false when the store is unavailable. */
  async put(entry: TierEntry, payload: Uint8Array): Promise<boolean> {
    const frame = Buffer.from(encodeEntry(entry, payload));
    const key = keyHex(entry.key);
    return (
      (await this.call("SET", async () => {
        const multi = this.client.multi().set(this.key(entry.key), frame);
        for (const h of entry.hashes) multi.set(this.pointer(h), key);
        return multi.exec();
      })) !== undefined
    );
  }

  /**
   * The longest stored state holding more than `minBlocks` leading blocks of `hashes`: its
   * decoded entry and how many of the prompt's blocks it holds, or null (also when unavailable).
   */
  async findLongest(hashes: readonly SequenceHash[], minBlocks: number): Promise<{ decoded: DecodedEntry; numBlocks: number } | null> {
    if (hashes.length <= minBlocks) return null;
    const ptrs = await this.call("MGET", () => this.client.mGet(hashes.slice(minBlocks).map((h) => this.pointer(h))));
    if (ptrs === undefined) return null;
    for (let j = ptrs.length - 1; j >= 0; j--) {
      const target = ptrs[j];
      if (target === null || target === undefined) continue;
      const i = minBlocks + j;
      const value = await this.call("GET", () => this.client.get(this.prefix + target.toString()));
      if (value === undefined || value === null) continue;
      const decoded = decodeEntry(value as unknown as Buffer);
      // The state must hold exactly this prompt's first i + 1 blocks.
      if (decoded !== null && decoded.entry.hashes[i] === hashes[i]) return { decoded, numBlocks: i + 1 };
    }
    return null;
  }

  /** The entry under `hash`, or null (absent, corrupt, or the store unavailable). */
  async get(hash: SequenceHash): Promise<DecodedEntry | null> {
    const value = await this.call("GET", () => this.client.get(this.key(hash)));
    if (value === undefined || value === null) return null;
    return decodeEntry(value as unknown as Buffer, hash);
  }

  /** Which of `hashes` are stored (one round trip); all false when unavailable. */
  async has(hashes: readonly SequenceHash[]): Promise<boolean[]> {
    if (hashes.length === 0) return [];
    const res = await this.call("EXISTS", async () => {
      const multi = this.client.multi();
      for (const h of hashes) multi.exists(this.key(h));
      return (await multi.exec()) as unknown as number[];
    });
    return hashes.map((_, i) => res !== undefined && Number(res[i]) === 1);
  }

  async delete(hash: SequenceHash): Promise<void> {
    await this.call("DEL", () => this.client.del(this.key(hash)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close().catch(() => undefined);
  }
}
