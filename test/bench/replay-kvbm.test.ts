// `turbine replay` with the KV block manager: the same policy the engines run, in simulated
// time; and the `bound` reference row.
import { test } from "node:test";
import assert from "node:assert/strict";
import { boundReport, multiTurnWorkload, parseDistribution, replay, NO_SHEDDING } from "../../src/bench/index.ts";

const workload = multiTurnWorkload({ numSessions: 24, turnsPerSession: 4, userTokens: parseDistribution("400"), assistantTokens: parseDistribution("16"), seed: 5 });
// G1 far smaller than the conversations: without lower tiers most prefixes are gone by the next turn.
const ENGINE = { numWorkers: 2, numKvBlocks: 200, blockSize: 16, maxNumBatchedTokens: 2048, seed: 0, mode: { kind: "concurrency" as const, concurrency: 8 }, busy: NO_SHEDDING };

test("bench replay kvbm - G2 onboards what G1 evicted: higher hit rate, onboarded tokens counted", () => {
  const g1 = replay(workload, ENGINE);
  const g2 = replay(workload, { ...ENGINE, kvbm: { hostBytes: 64 * 1024 ** 3 } });
  assert.equal(g1.onboardedTokens, undefined);
  assert.ok(g2.onboardedTokens!.host > 0, "the KVBM's own path ran");
  assert.ok(g2.hitRate > g1.hitRate + 0.1, `hit rate ${g1.hitRate.toFixed(3)} → ${g2.hitRate.toFixed(3)}`);
  assert.equal(g2.summary.failures, 0);
  // The same run twice is the same run.
  assert.deepEqual(replay(workload, { ...ENGINE, kvbm: { hostBytes: 64 * 1024 ** 3 } }).records, g2.records);
});

test("bench replay kvbm - the shared G4 answers prefixes a small G2 dropped", () => {
  const run = replay(workload, { ...ENGINE, kvbm: { hostBytes: 64 * 1024 * 1024, remoteBytes: 64 * 1024 ** 3, offloadAll: true } });
  assert.ok(run.onboardedTokens!.remote > 0);
});

test("bench replay - the bound row: unlimited shared cache, no queueing, so no routing beats it", () => {
  const bound = boundReport(workload, { blockSize: 16, maxNumBatchedTokens: 2048 });
  const best = replay(workload, { ...ENGINE, kvbm: { hostBytes: 64 * 1024 ** 3, remoteBytes: 64 * 1024 ** 3, offloadAll: true } });
  assert.equal(bound.policy, "bound");
  assert.ok(bound.hitRate >= best.hitRate - 1e-9, `${bound.hitRate} >= ${best.hitRate}`);
  assert.ok(bound.ttftMs.mean <= best.summary.ttft.mean);
  assert.ok(bound.hitRate > 0.5, "multi-turn prompts repeat their history");
});
