// Scale to zero and back, in one process: `turbine serve --planner` pieces (embedded
// connector, live inputs from the frontend's registry, the planner loop) on mocker workers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EmbeddedConnector, LivePlannerInputs, PlannerService, createLogger, prepareEngines } from "../../src/cli/index.ts";
import { LoadPlanner } from "../../src/planner/index.ts";
import { startServer, waitFor } from "../support/http.ts";
import type { EmbeddedServer } from "../../src/cli/index.ts";

const post = (server: EmbeddedServer): Promise<Response> => {
  const model = server.frontend.models.models()[0]!.card.name;
  const body = JSON.stringify({ model, prompt: "hello planner", max_tokens: 8, ignore_eos: true });
  return fetch(`${server.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body });
};

test("planner - a pool scales to zero when idle, stays listed, and a request brings a worker back", async (t) => {
  const server = await startServer({ numWorkers: 1, coldStartWaitMs: 20_000, mocker: { speedup: 10 } });
  const factory = await prepareEngines({ engine: "mocker", mocker: { speedup: 10 } });
  const connector = new EmbeddedConnector({ runtime: server.runtime, namespace: "turbine", initial: { aggregated: [...server.workers] }, createEngine: (_p, i) => factory.create(i) });
  const inputs = new LivePlannerInputs({ runtime: server.runtime, namespace: "turbine", pools: ["aggregated"], frontendMetrics: async () => [await server.frontend.metrics.registry.metrics()] });
  const planner = new LoadPlanner({ minWorkers: { aggregated: 0 }, scaleToZeroAfterMs: 600, cooldownMs: 0 });
  const service = new PlannerService({ planner, connector, inputs, pools: ["aggregated"], intervalMs: 200, log: createLogger("silent", "test"), registry: server.frontend.metrics.registry });
  t.after(async () => {
    await service.close();
    await connector.close();
    await server.close();
  });
  await service.start();

  // Warm latency: the best of three after a first request (JIT, first tokenization).
  assert.equal((await post(server)).status, 200);
  let warmMs = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    assert.equal((await post(server)).status, 200);
    warmMs = Math.min(warmMs, performance.now() - start);
  }

  // Idle: the last worker is drained, the model stays listed.
  await waitFor(() => connector.numWorkers("aggregated") === 0 && server.frontend.models.models()[0]!.numWorkers === 0, 15_000, "scale to zero");
  const listed = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: { id: string }[] };
  assert.deepEqual(listed.data.map((m) => m.id), [server.frontend.models.models()[0]!.card.name]);

  // The first request after idling waits while the planner starts a worker, then succeeds.
  const coldStart = performance.now();
  const r = await post(server);
  const coldMs = performance.now() - coldStart;
  assert.equal(r.status, 200);
  const j = (await r.json()) as { usage: { completion_tokens: number } };
  assert.equal(j.usage.completion_tokens, 8);
  assert.equal(connector.numWorkers("aggregated"), 1);
  // The planner's own path ran: a cold-start decision, counted and recorded.
  assert.ok(service.history.some((d) => d.pools[0]!.cause === "cold start"));
  const metrics = await server.frontend.metrics.registry.metrics();
  assert.match(metrics, /turbine_planner_decisions_total\{pool="aggregated",direction="up",cause="cold start"\} [1-9]/);
  assert.match(metrics, /turbine_planner_decisions_total\{pool="aggregated",direction="down",cause="(idle|scale to zero)"\} 1/);
  // The cold start's extra latency, for docs/deploy.md (not asserted: the machine is shared).
  process.stdout.write(`# scale to zero: warm request ${warmMs.toFixed(0)} ms, first request after idling ${coldMs.toFixed(0)} ms (+${(coldMs - warmMs).toFixed(0)} ms)\n`);
});

test("planner - with no worker and none starting, a request waits the bounded time, then 503 with Retry-After", async (t) => {
  const server = await startServer({ numWorkers: 1, coldStartWaitMs: 300 });
  t.after(() => server.close());
  await server.workers[0]!.stop({ drain: true });
  await waitFor(() => server.frontend.models.models()[0]!.numWorkers === 0, 5000, "worker gone");
  const start = performance.now();
  const r = await post(server);
  assert.equal(r.status, 503);
  assert.ok(performance.now() - start >= 290, "it waited");
  assert.equal(r.headers.get("retry-after"), "1");
  assert.equal(((await r.json()) as { error: { code: string } }).error.code, "router_no_workers");
  const listed = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: unknown[] };
  assert.equal(listed.data.length, 1);
});
