// deploy/grafana's dashboard is a well-formed Grafana dashboard that shows what an operator
// needs; its expressions are run against a real Prometheus in prometheus.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

/* eslint-disable @typescript-eslint/no-explicit-any -- dashboard JSON */
const d = JSON.parse(readFileSync(new URL("../../deploy/grafana/turbine-dashboard.json", import.meta.url), "utf8")) as Record<string, any>;

test("deploy - the Grafana dashboard is well-formed: unique ids, laid out without overlap, one data source variable", () => {
  assert.equal(typeof d["uid"], "string");
  const vars = (d["templating"].list as any[]).map((v) => v.name);
  assert.deepEqual(vars, ["datasource", "model"]);
  const ids = new Set<number>();
  const cells = new Set<string>();
  for (const p of d["panels"] as any[]) {
    assert.ok(!ids.has(p.id), `panel id ${p.id} is unique`);
    ids.add(p.id);
    assert.equal(p.datasource.uid, "${datasource}");
    const refs = (p.targets as any[]).map((t) => t.refId);
    assert.equal(new Set(refs).size, refs.length, `${p.title}: refIds are unique`);
    for (const t of p.targets as any[]) {
      assert.equal(t.datasource.uid, "${datasource}");
      if (!t.expr.includes("turbine_planner_")) assert.match(t.expr, /model=~"\$model"/, `${p.title}: filtered by the model variable`);
      if (/rate\(|increase\(/.test(t.expr)) assert.match(t.expr, /\[\$__rate_interval\]/, `${p.title}: rate windows follow the scrape interval`);
    }
    const { x, y, w, h } = p.gridPos;
    for (let i = x; i < x + w; i++) for (let j = y; j < y + h; j++) {
      assert.ok(!cells.has(`${i},${j}`), `${p.title} overlaps another panel`);
      cells.add(`${i},${j}`);
    }
    assert.ok(x + w <= 24);
  }
});

test("deploy - the Grafana dashboard has the panels an operator needs", () => {
  const exprs = (d["panels"] as any[]).flatMap((p) => (p.targets as any[]).map((t) => t.expr as string)).join("\n");
  for (const needed of [
    /histogram_quantile\(0\.99, sum by \(le\) \(rate\(turbine_time_to_first_token_seconds_bucket/,
    /histogram_quantile\(0\.5, sum by \(le\) \(rate\(turbine_inter_token_latency_seconds_bucket/,
    /rate\(turbine_requests_total/,
    /rate\(turbine_output_tokens_total/,
    /sum by \(tier\) \(rate\(turbine_router_kv_hit_blocks_total/,
    /max by \(worker\) \(turbine_worker_kv_usage/,
    /sum by \(worker\) \(turbine_worker_active_decode_blocks/,
    /turbine_request_migrations_total/,
    /turbine_planner_desired_workers/,
    /turbine_planner_actual_workers/,
  ]) assert.match(exprs, needed);
});
