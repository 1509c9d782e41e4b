import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildProgram, profileMocker } from "../../src/cli/index.ts";
import { PolynomialTimingModel } from "../../src/engines/index.ts";
import { ProfileModel, SlaPlanner, parseWorkerProfile } from "../../src/planner/index.ts";

test("planner - the mocker's profile reproduces its timing model", () => {
  const timing = new PolynomialTimingModel();
  const profile = parseWorkerProfile(JSON.parse(JSON.stringify(profileMocker({ numKvBlocks: 16384, maxNumBatchedTokens: 8192 }))));
  assert.equal(profile.source, "timing-model");
  // One prompt within the step budget is one prefill step.
  for (const [i, t] of profile.prefill.tokens.entries()) {
    if (t > 8192) continue;
    assert.ok(Math.abs(profile.prefill.ms[i]! - timing.prefillMs(t)) < 1e-9, `prefill ${t}`);
  }
  // A longer one is chunked: ⌈t / 8192⌉ steps.
  const i32k = profile.prefill.tokens.indexOf(32768);
  assert.ok(Math.abs(profile.prefill.ms[i32k]! - 4 * timing.prefillMs(8192)) < 1e-9);
  // A decode step of b sequences of c tokens: decode(u) at the blocks they hold.
  const { batchSizes, contextTokens, ms } = profile.decode;
  let checked = 0;
  for (let i = 0; i < batchSizes.length; i++) {
    for (let j = 0; j < contextTokens.length; j++) {
      const b = batchSizes[i]!;
      const c = contextTokens[j]!;
      // Prompt blocks plus the one the first token opened; sequences prefilled early may have
      // decoded into one block more while the others prefilled.
      const lo = b * (Math.floor(c / 16) + 1);
      const hi = b * (Math.floor(c / 16) + 2);
      if (hi > 16384) continue;
      const m = ms[i]![j]!;
      assert.ok(m >= timing.decodeMs(lo / 16384) - 1e-9 && m <= timing.decodeMs(hi / 16384) + 1e-9, `decode b=${b} c=${c}: ${m}`);
      checked++;
    }
  }
  assert.ok(checked >= 15, `checked ${checked} points`);
  // Read back by interpolation, between grid points.
  const model = new ProfileModel(profile);
  assert.ok(Math.abs(model.prefillMs(3000) - timing.prefillMs(3000)) / timing.prefillMs(3000) < 0.01);
});

test("planner - turbine profile --engine mocker writes a profile the SLA planner reads", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "turbine-profile-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, "mocker.json");
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    await buildProgram().parseAsync(["node", "turbine", "profile", "--engine", "mocker", "--num-kv-blocks", "4096", "--prefill-tokens", "256,1024", "--batch-sizes", "1,8", "--context-tokens", "512", "--output", out]);
  } finally {
    process.stdout.write = write;
  }
  const profile = parseWorkerProfile(JSON.parse(readFileSync(out, "utf8")));
  assert.equal(profile.numKvBlocks, 4096);
  assert.deepEqual(profile.prefill.tokens, [256, 1024]);
  assert.deepEqual(profile.decode.batchSizes, [1, 8]);
  const sla = new SlaPlanner({ ttftTargetMs: 1000, itlTargetMs: 50, profiles: { aggregated: profile } });
  const d = sla.decide({ now: 0, intervalMs: 30_000, pools: [{ pool: "aggregated", numWorkers: 1, requestRate: 2, meanInputTokens: 512, meanOutputTokens: 64, ttftMs: Number.NaN, itlMs: Number.NaN, queueDepth: 0, kvUsage: 0, pendingPrefillTokens: 0, numWaitingForWorkers: 0 }] });
  assert.equal(d.pools[0]!.cause, "forecast");
  assert.ok(d.pools[0]!.desired >= 1);
});
