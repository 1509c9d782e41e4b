// kv: block hashing, the radix-tree indexer over block hashes, KV event ingestion.
// Pure state: no I/O, so it runs unchanged in simulated time.
export {
  KV_HASH_SEED,
  hashBlockTokens,
  chainSequenceHash,
  chainSequenceHashes,
  computeLocalBlockHashes,
  computeSequenceHashes,
  computeSequenceHashesReference,
} from "./hashing.ts";
export type { KvIndexer, WorkerMatch } from "./indexer-types.ts";
export { RadixIndexer } from "./radix-indexer.ts";
export type { RadixIndexerOptions } from "./radix-indexer.ts";
export { MatchBuffer, TIER_INDEX } from "./match-buffer.ts";
export { ApproxIndexer } from "./approx-indexer.ts";
export type { ApproxIndexerOptions } from "./approx-indexer.ts";
export { KvBlockSet } from "./block-set.ts";
export { KvEventIngestor } from "./event-ingestor.ts";
export type { KvEventIngestorOptions, KvEventIngestorStats, RequestDump } from "./event-ingestor.ts";
