// The live KV block manager for engines that hand over real bytes (llama.cpp sequence states):
// the policy (kvbm-policy.ts) decides, the stores (disk-store.ts, redis-store.ts) execute.
// The engine's own G2 (llama.cpp's state files in /dev/shm) evicts into `offload`; a request
// whose prefix G2 lacks asks `onboard` for the longest state G3 or G4 holds.
//
// State ownership: the policy owns what each tier holds (its LRUs; a remote LRU is this
// worker's view of what it wrote), the stores own the bytes. Consistency: an entry is in the
// policy before its bytes are durable, so a read can miss (the write failed or is in flight,
// another worker deleted it): a miss is always safe, it costs a prefill. Bad bytes are never
// returned (checksummed frames). Faults: a full disk pauses offloads to G3 for `pauseMs`; an
// unreachable Redis answers misses (counted, one warning per outage); neither fails a request.
import type { KvEventData, SequenceHash } from "../protocols/index.ts";
import { DiskStore } from "./disk-store.ts";
import { KvbmPolicy, SharedTier } from "./kvbm-policy.ts";
import { RedisStore } from "./redis-store.ts";
import { OnboardHistogram } from "./kvbm-stats.ts";
import type { KvbmStats } from "./kvbm-stats.ts";
import type { TierEntry } from "./tier-lru.ts";
import type { LowerTier } from "./transfer-costs.ts";

export interface KvBlockManagerOptions {
  /** Model and KV layout: Redis keys and the disk subfolder are namespaced by it. */
  namespace: string;
  diskDir?: string;
  /** G3 bound. Default 8 GiB. */
  diskBytes?: number;
  redisUrl?: string;
  /** This worker's share of G4, bytes. Default 8 GiB. */
  remoteBytes?: number;
  /** Offload every state G2 evicts, not only reused ones. Default false. */
  offloadAll?: boolean;
  /** KV events of G3, under the worker's own id. */
  emit?: (tier: LowerTier, data: KvEventData) => void;
  /** KV events of G4, under the worker's shared-store id (sharedStoreWorkerId). */
  emitShared?: (data: KvEventData) => void;
  warn?: (message: string) => void;
  /** How long a full disk stops offloads. Default 30 s. */
  pauseMs?: number;
  redisTimeoutMs?: number;
}

export type KvBlockManagerStats = KvbmStats;

export interface Onboarded {
  tier: "disk" | "remote";
  entry: TierEntry;
  payload: Uint8Array;
}

const tiers0 = (): Record<LowerTier, number> => ({ host: 0, disk: 0, remote: 0 });

export class KvBlockManager {
  readonly policy: KvbmPolicy;
  readonly disk: DiskStore | null;
  readonly redis: RedisStore | null;
  private readonly pauseMs: number;
  private pauseTimer: NodeJS.Timeout | null = null;
  /** Block hash → key of the newest disk entry holding it (checked against the policy on use). */
  private readonly diskIndex = new Map<SequenceHash, SequenceHash>();
  private readonly s = { offloads: tiers0(), onboards: tiers0(), hits: tiers0(), misses: 0, diskFull: 0 };
  private readonly latency = new OnboardHistogram();

  constructor(options: KvBlockManagerOptions) {
    const ns = options.namespace.replace(/[^\w.:-]/g, "_");
    this.pauseMs = options.pauseMs ?? 30_000;
    this.disk = options.diskDir !== undefined ? new DiskStore(`${options.diskDir}/${ns.replace(/:/g, "-")}`) : null;
    this.redis = options.redisUrl !== undefined ? new RedisStore({ url: options.redisUrl, namespace: ns, warn: options.warn, timeoutMs: options.redisTimeoutMs }) : null;
    const remote = this.redis !== null ? new SharedTier(options.remoteBytes ?? 8 * 1024 ** 3, options.emitShared ?? null) : null;
    this.policy = new KvbmPolicy({
      hostBytes: 0,
      diskBytes: this.disk !== null ? (options.diskBytes ?? 8 * 1024 ** 3) : 0,
      remote,
      offloadAll: options.offloadAll,
      emit: options.emit ?? null,
      io: {
        write: () => undefined, // offload() writes, with the payload in hand
        delete: (tier, entry) => {
          if (tier === "disk") void this.disk?.delete(entry.key);
          else if (tier === "remote") void this.redis?.delete(entry.key);
        },
      },
    });
    // Files a previous run left are adopted lazily: each is verified when first read.
  }

