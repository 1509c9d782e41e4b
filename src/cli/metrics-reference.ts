// docs/deploy.md's metrics reference, generated from the metric definitions themselves (the
// frontend's registry and a worker's), so that the documentation cannot drift from the code:
// test/deploy/metrics-reference.test.ts compares the two (TURBINE_WRITE_DOCS=1 rewrites it).
import { Registry } from "prom-client";
import type { Metric } from "prom-client";
import { AdmissionMetrics, FrontendMetrics } from "../frontend/index.ts";
import { registerWorkerMetrics } from "./worker-metrics.ts";

export const METRICS_BEGIN = "<!-- metrics-reference:begin (generated from the code: src/cli/metrics-reference.ts) -->";
export const METRICS_END = "<!-- metrics-reference:end -->";

interface Row {
  name: string;
  type: string;
  labels: string;
  help: string;
}

async function rows(registry: Registry): Promise<Row[]> {
  const out: Row[] = [];
  for (const m of registry.getMetricsAsArray() as unknown as (Metric & { name: string; help: string; labelNames?: string[] })[]) {
    if (!m.name.startsWith("turbine_")) continue;
    const { type } = await m.get();
    out.push({ name: m.name, type: String(type), labels: (m.labelNames ?? []).map((l) => `\`${l}\``).join(", "), help: m.help });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

function table(title: string, where: string, list: Row[]): string {
  const lines = [`### ${title}`, "", where, "", "| metric | type | labels | meaning |", "| --- | --- | --- | --- |"];
  for (const r of list) lines.push(`| \`${r.name}\` | ${r.type} | ${r.labels} | ${r.help.replace(/\|/g, "\\|")} |`);
  return lines.join("\n");
}

/** The markdown between METRICS_BEGIN and METRICS_END. */
export async function metricsReference(): Promise<string> {
  const frontend = new FrontendMetrics({ processMetrics: false });
  new AdmissionMetrics(frontend.registry); // on the same registry, as Frontend.start makes it
  const worker = new Registry();
  const source = {
    workerId: "w",
    model: "m",
    role: "aggregated",
    load: () => ({ activeBlocks: 0, totalBlocks: 1, kvUsage: 0, numRunningSeqs: 0, numWaitingSeqs: 0, pendingPrefillTokens: 0, prefixCacheHitRate: 0 }),
    numInFlight: 0,
    kvTransferCounters: { imports: 0, failures: 0, exports: 0 },
    kvImportCounts: () => new Map([["shm", 0]]),
    kvImportFallbackCounts: () => new Map([["fetch_failed", 0]]),
  };
  registerWorkerMetrics(worker, () => [source]);
  return [
    table("Frontend and router", "On the `/metrics` of `turbine serve` and `turbine frontend` (port 8000). Histograms also have `_bucket`, `_sum` and `_count` series.", await rows(frontend.registry)),
    "",
    table("Worker", "On the `/metrics` of each `turbine worker` (`--metrics-port`, 9090 in the Kubernetes manifests). `turbine serve` exports them on its own `/metrics` for each of its workers, except `turbine_worker_kv_usage`, which there is the router's family of the same name.", await rows(worker)),
    "",
    "Every process also exports Node's process metrics with the `turbine_` prefix (`turbine_process_cpu_seconds_total`, `turbine_nodejs_heap_size_used_bytes`, …).",
  ].join("\n");
}
