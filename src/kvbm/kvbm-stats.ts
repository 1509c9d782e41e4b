// What a KVBM reports, the same for a simulated one (mocker) and a live one (llama.cpp): the
// worker's /metrics exports it per tier.
import type { LowerTier } from "./transfer-costs.ts";

/** Onboard latency histogram bounds, seconds (cumulative buckets, as Prometheus). */
export const ONBOARD_BUCKETS_S = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5] as const;

export interface KvbmStats {
  /** Bytes and blocks each tier holds. */
  bytes: Record<LowerTier, number>;
  blocks: Record<LowerTier, number>;
  /** Entries written to each tier. */
  offloads: Record<LowerTier, number>;
  /** Entries (llama.cpp: states; mocker: blocks) onboarded from each tier. */
  onboards: Record<LowerTier, number>;
  /** Lookups answered by each tier. */
  hits: Record<LowerTier, number>;
  misses: number;
  /** Cumulative counts per ONBOARD_BUCKETS_S bound, then sum and count. */
  onboardSeconds: { buckets: number[]; sum: number; count: number };
  /** Times a full disk paused offloads to G3. */
  diskFull: number;
  /** Disk files that failed their checksum (each a miss). */
  corrupt: number;
  /** Remote-store calls that failed (each a miss or a skipped offload). */
  remoteUnavailable: number;
}

export class OnboardHistogram {
  readonly buckets = ONBOARD_BUCKETS_S.map(() => 0);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    for (let b = 0; b < ONBOARD_BUCKETS_S.length; b++) if (seconds <= ONBOARD_BUCKETS_S[b]!) this.buckets[b]!++;
    this.sum += seconds;
    this.count++;
  }

  snapshot(): KvbmStats["onboardSeconds"] {
    return { buckets: [...this.buckets], sum: this.sum, count: this.count };
  }
}
