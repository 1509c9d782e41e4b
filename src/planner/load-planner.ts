// The load planner: scales each pool by the pressure it observes, no forecast, no profile.
// Pressure is the worst of its signals, each as a ratio to its target (1 = at target):
//   prefill / aggregated: pending prefill tokens per worker, queued requests per worker, TTFT;
//   decode / aggregated:  KV use, ITL.
// Above 1 it adds workers in proportion (ceil(n · pressure), at most `maxStep` at a time);
// it removes one only when the load would still sit below `scaleDownBelow` on one worker
// fewer, for `scaleDownIntervals` intervals in a row. After any change the pool waits
// `cooldownMs` (new workers need time to take load): so a noisy constant load never flaps.
import { BoundsGuard, boundedDecisions } from "./pool-bounds.ts";
import type { Planner, PlannerDecision, PlannerInputs, PoolBounds, PoolName, PoolObservation } from "./planner-types.ts";

export interface LoadPlannerOptions extends PoolBounds {
  /** TTFT and ITL targets, ms (optional signals). */
  ttftTargetMs?: number;
  itlTargetMs?: number;
  /** Pending prefill tokens per worker at target. Default 8192. */
  prefillQueueTokensTarget?: number;
  /** Queued requests per worker at target. Default 4. */
  queueDepthTarget?: number;
  /** KV use at target. Default 0.8. */
  kvUsageTarget?: number;
  /** Scale down when pressure on one worker fewer stays below this. Default 0.6. */
  scaleDownBelow?: number;
  /** Consecutive intervals below before a scale-down. Default 2. */
  scaleDownIntervals?: number;
  /** No change to a pool for this long after its last change, ms. Default 60000. */
  cooldownMs?: number;
  /** Most workers added at once. Default 4. */
  maxStep?: number;
}

interface PoolState {
  lastChangeAt: number;
  lowIntervals: number;
}

export class LoadPlanner implements Planner {
  readonly kind = "load";
  private readonly guard: BoundsGuard;
  private readonly state = new Map<PoolName, PoolState>();

  constructor(private readonly options: LoadPlannerOptions = {}) {
    this.guard = new BoundsGuard(options);
  }

  /** The pool's pressure and the signal that sets it. */
  pressure(o: PoolObservation): [number, string] {
    const opt = this.options;
    const n = Math.max(1, o.numWorkers);
    const signals: [number, string][] = [];
    if (o.pool !== "decode") {
      signals.push([o.pendingPrefillTokens / n / (opt.prefillQueueTokensTarget ?? 8192), "prefill queue"]);
      signals.push([o.queueDepth / n / (opt.queueDepthTarget ?? 4), "queue depth"]);
      if (opt.ttftTargetMs !== undefined && Number.isFinite(o.ttftMs)) signals.push([o.ttftMs / opt.ttftTargetMs, "ttft"]);
    }
    if (o.pool !== "prefill") {
      signals.push([o.kvUsage / (opt.kvUsageTarget ?? 0.8), "kv use"]);
      if (opt.itlTargetMs !== undefined && Number.isFinite(o.itlMs)) signals.push([o.itlMs / opt.itlTargetMs, "itl"]);
    }
    let worst: [number, string] = [0, "idle"];
    for (const s of signals) if (s[0] > worst[0]) worst = s;
    return worst;
  }

  decide(inputs: PlannerInputs): PlannerDecision {
    this.guard.observe(inputs);
    const wishes = new Map<PoolName, number>();
    const reasons = new Map<PoolName, string>();
    const causes = new Map<PoolName, string>();
    const opt = this.options;
    for (const o of inputs.pools) {
      let s = this.state.get(o.pool);
      if (s === undefined) this.state.set(o.pool, (s = { lastChangeAt: Number.NEGATIVE_INFINITY, lowIntervals: 0 }));
      const [p, signal] = this.pressure(o);
      const n = o.numWorkers;
      const cooling = inputs.now - s.lastChangeAt < (opt.cooldownMs ?? 60_000);
      const fewer = n > 1 ? (p * n) / (n - 1) : p;
      if (fewer < (opt.scaleDownBelow ?? 0.6)) s.lowIntervals++;
      else s.lowIntervals = 0;
      let wish = n;
      let reason = `steady (${signal} at ${pct(p)} of target)`;
      let cause = "steady";
      if (n === 0) {
        reason = "scaled to zero";
      } else if (cooling) {
        reason = `cooldown (${signal} at ${pct(p)} of target)`;
        cause = "cooldown";
      } else if (p > 1) {
        wish = Math.min(n + (opt.maxStep ?? 4), Math.ceil(n * p));
        reason = `${signal} at ${pct(p)} of target`;
        cause = signal;
      } else if (s.lowIntervals >= (opt.scaleDownIntervals ?? 2)) {
        wish = n - 1;
        reason = `${signal} would be ${pct(fewer)} of target on ${n - 1}`;
        cause = signal;
      }
      wishes.set(o.pool, wish);
      reasons.set(o.pool, reason);
      causes.set(o.pool, cause);
    }
    const pools = boundedDecisions(this.guard, inputs, wishes, reasons, causes);
    for (const d of pools) {
      if (d.desired === d.current) continue;
      const s = this.state.get(d.pool)!;
      s.lastChangeAt = inputs.now;
      s.lowIntervals = 0;
    }
    return { now: inputs.now, pools };
  }
}

const pct = (x: number): string => `${Math.round(x * 100)}%`;
