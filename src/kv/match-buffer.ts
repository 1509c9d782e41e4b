// A reusable result for RadixIndexer.findMatchesInto: parallel arrays instead of a Map of
// objects, so a router that queries on every request allocates nothing per query.
import type { StorageTier, WorkerId } from "../protocols/index.ts";

/** Index of each tier in MatchBuffer.byTier's groups of four. */
export const TIER_INDEX: Readonly<Record<StorageTier, number>> = { device: 0, host: 1, disk: 2, remote: 3 };

export class MatchBuffer {
  /** Number of workers in the last result; entries past it are stale. */
  length = 0;
  /** Worker of each result row. */
  workerIds: WorkerId[] = [];
  /** Leading blocks held by each row's worker, in any tier. */
  numBlocks = new Int32Array(16);
  /** Four per row (device, host, disk, remote; see TIER_INDEX): of those blocks, how many per fastest tier. */
  byTier = new Int32Array(64);

  /** Makes room for `n` rows (called by the indexer). */
  reserve(n: number): void {
    if (this.numBlocks.length >= n) return;
    let cap = this.numBlocks.length;
    while (cap < n) cap *= 2;
    this.numBlocks = new Int32Array(cap);
    this.byTier = new Int32Array(cap * 4);
  }

  /** Blocks of row `row` held in `tier` (counted in their fastest tier). */
  tierCount(row: number, tier: StorageTier): number {
    return this.byTier[row * 4 + TIER_INDEX[tier]]!;
  }
}
