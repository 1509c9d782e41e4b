import { test } from "node:test";
import assert from "node:assert/strict";
import { replay, syntheticWorkload, NO_SHEDDING } from "../../src/bench/index.ts";
import type { ReplayIntervalView } from "../../src/bench/index.ts";

// 600 requests at 20 req/s (30 s of arrivals), 200-token prompts, 100-token outputs.
const workload = syntheticWorkload({ numRequests: 600, inputTokens: { kind: "fixed", value: 200 }, outputTokens: { kind: "fixed", value: 100 }, seed: 3 }).map((r, i) => ({ ...r, arrivalMs: i * 50 }));

test("replay - autoscaling: workers start after their start-up delay, drain before they leave, and are billed", () => {
  const views: ReplayIntervalView[] = [];
  // 1 worker, 3 from t = 5 s, 1 from t = 15 s.
  const decide = (v: ReplayIntervalView): number => {
    views.push(v);
    return v.now >= 15_000 ? 1 : v.now >= 5_000 ? 3 : 1;
  };
  const r = replay(workload, { numWorkers: 1, busy: NO_SHEDDING, scaling: { intervalMs: 5000, maxWorkers: 4, startupMs: 2000, decide } });
  const s = r.scaling!;
  assert.equal(r.summary.failures, 0, "no request lost to a drain");
  for (const rec of r.records) assert.equal(rec.outputTokens, 100);
  assert.equal(s.numStarted, 2);
  assert.equal(s.numDrained, 2);
  // Boundaries every 5 s from the first arrival (t = 0). At 5 s two start; at 10 s they serve
  // (2 s start-up); at 15 s two drain.
  const byTime = new Map(s.timeline.map((p) => [p.atMs, p]));
  assert.deepEqual(byTime.get(5000), { atMs: 5000, desired: 3, serving: 1, starting: 2, draining: 0 });
  assert.equal(byTime.get(10_000)!.serving, 3);
  const down = byTime.get(15_000)!;
  // Two leave at 15 s: a worker with work drains, one without is gone at once (numDrained counts both).
  assert.equal(down.serving, 1, "one serves");
  assert.ok(down.draining <= 2);
  // The bill: 1 worker all along, 2 more from 5 s until their drains end (after 15 s).
  assert.ok(s.workerMs >= r.simMs + 2 * 10_000 - 1, `${s.workerMs} vs ${r.simMs}`);
  assert.ok(s.workerMs <= r.simMs + 2 * (r.simMs - 5000), `${s.workerMs} vs ${r.simMs}`);
  // The callback saw the interval's flows.
  const arrivals = views.reduce((n, v) => n + v.numArrivals, 0);
  assert.ok(arrivals > 500 && arrivals <= 600, `${arrivals}`);
  assert.ok(views.some((v) => v.numCompleted > 0 && v.ttftCount > 0 && v.itlCount > 0 && v.loads.length > 0));
});

test("replay - without scaling nothing changes: same records as before the hook", () => {
  const a = replay(workload.slice(0, 100), { numWorkers: 2 });
  const b = replay(workload.slice(0, 100), { numWorkers: 2, scaling: { intervalMs: 1000, maxWorkers: 2, decide: () => 2 } });
  assert.deepEqual(
    a.records.map((x) => [x.startMs, x.firstTokenMs, x.endMs]),
    b.records.map((x) => [x.startMs, x.firstTokenMs, x.endMs]),
  );
  assert.equal(a.scaling, undefined);
  // Two workers billed from the first arrival to the last completion.
  assert.ok(Math.abs(b.scaling!.workerMs - 2 * b.simMs) < 1e-6, `${b.scaling!.workerMs} vs ${2 * b.simMs}`);
});
