// llama.cpp through the KV block manager: the prefix cache is G2 (tier "host"); states it
// evicts go to disk (G3) or Redis (G4), and a state onboarded from there, by this process or
// by another worker process, continues with exactly the tokens a fresh prefill gives.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { LlamaCppEngine } from "../../../src/engines/index.ts";
import { randomGguf } from "../../support/gguf.ts";
import { greedy, promptOf } from "../../support/llamacpp.ts";
import { startRedis } from "../../support/redis.ts";

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL("./kvbm-child.ts", import.meta.url));

async function reference(path: string, prompt: number[]): Promise<number[]> {
  const alone = await LlamaCppEngine.create({ modelPath: path, numSequences: 2, contextSize: 512, prefixCache: false });
  try {
    return await greedy(alone, prompt, 16);
  } finally {
    await alone.close();
  }
}

test("llamacpp kvbm - a state evicted to disk and onboarded gives the tokens of a fresh prefill; G2 is tier host", async (t) => {
  const path = await randomGguf();
  const a = promptOf(150, 3);
  const b = promptOf(150, 4);
  const want = await reference(path, a);
  const dir = mkdtempSync(join(tmpdir(), "kvbm-llama-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const engine = await LlamaCppEngine.create({ modelPath: path, numSequences: 2, contextSize: 512, prefixCache: { maxBytes: 1 }, kvbm: { diskDir: dir, offloadAll: true } });
  const tiers = new Set<string>();
  engine.onKvEvent((e) => tiers.add(`${e.tier}:${e.data.type}`));
  try {
    await greedy(engine, a, 8);
    await greedy(engine, b, 8); // evicts a's state from G2 into G3
    await engine.flushOffloads();
    assert.equal(engine.kvbmStats()!.offloads.disk, 1);
    const before = engine.counters.numEvaluatedPromptTokens;
    const got = await greedy(engine, a, 16);
    assert.deepEqual(got, want);
    assert.equal(engine.counters.numOnboardsDisk, 1, "the state came from disk");
    assert.equal(engine.counters.numEvaluatedPromptTokens - before, 1, "only the last prompt token was evaluated");
    assert.ok(tiers.has("host:stored") && tiers.has("disk:stored"), [...tiers].join(","));
    assert.ok(![...tiers].some((x) => x.startsWith("device")), "the prefix cache is not device memory");
  } finally {
    await engine.close();
  }
});

test("llamacpp kvbm - a state stored in Redis by another worker process is onboarded here and continues exactly", async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const path = await randomGguf();
  const a = promptOf(150, 5);
  const b = promptOf(150, 6);
  const { stdout } = await run(process.execPath, ["--import", "tsx", CHILD, path, redis.url, JSON.stringify([a, b])], { timeout: 60_000 });
  const child = JSON.parse(stdout.trim()) as { pid: number; offloads: { remote: number } };
  assert.notEqual(child.pid, process.pid);
  assert.equal(child.offloads.remote, 1);
  const want = await reference(path, a);
  const engine = await LlamaCppEngine.create({ modelPath: path, numSequences: 2, contextSize: 512, kvbm: { redisUrl: redis.url } });
  try {
    for (let i = 0; i < 100 && !engine.kvbm!.redis!.isReady; i++) await new Promise((r) => setTimeout(r, 20));
    const got = await greedy(engine, a, 16);
    assert.deepEqual(got, want);
    assert.equal(engine.counters.numOnboardsRemote, 1, "the state came from the shared store");
    assert.equal(engine.counters.numEvaluatedPromptTokens, 1);
    // Redis goes away: requests still succeed, by prefill, and the outage is counted.
    await redis.kill();
    const c = promptOf(140, 7);
    assert.deepEqual(await greedy(engine, c, 16), await reference(path, c));
    assert.ok(engine.kvbmStats()!.remoteUnavailable >= 1);
  } finally {
    await engine.close();
  }
});
