import { test } from "node:test";
import assert from "node:assert/strict";
import { LoadPlanner, ProfileModel, SlaPlanner, WORKER_PROFILE_FORMAT, estimateDecode, estimatePrefill, parseWorkerProfile } from "../../src/planner/index.ts";
import type { PoolName, PoolObservation, WorkerProfile } from "../../src/planner/index.ts";
import { Prng } from "../../src/bench/index.ts";

/** Prefill: 100 ms per prompt whatever its length; decode step: 5 ms + 1 ms per sequence. */
const PROFILE: WorkerProfile = {
  format: WORKER_PROFILE_FORMAT,
  engine: "test",
  model: "test",
  measuredAt: "2026-12-01",
  machine: "hand-made",
  source: "measured",
  blockSize: 16,
  numKvBlocks: 1000,
  maxNumSeqs: 64,
  maxNumBatchedTokens: 8192,
  prefill: { tokens: [1, 10_000], ms: [100, 100] },
  decode: { batchSizes: [1, 64], contextTokens: [1, 10_000], ms: [[6, 6], [69, 69]] },
};

function obs(pool: PoolName, o: Partial<PoolObservation> = {}): PoolObservation {
  return {
    pool,
    numWorkers: 1,
    requestRate: 0,
    meanInputTokens: 0,
    meanOutputTokens: 0,
    ttftMs: Number.NaN,
    itlMs: Number.NaN,
    queueDepth: 0,
    kvUsage: 0,
    pendingPrefillTokens: 0,
    numWaitingForWorkers: 0,
    ...o,
  };
}

test("planner - SLA planner sizes prefill and decode pools as computed by hand", () => {
  // λ = 20 req/s, prompts of 1000 tokens, 100 output tokens; TTFT ≤ 200 ms, ITL ≤ 20 ms.
  // Prefill (M/D/1, s = 100 ms): TTFT = 100 + 100·ρ/(2(1−ρ)) ≤ 200 ⇔ ρ = 2/N ≤ 2/3 ⇔ N ≥ 3.
  // Decode: b = (20/N)·100·(5 + b)/1000 ⇒ b = 10/(N − 2): N = 2 diverges; N = 3 gives b = 10,
  // ITL 15 ms ≤ 20, KV 10·1050 tokens = 66% of 16,000 ≤ 85%. So 3 and 3.
  const model = new ProfileModel(PROFILE);
  const load = { requestRate: 20, inputTokens: 1000, outputTokens: 100 };
  assert.ok(Math.abs(estimatePrefill(model, load, 3).ttftMs - 200) < 1e-9);
  assert.ok(estimatePrefill(model, load, 2).ttftMs > 200);
  const d3 = estimateDecode(model, load, 3);
  assert.ok(Math.abs(d3.batchSize - 10) < 1e-6 && Math.abs(d3.itlMs - 15) < 1e-6, JSON.stringify(d3));
  assert.equal(estimateDecode(model, load, 2).stable, false);
  const planner = new SlaPlanner({ ttftTargetMs: 200, itlTargetMs: 20, targetFraction: 1, profiles: { prefill: PROFILE, decode: PROFILE }, predictor: "constant" });
  const o = { requestRate: 20, meanInputTokens: 1000, meanOutputTokens: 100 };
  const d = planner.decide({ now: 30_000, intervalMs: 30_000, pools: [obs("prefill", o), obs("decode", o)] });
  assert.deepEqual(
    d.pools.map((p) => [p.pool, p.desired]),
    [
      ["prefill", 3],
      ["decode", 3],
    ],
  );
  assert.match(d.pools[0]!.reason, /predicted 20\.00 req\/s/);
  assert.equal(d.pools[0]!.predicted?.requestRate, 20);
});

test("planner - SLA planner respects max workers per pool and the GPU budget", () => {
  const o = { requestRate: 20, meanInputTokens: 1000, meanOutputTokens: 100 };
  const pools = [obs("prefill", o), obs("decode", o)];
  const capped = new SlaPlanner({ ttftTargetMs: 200, itlTargetMs: 20, targetFraction: 1, profiles: { prefill: PROFILE, decode: PROFILE }, maxWorkers: { prefill: 2 } });
  assert.deepEqual(capped.decide({ now: 0, intervalMs: 30_000, pools }).pools.map((p) => p.desired), [2, 3]);
  const budget = new SlaPlanner({ ttftTargetMs: 200, itlTargetMs: 20, targetFraction: 1, profiles: { prefill: PROFILE, decode: PROFILE }, maxTotalGpus: 5 });
  const d = budget.decide({ now: 0, intervalMs: 30_000, pools }).pools.map((p) => p.desired);
  assert.equal(d[0]! + d[1]!, 5);
});

