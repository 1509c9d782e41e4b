import type { WorkerId } from "./ids.ts";

/** A worker's load, published periodically on the event plane. */
export interface WorkerLoadMetrics {
  workerId: WorkerId;
  /** KV blocks held by running sequences. */
  activeBlocks: number;
  /** All KV blocks of the engine. */
  totalBlocks: number;
  /** activeBlocks / totalBlocks, 0..1. */
  kvUsage: number;
  numRunningSeqs: number;
  numWaitingSeqs: number;
  /** Prompt tokens admitted but not yet computed. */
  pendingPrefillTokens: number;
  /** Prefix-cache hit rate since start, 0..1. */
  prefixCacheHitRate: number;
  /** Wall time (ms since epoch) when measured. */
  timestamp: number;
}
