// The metric families an operator watches a fleet by, beside FrontendMetrics' originals (the
// names follow Dynamo's frontend/router families): queued requests, input and output sequence
// lengths, the router's hits per KV tier and its decisions per worker. On the frontend's
// registry; per-model and per-worker children are bound once and cached.
import { Counter, Gauge, Histogram } from "prom-client";
import type { Registry } from "prom-client";
import type { StorageTier } from "../protocols/index.ts";

const SEQUENCE_BUCKETS = [16, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 131072];
const TIERS: readonly StorageTier[] = ["device", "host", "disk", "remote"];

export class FleetMetrics {
  readonly queued: Gauge<"model">;
  readonly inputSequence: Histogram<"model">;
  readonly outputSequence: Histogram<"model">;
  readonly hitBlocks: Counter<"model" | "tier">;
  readonly promptBlocks: Counter<"model">;
  readonly decisions: Counter<"model" | "worker">;
  private readonly decisionChildren = new Map<string, Counter.Internal>();
  /** Per model: the router counters already reported (the router's are cumulative). */
  private readonly reported = new Map<string, { prompt: number; tiers: Record<StorageTier, number> }>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.queued = new Gauge({
      name: "turbine_requests_queued",
      help: "Requests routed and waiting for their first token (queued or in prefill)",
      labelNames: ["model"] as const,
      registers,
    });
    this.inputSequence = new Histogram({
      name: "turbine_input_sequence_tokens",
      help: "Prompt length of each request, in tokens (ISL)",
      labelNames: ["model"] as const,
      buckets: SEQUENCE_BUCKETS,
      registers,
    });
    this.outputSequence = new Histogram({
      name: "turbine_output_sequence_tokens",
      help: "Generated length of each finished request, in tokens (OSL)",
      labelNames: ["model"] as const,
      buckets: SEQUENCE_BUCKETS,
      registers,
    });
    this.hitBlocks = new Counter({
      name: "turbine_router_kv_hit_blocks_total",
      help: "Routed prompt blocks the chosen worker already held, by the tier it held them in",
      labelNames: ["model", "tier"] as const,
      registers,
    });
    this.promptBlocks = new Counter({
      name: "turbine_router_prompt_blocks_total",
      help: "Blocks of the routed prompts (the denominator of the hit rate per tier)",
      labelNames: ["model"] as const,
      registers,
    });
    this.decisions = new Counter({
      name: "turbine_router_decisions_total",
      help: "Requests the router placed on each worker",
      labelNames: ["model", "worker"] as const,
      registers,
    });
  }

  /** Counts one decision (on the request path: one map lookup). */
  decided(model: string, worker: string): void {
    const key = `${model}\u0000${worker}`;
    let child = this.decisionChildren.get(key);
    if (!child) this.decisionChildren.set(key, (child = this.decisions.labels({ model, worker })));
    child.inc();
  }

  /** Drops a worker's decision series (it left the fleet). */
  forgetWorker(model: string, worker: string): void {
    this.decisionChildren.delete(`${model}\u0000${worker}`);
    this.decisions.remove({ model, worker });
  }

  /** Brings the per-tier counters up to a router's cumulative stats (run at scrape time). */
  reportRouterStats(model: string, numPromptBlocks: number, hitByTier: Record<StorageTier, number>): void {
    let r = this.reported.get(model);
    if (!r) this.reported.set(model, (r = { prompt: 0, tiers: { device: 0, host: 0, disk: 0, remote: 0 } }));
    if (numPromptBlocks > r.prompt) this.promptBlocks.inc({ model }, numPromptBlocks - r.prompt);
    else this.promptBlocks.inc({ model }, 0); // the series exists from the first scrape
    r.prompt = numPromptBlocks;
    for (const tier of TIERS) {
      const delta = hitByTier[tier] - r.tiers[tier];
      this.hitBlocks.inc({ model, tier }, delta > 0 ? delta : 0);
      r.tiers[tier] = hitByTier[tier];
    }
  }
}
