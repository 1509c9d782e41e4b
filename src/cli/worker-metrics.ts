// The Prometheus families of one worker process (its own /metrics): KV use per tier, running
// and waiting sequences, requests in flight, KV transfers. Read from the worker at scrape time;
// nothing is recorded on the request path. docs/deploy.md's metrics reference lists them.
import { Counter, Gauge } from "prom-client";
import type { Registry } from "prom-client";
import type { EngineLoad } from "../engines/index.ts";

/** What the families read; a Worker provides it. */
export interface WorkerMetricsSource {
  readonly workerId: string;
  readonly model: string;
  readonly role: string;
  load(): EngineLoad;
  readonly numInFlight: number;
  readonly kvTransferCounters: { imports: number; failures: number; exports: number };
}

export function registerWorkerMetrics(registry: Registry, source: WorkerMetricsSource): void {
  const labels = { worker: source.workerId, model: source.model, role: source.role };
  const labelNames = ["worker", "model", "role"] as const;
  const gauge = (name: string, help: string, read: (load: EngineLoad) => number): void => {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.set(labels, read(source.load()));
      },
    });
  };
  gauge("turbine_worker_kv_active_blocks", "KV blocks held by running sequences", (l) => l.activeBlocks);
  gauge("turbine_worker_kv_total_blocks", "KV blocks of the engine", (l) => l.totalBlocks);
  gauge("turbine_worker_kv_usage", "Fraction of KV blocks in use", (l) => l.kvUsage);
  gauge("turbine_worker_running_sequences", "Sequences being computed", (l) => l.numRunningSeqs);
  gauge("turbine_worker_waiting_sequences", "Sequences waiting for the engine", (l) => l.numWaitingSeqs);
  gauge("turbine_worker_pending_prefill_tokens", "Prompt tokens admitted but not yet computed", (l) => l.pendingPrefillTokens);
  gauge("turbine_worker_prefix_cache_hit_rate", "Prefix-cache hit rate since start", (l) => l.prefixCacheHitRate);
  gauge("turbine_worker_requests_in_flight", "Requests being served", () => source.numInFlight);
  // The engine's own memory is the device tier; lower tiers (host, disk, remote) appear with
  // the KV block manager, which reports them under the same family.
  new Gauge({
    name: "turbine_worker_kv_tier_blocks",
    help: "KV blocks in use, by storage tier",
    labelNames: [...labelNames, "tier"] as const,
    registers: [registry],
    collect() {
      this.set({ ...labels, tier: "device" }, source.load().activeBlocks);
    },
  });
  let reported = { imports: 0, failures: 0, exports: 0 };
  new Counter({
    name: "turbine_kv_transfers_total",
    help: "KV transfers of disaggregated serving: exports (prefill side), imports and failed imports that fell back to a local prefill (decode side)",
    labelNames: [...labelNames, "direction", "outcome"] as const,
    registers: [registry],
    collect() {
      const now = source.kvTransferCounters;
      this.inc({ ...labels, direction: "export", outcome: "ok" }, now.exports - reported.exports);
      this.inc({ ...labels, direction: "import", outcome: "ok" }, now.imports - reported.imports);
      this.inc({ ...labels, direction: "import", outcome: "failed" }, now.failures - reported.failures);
      reported = { ...now };
    },
  });
}
