// power-of-two: two distinct random candidates, the less loaded wins (requests, then blocks).
import { randomIndex } from "./random-source.ts";
import type { RoutingContext, RoutingPolicy } from "./routing-policy.ts";
import { compareLoad } from "./worker-state.ts";
import type { WorkerState } from "./worker-state.ts";

export class PowerOfTwoPolicy implements RoutingPolicy {
  readonly name = "power-of-two";

  select(ctx: RoutingContext): WorkerState {
    const n = ctx.numCandidates;
    if (n === 1) return ctx.candidates[0]!;
    const i = randomIndex(ctx.rng, n);
    let j = randomIndex(ctx.rng, n - 1);
    if (j >= i) j++; // distinct from i, still uniform
    const a = ctx.candidates[i]!;
    const b = ctx.candidates[j]!;
    return compareLoad(b, a) < 0 ? b : a;
  }
}
