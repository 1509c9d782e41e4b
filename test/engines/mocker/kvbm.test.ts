// The mocker with the KV block manager: blocks G1 evicts are onboarded from G2 instead of
// recomputed, the transfer time is charged in the step, and G2's events say "host".
import { test } from "node:test";
import assert from "node:assert/strict";
import { MockerCore } from "../../../src/engines/index.ts";
import { asRequestId } from "../../../src/protocols/index.ts";
import type { StorageTier } from "../../../src/protocols/index.ts";

const prompt = (n: number, salt: number): number[] => Array.from({ length: n }, (_, i) => 1 + ((i * 31 + salt * 1009) % 5000));

function runOne(core: MockerCore, id: string, tokens: number[], now: number): { end: number; cached: number; firstStepMs: number } {
  assert.equal(core.addRequest({ requestId: asRequestId(id), model: "m", tokenIds: tokens, sampling: {}, stop: { maxTokens: 2, stopTokenIds: [], ignoreEos: true } }, now), null);
  let cached = -1;
  let firstStepMs = -1;
  while (core.hasWork()) {
    const r = core.step(now);
    if (firstStepMs < 0) firstStepMs = r.durationMs;
    now += r.durationMs;
    for (const o of r.outputs) if (o.finishReason !== undefined) cached = o.usage!.cachedTokens;
  }
  return { end: now, cached, firstStepMs };
}

test("mocker kvbm - a prefix G1 evicted is onboarded from G2, its transfer time charged in the step", () => {
  const make = (kvbm: boolean): MockerCore =>
    new MockerCore({ blockSize: 16, numKvBlocks: 40, ...(kvbm ? { kvbm: { hostBytes: 1 << 30, gbps: { host: 25 } } } : {}) });
  const a = prompt(480, 1); // 30 blocks
  const b = prompt(480, 2); // evicts a from the 40-block G1
  const results: Record<string, { cached: number; firstStepMs: number }> = {};
  let deviceHit = -1;
  for (const kvbm of [false, true]) {
    const core = make(kvbm);
    const tiers = new Set<StorageTier>();
    core.onKvEvent((e) => tiers.add(e.tier));
    let now = runOne(core, "a", a, 0).end;
    now = runOne(core, "b", b, now).end;
    const again = runOne(core, "a2", a, now);
    results[String(kvbm)] = again;
    if (!kvbm) deviceHit = again.cached; // the head of a's prefix that G1 kept (its tail is evicted first)
    if (kvbm) {
      assert.ok(tiers.has("host") && tiers.has("device"));
      const onboarded = 29 * 16 - deviceHit;
      assert.ok(onboarded > 0);
      assert.equal(core.counters.numOnboardedTokens.host, onboarded, "what G1 lost came back from G2");
      // Each onboarded block: 2 MiB at 25 GB/s.
      assert.ok(Math.abs(core.counters.onboardMs - ((onboarded / 16) * 2 * 1024 * 1024) / 25e6) < 1e-9);
      assert.equal(core.kvbmStats()!.hits.host, 1);
    } else {
      assert.deepEqual([...tiers], ["device"]);
    }
  }
  assert.ok(deviceHit < 29 * 16);
  assert.equal(results["true"]!.cached, 29 * 16, "the whole prefix but the last block is reused");
  assert.ok(results["true"]!.firstStepMs < results["false"]!.firstStepMs, "onboarding beats recomputing");
});

test("mocker kvbm - a tier slower than recompute is never onboarded", () => {
  const cachedWith = (kvbm: boolean): number => {
    const core = new MockerCore({ blockSize: 16, numKvBlocks: 40, ...(kvbm ? { kvbm: { hostBytes: 1 << 30, gbps: { host: 0.5 } } } : {}) });
    let now = runOne(core, "a", prompt(480, 1), 0).end;
    now = runOne(core, "b", prompt(480, 2), now).end;
    const cached = runOne(core, "a2", prompt(480, 1), now).cached;
    if (kvbm) assert.equal(core.counters.numOnboardedTokens.host, 0);
    return cached;
  };
  // 2 MiB at 0.5 GB/s is 4.2 ms a block, against 0.3 ms to recompute it.
  assert.equal(cachedWith(true), cachedWith(false), "only G1's own blocks are reused");
});
