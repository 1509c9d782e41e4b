// llmd: a baseline reproducing the llm-d inference scheduler's default weighted scoring
// (Gateway API Inference Extension scorers, summed with weights, max-score picker):
//  - prefix-cache scorer: matched blocks / prompt blocks (plugins/multi/prefix/plugin.go),
//    here from the router's indexer (llm-d's "precise" mode) over the full-block hashes;
//  - queue scorer: (maxQueue − queue) / (maxQueue − minQueue) across the candidates, 1 when all
//    are equal (plugins/scorer/queue.go); queue = waiting + running requests of the worker;
//  - KV-cache utilization scorer: 1 − kvUsage (plugins/scorer/kvcache_utilization.go).
// Weights 2 : 2 : 1 by default; the highest total wins, ties random.
import type { RoutingContext, RoutingPolicy } from "./routing-policy.ts";
import type { WorkerState } from "./worker-state.ts";

export interface LlmdPolicyOptions {
  /** Scorer weights. Default prefix 2, queue 2, kvUsage 1. */
  weights?: { prefix?: number; queue?: number; kvUsage?: number };
}

const TIE_EPSILON = 1e-12;

export class LlmdPolicy implements RoutingPolicy {
  readonly name = "llmd";
  readonly prefixWeight: number;
  readonly queueWeight: number;
  readonly kvUsageWeight: number;

  constructor(options: LlmdPolicyOptions = {}) {
    this.prefixWeight = options.weights?.prefix ?? 2;
    this.queueWeight = options.weights?.queue ?? 2;
    this.kvUsageWeight = options.weights?.kvUsage ?? 1;
  }

  /** Total score of `w` for the current route, given the candidates' queue range. */
  score(w: WorkerState, ctx: RoutingContext, minQueue: number, maxQueue: number): number {
    const n = ctx.hashes.length;
    const prefix = n > 0 ? w.overlapBlocks(ctx.stamp) / n : 0;
    const queue = maxQueue === minQueue ? 1 : (maxQueue - w.numActiveRequests) / (maxQueue - minQueue);
    return this.prefixWeight * prefix + this.queueWeight * queue + this.kvUsageWeight * (1 - w.kvUsage);
  }

  select(ctx: RoutingContext): WorkerState {
    let minQueue = Infinity;
    let maxQueue = -Infinity;
    for (let i = 0; i < ctx.numCandidates; i++) {
      const q = ctx.candidates[i]!.numActiveRequests;
      if (q < minQueue) minQueue = q;
      if (q > maxQueue) maxQueue = q;
    }
    let best = ctx.candidates[0]!;
    let bestScore = this.score(best, ctx, minQueue, maxQueue);
    let ties = 1;
    for (let i = 1; i < ctx.numCandidates; i++) {
      const w = ctx.candidates[i]!;
      const s = this.score(w, ctx, minQueue, maxQueue);
      if (s > bestScore + TIE_EPSILON) {
        best = w;
        bestScore = s;
        ties = 1;
      } else if (s >= bestScore - TIE_EPSILON && ctx.rng.next() * ++ties < 1) {
        best = w;
      }
    }
    return best;
  }
}
