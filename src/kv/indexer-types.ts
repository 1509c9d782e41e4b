import type { KvCacheEvent, SequenceHash, StorageTier, WorkerId } from "../protocols/index.ts";

/** How much of a prompt's prefix one worker holds. */
export interface WorkerMatch {
  /** Number of leading blocks of the query held by the worker, in any tier. */
  numBlocks: number;
  /** Of those leading blocks, how many sit in each tier (a block in several tiers counts in its fastest). */
  byTier: Record<StorageTier, number>;
}

/** Answers "which worker caches what": the router's view of every worker's KV blocks. */
export interface KvIndexer {
  /** Applies one worker's event. Returns false if the event was out of order (a gap: resync needed). */
  applyEvent(event: KvCacheEvent): boolean;
  /** Drops a worker and all its blocks. */
  removeWorker(workerId: WorkerId): void;
  /** For each worker holding at least the first block, how many leading blocks it holds. */
  findMatches(hashes: readonly SequenceHash[]): Map<WorkerId, WorkerMatch>;
  /** Number of (worker, block) entries held. */
  readonly size: number;
}
