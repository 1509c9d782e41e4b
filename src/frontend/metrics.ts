// Prometheus metrics of the frontend (and, in one process, of its router), on their own
// registry so that several frontends in one process (tests) do not collide. The request path
// uses per-model children bound once (`forModel`): resolving labels on every observation was
// a measurable share of a request's CPU. Per-worker router gauges are read at scrape time.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { FleetMetrics } from "./fleet-metrics.ts";
import { FleetState } from "./fleet-state.ts";
import type { TokenizerThreadCounters } from "../model/index.ts";
import type { PromptCacheCounters } from "./prompt-cache.ts";

const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const OVERHEAD_BUCKETS_S = [5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2];

export class FrontendMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "turbine_requests_total",
    help: "Requests received, by model, endpoint and HTTP status",
    labelNames: ["model", "endpoint", "status"] as const,
    registers: [this.registry],
  });
  readonly inFlight = new Gauge({
    name: "turbine_requests_in_flight",
    help: "Requests being served now",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });
  readonly ttft = new Histogram({
    name: "turbine_time_to_first_token_seconds",
    help: "Time from request arrival to the first generated token",
    labelNames: ["model"] as const,
    buckets: LATENCY_BUCKETS_S,
    registers: [this.registry],
  });
  readonly itl = new Histogram({
    name: "turbine_inter_token_latency_seconds",
    help: "Time between consecutive generated tokens",
    labelNames: ["model"] as const,
    buckets: LATENCY_BUCKETS_S,
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: "turbine_request_duration_seconds",
    help: "Time from request arrival to its last byte",
    labelNames: ["model"] as const,
    buckets: LATENCY_BUCKETS_S,
    registers: [this.registry],
  });
  readonly inputTokens = new Counter({
    name: "turbine_input_tokens_total",
    help: "Prompt tokens of served requests",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });
  readonly outputTokens = new Counter({
    name: "turbine_output_tokens_total",
    help: "Generated tokens of served requests",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });
  readonly cachedTokens = new Counter({
    name: "turbine_cached_tokens_total",
    help: "Prompt tokens the serving worker already held in its KV cache (router's estimate)",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });
  readonly migrations = new Counter({
    name: "turbine_request_migrations_total",
    help: "Requests resent to another worker after their worker failed mid-stream",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });
  readonly remotePrefills = new Counter({
    name: "turbine_remote_prefills_total",
    help: "Prompts sent to a prefill worker (disaggregated serving), by outcome (ok, empty, failed: prefilled locally instead)",
    labelNames: ["model", "outcome"] as const,
    registers: [this.registry],
  });
  readonly localPrefills = new Counter({
    name: "turbine_local_prefills_total",
    help: "Prompts of a model with prefill workers prefilled on their decode worker instead, by reason (short_prompt, prefill_queue_full, prefill_busy, no_prefill_workers, prefill_failed, prefill_empty)",
    labelNames: ["model", "reason"] as const,
    registers: [this.registry],
  });
  readonly routerOverhead = new Histogram({
    name: "turbine_router_overhead_seconds",
    help: "Time the router spent per request, by phase (hash, match, schedule)",
    labelNames: ["model", "phase"] as const,
    buckets: OVERHEAD_BUCKETS_S,
    registers: [this.registry],
  });
  readonly promptCacheHits = new Counter({
    name: "turbine_prompt_cache_hits_total",
    help: "Hits of the frontend's prompt cache, by kind (render: a whole chat prompt and its tokens; segment: the tokens of one prompt section between special tokens)",
    labelNames: ["model", "kind"] as const,
    registers: [this.registry],
  });
  readonly promptCacheMisses = new Counter({
    name: "turbine_prompt_cache_misses_total",
    help: "Misses of the frontend's prompt cache, by kind (render: a chat prompt rendered and tokenized; segment: a prompt section tokenized)",
    labelNames: ["model", "kind"] as const,
    registers: [this.registry],
  });
  readonly tokenizerThreadEncodes = new Counter({
    name: "turbine_tokenizer_thread_encodes_total",
    help: "Long prompts sent to a tokenizer thread, off the event loop, by outcome (ok: encoded there; fallback: encoded on the loop because no thread could)",
    labelNames: ["model", "outcome"] as const,
    registers: [this.registry],
  });
  /** Run before each scrape: they set the gauges that are read from router state. */
  private readonly collectors = new Set<() => void>();
  private readonly runCollectors = (): void => {
    for (const c of this.collectors) c();
  };
  // Registered before the other router-state gauges: its collect sets them all, first.
  readonly kvHitRate = new Gauge({
    name: "turbine_router_kv_hit_rate",
    help: "Fraction of routed prompt blocks that the chosen worker already held",
    labelNames: ["model"] as const,
    registers: [this.registry],
    collect: this.runCollectors,
  });
  readonly workerActiveBlocks = new Gauge({
    name: "turbine_worker_active_decode_blocks",
    help: "KV blocks of the requests the router has in flight on each worker",
    labelNames: ["model", "worker"] as const,
    registers: [this.registry],
  });
  readonly workerPrefillTokens = new Gauge({
    name: "turbine_worker_active_prefill_tokens",
    help: "Prompt tokens routed to each worker and not yet prefilled",
    labelNames: ["model", "worker"] as const,
    registers: [this.registry],
  });
  readonly workerKvUsage = new Gauge({
    name: "turbine_worker_kv_usage",
    help: "Fraction of each worker's KV blocks in use, as the worker reports it",
    labelNames: ["model", "worker"] as const,
    registers: [this.registry],
  });

  private readonly models = new Map<string, ModelMetrics>();
  /** Queued requests, sequence lengths, hits per tier, decisions per worker (fleet-metrics.ts). */
  readonly fleet = new FleetMetrics(this.registry);
  /** What the fleet page shows (fleet-state.ts): the same observers feed it. */
  readonly fleetState = new FleetState();

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: "turbine_" });
  }

  /** The per-model children the request path records into (bound once, then cached). */
  forModel(model: string): ModelMetrics {
    let m = this.models.get(model);
    if (!m) {
      const labels = { model };
      m = {
        inFlight: this.inFlight.labels(labels),
        ttft: this.ttft.labels(labels),
        itl: this.itl.labels(labels),
        requestDuration: this.requestDuration.labels(labels),
        inputTokens: this.inputTokens.labels(labels),
        outputTokens: this.outputTokens.labels(labels),
        cachedTokens: this.cachedTokens.labels(labels),
        routerHash: this.routerOverhead.labels({ model, phase: "hash" }),
        routerMatch: this.routerOverhead.labels({ model, phase: "match" }),
        routerSchedule: this.routerOverhead.labels({ model, phase: "schedule" }),
        queued: this.fleet.queued.labels(labels),
        inputSequence: this.fleet.inputSequence.labels(labels),
        outputSequence: this.fleet.outputSequence.labels(labels),
        promptCache: {
          hits: { render: this.promptCacheHits.labels({ model, kind: "render" }), segment: this.promptCacheHits.labels({ model, kind: "segment" }) },
          misses: { render: this.promptCacheMisses.labels({ model, kind: "render" }), segment: this.promptCacheMisses.labels({ model, kind: "segment" }) },
        },
        tokenizerThreads: { ok: this.tokenizerThreadEncodes.labels({ model, outcome: "ok" }), fallback: this.tokenizerThreadEncodes.labels({ model, outcome: "fallback" }) },
      };
      this.models.set(model, m);
    }
    return m;
  }

  /** Registers a function run before each scrape (router-state gauges); returns its removal. */
  onCollect(collector: () => void): () => void {
    this.collectors.add(collector);
    return () => this.collectors.delete(collector);
  }
}

/** One model's request-path metrics, labels already bound. */
export interface ModelMetrics {
  inFlight: Gauge.Internal<"model">;
  ttft: Histogram.Internal<"model">;
  itl: Histogram.Internal<"model">;
  requestDuration: Histogram.Internal<"model">;
  inputTokens: Counter.Internal;
  outputTokens: Counter.Internal;
  cachedTokens: Counter.Internal;
  routerHash: Histogram.Internal<"model" | "phase">;
  routerMatch: Histogram.Internal<"model" | "phase">;
  routerSchedule: Histogram.Internal<"model" | "phase">;
  queued: Gauge.Internal<"model">;
  inputSequence: Histogram.Internal<"model">;
  outputSequence: Histogram.Internal<"model">;
  promptCache: PromptCacheCounters;
  tokenizerThreads: TokenizerThreadCounters;
}
