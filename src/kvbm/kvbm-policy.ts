// The KVBM's policy: what to offload, what to evict, what to onboard. Pure state and
// decisions, no I/O and no clock, so the mocker (in real or simulated time), `turbine replay`
// and the live block manager (kv-block-manager.ts, which adds the stores) run the same code.
//
//   G1 stores a block ──write-through──▶ G2 host LRU
//   G2 evicts an entry ──reused ≥ 1 (or offloadAll)──▶ G3 disk LRU and G4 remote LRU; else dropped
//   G3 / G4 evict ──▶ dropped
//   admission ──▶ locate(hash) per block after the device prefix ──▶ planOnboard (net saving)
//   a hit (device reuse or onboard) ──▶ recordUse: numUses++, LRU touch in every tier
//
// Every tier change becomes a KV event tagged with that tier (sink), and, for a live manager,
// an I/O action (io listener): write the entry to the tier, delete it from the tier.
// G4 is shared by the workers of a model: pass the same SharedTier to every worker's policy in
// one process (replay); across processes each worker's policy holds its own view of what it
// wrote, and lookups of what others wrote go to the store itself.
import type { KvEventData, LocalBlockHash, SequenceHash } from "../protocols/index.ts";
import { emptyChange, TierLru } from "./tier-lru.ts";
import type { TierChange, TierEntry } from "./tier-lru.ts";
import type { LowerTier } from "./transfer-costs.ts";

export type TierEventSink = (tier: LowerTier, data: KvEventData) => void;

/** What the I/O layer must do after a policy step (absent for simulated tiers). */
export interface TierIo {
  write(tier: LowerTier, entry: TierEntry): void;
  delete(tier: LowerTier, entry: TierEntry): void;
}

/** A tier shared by several policies (G4 in one process): one LRU and one event sink. */
export class SharedTier {
  readonly lru: TierLru;
  constructor(
    capacityBytes: number,
    readonly emit: ((data: KvEventData) => void) | null = null,
  ) {
    this.lru = new TierLru(capacityBytes);
  }
}

export interface KvbmPolicyOptions {
  /** G2 bound, bytes. 0: no host tier (and so nothing below it either). */
  hostBytes: number;
  /** G3 bound, bytes. 0: no disk tier. */
  diskBytes?: number;
  /** G4: this worker's view of the remote store, or a tier shared with other policies. */
  remote?: SharedTier | null;
  /** Offload to G3/G4 every block G2 evicts, not only those reused at least once. Default false. */
  offloadAll?: boolean;
  /** KV events of the local tiers (host, disk); G4's go to its SharedTier's sink. */
  emit?: TierEventSink | null;
  io?: TierIo | null;
}

/** Counters since start. */
export interface KvbmPolicyCounters {
  /** Entries written to each tier. */
  offloads: Record<LowerTier, number>;
  /** Entries evicted from each tier (LRU). */
  evictions: Record<LowerTier, number>;
  /** Blocks onboarded from each tier. */
  onboardedBlocks: Record<LowerTier, number>;
  /** Entries G2 evicted and dropped because they were never reused. */
  dropped: number;
}

const zeroTiers = (): Record<LowerTier, number> => ({ host: 0, disk: 0, remote: 0 });

export class KvbmPolicy {
  readonly host: TierLru;
  readonly disk: TierLru | null;
  readonly remote: SharedTier | null;
  readonly offloadAll: boolean;
  readonly counters: KvbmPolicyCounters = { offloads: zeroTiers(), evictions: zeroTiers(), onboardedBlocks: zeroTiers(), dropped: 0 };
  /** Tiers not taking offloads for now (a full disk, an unreachable store). */
  private readonly paused = new Set<LowerTier>();
  private readonly emit: TierEventSink | null;
  private readonly io: TierIo | null;

  constructor(options: KvbmPolicyOptions) {
    this.host = new TierLru(options.hostBytes);
    const diskBytes = options.diskBytes ?? 0;
    this.disk = diskBytes > 0 ? new TierLru(diskBytes) : null;
    this.remote = options.remote ?? null;
    this.offloadAll = options.offloadAll === true;
    this.emit = options.emit ?? null;
    this.io = options.io ?? null;
  }

  /** The LRU of a tier, or null when the tier is off. */
  tier(tier: LowerTier): TierLru | null {
    return tier === "host" ? (this.host.capacityBytes > 0 ? this.host : null) : tier === "disk" ? this.disk : (this.remote?.lru ?? null);
  }

  /** Stops or resumes offloads to a tier (its contents stay readable). */
  setPaused(tier: LowerTier, paused: boolean): void {
    if (paused) this.paused.add(tier);
    else this.paused.delete(tier);
  }

