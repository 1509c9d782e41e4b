// kvbm: the KV block manager. Tiers below the engine's own KV memory (G2 host, G3 disk, G4 a
// shared remote store), the pure policy that moves blocks between them, and the stores.
export { TierLru, emptyChange } from "./tier-lru.ts";
export type { TierChange, TierEntry } from "./tier-lru.ts";
export { KvbmPolicy, SharedTier } from "./kvbm-policy.ts";
export type { KvbmPolicyCounters, KvbmPolicyOptions, TierEventSink, TierIo } from "./kvbm-policy.ts";
export { DEFAULT_TIER_GBPS, LOWER_TIERS, deriveTierCredits, onboardMsPerBlock, planOnboard } from "./transfer-costs.ts";
export type { LowerTier, OnboardPlan, TransferCosts } from "./transfer-costs.ts";
export { decodeEntry, encodeEntry, encodedSize, keyHex } from "./entry-codec.ts";
export type { DecodedEntry } from "./entry-codec.ts";
export { DiskStore } from "./disk-store.ts";
export type { PutResult } from "./disk-store.ts";
export { RedisStore } from "./redis-store.ts";
export type { RedisStoreOptions } from "./redis-store.ts";
export { KvBlockManager } from "./kv-block-manager.ts";
export { ONBOARD_BUCKETS_S, OnboardHistogram } from "./kvbm-stats.ts";
export type { KvbmStats } from "./kvbm-stats.ts";
export type { KvBlockManagerOptions, KvBlockManagerStats, Onboarded } from "./kv-block-manager.ts";
