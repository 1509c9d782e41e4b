// The Prometheus families of one worker process (its own /metrics): KV use per tier, running
// and waiting sequences, requests in flight, KV transfers. Read from the worker at scrape time;
// nothing is recorded on the request path. docs/deploy.md's metrics reference lists them.
import { Counter, Gauge } from "prom-client";
import type { Registry } from "prom-client";
import type { EngineLoad, Worker } from "../engines/index.ts";

/** What the families read; a Worker provides it. */
export interface WorkerMetricsSource {
  readonly workerId: string;
  readonly model: string;
  readonly role: string;
  load(): EngineLoad;
  readonly numInFlight: number;
  readonly kvTransferCounters: { imports: number; failures: number; exports: number };
  /** KV imports by path (shm: same host, tcp: another host). */
  kvImportCounts(): ReadonlyMap<string, number>;
  /** Failed KV imports (a local prefill followed) by reason. */
  kvImportFallbackCounts(): ReadonlyMap<string, number>;
}

export interface WorkerMetricsOptions {
  /**
   * Leave out `turbine_worker_kv_usage`: the registry already has the router's copy of it
   * (`turbine serve`, where workers share the frontend's registry).
   */
  withoutKvUsage?: boolean;
}

/** Registers the families once; each scrape reads every worker `sources()` returns. */
export function registerWorkerMetrics(registry: Registry, sources: () => readonly WorkerMetricsSource[], options: WorkerMetricsOptions = {}): void {
  const labelsOf = (s: WorkerMetricsSource) => ({ worker: s.workerId, model: s.model, role: s.role });
  const labelNames = ["worker", "model", "role"] as const;
  const gauge = (name: string, help: string, read: (load: EngineLoad, source: WorkerMetricsSource) => number): void => {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const s of sources()) this.set(labelsOf(s), read(s.load(), s));
      },
    });
  };
  gauge("turbine_worker_kv_active_blocks", "KV blocks held by running sequences", (l) => l.activeBlocks);
  gauge("turbine_worker_kv_total_blocks", "KV blocks of the engine", (l) => l.totalBlocks);
  if (!options.withoutKvUsage) gauge("turbine_worker_kv_usage", "Fraction of KV blocks in use", (l) => l.kvUsage);
  gauge("turbine_worker_running_sequences", "Sequences being computed", (l) => l.numRunningSeqs);
  gauge("turbine_worker_waiting_sequences", "Sequences waiting for the engine", (l) => l.numWaitingSeqs);
  gauge("turbine_worker_pending_prefill_tokens", "Prompt tokens admitted but not yet computed", (l) => l.pendingPrefillTokens);
  gauge("turbine_worker_prefix_cache_hit_rate", "Prefix-cache hit rate since start", (l) => l.prefixCacheHitRate);
  gauge("turbine_worker_requests_in_flight", "Requests being served", (_l, s) => s.numInFlight);
  // The engine's own memory is the device tier; lower tiers (host, disk, remote) appear with
  // the KV block manager, which reports them under the same family.
  new Gauge({
    name: "turbine_worker_kv_tier_blocks",
    help: "KV blocks in use, by storage tier",
    labelNames: [...labelNames, "tier"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sources()) this.set({ ...labelsOf(s), tier: "device" }, s.load().activeBlocks);
    },
  });
  const reported = new Map<string, { imports: number; failures: number; exports: number }>();
  new Counter({
    name: "turbine_kv_transfers_total",
    help: "KV transfers of disaggregated serving: exports (prefill side), imports and failed imports that fell back to a local prefill (decode side)",
    labelNames: [...labelNames, "direction", "outcome"] as const,
    registers: [registry],
    collect() {
      for (const s of sources()) {
        const labels = labelsOf(s);
        const was = reported.get(s.workerId) ?? { imports: 0, failures: 0, exports: 0 };
        const now = s.kvTransferCounters;
        this.inc({ ...labels, direction: "export", outcome: "ok" }, now.exports - was.exports);
        this.inc({ ...labels, direction: "import", outcome: "ok" }, now.imports - was.imports);
        this.inc({ ...labels, direction: "import", outcome: "failed" }, now.failures - was.failures);
        reported.set(s.workerId, { ...now });
      }
    },
  });
  // Disaggregation: KV imported from prefill workers by path, and each fallback to a local
  // prefill by reason (a transfer that fails must show, not hide behind identical tokens).
  const byKey = (name: string, help: string, labelName: string, read: (s: WorkerMetricsSource) => ReadonlyMap<string, number>): void => {
    new Counter({
      name,
      help,
      labelNames: [...labelNames, labelName] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const s of sources()) for (const [key, n] of read(s)) this.inc({ ...labelsOf(s), [labelName]: key }, n);
      },
    });
  };
  byKey("turbine_worker_kv_imports_total", "KV imported from prefill workers, by path (shm: same host, tcp: another host)", "path", (s) => s.kvImportCounts());
  byKey("turbine_worker_kv_import_fallbacks_total", "KV imports that failed, so that the worker prefilled the prompt itself, by reason", "reason", (s) => s.kvImportFallbackCounts());
}

/** A Worker as a metrics source. */
export function workerMetricsSource(worker: Worker): WorkerMetricsSource {
  return {
    workerId: worker.workerId,
    model: worker.engine.card.name,
    role: worker.engine.card.role,
    load: () => worker.engine.load(),
    get numInFlight() {
      return worker.numInFlight;
    },
    get kvTransferCounters() {
      return worker.kvTransferCounters;
    },
    kvImportCounts: () => worker.kvImportCounts(),
    kvImportFallbackCounts: () => worker.kvImportFallbackCounts(),
  };
}
