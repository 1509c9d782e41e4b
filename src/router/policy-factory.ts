// Builds a policy from its name and the options of all policies (each takes its own).
import { KvPolicy } from "./kv-policy.ts";
import type { KvPolicyOptions } from "./kv-policy.ts";
import { LeastLoadedPolicy } from "./least-loaded-policy.ts";
import { LlmdPolicy } from "./llmd-policy.ts";
import type { LlmdPolicyOptions } from "./llmd-policy.ts";
import { PowerOfTwoPolicy } from "./power-of-two-policy.ts";
import { RandomPolicy } from "./random-policy.ts";
import { RoundRobinPolicy } from "./round-robin-policy.ts";
import type { PolicyName, RoutingPolicy } from "./routing-policy.ts";
import { SglangPolicy } from "./sglang-policy.ts";
import type { SglangPolicyOptions } from "./sglang-policy.ts";

/** Options of every policy in one object (their names do not overlap). */
export type PolicyOptions = KvPolicyOptions & SglangPolicyOptions & LlmdPolicyOptions;

export function createPolicy(name: PolicyName, options: PolicyOptions = {}): RoutingPolicy {
  switch (name) {
    case "random":
      return new RandomPolicy();
    case "round-robin":
      return new RoundRobinPolicy();
    case "least-loaded":
      return new LeastLoadedPolicy();
    case "power-of-two":
      return new PowerOfTwoPolicy();
    case "kv":
      return new KvPolicy(options);
    case "sglang":
      return new SglangPolicy(options);
    case "llmd":
      return new LlmdPolicy(options);
  }
}
