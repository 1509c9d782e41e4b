// least-loaded: fewest active requests, then fewest active KV blocks; remaining ties random.
import type { RoutingContext, RoutingPolicy } from "./routing-policy.ts";
import { compareLoad } from "./worker-state.ts";
import type { WorkerState } from "./worker-state.ts";

export class LeastLoadedPolicy implements RoutingPolicy {
  readonly name = "least-loaded";

  select(ctx: RoutingContext): WorkerState {
    let best = ctx.candidates[0]!;
    let ties = 1;
    for (let i = 1; i < ctx.numCandidates; i++) {
      const w = ctx.candidates[i]!;
      const c = compareLoad(w, best);
      if (c < 0) {
        best = w;
        ties = 1;
      } else if (c === 0 && ctx.rng.next() * ++ties < 1) {
        best = w; // reservoir sampling: each tied worker kept with probability 1/ties
      }
    }
    return best;
  }
}