  /** Whether G2 should hand this state down when it evicts it. */
  shouldOffload(numUses: number): boolean {
    return (this.disk !== null || this.redis !== null) && (numUses >= 1 || this.policy.offloadAll);
  }

  /** Writes an evicted G2 state to G3 and G4 (as the policy allows). Never throws. */
  async offload(entry: TierEntry, payload: Uint8Array): Promise<void> {
    if (this.disk !== null && this.policy.offloadTo("disk", entry)) {
      const r = await this.disk.put(entry, payload);
      if (r === "ok") {
        this.s.offloads.disk++;
        for (const h of entry.hashes) this.diskIndex.set(h, entry.key);
      }
      else {
        this.policy.invalidate("disk", entry.key);
        if (r === "full") this.pauseDisk();
      }
    }
    if (this.redis !== null && this.policy.offloadTo("remote", entry)) {
      if (await this.redis.put(entry, payload)) this.s.offloads.remote++;
      else this.policy.invalidate("remote", entry.key);
    }
  }

  /**
   * The longest state in G3 or G4 holding more than `minBlocks` leading blocks of `hashes`,
   * or null. A state is stored under its last block's hash and found through any of its
   * blocks, so a prompt finds the state of a longer conversation that began with it. Disk
   * first (local), then the shared store, which must beat it. Never throws; a corrupt file is
   * a miss.
   */
  async onboard(hashes: readonly SequenceHash[], minBlocks: number): Promise<Onboarded | null> {
    const t0 = performance.now();
    let found: Onboarded | null = null;
    let diskBlocks = 0;
    const disk = this.policy.disk;
    if (this.disk !== null && disk !== null) {
      for (let i = hashes.length - 1; i >= minBlocks; i--) {
        const key = this.diskIndex.get(hashes[i]!);
        if (key === undefined) continue;
        if (disk.get(key) === undefined) {
          this.diskIndex.delete(hashes[i]!);
          continue;
        }
        const d = await this.disk.get(key);
        if (d === null || d.entry.hashes[i] !== hashes[i]) {
          if (d === null) this.policy.invalidate("disk", key);
          continue;
        }
        found = { tier: "disk", entry: disk.touch(key) ?? d.entry, payload: d.payload };
        diskBlocks = i + 1;
        break;
      }
    }
    if (this.redis !== null && hashes.length > Math.max(minBlocks, diskBlocks)) {
      const r = await this.redis.findLongest(hashes, Math.max(minBlocks, diskBlocks));
      if (r !== null) found = { tier: "remote", entry: r.decoded.entry, payload: r.decoded.payload };
    }
    if (found === null) {
      this.s.misses++;
      return null;
    }
    found.entry.numUses++;
    this.s.hits[found.tier]++;
    this.s.onboards[found.tier]++;
    this.latency.observe((performance.now() - t0) / 1000);
    return found;
  }

  stats(): KvBlockManagerStats {
    const disk = this.policy.disk;
    const remote = this.policy.remote?.lru ?? null;
    return {
      ...this.s,
      offloads: { ...this.s.offloads },
      onboards: { ...this.s.onboards },
      hits: { ...this.s.hits },
      onboardSeconds: this.latency.snapshot(),
      bytes: { host: 0, disk: disk?.bytes ?? 0, remote: remote?.bytes ?? 0 },
      blocks: { host: 0, disk: disk?.numBlocks ?? 0, remote: remote?.numBlocks ?? 0 },
      corrupt: this.disk?.numCorrupt ?? 0,
      remoteUnavailable: this.redis?.numUnavailable ?? 0,
    };
  }

  async close(): Promise<void> {
    if (this.pauseTimer !== null) clearTimeout(this.pauseTimer);
    await this.redis?.close();
  }

  private pauseDisk(): void {
    this.s.diskFull++;
    this.policy.setPaused("disk", true);
    if (this.pauseTimer !== null) clearTimeout(this.pauseTimer);
    this.pauseTimer = setTimeout(() => {
      this.pauseTimer = null;
      this.policy.setPaused("disk", false);
    }, this.pauseMs);
    this.pauseTimer.unref();
  }
}
