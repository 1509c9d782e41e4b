// A real Prometheus scrapes a running Turbine fleet (a frontend, two decode and one prefill
// mocker worker, and a planner with the virtual connector, each its own process on etcd and
// NATS), and every expression of the Grafana dashboard returns data through Prometheus's HTTP
// API: the dashboard shows what the code exports. The planner's decisions also reach the
// frontend's fleet page over NATS.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { freePort } from "../support/services.ts";
import { health, startFrontend, startPlanner, startWorker, until, useCluster } from "../support/fleet.ts";
import { startPrometheus } from "../support/prometheus.ts";
import type { PrometheusServer } from "../support/prometheus.ts";

interface Target {
  expr: string;
  refId: string;
}
interface Panel {
  title: string;
  targets: Target[];
}
const dashboard = JSON.parse(readFileSync(new URL("../../deploy/grafana/turbine-dashboard.json", import.meta.url), "utf8")) as { panels: Panel[] };

/** A dashboard expression as Grafana sends it, for one model, with a window that covers the test. */
const resolve = (expr: string, model: string): string => expr.replaceAll("$model", model).replaceAll("$__rate_interval", "1m");

describe("deploy - Prometheus scrapes a running fleet and the dashboard's queries return data", () => {
  const fx = useCluster();
  let prom: PrometheusServer | undefined;
  after(() => prom?.stop());

  test("deploy - every dashboard expression returns data from a real Prometheus", { timeout: 180_000 }, async () => {
    const model = "prom";
    const mock = ["--engine", "mocker", "--model-name", model, "--speedup", "10"];
    const ports = await Promise.all([0, 1, 2].map(() => freePort()));
    const decode = await Promise.all([0, 1].map((i) => startWorker(fx.cluster, [...mock, "--role", "decode", "--metrics-port", String(ports[i])])));
    const prefill = await startWorker(fx.cluster, [...mock, "--role", "prefill", "--metrics-port", String(ports[2])]);
    for (const p of [...decode, prefill]) fx.track(p);
    const frontend = fx.track(await startFrontend(fx.cluster, ["--max-local-prefill-tokens", "0"]));
    await until("the fleet", () => health(frontend.id), (h) => h.find((m) => m.model === model)?.workers === 2);
    // A dry-run planner (decisions only), deciding every second on the frontend's metrics.
    const planner = fx.track(await startPlanner(fx.cluster, ["--connector", "virtual", "--pools", "prefill,decode", "--frontend-url", frontend.id, "--adjustment-interval", "1"]));
    const feHost = new URL(frontend.id).host;
    prom = await startPrometheus([
      { job: "turbine-frontend", hostPort: feHost },
      ...ports.map((p) => ({ job: "turbine-workers", hostPort: `127.0.0.1:${p}` })),
      { job: "turbine-planner", hostPort: new URL(planner.id).host },
    ]);
    await until("every target up", () => prom!.targets(), (t) => t.length === 5 && t.every((x) => x.health === "up"), 30_000);

    // Traffic: repeated prompts (KV hits), streams, a refused request (counted once every
    // request is counted with its final status: the hardening change).
    const post = (body: Record<string, unknown>): Promise<Response> =>
      fetch(`${frontend.id}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model, ...body }) });
    for (let i = 0; i < 12; i++) {
      const r = await post({ prompt: `conversation ${i % 3} `.repeat(20), max_tokens: 16, ignore_eos: true, stream: i % 2 === 0 });
      assert.equal(r.status, 200);
      await r.text();
    }
    assert.equal((await post({ prompt: "x", max_tokens: -1 })).status, 400);
    // A migration: the worker of a long stream is killed under it; the other one finishes it.
    const long = await post({ prompt: "a long story", max_tokens: 3000, ignore_eos: true, stream: true });
    assert.equal(long.status, 200);
    const victim = decode.find((d) => d.id === long.headers.get("x-turbine-worker"));
    assert.ok(victim, "the stream is on a decode worker");
    const reader = long.body!.getReader();
    await reader.read();
    victim.kill("SIGKILL");
    let tail = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      tail += new TextDecoder().decode(value);
    }
    assert.match(tail, /"finish_reason":"length"/, "the migrated stream finished");

    await until("Prometheus has the migration", () => prom!.query(`turbine_request_migrations_total{model="${model}"}`), (r) => r.length > 0 && Number(r[0]!.value[1]) >= 1, 30_000);

    await until("Prometheus has the planner's decisions", () => prom!.query("turbine_planner_actual_workers"), (r) => r.length === 2, 30_000);
    // rate() and increase() need two samples of a series in their window: a series that first
    // appeared a scrape ago (the migration counter) returns nothing yet. Ask again for a few
    // scrapes; a query Prometheus refuses throws at once.
    let empty: string[] = [];
    let checked = 0;
    for (const end = Date.now() + 20_000; ; ) {
      empty = [];
      checked = 0;
      for (const panel of dashboard.panels) {
        for (const target of panel.targets) {
          const expr = resolve(target.expr, model);
          const result = await prom.query(expr); // throws on a query Prometheus refuses
          if (result.length === 0) empty.push(`${panel.title} / ${target.refId}: ${expr}`);
          checked++;
        }
      }
      if (empty.length === 0 || Date.now() > end) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.deepEqual(empty, [], "every expression returns data");
    assert.ok(checked >= 20, `checked ${checked} expressions`);
    // Spot checks that the data is the traffic's, not only present.
    const perTier = await prom.query(resolve(dashboard.panels.find((p) => p.title.startsWith("KV hit rate"))!.targets[0]!.expr, model));
    assert.ok(perTier.some((s) => s.metric["tier"] === "device"));
    const transfers = await prom.query(`sum by (direction) (turbine_kv_transfers_total{model="${model}",outcome="ok"})`);
    assert.ok(transfers.some((s) => s.metric["direction"] === "export" && Number(s.value[1]) > 0), "the prefill worker exported KV");
    const decisions = await prom.query(`sum(turbine_router_decisions_total{model="${model}"})`);
    assert.ok(Number(decisions[0]!.value[1]) >= 13, "every routed request is a decision");
    const desired = await prom.query("max by (pool) (turbine_planner_desired_workers)");
    assert.deepEqual(desired.map((s) => s.metric["pool"]).sort(), ["decode", "prefill"], "the planner's pools");

    // The planner published its decisions on NATS: the frontend's fleet page has them.
    const snapshot = await fleetSnapshot(frontend.id);
    assert.ok(snapshot.planner.total > 0, "the fleet page has the planner's decisions");
    assert.ok(snapshot.planner.recent.some((d) => d.pool === "decode" && d.planner === "load"));
  });
});

/** The first event of the fleet page's stream (its snapshot). */
async function fleetSnapshot(url: string): Promise<{ planner: { total: number; recent: { pool: string; planner: string }[] } }> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 10_000);
  try {
    const res = await fetch(`${url}/fleet/events`, { signal: ac.signal });
    const reader = res.body!.getReader();
    let text = "";
    while (!text.includes("\n\n")) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const data = /^data: (.*)$/m.exec(text)?.[1];
    assert.ok(data !== undefined, "a snapshot");
    return JSON.parse(data) as { planner: { total: number; recent: { pool: string; planner: string }[] } };
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}
