// random: a uniform choice among the workers that are not busy.
import { randomIndex } from "./random-source.ts";
import type { RoutingContext, RoutingPolicy } from "./routing-policy.ts";
import type { WorkerState } from "./worker-state.ts";

export class RandomPolicy implements RoutingPolicy {
  readonly name = "random";

  select(ctx: RoutingContext): WorkerState {
    return ctx.candidates[randomIndex(ctx.rng, ctx.numCandidates)]!;
  }
}
