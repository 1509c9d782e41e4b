// The mocker's tiers below G1: the KVBM policy with simulated stores (the policy's LRUs are the
// whole state; nothing is written anywhere) and the transfer-time model that prices onboarding.
//
//   onboard ms = Σ over onboarded blocks of bytesPerBlock / bandwidth(tier)   (charged in the step)
//   recompute  = (prefill(T) − prefill(0)) / T per token, T = maxNumBatchedTokens (the step's
//                marginal prefill cost at a full chunk, fixed overhead excluded)
// Offload is asynchronous and free: it rides on spare PCIe/disk/network bandwidth while the
// engine computes, and a block becomes readable in G2 as soon as G1 registers it.
import { DEFAULT_TIER_GBPS, KvbmPolicy, OnboardHistogram, planOnboard, onboardMsPerBlock } from "../../kvbm/index.ts";
import type { KvbmStats, LowerTier, OnboardPlan, SharedTier, TierEventSink, TransferCosts } from "../../kvbm/index.ts";
import type { LocalBlockHash, SequenceHash } from "../../protocols/index.ts";
import type { TimingModel } from "./timing.ts";

/** The mocker's KVBM settings. */
export interface MockerKvbmConfig {
  /** G2 bytes. 0: no G2 (nor G3/G4, which take what G2 evicts). */
  hostBytes: number;
  /** G3 bytes. Default 0 (off). */
  diskBytes?: number;
  /** G4: a tier shared with the other engines of the process (replay: the whole fleet). */
  remote?: SharedTier | null;
  /** Offload every block G2 evicts to G3/G4, not only reused ones. Default false. */
  offloadAll?: boolean;
  /** KV bytes per token. Default 131072 (an 8B model in fp16). */
  kvBytesPerToken?: number;
  /** Tier bandwidths, GB/s. Default DEFAULT_TIER_GBPS: host 25, disk 3, remote 10. */
  gbps?: Partial<Record<LowerTier, number>>;
}

export interface MockerKvbm {
  policy: KvbmPolicy;
  costs: TransferCosts;
}

/** The transfer costs a mocker with these settings runs on (also the source of the router's tier credits). */
export function mockerTransferCosts(config: MockerKvbmConfig, engine: { blockSize: number; timing: TimingModel; maxNumBatchedTokens: number }): TransferCosts {
  return {
    bytesPerBlock: (config.kvBytesPerToken ?? 128 * 1024) * engine.blockSize,
    recomputeMsPerBlock: recomputeMsPerBlock(engine.timing, engine.blockSize, engine.maxNumBatchedTokens),
    gbps: { ...DEFAULT_TIER_GBPS, ...config.gbps },
  };
}

/** Builds an engine's KVBM from its settings; local tiers' events go to `emit`. */
export function createMockerKvbm(config: MockerKvbmConfig, engine: { blockSize: number; timing: TimingModel; maxNumBatchedTokens: number }, emit: TierEventSink): MockerKvbm {
  return {
    policy: new KvbmPolicy({ hostBytes: config.hostBytes, diskBytes: config.diskBytes ?? 0, remote: config.remote ?? null, offloadAll: config.offloadAll === true, emit }),
    costs: mockerTransferCosts(config, engine),
  };
}

/** Prefill ms per block of `blockSize` tokens at a chunk of `chunkTokens` (see the header). */
export function recomputeMsPerBlock(timing: TimingModel, blockSize: number, chunkTokens: number): number {
  const t = Math.max(1, chunkTokens);
  return ((timing.prefillMs(t) - timing.prefillMs(0)) / t) * blockSize;
}

/** The policy and the cost model, with per-tier onboard times resolved once. */
export class KvbmTiers {
  readonly policy: KvbmPolicy;
  readonly costs: TransferCosts;
  /** Simulated onboard time per admission that onboarded, seconds. */
  readonly latency = new OnboardHistogram();
  /** Admissions that found lower-tier blocks (per fastest tier used) and that found none. */
  readonly hits = { host: 0, disk: 0, remote: 0 };
  misses = 0;
  private readonly onboardMs: Record<LowerTier, number>;
  /** Reused per admission. */
  private hashes: readonly SequenceHash[] = [];
  private readonly tierOf = (i: number): LowerTier | null => this.policy.locate(this.hashes[i]!);

  constructor(kvbm: MockerKvbm) {
    this.policy = kvbm.policy;
    this.costs = kvbm.costs;
    this.onboardMs = {
      host: onboardMsPerBlock(kvbm.costs, "host"),
      disk: onboardMsPerBlock(kvbm.costs, "disk"),
      remote: onboardMsPerBlock(kvbm.costs, "remote"),
    };
  }

  /** G1 registered blocks [from, to): write them through to G2. */
  stored(hashes: readonly SequenceHash[], locals: readonly LocalBlockHash[], from: number, to: number): void {
    if (to <= from) return;
    this.policy.storeBlocks(from === 0 ? null : hashes[from - 1]!, hashes.slice(from, to), locals.slice(from, to), this.costs.bytesPerBlock);
  }

  /** The counters in the shape every KVBM reports. */
  stats(): KvbmStats {
    const p = this.policy;
    const tier = (t: LowerTier): { bytes: number; blocks: number } => {
      const lru = p.tier(t);
      return { bytes: lru?.bytes ?? 0, blocks: lru?.numBlocks ?? 0 };
    };
    const h = tier("host");
    const d = tier("disk");
    const r = tier("remote");
    return {
      bytes: { host: h.bytes, disk: d.bytes, remote: r.bytes },
      blocks: { host: h.blocks, disk: d.blocks, remote: r.blocks },
      offloads: { ...p.counters.offloads },
      onboards: { ...p.counters.onboardedBlocks },
      hits: { ...this.hits },
      misses: this.misses,
      onboardSeconds: this.latency.snapshot(),
      diskFull: 0,
      corrupt: 0,
      remoteUnavailable: 0,
    };
  }

  /** Which blocks [from, to) of a prompt to onboard rather than recompute. */
  plan(hashes: readonly SequenceHash[], from: number, to: number): OnboardPlan {
    this.hashes = hashes;
    const p = planOnboard(from, to, this.tierOf, this.costs, this.onboardMs);
    this.hashes = [];
    return p;
  }
}
