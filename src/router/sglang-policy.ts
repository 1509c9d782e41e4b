// sglang: a baseline reproducing SGLang's router `cache_aware` policy
// (sgl-router/src/policies/cache_aware.rs):
//  - load = active requests. The pool is imbalanced when max − min > balanceAbsThreshold AND
//    max > balanceRelThreshold · min; then the least-loaded worker wins (shortest queue).
//  - otherwise the longest prefix match in its own approximate tree of routed requests: if the
//    match ratio (matched tokens / prompt tokens) is at least cacheThreshold the matching worker
//    wins, else the worker with the smallest tree (most free cache, SGLang's "smallest tenant").
//  - every placement is inserted in the tree, in both modes.
// Differences: block granularity (sequence hashes) instead of SGLang's character tree; SGLang
// compares `ratio > threshold`, we use `>=`; ties go to the least loaded, then random.
import { ApproxPrefixTree } from "./approx-prefix-tree.ts";
import type { RoutingContext, RoutingPolicy } from "./routing-policy.ts";
import type { WorkerId } from "../protocols/index.ts";
import type { WorkerState } from "./worker-state.ts";

export interface SglangPolicyOptions {
  /** Minimum match ratio for cache-affine routing. Default 0.3. */
  cacheThreshold?: number;
  /** Default 64 requests. */
  balanceAbsThreshold?: number;
  /** Default 1.5. */
  balanceRelThreshold?: number;
  /** Tree size bound per worker, in blocks (SGLang's max_tree_size). Default 65536. */
  maxTreeBlocks?: number;
}

export class SglangPolicy implements RoutingPolicy {
  readonly name = "sglang";
  readonly cacheThreshold: number;
  readonly balanceAbsThreshold: number;
  readonly balanceRelThreshold: number;
  readonly tree: ApproxPrefixTree;

  constructor(options: SglangPolicyOptions = {}) {
    this.cacheThreshold = options.cacheThreshold ?? 0.3;
    this.balanceAbsThreshold = options.balanceAbsThreshold ?? 64;
    this.balanceRelThreshold = options.balanceRelThreshold ?? 1.5;
    this.tree = new ApproxPrefixTree(options.maxTreeBlocks ?? 65536);
  }

  /** Whether the candidates' loads trip SGLang's imbalance test. */
  isImbalanced(ctx: RoutingContext): boolean {
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < ctx.numCandidates; i++) {
      const load = ctx.candidates[i]!.numActiveRequests;
      if (load < min) min = load;
      if (load > max) max = load;
    }
    return max - min > this.balanceAbsThreshold && max > this.balanceRelThreshold * min;
  }

  select(ctx: RoutingContext): WorkerState {
    if (ctx.numCandidates === 1) return ctx.candidates[0]!;
    if (this.isImbalanced(ctx)) return leastRequests(ctx);

    // Deepest recorded prefix whose holders include a candidate.
    for (let depth = this.tree.matchDepth(ctx.hashes); depth > 0; depth--) {
      const ratio = ctx.promptTokens > 0 ? Math.min(depth * ctx.blockSize, ctx.promptTokens) / ctx.promptTokens : 0;
      if (ratio < this.cacheThreshold) break;
      const holders = this.tree.holdersOf(ctx.hashes[depth - 1]!);
      if (holders === undefined) continue;
      let best: WorkerState | null = null;
      let ties = 0;
      for (const w of holders) {
        if (w.candidateStamp !== ctx.stamp) continue;
        if (best === null || w.numActiveRequests < best.numActiveRequests) {
          best = w;
          ties = 1;
        } else if (w.numActiveRequests === best.numActiveRequests && ctx.rng.next() * ++ties < 1) {
          best = w;
        }
      }
      if (best !== null) return best;
    }
    return this.smallestTree(ctx);
  }

  onRouted(worker: WorkerState, ctx: RoutingContext): void {
    this.tree.insert(worker, ctx.hashes);
  }

  onWorkerRemoved(workerId: WorkerId): void {
    this.tree.removeWorker(workerId);
  }

  private smallestTree(ctx: RoutingContext): WorkerState {
    let best = ctx.candidates[0]!;
    let bestSize = this.tree.sizeOf(best.workerId);
    let ties = 1;
    for (let i = 1; i < ctx.numCandidates; i++) {
      const w = ctx.candidates[i]!;
      const size = this.tree.sizeOf(w.workerId);
      const c = size - bestSize || w.numActiveRequests - best.numActiveRequests;
      if (c < 0) {
        best = w;
        bestSize = size;
        ties = 1;
      } else if (c === 0 && ctx.rng.next() * ++ties < 1) {
        best = w;
        bestSize = size;
      }
    }
    return best;
  }
}

function leastRequests(ctx: RoutingContext): WorkerState {
  let best = ctx.candidates[0]!;
  let ties = 1;
  for (let i = 1; i < ctx.numCandidates; i++) {
    const w = ctx.candidates[i]!;
    if (w.numActiveRequests < best.numActiveRequests) {
      best = w;
      ties = 1;
    } else if (w.numActiveRequests === best.numActiveRequests && ctx.rng.next() * ++ties < 1) {
      best = w;
    }
  }
  return best;
}
