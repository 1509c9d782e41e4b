// `turbine profile --engine llamacpp` measured for real on this machine: the "small" random-weight
// GGUF from the project's writer, a short grid.
import { test } from "node:test";
import assert from "node:assert/strict";
import { profileEngine } from "../../src/cli/index.ts";
import { LlamaCppEngine } from "../../src/engines/index.ts";
import { ProfileModel, parseWorkerProfile } from "../../src/planner/index.ts";
import { randomGguf } from "../support/gguf.ts";

test("planner - llama.cpp profile: prefill and decode times measured on a real engine", async (t) => {
  const engine = await LlamaCppEngine.create({ modelPath: await randomGguf({ preset: "small" }), numSequences: 2, contextSize: 1024, prefixCache: false });
  t.after(() => engine.close());
  const profile = parseWorkerProfile(
    JSON.parse(JSON.stringify(await profileEngine(engine, { engineName: "llamacpp", grid: { prefillTokens: [8, 960], batchSizes: [1, 2], contextTokens: [32] }, decodeTokens: 6, repeats: 3 }))),
  );
  assert.equal(profile.source, "measured");
  assert.equal(profile.engine, "llamacpp");
  assert.deepEqual(profile.prefill.tokens, [8, 960]);
  for (const ms of profile.prefill.ms) assert.ok(ms > 0 && Number.isFinite(ms));
  // 120× the prompt costs more to prefill (a loose check: the machine is shared).
  assert.ok(profile.prefill.ms[1]! > profile.prefill.ms[0]!, JSON.stringify(profile.prefill));
  for (const row of profile.decode.ms) for (const ms of row) assert.ok(ms > 0 && Number.isFinite(ms), JSON.stringify(profile.decode));
  const model = new ProfileModel(profile);
  assert.ok(model.decodeMs(1, 32) > 0);
  process.stdout.write(`# llama.cpp profile: prefill ${JSON.stringify(profile.prefill.ms.map((x) => Math.round(x)))} ms, decode ${JSON.stringify(profile.decode.ms.map((r) => r.map((x) => +x.toFixed(2))))} ms\n`);
});
