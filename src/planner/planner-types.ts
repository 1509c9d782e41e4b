// The planner's vocabulary: what it observes of each pool over one adjustment interval, and
// what it decides. Plain structs, so the live path and `turbine replay` feed the same policy.

/** A pool of interchangeable workers: prefill, decode (disaggregated) or aggregated. */
export type PoolName = "prefill" | "decode" | "aggregated";

export const POOL_NAMES: readonly PoolName[] = ["prefill", "decode", "aggregated"];

/** What was observed of one pool over the last interval (means over the interval unless said). */
export interface PoolObservation {
  pool: PoolName;
  /** Workers serving now (ready, not draining). */
  numWorkers: number;
  /** Requests that arrived for this pool, per second. */
  requestRate: number;
  /** Mean prompt tokens per request (0: no requests). */
  meanInputTokens: number;
  /** Mean generated tokens per request (0: no requests). */
  meanOutputTokens: number;
  /** Share of prompt tokens found in a worker's prefix cache, 0..1 (optional; default 0). */
  prefixHitRate?: number;
  /** Mean time to first token, ms (NaN: none measured). */
  ttftMs: number;
  /** Mean inter-token latency, ms (NaN: none measured). */
  itlMs: number;
  /** Requests queued in the engines (admitted, not yet running), summed over the pool. */
  queueDepth: number;
  /** Mean fraction of KV blocks in use, 0..1. */
  kvUsage: number;
  /** Prompt tokens admitted and not yet computed, summed over the pool. */
  pendingPrefillTokens: number;
  /** Requests waiting at a frontend because the pool has no worker (scale to zero). */
  numWaitingForWorkers: number;
}

/** Everything a planner sees at one interval boundary. */
export interface PlannerInputs {
  /** Time of the boundary, ms (wall or simulated: the planner never reads a clock). */
  now: number;
  /** Length of the interval the observations cover, ms. */
  intervalMs: number;
  pools: readonly PoolObservation[];
}

/** Load a predictor expects for the next interval. */
export interface PredictedLoad {
  requestRate: number;
  meanInputTokens: number;
  meanOutputTokens: number;
  /** Share of prompt tokens expected from prefix caches (smoothed observation). */
  prefixHitRate: number;
}

/** What a planner wants of one pool. */
export interface PoolDecision {
  pool: PoolName;
  current: number;
  desired: number;
  /** Why, in a few words, with the numbers (logged). */
  reason: string;
  /**
   * The reason's kind, a short stable label for metrics: the load planner's signal ("itl",
   * "ttft", "kv use", "queue depth", "prefill queue"), "steady", "cooldown", "forecast",
   * "no profile", "unreachable", "scale to zero", "cold start", "min workers" (a floor
   * raised the wish; a cap keeps the wish's cause and says "capped" in the reason).
   */
  cause: string;
  /** The SLA planner's prediction for the next interval. */
  predicted?: PredictedLoad;
}

export interface PlannerDecision {
  now: number;
  pools: PoolDecision[];
}

/** Limits every decision respects. */
export interface PoolBounds {
  /** Per pool; default 1 (0 allows scale to zero, see scaleToZeroAfterMs). */
  minWorkers?: Partial<Record<PoolName, number>>;
  /** Per pool; default unbounded (the GPU budget still applies). */
  maxWorkers?: Partial<Record<PoolName, number>>;
  /** Workers of all pools together (each worker counts its gpusPerWorker). Default unbounded. */
  maxTotalGpus?: number;
  /** GPUs one worker of each pool uses. Default 1. */
  gpusPerWorker?: Partial<Record<PoolName, number>>;
  /**
   * A pool whose min is 0 goes to zero workers after this long without a request (ms);
   * undefined: never below one worker.
   */
  scaleToZeroAfterMs?: number;
}

/** A scaling policy: pure, deterministic, fed one PlannerInputs per interval. */
export interface Planner {
  readonly kind: "load" | "sla";
  decide(inputs: PlannerInputs): PlannerDecision;
}
