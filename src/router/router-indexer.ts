// What the router needs from an indexer: kv's `KvIndexer`, plus the optional capabilities of
// its two implementations that the router uses when present (detected once, at construction).
import type { KvIndexer, MatchBuffer, WorkerMatch } from "../kv/index.ts";
import type { KvBlockSetDump, SequenceHash, StorageTier, WorkerId } from "../protocols/index.ts";

export interface RouterIndexer extends KvIndexer {
  /** `now` lets an ApproxIndexer expire entries first; a RadixIndexer ignores it. */
  findMatches(hashes: readonly SequenceHash[], now?: number): Map<WorkerId, WorkerMatch>;
  /** Allocation-free findMatches (RadixIndexer, ApproxIndexer): preferred when present. */
  findMatchesInto?(hashes: readonly SequenceHash[], out: MatchBuffer, now?: number): number;
  /** Approximate mode (ApproxIndexer): the router records each decision it makes. */
  recordRouted?(workerId: WorkerId, hashes: readonly SequenceHash[], now: number): void;
  /** Event mode (RadixIndexer): replaces a worker's blocks with a dump after a gap. */
  resetWorker?(dump: KvBlockSetDump): void;
  /** Blocks a worker caches in any tier: the kv policy's tie-break. */
  numBlocks?(workerId: WorkerId, tier?: StorageTier): number;
}
