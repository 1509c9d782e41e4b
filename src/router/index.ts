// router: where each request goes. Pure state and policy on top of protocols and kv (no I/O,
// no timers), so it runs unchanged in simulated time.
export { Router } from "./router.ts";
export type {
  RouterOptions,
  RouteRequest,
  RoutingDecision,
  RoutingTimings,
  RouterStats,
  WorkerLoad,
  RemoteBooking,
  CandidateScore,
  RouteOptions,
} from "./router.ts";
export { decideDisaggregation, planPrefill } from "./disaggregation-policy.ts";
export type { DisaggregationInput, DisaggregationOptions, PrefillPlace, PrefillPlan } from "./disaggregation-policy.ts";
export type { RouterIndexer } from "./router-indexer.ts";
export { POLICY_NAMES } from "./routing-policy.ts";
export type { PolicyName, RoutingPolicy, RoutingContext } from "./routing-policy.ts";
export { createPolicy } from "./policy-factory.ts";
export type { PolicyOptions } from "./policy-factory.ts";
export { RandomPolicy } from "./random-policy.ts";
export { RoundRobinPolicy } from "./round-robin-policy.ts";
export { LeastLoadedPolicy } from "./least-loaded-policy.ts";
export { PowerOfTwoPolicy } from "./power-of-two-policy.ts";
export { KvPolicy } from "./kv-policy.ts";
export type { KvPolicyOptions } from "./kv-policy.ts";
export { SglangPolicy } from "./sglang-policy.ts";
export type { SglangPolicyOptions } from "./sglang-policy.ts";
export { LlmdPolicy } from "./llmd-policy.ts";
export type { LlmdPolicyOptions } from "./llmd-policy.ts";
export { ActiveSequences } from "./active-sequences.ts";
export type { Booking, BookingInput } from "./active-sequences.ts";
export { WorkerState, compareLoad } from "./worker-state.ts";
export type { WorkerCapacity } from "./worker-state.ts";
export { createSeededRandom, mathRandom } from "./random-source.ts";
export type { RandomSource } from "./random-source.ts";
