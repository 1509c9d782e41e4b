// The KV block manager in `turbine replay`: each mocker engine runs the same KvbmPolicy the
// live engines run, with simulated stores (the policy's LRUs), G2/G3 per engine and one G4
// shared by the fleet. Onboarding is priced by the mocker's transfer-time model (bytes / tier
// bandwidth) and the router's tier credits are derived from the same costs
// (deriveTierCredits), not assumed.
import { deriveTierCredits, SharedTier } from "../kvbm/index.ts";
import type { LowerTier, TransferCosts } from "../kvbm/index.ts";
import { mockerTransferCosts, PolynomialTimingModel } from "../engines/index.ts";
import type { MockerKvbmConfig, TimingModel } from "../engines/index.ts";
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
  /** Every engine's settings (the G4 in it is shared). */
  engine: MockerKvbmConfig;
  /** Where the shared G4's events go (call once, before the run). */
  onRemoteEvent(listener: (event: KvCacheEvent) => void): void;
}

export function createReplayKvbm(o: ReplayKvbm, engine: { blockSize: number; timing?: TimingModel; maxNumBatchedTokens: number }): ReplayKvbmFleet {
  let listener: ((event: KvCacheEvent) => void) | null = null;
  const remoteId = sharedStoreWorkerId(asWorkerId("replay"));
  let remoteEventId = 0;
  const shared =
    (o.remoteBytes ?? 0) > 0
      ? new SharedTier(o.remoteBytes!, (data) => listener?.({ workerId: remoteId, eventId: remoteEventId++, tier: "remote", data }))
      : null;
  const config: MockerKvbmConfig = { hostBytes: o.hostBytes, diskBytes: o.diskBytes ?? 0, remote: shared, offloadAll: o.offloadAll === true, kvBytesPerToken: o.kvBytesPerToken, gbps: o.gbps };
  const costs = mockerTransferCosts(config, { ...engine, timing: engine.timing ?? new PolynomialTimingModel() });
  return {
    costs,
    tierCredit: deriveTierCredits(costs),
    engine: config,
    onRemoteEvent: (l) => {
      listener = l;
    },
  };
}
