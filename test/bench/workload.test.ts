import { test } from "node:test";
import assert from "node:assert/strict";
import { TurbineError } from "../../src/protocols/index.ts";
import {
  Prng,
  multiTurnWorkload,
  parseDistribution,
  sampleDistribution,
  sharedPrefixWorkload,
  syntheticWorkload,
} from "../../src/bench/index.ts";

test("workload - synthetic is deterministic from the seed and respects the vocab", () => {
  const opts = { numRequests: 20, inputTokens: parseDistribution("uniform:10:50"), outputTokens: parseDistribution("7"), seed: 3, vocab: { min: 5, max: 9 } };
  const a = syntheticWorkload(opts);
  const b = syntheticWorkload(opts);
  assert.deepEqual(a, b);
  assert.notDeepEqual(syntheticWorkload({ ...opts, seed: 4 }), a);
  for (const r of a) {
    assert.ok(r.tokenIds.length >= 10 && r.tokenIds.length <= 50);
    assert.equal(r.outputTokens, 7);
    assert.ok(r.tokenIds.every((t) => t >= 5 && t <= 9));
  }
  assert.deepEqual(a.map((r) => r.index), [...Array(20).keys()]);
});

test("workload - distributions parse and sample within bounds", () => {
  assert.deepEqual(parseDistribution("128"), { kind: "fixed", value: 128 });
  assert.deepEqual(parseDistribution("uniform:1:4"), { kind: "uniform", min: 1, max: 4 });
  assert.deepEqual(parseDistribution("normal:100:10:90:110"), { kind: "normal", mean: 100, sd: 10, min: 90, max: 110 });
  assert.throws(() => parseDistribution("gamma:1:2"), (e: unknown) => e instanceof TurbineError && e.code === "INPUT_INVALID");
  assert.throws(() => parseDistribution("uniform:5:1"), (e: unknown) => e instanceof TurbineError && e.code === "INPUT_INVALID");
  const rng = new Prng(1);
  let sum = 0;
  for (let i = 0; i < 2000; i++) {
    const x = sampleDistribution({ kind: "normal", mean: 100, sd: 10, min: 90, max: 110 }, rng);
    assert.ok(x >= 90 && x <= 110 && Number.isInteger(x));
    const y = sampleDistribution({ kind: "lognormal", mean: 200, sd: 50 }, rng);
    assert.ok(y >= 1);
    sum += y;
  }
  assert.ok(Math.abs(sum / 2000 - 200) < 10, `lognormal mean ${sum / 2000}`);
});

test("workload - shared-prefix groups share exactly their prefix", () => {
  const w = sharedPrefixWorkload({
    numGroups: 3,
    promptsPerGroup: 4,
    prefixTokens: parseDistribution("64"),
    suffixTokens: parseDistribution("16"),
    outputTokens: parseDistribution("8"),
    seed: 1,
  });
  assert.equal(w.length, 12);
  // Interleaved: request i belongs to group i % 3.
  for (let i = 0; i < w.length; i++) {
    const same = w[i % 3]!.tokenIds.slice(0, 64);
    assert.deepEqual(w[i]!.tokenIds.slice(0, 64), same);
    assert.equal(w[i]!.tokenIds.length, 80);
  }
  assert.notDeepEqual(w[0]!.tokenIds.slice(0, 64), w[1]!.tokenIds.slice(0, 64));
  assert.notDeepEqual(w[0]!.tokenIds.slice(64), w[3]!.tokenIds.slice(64));
});

test("workload - multi-turn resends a growing history: each turn extends the previous prompt", () => {
  const w = multiTurnWorkload({ numSessions: 2, turnsPerSession: 3, userTokens: parseDistribution("10"), assistantTokens: parseDistribution("5"), seed: 2 });
  assert.equal(w.length, 6);
  const bySession = [0, 1].map((s) => w.filter((r) => r.sessionId === s).sort((a, b) => a.turn! - b.turn!));
  for (const turns of bySession) {
    assert.deepEqual(turns.map((r) => r.tokenIds.length), [10, 25, 40]); // user + reply stand-in + user ...
    for (let t = 1; t < turns.length; t++) assert.deepEqual(turns[t]!.tokenIds.slice(0, turns[t - 1]!.tokenIds.length), turns[t - 1]!.tokenIds);
    assert.ok(turns.every((r) => r.outputTokens === 5));
  }
  assert.deepEqual(w.map((r) => r.turn), [0, 0, 1, 1, 2, 2]);
});
