// Conditional disaggregation: whether a prompt, already placed on a decode worker, is prefilled
// there or on a prefill worker, and which prefill worker. One pure owner (after Dynamo's
// conditional_disagg.rs), fed a plain struct, called by the frontend and by `turbine replay`.
import { isTurbineError } from "../protocols/index.ts";
import type { RoutingDecision } from "./router.ts";

/** The rule's thresholds (the frontend's --max-local-prefill-tokens, --max-prefill-queue-tokens). */
export interface DisaggregationOptions {
  /**
   * Prompts whose uncached part (on the chosen decode worker) is shorter than this are
   * prefilled locally, on the decode worker; 0 sends every prompt to a prefill worker.
   * Default 512.
   */
  maxLocalPrefillTokens?: number;
  /** Prefill locally while the prefill workers have more than this many prompt tokens queued each. Default 16384. */
  maxPrefillQueueTokens?: number;
}

/** What the decision looks at, for one request. */
export interface DisaggregationInput {
  /** Prompt tokens. */
  promptTokens: number;
  /** Of them, tokens the chosen decode worker caches (its routing decision's cachedTokens). */
  cachedTokens: number;
  /** Prefill workers that can be routed to now. */
  numPrefillWorkers: number;
  /** Prompt tokens queued per prefill worker (Router.meanActivePrefillTokens of the prefill router). */
  prefillQueueTokens: number;
}

/** Why a prompt is prefilled where it is (the reason label of the local-prefill counter). */
export type PrefillPlace =
  | "remote"
  /** No prefill worker in the fleet (aggregated serving). */
  | "no_prefill_workers"
  /** The uncached part is short (short prompt, or mostly cached on the decode worker). */
  | "short_prompt"
  /** The prefill workers' queues are full. */
  | "prefill_queue_full"
  /** The prefill router refused: every prefill worker over its busy thresholds. */
  | "prefill_busy";

/** Prefills remotely or not; pure. */
export function decideDisaggregation(input: DisaggregationInput, options: DisaggregationOptions = {}): PrefillPlace {
  if (input.numPrefillWorkers <= 0) return "no_prefill_workers";
  if (input.promptTokens - input.cachedTokens < (options.maxLocalPrefillTokens ?? 512)) return "short_prompt";
  if (input.prefillQueueTokens > (options.maxPrefillQueueTokens ?? 16_384)) return "prefill_queue_full";
  return "remote";
}

/** The plan for one request: a prefill worker's decision, or a local prefill and why. */
export type PrefillPlan = { place: "remote"; decision: RoutingDecision } | { place: Exclude<PrefillPlace, "remote">; decision: null };

/**
 * The decision, then the prefill router's choice (`routePrefill`: the prefill pool's
 * Router.route and whatever the caller books with it). A prefill router with every worker busy,
 * or none left, means a local prefill, never a failed request.
 */
export function planPrefill(input: DisaggregationInput, options: DisaggregationOptions, routePrefill: () => RoutingDecision): PrefillPlan {
  const place = decideDisaggregation(input, options);
  if (place !== "remote") return { place, decision: null };
  try {
    return { place, decision: routePrefill() };
  } catch (err) {
    if (isTurbineError(err) && (err.code === "ROUTER_ALL_BUSY" || err.code === "ROUTER_NO_WORKERS")) return { place: "prefill_busy", decision: null };
    throw err;
  }
}
