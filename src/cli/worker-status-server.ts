// A worker process's own HTTP endpoints: /metrics (Prometheus), /health and /live, so that
// every Turbine process can be scraped and probed, not only frontends; and POST /drain, which a
// Kubernetes preStop hook calls: it answers when the worker has drained. While draining,
// /health answers 503 (not ready) and /live stays 200 (do not restart it).
import { createServer } from "node:http";
import type { Server } from "node:http";
import { Registry, collectDefaultMetrics } from "prom-client";
import type { Worker } from "../engines/index.ts";
import { registerWorkerMetrics, workerMetricsSource } from "./worker-metrics.ts";

export interface WorkerStatusServer {
  readonly url: string;
  close(): Promise<void>;
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
