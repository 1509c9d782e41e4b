// The mocker's tiers below G1: the KVBM policy with simulated stores (the policy's LRUs are the
// whole state; nothing is written anywhere) and the transfer-time model that prices onboarding.
//
//   onboard ms = Σ over onboarded blocks of bytesPerBlock / bandwidth(tier)   (charged in the step)
//   recompute  = (prefill(T) − prefill(0)) / T per token, T = maxNumBatchedTokens (the step's
//                marginal prefill cost at a full chunk, fixed overhead excluded)
// Offload is asynchronous and free: it rides on spare PCIe/disk/network bandwidth while the
// engine computes, and a block becomes readable in G2 as soon as G1 registers it.
import { KvbmPolicy, planOnboard, onboardMsPerBlock } from "../../kvbm/index.ts";
import type { LowerTier, OnboardPlan, TransferCosts } from "../../kvbm/index.ts";
import type { LocalBlockHash, SequenceHash } from "../../protocols/index.ts";
import type { TimingModel } from "./timing.ts";

export interface MockerKvbm {
  policy: KvbmPolicy;
  costs: TransferCosts;
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

  /** Which blocks [from, to) of a prompt to onboard rather than recompute. */
  plan(hashes: readonly SequenceHash[], from: number, to: number): OnboardPlan {
    this.hashes = hashes;
    const p = planOnboard(from, to, this.tierOf, this.costs, this.onboardMs);
    this.hashes = [];
    return p;
  }
}
