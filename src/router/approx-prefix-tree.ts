// The sglang baseline's own view of the caches: which worker was sent which prefixes, at block
// granularity. A sequence hash names a whole prefix, so a hash → holders map is a radix tree
// over blocks with the path compressed into the hash. Each worker's entries are kept in LRU
// order (a Map's insertion order) and trimmed to `maxBlocksPerWorker`, the way SGLang's router
// evicts least-recently-used leaves of each tenant beyond max_tree_size.
import type { SequenceHash, WorkerId } from "../protocols/index.ts";
import type { WorkerState } from "./worker-state.ts";

export class ApproxPrefixTree {
  private readonly holders = new Map<SequenceHash, Set<WorkerState>>();
  private readonly byWorker = new Map<WorkerId, { worker: WorkerState; lru: Map<SequenceHash, true> }>();
  private readonly maxBlocksPerWorker: number;

  constructor(maxBlocksPerWorker: number) {
    this.maxBlocksPerWorker = maxBlocksPerWorker;
  }

  /** Blocks recorded for a worker (SGLang's tenant size). */
  sizeOf(workerId: WorkerId): number {
    return this.byWorker.get(workerId)?.lru.size ?? 0;
  }

  /** Records that `worker` now holds the prefix `hashes`. O(blocks). */
  insert(worker: WorkerState, hashes: readonly SequenceHash[]): void {
    let entry = this.byWorker.get(worker.workerId);
    if (entry === undefined) {
      entry = { worker, lru: new Map() };
      this.byWorker.set(worker.workerId, entry);
    }
    const lru = entry.lru;
    // Touch the deepest block first so that the prefix's root ends up most recent: eviction
    // then removes leaves before the blocks they hang from.
    for (let i = hashes.length - 1; i >= 0; i--) {
      const h = hashes[i]!;
      if (lru.delete(h)) {
        lru.set(h, true);
        continue;
      }
      lru.set(h, true);
      let set = this.holders.get(h);
      if (set === undefined) {
        set = new Set();
        this.holders.set(h, set);
      }
      set.add(worker);
    }
    while (lru.size > this.maxBlocksPerWorker) {
      const oldest = lru.keys().next().value as SequenceHash;
      lru.delete(oldest);
      this.release(oldest, worker);
    }
  }

  /** Number of leading blocks of `hashes` that some worker was sent. */
  matchDepth(hashes: readonly SequenceHash[]): number {
    let d = 0;
    while (d < hashes.length && this.holders.has(hashes[d]!)) d++;
    return d;
  }

  /** Workers recorded as holding the prefix ending at `hash`. */
  holdersOf(hash: SequenceHash): ReadonlySet<WorkerState> | undefined {
    return this.holders.get(hash);
  }

  removeWorker(workerId: WorkerId): void {
    const entry = this.byWorker.get(workerId);
    if (entry === undefined) return;
    this.byWorker.delete(workerId);
    for (const h of entry.lru.keys()) this.release(h, entry.worker);
  }

  private release(h: SequenceHash, worker: WorkerState): void {
    const set = this.holders.get(h);
    if (set === undefined) return;
    set.delete(worker);
    if (set.size === 0) this.holders.delete(h);
  }
}
