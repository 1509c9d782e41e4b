// round-robin: cycles through the workers in the order they were added, skipping busy ones.
import type { RoutingContext, RoutingPolicy } from "./routing-policy.ts";
import type { WorkerState } from "./worker-state.ts";

export class RoundRobinPolicy implements RoutingPolicy {
  readonly name = "round-robin";
  /** Slot of the worker chosen last; the next choice is the first candidate after it. */
  private lastSlot = -1;

  select(ctx: RoutingContext): WorkerState {
    // Candidates are in slot order: the first one past lastSlot, else wrap to the first.
    let chosen = ctx.candidates[0]!;
    for (let i = 0; i < ctx.numCandidates; i++) {
      const w = ctx.candidates[i]!;
      if (w.slot > this.lastSlot) {
        chosen = w;
        break;
      }
    }
    this.lastSlot = chosen.slot;
    return chosen;
  }
}
