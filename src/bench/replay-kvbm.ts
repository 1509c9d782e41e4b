// The KV block manager in `turbine replay`: the same KvbmPolicy the engines run live, with
// simulated stores (the policy's LRUs), one per engine for G2/G3 and one G4 shared by all.
// Onboarding is priced by the mocker's transfer-time model (bytes / tier bandwidth) and the
// router's tier credits are derived from the same costs (deriveTierCredits), not assumed.
import { DEFAULT_TIER_GBPS, deriveTierCredits, KvbmPolicy, SharedTier } from "../kvbm/index.ts";
import type { LowerTier, TierEventSink, TransferCosts } from "../kvbm/index.ts";
import { PolynomialTimingModel, recomputeMsPerBlock } from "../engines/index.ts";
import type { MockerKvbm, TimingModel } from "../engines/index.ts";
import { asWorkerId, sharedStoreWorkerId } from "../protocols/index.ts";
import type { KvCacheEvent, StorageTier } from "../protocols/index.ts";

export interface ReplayKvbm {
  /** G2 per engine, bytes. 0: off (and G3/G4 with it: they take what G2 evicts). */
  hostBytes: number;
  /** G3 per engine, bytes. Default 0 (off). */
  diskBytes?: number;
  /** G4 shared by the fleet, bytes. Default 0 (off). */
  remoteBytes?: number;
  /** Offload every block G2 evicts to G3/G4, not only reused ones. Default false. */
  offloadAll?: boolean;
  /** KV bytes per token. Default 131072 (an 8B model in fp16: 32 layers · 8 KV heads · 128 · 2 · 2 bytes). */
  kvBytesPerToken?: number;
  /** Tier bandwidths, GB/s. Defaults DEFAULT_TIER_GBPS (host 25, disk 3, remote 10). */
  gbps?: Partial<Record<LowerTier, number>>;
}

export interface ReplayKvbmFleet {
  costs: TransferCosts;
  tierCredit: Record<StorageTier, number>;
  shared: SharedTier | null;
  /** A fresh engine's tiers; its host/disk events go to `emit`. */
  engineKvbm(emit: TierEventSink): MockerKvbm;
  /** Where the shared G4's events go (call once, before the run). */
  onRemoteEvent(listener: (event: KvCacheEvent) => void): void;
}

export function createReplayKvbm(o: ReplayKvbm, engine: { blockSize: number; timing?: TimingModel; maxNumBatchedTokens: number }): ReplayKvbmFleet {
  const timing = engine.timing ?? new PolynomialTimingModel();
  const costs: TransferCosts = {
    bytesPerBlock: (o.kvBytesPerToken ?? 131072) * engine.blockSize,
    recomputeMsPerBlock: recomputeMsPerBlock(timing, engine.blockSize, engine.maxNumBatchedTokens),
    gbps: { ...DEFAULT_TIER_GBPS, ...o.gbps },
  };
  let listener: ((event: KvCacheEvent) => void) | null = null;
  const remoteId = sharedStoreWorkerId(asWorkerId("replay"));
  let remoteEventId = 0;
  const shared =
    (o.remoteBytes ?? 0) > 0
      ? new SharedTier(o.remoteBytes!, (data) => listener?.({ workerId: remoteId, eventId: remoteEventId++, tier: "remote", data }))
      : null;
  return {
    costs,
    tierCredit: deriveTierCredits(costs),
    shared,
    engineKvbm: (emit) => ({
      policy: new KvbmPolicy({ hostBytes: o.hostBytes, diskBytes: o.diskBytes ?? 0, remote: shared, offloadAll: o.offloadAll === true, emit }),
      costs,
    }),
    onRemoteEvent: (l) => {
      listener = l;
    },
  };
}
