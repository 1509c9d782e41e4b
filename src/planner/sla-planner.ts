// The SLA planner: forecasts the next interval's load per pool (request rate, prompt and output
// lengths), and picks the fewest workers whose estimated TTFT and ITL (sla-model.ts, from the
// measured worker profile) meet the targets, within the pool bounds and the GPU budget.
import { BoundsGuard, boundedDecisions } from "./pool-bounds.ts";
import type { Planner, PlannerDecision, PlannerInputs, PoolBounds, PoolDecision, PoolName, PredictedLoad } from "./planner-types.ts";
import { createPredictor } from "./predictors.ts";
import type { Predictor, PredictorName, PredictorOptions } from "./predictors.ts";
import { estimateAggregated, estimateDecode, estimatePrefill } from "./sla-model.ts";
import type { LoadShape, PoolEstimate } from "./sla-model.ts";
import { ProfileModel } from "./worker-profile.ts";
import type { WorkerProfile } from "./worker-profile.ts";

export interface SlaPlannerOptions extends PoolBounds {
  ttftTargetMs: number;
  itlTargetMs: number;
  /** Profiles per pool (aggregated; or prefill and decode). A pool without one keeps its size. */
  profiles: Partial<Record<PoolName, WorkerProfile>>;
  /** Default "constant". */
  predictor?: PredictorName;
  predictorOptions?: PredictorOptions;
  /** Share of the targets planned for, leaving room for the noise the means hide. Default 0.8. */
  targetFraction?: number;
  /** Highest KV use planned for (above it the engine preempts). Default 0.85. */
  maxKvUsage?: number;
  /** Largest pool the search considers when no maxWorkers is given. Default 1024. */
  searchLimit?: number;
  /**
   * Intervals ahead the fleet is sized for: the busiest forecast of the next `lookahead`
   * intervals. Set it to cover a new worker's start-up (1 + startup / interval). Default 1.
   */
  lookaheadIntervals?: number;
}

interface PoolForecast {
  rate: Predictor;
  input: Predictor;
  output: Predictor;
  /** Prefix hit rate, smoothed (it moves slowly; no forecast needed). */
  hitRate: number;
}

export class SlaPlanner implements Planner {
  readonly kind = "sla";
  private readonly guard: BoundsGuard;
  private readonly forecasts = new Map<PoolName, PoolForecast>();
  private readonly models = new Map<PoolName, ProfileModel>();

  constructor(private readonly options: SlaPlannerOptions) {
    if (!(options.ttftTargetMs > 0 && options.itlTargetMs > 0)) throw new RangeError("SLA planner: ttftTargetMs and itlTargetMs must be positive");
    this.guard = new BoundsGuard(options);
    for (const [pool, profile] of Object.entries(options.profiles) as [PoolName, WorkerProfile][]) this.models.set(pool, new ProfileModel(profile));
  }

  decide(inputs: PlannerInputs): PlannerDecision {
    this.guard.observe(inputs);
    const wishes = new Map<PoolName, number>();
    const reasons = new Map<PoolName, string>();
    const causes = new Map<PoolName, string>();
    const predictions = new Map<PoolName, PredictedLoad>();
    for (const o of inputs.pools) {
      const f = this.forecastOf(o.pool);
      f.rate.observe(o.requestRate);
      // Lengths are only observed when requests came; an idle interval says nothing about them.
      if (o.requestRate > 0) {
        f.input.observe(o.meanInputTokens);
        f.output.observe(o.meanOutputTokens);
        if (o.prefixHitRate !== undefined) f.hitRate = 0.7 * f.hitRate + 0.3 * o.prefixHitRate;
      }
      // The busiest of the intervals ahead; plus the backlog queued in the engines, to be
      // cleared within the next interval (a fleet that fell behind catches up).
      let rate = 0;
      for (let k = 1; k <= (this.options.lookaheadIntervals ?? 1); k++) rate = Math.max(rate, f.rate.predict(k));
      const backlogRate = o.queueDepth / (inputs.intervalMs / 1000);
      const predicted: PredictedLoad = {
        requestRate: Math.max(0, rate) + backlogRate,
        meanInputTokens: Math.max(1, f.input.predict()),
        meanOutputTokens: Math.max(1, f.output.predict()),
        prefixHitRate: f.hitRate,
      };
      predictions.set(o.pool, predicted);
      const model = this.models.get(o.pool);
      if (model === undefined) {
        wishes.set(o.pool, o.numWorkers);
        reasons.set(o.pool, "no profile");
        causes.set(o.pool, "no profile");
        continue;
      }
      const [n, reason, cause] = this.size(o.pool, model, predicted);
      wishes.set(o.pool, n);
      reasons.set(o.pool, reason);
      causes.set(o.pool, cause);
    }
    const pools: PoolDecision[] = boundedDecisions(this.guard, inputs, wishes, reasons, causes).map((d) => ({ ...d, predicted: predictions.get(d.pool) }));
    return { now: inputs.now, pools };
  }

  /** The fewest workers meeting both targets for the predicted load, and why. */
  private size(pool: PoolName, model: ProfileModel, p: PredictedLoad): [number, string, string] {
    if (p.requestRate <= 0) return [0, "no load predicted", "forecast"];
    const load: LoadShape = { requestRate: p.requestRate, inputTokens: p.meanInputTokens, outputTokens: p.meanOutputTokens, prefixHitRate: p.prefixHitRate };
    const limit = Math.min(this.guard.maxWorkers(pool), this.options.searchLimit ?? 1024);
    const fraction = this.options.targetFraction ?? 0.8;
    // A hair of slack: a load that meets a target exactly is not refused for a rounding error.
    const ttft = this.options.ttftTargetMs * fraction * (1 + 1e-9);
    const itl = this.options.itlTargetMs * fraction * (1 + 1e-9);
    const maxKv = this.options.maxKvUsage ?? 0.85;
    const meets = (e: PoolEstimate): boolean => {
      if (!e.stable) return false;
      if (pool === "prefill") return e.ttftMs <= ttft;
      if (e.kvUsage > maxKv || e.itlMs > itl) return false;
      return pool === "decode" || e.ttftMs <= ttft;
    };
    const estimate = (n: number): PoolEstimate =>
      pool === "prefill" ? estimatePrefill(model, load, n) : pool === "decode" ? estimateDecode(model, load, n) : estimateAggregated(model, load, n);
    for (let n = 1; n <= limit; n++) {
      const e = estimate(n);
      if (meets(e)) return [n, `predicted ${p.requestRate.toFixed(2)} req/s: ttft ${fmt(e.ttftMs)} ms, itl ${fmt(e.itlMs)} ms at ${n}`, "forecast"];
    }
    return [limit, `targets unreachable within ${limit} workers`, "unreachable"];
  }

  private forecastOf(pool: PoolName): PoolForecast {
    let f = this.forecasts.get(pool);
    if (f === undefined) {
      const name = this.options.predictor ?? "constant";
      const o = this.options.predictorOptions;
      f = { rate: createPredictor(name, o), input: createPredictor(name, o), output: createPredictor(name, o), hitRate: 0 };
      this.forecasts.set(pool, f);
    }
    return f;
  }
}

const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : "∞");
