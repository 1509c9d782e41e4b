// The contract every policy implements, and the per-route context the router hands it.
import type { RoutingHints, SequenceHash, WorkerId } from "../protocols/index.ts";
import type { RandomSource } from "./random-source.ts";
import type { WorkerState } from "./worker-state.ts";

export type PolicyName = "random" | "round-robin" | "least-loaded" | "power-of-two" | "kv" | "sglang" | "llmd";

export const POLICY_NAMES: readonly PolicyName[] = [
  "random",
  "round-robin",
  "least-loaded",
  "power-of-two",
  "kv",
  "sglang",
  "llmd",
];

/**
 * One route's inputs. The router reuses a single instance across calls (no per-route
 * allocation): a policy must not keep a reference to it or to `candidates` past `select`.
 */
export interface RoutingContext {
  /** Workers that are not busy; only the first `numCandidates` entries are valid. Never empty. */
  readonly candidates: readonly WorkerState[];
  readonly numCandidates: number;
  /** Sequence hashes of the prompt's full blocks (computed once per request). */
  readonly hashes: readonly SequenceHash[];
  readonly promptTokens: number;
  /** Blocks the prompt occupies: ceil(promptTokens / blockSize). */
  readonly promptBlocks: number;
  readonly blockSize: number;
  readonly hints: RoutingHints | undefined;
  readonly rng: RandomSource;
  /** Time of the decision, ms (simulated or wall). */
  readonly now: number;
  /**
   * Identifies this route: `worker.overlapBlocks(stamp)` and the `worker.match*` fields (when
   * `worker.matchStamp === stamp`) give the indexer's answer for this prompt.
   */
  readonly stamp: number;
  /** Blocks a worker caches overall (its footprint in the index), for tie-breaks. */
  cachedBlocks(worker: WorkerState): number;
}

/** Where a request goes. Policies are pure state + decision; the router does the bookkeeping. */
export interface RoutingPolicy {
  readonly name: string;
  /** Picks one of `ctx.candidates[0 .. numCandidates)`. */
  select(ctx: RoutingContext): WorkerState;
  /** Called after every placement, whoever chose it (policy or pin). */
  onRouted?(worker: WorkerState, ctx: RoutingContext): void;
  /** The cost the policy gives `worker` for the route in `ctx` (lower is better), for policies that score by cost. */
  cost?(worker: WorkerState, ctx: RoutingContext): number;
  onWorkerRemoved?(workerId: WorkerId): void;
}