test("planner - scale to zero after the idle time, and back when a request waits", () => {
  const planner = new SlaPlanner({ ttftTargetMs: 200, itlTargetMs: 20, profiles: { aggregated: PROFILE }, minWorkers: { aggregated: 0 }, scaleToZeroAfterMs: 60_000 });
  const at = (now: number, o: Partial<PoolObservation>) => planner.decide({ now, intervalMs: 30_000, pools: [obs("aggregated", o)] }).pools[0]!;
  assert.equal(at(0, { requestRate: 1, meanInputTokens: 100, meanOutputTokens: 10 }).desired, 1);
  assert.equal(at(30_000, {}).desired, 1); // idle 30 s: not yet
  const zero = at(60_000, {});
  assert.equal(zero.desired, 0);
  assert.equal(zero.reason, "no load predicted");
  const cold = at(90_000, { numWorkers: 0, numWaitingForWorkers: 1 });
  assert.equal(cold.desired, 1);
  assert.equal(cold.reason, "requests waiting: cold start");
});

test("planner - load planner never flaps on a noisy constant load, and follows a real step", () => {
  const planner = new LoadPlanner({ ttftTargetMs: 1000, itlTargetMs: 50, cooldownMs: 60_000 });
  const rng = new Prng(7);
  let n = 4;
  const changes: number[] = [];
  // Constant load that needs about 4 workers: ITL ≈ 40 ms ± 25% noise at n = 4 (scales as 1/n).
  for (let i = 0; i < 200; i++) {
    const itl = (160 / n) * (0.75 + 0.5 * rng.next());
    const d = planner.decide({ now: i * 30_000, intervalMs: 30_000, pools: [obs("aggregated", { numWorkers: n, itlMs: itl, requestRate: 5, kvUsage: 0.3 })] }).pools[0]!;
    if (d.desired !== n) changes.push(d.desired);
    n = d.desired;
  }
  // At most one settling move, never a change of direction.
  assert.ok(changes.length <= 2, `changes: ${changes.join(",")}`);
  let reversals = 0;
  for (let i = 2; i < changes.length; i++) if (Math.sign(changes[i]! - changes[i - 1]!) !== Math.sign(changes[i - 1]! - (changes[i - 2] ?? 4))) reversals++;
  assert.equal(reversals, 0);
  // A step to 3× the load: it scales up.
  const up = planner.decide({ now: 300 * 30_000, intervalMs: 30_000, pools: [obs("aggregated", { numWorkers: n, itlMs: (480 / n) * 1.0, requestRate: 15 })] }).pools[0]!;
  assert.ok(up.desired > n, JSON.stringify(up));
  assert.match(up.reason, /itl/);
});

test("planner - load planner scales down one at a time, only after the load stays low", () => {
  const planner = new LoadPlanner({ itlTargetMs: 50, cooldownMs: 0, scaleDownIntervals: 2 });
  const d = (now: number, n: number, itl: number) => planner.decide({ now, intervalMs: 1000, pools: [obs("aggregated", { numWorkers: n, itlMs: itl })] }).pools[0]!.desired;
  assert.equal(d(0, 4, 10), 4); // first low interval
  assert.equal(d(1000, 4, 10), 3); // second: one fewer
  assert.equal(d(2000, 3, 48), 3); // near target: stays
});

test("planner - worker profiles are validated", () => {
  assert.equal(parseWorkerProfile(JSON.parse(JSON.stringify(PROFILE))).engine, "test");
  assert.throws(() => parseWorkerProfile({ ...PROFILE, prefill: { tokens: [2, 1], ms: [1, 2] } }), (e: { param?: string }) => e.param === "prefill.tokens");
  assert.throws(() => parseWorkerProfile({ ...PROFILE, format: "x" }), (e: { code?: string }) => e.code === "REQUEST_INVALID");
});
