// A worker process's own HTTP endpoints: /metrics (Prometheus), /health and /live, so that
// every Turbine process can be scraped and probed, not only frontends.
import { createServer } from "node:http";
import type { Server } from "node:http";
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { Worker } from "../engines/index.ts";

export interface WorkerStatusServer {
  readonly url: string;
  close(): Promise<void>;
}

export async function startWorkerStatusServer(worker: Worker, host: string, port: number): Promise<WorkerStatusServer> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "turbine_" });
  const labels = { worker: worker.workerId, model: worker.engine.card.name, role: worker.engine.card.role };
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ["worker", "model", "role"] as const,
      registers: [registry],
      collect() {
        this.set(labels, read());
      },
    });
  };
  gauge("turbine_worker_kv_active_blocks", "KV blocks held by running sequences", () => worker.engine.load().activeBlocks);
  gauge("turbine_worker_kv_total_blocks", "KV blocks of the engine", () => worker.engine.load().totalBlocks);
  gauge("turbine_worker_kv_usage", "Fraction of KV blocks in use", () => worker.engine.load().kvUsage);
  gauge("turbine_worker_running_sequences", "Sequences being computed", () => worker.engine.load().numRunningSeqs);
  gauge("turbine_worker_waiting_sequences", "Sequences waiting for the engine", () => worker.engine.load().numWaitingSeqs);
  gauge("turbine_worker_pending_prefill_tokens", "Prompt tokens admitted but not yet computed", () => worker.engine.load().pendingPrefillTokens);
  gauge("turbine_worker_prefix_cache_hit_rate", "Prefix-cache hit rate since start", () => worker.engine.load().prefixCacheHitRate);
  gauge("turbine_worker_requests_in_flight", "Requests being served", () => worker.numInFlight);
  // Disaggregation: KV imported from prefill workers, and each fallback to a local prefill by
  // reason (a transfer that fails must show, not hide behind identical tokens).
  const counter = (name: string, help: string, read: () => ReadonlyMap<string, number>, labelName: string): void => {
    new Counter({
      name,
      help,
      labelNames: ["worker", "model", "role", labelName] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [key, n] of read()) this.inc({ ...labels, [labelName]: key }, n);
      },
    });
  };
  counter("turbine_worker_kv_imports_total", "KV imported from prefill workers, by path (shm: same host, tcp: another host)", () => worker.kvImportCounts(), "path");
  counter("turbine_worker_kv_import_fallbacks_total", "KV imports that failed, so that the worker prefilled the prompt itself, by reason", () => worker.kvImportFallbackCounts(), "reason");
  gauge("turbine_worker_kv_exports", "KV regions exported for decode workers to pull (prefill workers)", () => worker.kvTransferCounters.exports);

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
    } else if (path === "/health" || path === "/live") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: "ready", workerId: worker.workerId, model: worker.engine.card.name, inFlight: worker.numInFlight, load: worker.engine.load() }));
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
    close: () => new Promise((r) => server.close(() => r())),
  };
}
