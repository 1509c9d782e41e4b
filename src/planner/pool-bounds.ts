// The limits every planner's wish passes through: min/max per pool, a total GPU budget, and
// scale to zero (a pool whose minimum is 0 goes to zero only after it has been idle long
// enough, and comes back at once when a request waits for it).
import type { PlannerInputs, PoolBounds, PoolDecision, PoolName, PoolObservation } from "./planner-types.ts";

export class BoundsGuard {
  private readonly lastBusyAt = new Map<PoolName, number>();

  constructor(private readonly bounds: PoolBounds = {}) {}

  /** Records which pools saw work at this boundary (call once per decide). */
  observe(inputs: PlannerInputs): void {
    for (const o of inputs.pools) {
      const busy = o.requestRate > 0 || o.numWaitingForWorkers > 0 || o.queueDepth > 0 || o.pendingPrefillTokens > 0;
      if (busy || !this.lastBusyAt.has(o.pool)) this.lastBusyAt.set(o.pool, inputs.now);
    }
  }

  minWorkers(pool: PoolName): number {
    return this.bounds.minWorkers?.[pool] ?? 1;
  }

  maxWorkers(pool: PoolName): number {
    return this.bounds.maxWorkers?.[pool] ?? Number.POSITIVE_INFINITY;
  }

  /** The floor for a pool now: its minimum, or 1 until it has idled for scaleToZeroAfterMs. */
  floor(o: PoolObservation, now: number): number {
    const min = this.minWorkers(o.pool);
    if (o.numWaitingForWorkers > 0) return Math.max(1, min);
    if (min > 0) return min;
    const after = this.bounds.scaleToZeroAfterMs;
    if (after === undefined) return 1;
    const idleMs = now - (this.lastBusyAt.get(o.pool) ?? now);
    return idleMs >= after ? 0 : 1;
  }

  /** Clamps each wish to [floor, max], then fits the total into the GPU budget. */
  apply(wishes: Map<PoolName, number>, inputs: PlannerInputs): Map<PoolName, number> {
    const out = new Map<PoolName, number>();
    for (const o of inputs.pools) {
      const wish = wishes.get(o.pool) ?? o.numWorkers;
      out.set(o.pool, Math.min(this.maxWorkers(o.pool), Math.max(this.floor(o, inputs.now), Math.round(wish))));
    }
    const budget = this.bounds.maxTotalGpus;
    if (budget !== undefined) {
      const gpus = (p: PoolName): number => this.bounds.gpusPerWorker?.[p] ?? 1;
      const total = (): number => [...out].reduce((s, [p, n]) => s + n * gpus(p), 0);
      // Over budget: take a worker from the pool with the most workers above its floor.
      while (total() > budget) {
        let victim: PoolName | undefined;
        let most = 0;
        for (const o of inputs.pools) {
          const spare = out.get(o.pool)! - Math.max(1, this.floor(o, inputs.now));
          if (spare > 0 && out.get(o.pool)! > most) {
            most = out.get(o.pool)!;
            victim = o.pool;
          }
        }
        if (victim === undefined) break;
        out.set(victim, out.get(victim)! - 1);
      }
    }
    return out;
  }
}

/** Each pool's wish through the guard: its decision, with the reason saying so where a bound changed it. */
export function boundedDecisions(
  guard: BoundsGuard,
  inputs: PlannerInputs,
  wishes: Map<PoolName, number>,
  reasons: ReadonlyMap<PoolName, string>,
  causes: ReadonlyMap<PoolName, string>,
): PoolDecision[] {
  const bounded = guard.apply(wishes, inputs);
  return inputs.pools.map((o) => {
    const desired = bounded.get(o.pool)!;
    let reason = reasons.get(o.pool)!;
    let cause = causes.get(o.pool)!;
    const wish = wishes.get(o.pool)!;
    if (desired !== wish) [reason, cause] = boundedReason(desired, wish, o.numWorkers, o.numWaitingForWorkers, reason, cause);
    return { pool: o.pool, current: o.numWorkers, desired, reason, cause };
  });
}

/** Reason and cause of a decision the bounds changed: capped keeps its cause, a floor says so. */
export function boundedReason(desired: number, wish: number, current: number, numWaiting: number, reason: string, cause: string): [string, string] {
  if (desired === 0) return ["idle: scale to zero", "scale to zero"];
  if (current === 0 && numWaiting > 0) return ["requests waiting: cold start", "cold start"];
  if (desired < wish) return [`${reason}, capped at ${desired}`, cause];
  return [`${reason}, floor ${desired}`, "min workers"];
}
