// docs/deploy.md's metrics reference is the one generated from the metric definitions.
// After changing a metric: TURBINE_WRITE_DOCS=1 node --import tsx --test test/deploy/metrics-reference.test.ts
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { METRICS_BEGIN, METRICS_END, metricsReference } from "../../src/cli/index.ts";
import { startServer } from "../support/http.ts";

const DOC = new URL("../../docs/deploy.md", import.meta.url).pathname;

test("deploy - the metrics reference in docs/deploy.md matches the code", async () => {
  const text = readFileSync(DOC, "utf8");
  const begin = text.indexOf(METRICS_BEGIN);
  const end = text.indexOf(METRICS_END);
  assert.ok(begin >= 0 && end > begin, "docs/deploy.md has the generated section's markers");
  const current = text.slice(begin + METRICS_BEGIN.length, end).trim();
  const expected = await metricsReference();
  if (process.env["TURBINE_WRITE_DOCS"] === "1" && current !== expected) {
    writeFileSync(DOC, text.slice(0, begin + METRICS_BEGIN.length) + "\n" + expected + "\n" + text.slice(end));
    return;
  }
  assert.equal(current, expected, "regenerate: TURBINE_WRITE_DOCS=1 node --import tsx --test test/deploy/metrics-reference.test.ts");
  // Every family the dashboard queries is documented (planner families come with the planner).
  const dashboard = readFileSync(new URL("../../deploy/grafana/turbine-dashboard.json", import.meta.url), "utf8");
  for (const [, name] of dashboard.matchAll(/(turbine_[a-z_]+?)(?:_bucket)?[{\s)]/g)) {
    if (name!.startsWith("turbine_planner_")) continue;
    assert.ok(expected.includes(`\`${name}\``), `${name} is in the reference`);
  }
});

test("deploy - turbine serve exports its workers' families on its own /metrics", async () => {
  const server = await startServer({ numWorkers: 2, port: 0 });
  try {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    for (const w of server.workers) {
      assert.match(text, new RegExp(`turbine_worker_running_sequences\\{worker="${w.workerId}",model="[^"]+",role="aggregated"\\} 0`));
      assert.match(text, new RegExp(`turbine_kv_transfers_total\\{worker="${w.workerId}",[^}]*direction="export",outcome="ok"\\} 0`));
    }
    // One turbine_worker_kv_usage family: the router's (model, worker).
    assert.equal(text.match(/^# TYPE turbine_worker_kv_usage /gm)?.length, 1);
  } finally {
    await server.close();
  }
});
