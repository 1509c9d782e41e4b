// One tier's contents as the policy sees them: entries keyed by a sequence hash, LRU-ordered,
// bounded in bytes. Pure state (no I/O): the mocker's simulated tiers are exactly this, and a
// real tier (host, disk, Redis) keeps one beside its store so that the policy decides and the
// store only executes. An entry covers one block (the mocker) or a run of leading blocks (a
// llama.cpp sequence state); per block the LRU counts the entries holding it, so the tier's KV
// events say "stored" when the first holder arrives and "removed" when the last one goes.
import type { LocalBlockHash, SequenceHash } from "../protocols/index.ts";

export interface TierEntry {
  readonly key: SequenceHash;
  readonly bytes: number;
  /** Parent of the entry's first block (null: the entry starts a sequence). */
  readonly parentHash: SequenceHash | null;
  /** The blocks the entry holds, parents first; its last one is `key`. */
  readonly hashes: readonly SequenceHash[];
  readonly tokensHashes: readonly LocalBlockHash[];
  /** Times the entry was hit (onboarded or reused) since it was stored anywhere. */
  numUses: number;
}

/** What an insert changed: entries pushed out (LRU first) and the blocks the tier gained or lost. */
export interface TierChange {
  evicted: TierEntry[];
  /** Blocks the tier did not hold before, as runs (parent first) for `stored` events. */
  storedRuns: { parentHash: SequenceHash | null; blocks: { hash: SequenceHash; tokensHash: LocalBlockHash }[] }[];
  /** Blocks no entry holds any more, deepest first, for a `removed` event. */
  removed: SequenceHash[];
}

export class TierLru {
  readonly capacityBytes: number;
  // Map order is LRU order (re-inserted on touch).
  private readonly entries = new Map<SequenceHash, TierEntry>();
  private readonly holders = new Map<SequenceHash, number>();
  private usedBytes = 0;

  constructor(capacityBytes: number) {
    if (!(capacityBytes >= 0)) throw new RangeError(`capacityBytes must be >= 0, got ${capacityBytes}`);
    this.capacityBytes = capacityBytes;
  }

  get bytes(): number {
    return this.usedBytes;
  }

  get numEntries(): number {
    return this.entries.size;
  }

  /** Distinct blocks held. */
  get numBlocks(): number {
    return this.holders.size;
  }

  /** Whether some entry holds the block. */
  holds(hash: SequenceHash): boolean {
    return this.holders.has(hash);
  }

  get(key: SequenceHash): TierEntry | undefined {
    return this.entries.get(key);
  }

  /** Marks an entry most recently used. */
  touch(key: SequenceHash): TierEntry | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, e);
    return e;
  }

  /** Keys, least recently used first (tests, dumps). */
  keys(): SequenceHash[] {
    return [...this.entries.keys()];
  }

  values(): IterableIterator<TierEntry> {
    return this.entries.values();
  }

  /**
   * Adds an entry (or touches it if its key is held), then evicts LRU entries until the tier
   * fits its bound. An entry larger than the whole tier is refused (returns null): a store that
   * cannot hold it must not empty itself trying.
   */
  insert(entry: TierEntry, change: TierChange): boolean {
    if (this.entries.has(entry.key)) {
      this.touch(entry.key);
      return true;
    }
    if (entry.bytes > this.capacityBytes) return false;
    this.entries.set(entry.key, entry);
    this.usedBytes += entry.bytes;
    let run: TierChange["storedRuns"][number] | null = null;
    for (let i = 0; i < entry.hashes.length; i++) {
      const h = entry.hashes[i]!;
      const n = this.holders.get(h);
      this.holders.set(h, (n ?? 0) + 1);
      if (n !== undefined) {
        run = null;
        continue;
      }
      if (run === null) {
        run = { parentHash: i === 0 ? entry.parentHash : entry.hashes[i - 1]!, blocks: [] };
        change.storedRuns.push(run);
      }
      run.blocks.push({ hash: h, tokensHash: entry.tokensHashes[i]! });
    }
    if (this.usedBytes > this.capacityBytes) {
      for (const victim of this.entries.values()) {
        if (this.usedBytes <= this.capacityBytes) break;
        if (victim === entry) continue;
        this.removeEntry(victim, change);
        change.evicted.push(victim);
      }
    }
    return true;
  }

  /** Drops an entry (a store that lost it, or a corrupt file). */
  remove(key: SequenceHash, change: TierChange): TierEntry | undefined {
    const e = this.entries.get(key);
    if (e !== undefined) this.removeEntry(e, change);
    return e;
  }

  /** Drops everything; returns the blocks that were held. */
  clear(): SequenceHash[] {
    const held = [...this.holders.keys()];
    this.entries.clear();
    this.holders.clear();
    this.usedBytes = 0;
    return held;
  }

  private removeEntry(e: TierEntry, change: TierChange): void {
    this.entries.delete(e.key);
    this.usedBytes -= e.bytes;
    for (let i = e.hashes.length - 1; i >= 0; i--) {
      const h = e.hashes[i]!;
      const n = this.holders.get(h)!;
      if (n <= 1) {
        this.holders.delete(h);
        change.removed.push(h);
      } else this.holders.set(h, n - 1);
    }
  }
}

export function emptyChange(): TierChange {
  return { evicted: [], storedRuns: [], removed: [] };
}
