// A worker process's own HTTP endpoints: /metrics (Prometheus), /health and /live, so that
// every Turbine process can be scraped and probed, not only frontends; and POST /drain, which a
// Kubernetes preStop hook calls: it answers when the worker has drained. While draining,
// /health answers 503 (not ready) and /live stays 200 (do not restart it).
import { createServer } from "node:http";
import type { Server } from "node:http";
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { LOWER_TIERS, ONBOARD_BUCKETS_S } from "../kvbm/index.ts";
import type { KvbmStats, LowerTier } from "../kvbm/index.ts";
import type { Worker } from "../engines/index.ts";
import { registerWorkerMetrics, workerMetricsSource } from "./worker-metrics.ts";

export interface WorkerStatusServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The KV block manager's metrics, per tier (host, disk, remote): bytes and blocks held,
 * offloads, onboards, hits; misses, the onboard latency histogram, full-disk pauses, corrupt
 * files and remote-store failures. Counts are cumulative (rate() gives per second).
 */
function addKvbmMetrics(registry: Registry, labels: Record<string, string>, read: () => KvbmStats): void {
  const perTier = (name: string, help: string, type: "gauge" | "counter", pick: (s: KvbmStats) => Record<LowerTier, number>): void => {
    const collect = function (this: Gauge<string> | Counter<string>): void {
      const values = pick(read());
      // A counter is set by resetting it and adding the engine's cumulative count.
      if (this instanceof Counter) this.reset();
      for (const tier of LOWER_TIERS) {
        if (this instanceof Gauge) this.set({ ...labels, tier }, values[tier]);
        else this.inc({ ...labels, tier }, values[tier]);
      }
    };
    const labelNames = ["worker", "model", "role", "tier"] as const;
    if (type === "gauge") new Gauge({ name, help, labelNames, registers: [registry], collect });
    else new Counter({ name, help, labelNames, registers: [registry], collect });
  };
  perTier("turbine_worker_kvbm_bytes", "Bytes each KVBM tier holds", "gauge", (s) => s.bytes);
  perTier("turbine_worker_kvbm_blocks", "KV blocks each KVBM tier holds", "gauge", (s) => s.blocks);
  perTier("turbine_worker_kvbm_offloads_total", "Entries offloaded to each tier", "counter", (s) => s.offloads);
  perTier("turbine_worker_kvbm_onboards_total", "Entries onboarded from each tier", "counter", (s) => s.onboards);
  perTier("turbine_worker_kvbm_hits_total", "Prefix lookups answered by each tier", "counter", (s) => s.hits);
  const scalar = (name: string, help: string, pick: (s: KvbmStats) => number): void => {
    new Counter({
      name,
      help,
      labelNames: ["worker", "model", "role"] as const,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(labels, pick(read()));
      },
    });
  };
  scalar("turbine_worker_kvbm_misses_total", "Prefix lookups no lower tier could answer", (s) => s.misses);
  scalar("turbine_worker_kvbm_disk_full_total", "Times a full disk paused offloads to G3", (s) => s.diskFull);
  scalar("turbine_worker_kvbm_corrupt_total", "G3 files that failed their checksum (each a miss)", (s) => s.corrupt);
  scalar("turbine_worker_kvbm_remote_unavailable_total", "Remote-store (G4) calls that failed: served from local tiers", (s) => s.remoteUnavailable);
  // The histogram, in Prometheus' exposition (cumulative le buckets, _sum, _count).
  new Gauge({
    name: "turbine_worker_kvbm_onboard_seconds_bucket",
    help: "Onboard latency, cumulative buckets (seconds)",
    labelNames: ["worker", "model", "role", "le"] as const,
    registers: [registry],
    collect() {
      const h = read().onboardSeconds;
      ONBOARD_BUCKETS_S.forEach((le, i) => this.set({ ...labels, le: String(le) }, h.buckets[i]!));
      this.set({ ...labels, le: "+Inf" }, h.count);
    },
  });
  new Gauge({ name: "turbine_worker_kvbm_onboard_seconds_sum", help: "Onboard latency, total seconds", labelNames: ["worker", "model", "role"] as const, registers: [registry], collect() { this.set(labels, read().onboardSeconds.sum); } });
  new Gauge({ name: "turbine_worker_kvbm_onboard_seconds_count", help: "Onboards timed", labelNames: ["worker", "model", "role"] as const, registers: [registry], collect() { this.set(labels, read().onboardSeconds.count); } });
}

export interface WorkerStatusOptions {
  /** Drains the worker (deregisters, waits for requests in flight); called once, by POST /drain or by the owner. */
  drain?: () => Promise<void>;
}

export async function startWorkerStatusServer(worker: Worker, host: string, port: number, options: WorkerStatusOptions = {}): Promise<WorkerStatusServer & { drain(): Promise<void> }> {
  let draining: Promise<void> | undefined;
  const drain = (): Promise<void> => (draining ??= (options.drain ?? (() => Promise.resolve()))());
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "turbine_" });
  const source = [workerMetricsSource(worker)];
  registerWorkerMetrics(registry, () => source);
  if (worker.engine.kvbmStats?.() != null) {
    addKvbmMetrics(registry, { worker: worker.workerId, model: worker.engine.card.name, role: worker.engine.card.role }, () => worker.engine.kvbmStats!()!);
  }

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/metrics") {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(String(err));
        },
      );
    } else if (path === "/drain" && req.method === "POST") {
      drain().then(
        () => {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ status: "drained", workerId: worker.workerId }));
        },
        (err: unknown) => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(String(err));
        },
      );
    } else if (path === "/health" || path === "/live") {
      const ready = draining === undefined || path === "/live";
      res.writeHead(ready ? 200 : 503, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: draining ? "draining" : "ready", workerId: worker.workerId, model: worker.engine.card.name, inFlight: worker.numInFlight, load: worker.engine.load() }));
    } else {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: `No route ${req.method} ${path}`, type: "invalid_request_error", param: null, code: "route_not_found" } }));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const actual = typeof addr === "object" && addr ? addr.port : port;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${actual}`,
    drain,
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