  isPaused(tier: LowerTier): boolean {
    return this.paused.has(tier);
  }

  /**
   * G1 computed and registered these blocks (one run, parent first): write them through to G2,
   * one entry per block. Blocks G2 already holds are touched.
   */
  storeBlocks(parentHash: SequenceHash | null, hashes: readonly SequenceHash[], tokensHashes: readonly LocalBlockHash[], bytesPerBlock: number): void {
    if (this.host.capacityBytes <= 0 || this.paused.has("host")) return;
    const change = emptyChange();
    let parent = parentHash;
    for (let i = 0; i < hashes.length; i++) {
      const h = hashes[i]!;
      if (this.host.touch(h) === undefined) {
        const entry: TierEntry = { key: h, bytes: bytesPerBlock, parentHash: parent, hashes: [h], tokensHashes: [tokensHashes[i]!], numUses: 0 };
        if (this.host.insert(entry, change)) this.wrote("host", entry);
      }
      parent = h;
    }
    this.applyHostChange(change);
  }

  /** Writes one multi-block entry (a sequence state) through to G2. */
  storeEntry(entry: TierEntry): void {
    if (this.host.capacityBytes <= 0 || this.paused.has("host")) return;
    const change = emptyChange();
    if (this.host.get(entry.key) !== undefined) {
      this.host.touch(entry.key);
      return;
    }
    if (this.host.insert(entry, change)) this.wrote("host", entry);
    this.applyHostChange(change);
  }

  /** Writes an entry straight to a lower tier (G3/G4), evicting there as needed. */
  offloadTo(tier: "disk" | "remote", entry: TierEntry): boolean {
    const lru = this.tier(tier);
    if (lru === null || this.paused.has(tier)) return false;
    if (lru.get(entry.key) !== undefined) {
      lru.touch(entry.key);
      return true;
    }
    const change = emptyChange();
    const ok = lru.insert(entry, change);
    if (ok) this.wrote(tier, entry);
    this.publish(tier, change);
    return ok;
  }

  /** The fastest lower tier holding the block, or null. */
  locate(hash: SequenceHash): LowerTier | null {
    if (this.host.holds(hash)) return "host";
    if (this.disk !== null && this.disk.holds(hash)) return "disk";
    if (this.remote !== null && this.remote.lru.holds(hash)) return "remote";
    return null;
  }

  /** Blocks were hit (reused on device or onboarded): count the use and refresh them in every tier. */
  recordUse(hashes: readonly SequenceHash[], from = 0, to = hashes.length): void {
    const remote = this.remote?.lru ?? null;
    for (let i = from; i < to; i++) {
      const h = hashes[i]!;
      const a = this.host.touch(h);
      const b = this.disk?.touch(h);
      const c = remote?.touch(h);
      const e = a ?? b ?? c;
      if (e !== undefined) e.numUses++;
      if (b !== undefined && b !== e) b.numUses++;
      if (c !== undefined && c !== e && c !== b) c.numUses++;
    }
  }

  /** Counts blocks onboarded from a tier (the caller planned and moved them). */
  recordOnboard(tier: LowerTier, numBlocks: number): void {
    this.counters.onboardedBlocks[tier] += numBlocks;
  }

  /** A tier lost an entry (corrupt file, store miss): forget it and tell the router. */
  invalidate(tier: LowerTier, key: SequenceHash): void {
    const lru = this.tier(tier);
    if (lru === null) return;
    const change = emptyChange();
    if (lru.remove(key, change) !== undefined) this.publish(tier, change);
  }

  private wrote(tier: LowerTier, entry: TierEntry): void {
    this.counters.offloads[tier]++;
    this.io?.write(tier, entry);
  }

  private applyHostChange(change: TierChange): void {
    this.publish("host", change);
    for (const victim of change.evicted) {
      if (victim.numUses >= 1 || this.offloadAll) {
        if (this.disk !== null) this.offloadTo("disk", victim);
        if (this.remote !== null) this.offloadTo("remote", victim);
      } else {
        this.counters.dropped++;
      }
    }
  }

  private publish(tier: LowerTier, change: TierChange): void {
    for (const victim of change.evicted) {
      this.counters.evictions[tier]++;
      this.io?.delete(tier, victim);
    }
    const sink = tier === "remote" ? this.remoteSink() : this.emit === null ? null : (d: KvEventData) => this.emit!(tier, d);
    if (sink === null) return;
    for (const run of change.storedRuns) sink({ type: "stored", parentHash: run.parentHash, blocks: run.blocks });
    if (change.removed.length > 0) sink({ type: "removed", hashes: change.removed });
  }

  private remoteSink(): ((d: KvEventData) => void) | null {
    return this.remote?.emit ?? null;
  }
}
