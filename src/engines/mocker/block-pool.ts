// The block pool: a fixed set of KV blocks, their reference counts, the prefix cache
// (sequence hash -> block) and the LRU queue of free blocks. It is the only owner of block
// state and the only source of KV events.
//
// Contract (as vLLM v1's BlockPool):
// - A block is "free" when its refCount is 0; free blocks sit in the free queue, least
//   recently freed at the head. Allocation takes from the head.
// - A free block may still be cached (hash !== null): it stays reusable by a prefix hit
//   (touch) until allocation evicts it, which drops its hash and emits `removed`.
// - At most one block per sequence hash is cached: a block whose hash is already cached
//   (the same prefix computed twice) stays uncached, so the prefix cache and the stream of
//   stored/removed events always agree.
import type { LocalBlockHash, SequenceHash, StoredBlock } from "../../protocols/index.ts";
import type { EngineKvEvent } from "../engine.ts";
import { FreeBlockQueue, KvBlock } from "./free-block-queue.ts";

export type KvEventSink = (event: EngineKvEvent) => void;

export class BlockPool {
  readonly numBlocks: number;
  /** Every block, by id. */
  readonly blocks: readonly KvBlock[];
  /** Where events go; null: nobody listens, so events are not even built. */
  eventSink: KvEventSink | null = null;
  /** Cached blocks evicted since start. */
  numEvictions = 0;

  private readonly freeQueue = new FreeBlockQueue();
  private readonly cached = new Map<SequenceHash, KvBlock>();

  constructor(numBlocks: number) {
    if (!Number.isInteger(numBlocks) || numBlocks <= 0) throw new RangeError(`numBlocks must be a positive integer, got ${numBlocks}`);
    this.numBlocks = numBlocks;
    const blocks = new Array<KvBlock>(numBlocks);
    for (let i = 0; i < numBlocks; i++) {
      blocks[i] = new KvBlock(i);
      this.freeQueue.append(blocks[i]!);
    }
    this.blocks = blocks;
  }

  /** Blocks that allocation can take (free, cached or not). */
  get numFreeBlocks(): number {
    return this.freeQueue.length;
  }

  /** Blocks held by at least one sequence. */
  get numActiveBlocks(): number {
    return this.numBlocks - this.freeQueue.length;
  }

  /** Number of blocks in the prefix cache. */
  get numCachedBlocks(): number {
    return this.cached.size;
  }

  /** The cached block holding `hash`, if any. Does not touch it. */
  getCached(hash: SequenceHash): KvBlock | undefined {
    return this.cached.get(hash);
  }

  /** Whether `hash` is in the prefix cache. */
  isCached(hash: SequenceHash): boolean {
    return this.cached.has(hash);
  }

  /** Takes a reference on a cached block (prefix hit); a free one leaves the free queue. */
  touch(block: KvBlock): void {
    if (block.refCount === 0) this.freeQueue.remove(block);
    block.refCount++;
  }

  /**
   * Takes `n` blocks from the head of the free queue and pushes them onto `into`, evicting
   * cached ones (one `removed` event for all of them). The caller checks numFreeBlocks first:
   * asking for more is misuse.
   */
  allocate(n: number, into: KvBlock[]): void {
    if (n > this.freeQueue.length) throw new RangeError(`allocate(${n}) with ${this.freeQueue.length} free blocks`);
    let evicted: SequenceHash[] | null = null;
    for (let i = 0; i < n; i++) {
      const block = this.freeQueue.popFront()!;
      if (block.hash !== null) {
        this.cached.delete(block.hash);
        this.numEvictions++;
        if (this.eventSink !== null) (evicted ??= []).push(block.hash);
        block.hash = null;
        block.tokensHash = null;
        block.parentHash = null;
      }
      block.refCount = 1;
      into.push(block);
    }
    if (evicted !== null) this.eventSink!({ tier: "device", data: { type: "removed", hashes: evicted } });
  }

  /**
   * Drops one reference on each block, last block first, so that a sequence's tail is
   * evicted before its prefix (the prefix is the likelier to be shared).
   */
  freeReversed(blocks: readonly KvBlock[]): void {
    for (let i = blocks.length - 1; i >= 0; i--) {
      const block = blocks[i]!;
      if (--block.refCount === 0) this.freeQueue.append(block);
    }
  }

  /**
   * Registers full blocks `blocks[from..to)` under `hashes[from..to)` and emits `stored`
   * events for them (one per run of newly cached blocks, parent-chained). Blocks already
   * cached (prefix hits) are skipped, and so is a block whose hash another block holds.
   */
  cacheFullBlocks(
    blocks: readonly KvBlock[],
    hashes: readonly SequenceHash[],
    localHashes: readonly LocalBlockHash[],
    from: number,
    to: number,
  ): void {
    const sink = this.eventSink;
    let run: StoredBlock[] | null = null;
    let runParent: SequenceHash | null = null;
    for (let i = from; i < to; i++) {
      const block = blocks[i]!;
      const hash = hashes[i]!;
      if (block.hash !== null || this.cached.has(hash)) {
        if (run !== null) {
          sink!({ tier: "device", data: { type: "stored", parentHash: runParent, blocks: run } });
          run = null;
        }
        continue;
      }
      const parent = i === 0 ? null : hashes[i - 1]!;
      block.hash = hash;
      block.tokensHash = localHashes[i]!;
      block.parentHash = parent;
      this.cached.set(hash, block);
      if (sink !== null) {
        if (run === null) {
          run = [];
          runParent = parent;
        }
        run.push({ hash, tokensHash: localHashes[i]! });
      }
    }
    if (run !== null) sink!({ tier: "device", data: { type: "stored", parentHash: runParent, blocks: run } });
  }

  /** Ids of the free blocks in eviction order (head first). For tests and debugging. */
  freeBlockIds(): number[] {
    return this.freeQueue.ids();
  }

  /** The cached hashes, in the order they were cached. */
  cachedHashes(): SequenceHash[] {
    return [...this.cached.keys()];
  }

  /** Every cached block, as single-block stored events (for a resync dump). */
  cachedBlocks(): { parentHash: SequenceHash | null; hash: SequenceHash; tokensHash: LocalBlockHash }[] {
    const out: { parentHash: SequenceHash | null; hash: SequenceHash; tokensHash: LocalBlockHash }[] = [];
    for (const block of this.cached.values()) out.push({ parentHash: block.parentHash, hash: block.hash!, tokensHash: block.tokensHash! });
    return out;
  }
}
