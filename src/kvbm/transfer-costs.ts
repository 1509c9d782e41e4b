// What moving KV costs, and what it saves: the numbers behind "onboard only when cheaper than
// recompute" and behind the router's tier credits. Pure arithmetic.
//
//   onboard(tier) = bytes / bandwidth(tier)            ms per block
//   recompute     = the engine's prefill time of the same block's tokens (measured or modelled)
//   credit(tier)  = max(0, 1 − onboard(tier) / recompute)      (device: 1)
//
// A credit is the fraction of a block's prefill that holding it in that tier saves: a block
// that onboards in a third of its prefill time saves two thirds of it. A tier slower than
// recompute saves nothing (credit 0) and the policy never onboards from it.
import type { StorageTier } from "../protocols/index.ts";

export type LowerTier = Exclude<StorageTier, "device">;
export const LOWER_TIERS: readonly LowerTier[] = ["host", "disk", "remote"];

/** Defaults, GB/s (1e9 bytes/s): PCIe-5 host copies, one NVMe drive, a 100 GbE link. */
export const DEFAULT_TIER_GBPS: Readonly<Record<LowerTier, number>> = { host: 25, disk: 3, remote: 10 };

export interface TransferCosts {
  /** KV bytes of one block (all layers, K and V). */
  bytesPerBlock: number;
  /** Prefill time of one block's tokens, ms. */
  recomputeMsPerBlock: number;
  /** Bandwidth of each lower tier, GB/s. */
  gbps: Readonly<Record<LowerTier, number>>;
}

/** Milliseconds to bring one block from `tier` into the engine. */
export function onboardMsPerBlock(costs: TransferCosts, tier: LowerTier): number {
  const gbps = costs.gbps[tier];
  return gbps > 0 ? (costs.bytesPerBlock / (gbps * 1e9)) * 1000 : Number.POSITIVE_INFINITY;
}

/** The router's credit per tier (see the header): 1 for device, 1 − onboard/recompute below. */
export function deriveTierCredits(costs: TransferCosts): Record<StorageTier, number> {
  const credit = (tier: LowerTier): number => {
    if (!(costs.recomputeMsPerBlock > 0)) return 0;
    return Math.max(0, 1 - onboardMsPerBlock(costs, tier) / costs.recomputeMsPerBlock);
  };
  return { device: 1, host: credit("host"), disk: credit("disk"), remote: credit("remote") };
}

/** The result of planning an onboard: how many blocks after the device prefix, from which tiers, at what cost. */
export interface OnboardPlan {
  numBlocks: number;
  /** Transfer time of those blocks, ms. */
  ms: number;
  /** Recompute time saved net of the transfer, ms (> 0 when numBlocks > 0). */
  savedMs: number;
  byTier: Record<LowerTier, number>;
}

/**
 * Which of the blocks after a device prefix to onboard. `tierOf(i)` gives the fastest lower
 * tier holding block i (null: nowhere, the prefix ends). Only a leading run can be used (KV is
 * causal), so the plan is the run length with the largest net saving Σ(recompute − onboard);
 * a slow tier in the middle is worth crossing only if the blocks after it pay for it.
 */
export function planOnboard(
  from: number,
  to: number,
  tierOf: (i: number) => LowerTier | null,
  costs: TransferCosts,
  onboardMs: Readonly<Record<LowerTier, number>> = {
    host: onboardMsPerBlock(costs, "host"),
    disk: onboardMsPerBlock(costs, "disk"),
    remote: onboardMsPerBlock(costs, "remote"),
  },
): OnboardPlan {
  const counts = { host: 0, disk: 0, remote: 0 };
  const best = { len: 0, saved: 0, ms: 0, host: 0, disk: 0, remote: 0 };
  let saved = 0;
  let ms = 0;
  for (let i = from; i < to; i++) {
    const tier = tierOf(i);
    if (tier === null) break;
    const cost = onboardMs[tier];
    ms += cost;
    saved += costs.recomputeMsPerBlock - cost;
    counts[tier]++;
    if (saved > best.saved) {
      best.len = i - from + 1;
      best.saved = saved;
      best.ms = ms;
      best.host = counts.host;
      best.disk = counts.disk;
      best.remote = counts.remote;
    }
  }
  return { numBlocks: best.len, ms: best.ms, savedMs: best.saved, byTier: { host: best.host, disk: best.disk, remote: best.remote } };
}
