// For engines without KV events: the router records where it sent each prompt and assumes the
// worker still caches those blocks for a while. Entries expire after a TTL, and the number of
// (worker, block) entries is bounded, oldest evicted first. Time is always a parameter.
import type { KvCacheEvent, SequenceHash, WorkerId } from "../protocols/index.ts";
import type { KvIndexer, WorkerMatch } from "./indexer-types.ts";
import type { MatchBuffer } from "./match-buffer.ts";
import { RadixIndexer } from "./radix-indexer.ts";

export interface ApproxIndexerOptions {
  /** How long a routed block is assumed cached, in ms (default 120 000). */
  ttlMs?: number;
  /** Bound on (worker, block) entries (default 1 000 000); the oldest go first. */
  maxEntries?: number;
}

const oneHash: SequenceHash[] = [];

/** One (worker, block) entry, linked in recording order (oldest at the head). */
interface Entry {
  readonly workerId: WorkerId;
  readonly hash: SequenceHash;
  time: number;
  prev: Entry | null;
  next: Entry | null;
}

export class ApproxIndexer implements KvIndexer {
  readonly ttlMs: number;
  readonly maxEntries: number;
  private readonly index = new RadixIndexer();
  private readonly byWorker = new Map<WorkerId, Map<SequenceHash, Entry>>();
  private head: Entry | null = null;
  private tail: Entry | null = null;
  private numEntries = 0;
  /** Latest time seen: entries are stamped no earlier, so the list stays in time order. */
  private latest = -Infinity;

  constructor(options: ApproxIndexerOptions = {}) {
    this.ttlMs = options.ttlMs ?? 120_000;
    this.maxEntries = Math.max(1, options.maxEntries ?? 1_000_000);
  }

  get size(): number {
    return this.numEntries;
  }

  workers(): WorkerId[] {
    return [...this.byWorker.keys()];
  }

  numBlocks(workerId: WorkerId): number {
    return this.byWorker.get(workerId)?.size ?? 0;
  }

  /** Records that the request with these block hashes went to `workerId` at `now` (ms). */
  recordRouted(workerId: WorkerId, hashes: readonly SequenceHash[], now: number): void {
    this.expire(now);
    if (hashes.length === 0) return;
    const time = this.latest;
    let entries = this.byWorker.get(workerId);
    if (entries === undefined) {
      entries = new Map();
      this.byWorker.set(workerId, entries);
    }
    // Deepest block first: among equally old entries the deeper ones are evicted first, so a
    // bound never leaves a worker holding a block without its prefix.
    for (let i = hashes.length - 1; i >= 0; i--) {
      const hash = hashes[i]!;
      const e = entries.get(hash);
      if (e !== undefined) {
        e.time = time;
        this.unlink(e);
        this.append(e);
      } else {
        const fresh: Entry = { workerId, hash, time, prev: null, next: null };
        entries.set(hash, fresh);
        this.append(fresh);
        this.numEntries++;
      }
    }
    this.index.storeHashes(workerId, "device", hashes);
    while (this.numEntries > this.maxEntries) this.evict(this.head!);
  }

  /** Drops the entries older than the TTL at `now` (ms). */
  expire(now: number): void {
    if (now > this.latest) this.latest = now;
    const cutoff = now - this.ttlMs;
    while (this.head !== null && this.head.time <= cutoff) this.evict(this.head);
  }

  /** As RadixIndexer.findMatches, all blocks counted as "device"; expires entries first when `now` is given. */
  findMatches(hashes: readonly SequenceHash[], now?: number): Map<WorkerId, WorkerMatch> {
    if (now !== undefined) this.expire(now);
    return this.index.findMatches(hashes);
  }

  /** As RadixIndexer.findMatchesInto; expires entries first when `now` is given. */
  findMatchesInto(hashes: readonly SequenceHash[], out: MatchBuffer, now?: number): number {
    if (now !== undefined) this.expire(now);
    return this.index.findMatchesInto(hashes, out);
  }

  /**
   * Best effort for an engine that does send some events: no ordering (always true);
   * `stored` records blocks at the latest time seen, `removed` and `cleared` drop entries.
   */
  applyEvent(event: KvCacheEvent): boolean {
    const data = event.data;
    if (data.type === "stored") {
      this.recordRouted(
        event.workerId,
        data.blocks.map((b) => b.hash),
        Number.isFinite(this.latest) ? this.latest : 0,
      );
    } else if (data.type === "removed") {
      const entries = this.byWorker.get(event.workerId);
      if (entries === undefined) return true;
      for (const h of data.hashes) {
        const e = entries.get(h);
        if (e !== undefined) this.evict(e);
      }
    } else {
      this.removeWorker(event.workerId);
    }
    return true;
  }

  removeWorker(workerId: WorkerId): void {
    const entries = this.byWorker.get(workerId);
    if (entries === undefined) return;
    for (const e of entries.values()) {
      this.unlink(e);
      this.numEntries--;
    }
    this.byWorker.delete(workerId);
    this.index.removeWorker(workerId);
  }

  private evict(e: Entry): void {
    this.unlink(e);
    this.numEntries--;
    const entries = this.byWorker.get(e.workerId)!;
    entries.delete(e.hash);
    oneHash[0] = e.hash;
    this.index.removeHashes(e.workerId, "device", oneHash);
    if (entries.size === 0) {
      this.byWorker.delete(e.workerId);
      this.index.removeWorker(e.workerId);
    }
  }

  private append(e: Entry): void {
    e.prev = this.tail;
    e.next = null;
    if (this.tail !== null) this.tail.next = e;
    else this.head = e;
    this.tail = e;
  }

  private unlink(e: Entry): void {
    if (e.prev !== null) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next !== null) e.next.prev = e.prev;
    else this.tail = e.prev;
    e.prev = null;
    e.next = null;
  }
}
