import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { LlamaCppEngine } from "../../../src/engines/index.ts";
import type { EngineKvEvent } from "../../../src/engines/index.ts";
import { asRequestId } from "../../../src/protocols/index.ts";
import type { EngineOutput, FinishReason, SamplingOptions } from "../../../src/protocols/index.ts";
import { computeSequenceHashes } from "../../../src/kv/index.ts";
import { randomGguf } from "../../support/gguf.ts";

let nextId = 0;
/** Runs one request to the end: its tokens and how it finished. */
async function generate(
  engine: LlamaCppEngine,
  tokenIds: number[],
  options: { maxTokens?: number; sampling?: SamplingOptions; signal?: AbortSignal; stopTokenIds?: number[] } = {},
): Promise<{ tokens: number[]; finish: FinishReason | undefined; last: EngineOutput | undefined }> {
  const tokens: number[] = [];
  let last: EngineOutput | undefined;
  const request = {
    requestId: asRequestId(`r${nextId++}`),
    model: "m",
    tokenIds,
    sampling: options.sampling ?? { temperature: 0 },
    stop: { maxTokens: options.maxTokens ?? 12, stopTokenIds: options.stopTokenIds ?? [2] },
  };
  for await (const out of engine.generate(request, { signal: options.signal ?? new AbortController().signal })) {
    tokens.push(...out.tokenIds);
    last = out;
  }
  return { tokens, finish: last?.finishReason, last };
}

/** A deterministic prompt of `n` tokens from the word pieces (ids 300..759). */
function promptOf(n: number, salt: number): number[] {
  const ids = [1];
  for (let i = 1; i < n; i++) ids.push(300 + ((i * 7919 + salt * 104729) % 460));
  return ids;
}

describe("llamacpp - engine", () => {
  let path: string;
  let cached: LlamaCppEngine;
  let uncached: LlamaCppEngine;
  const events: EngineKvEvent[] = [];

  before(async () => {
    path = await randomGguf();
    cached = await LlamaCppEngine.create({ modelPath: path, numSequences: 4, contextSize: 1280 });
    uncached = await LlamaCppEngine.create({ modelPath: path, numSequences: 4, contextSize: 1280, prefixCache: false });
    cached.onKvEvent((e) => events.push(e));
  });
  after(async () => {
    await cached.close();
    await uncached.close();
  });

  test("llamacpp - a request sharing a 1,000-token prefix evaluates only its new tokens, with the same output", async () => {
    const shared = promptOf(1000, 1);
    const first = [...shared, 401, 402, 403, 404, 405];
    const second = [...shared, 511, 512, 513, 514, 515, 516, 517];
    await generate(cached, first);
    // Another request in between takes the sequence, so the second must come from the cache file.
    const others = await Promise.all([0, 1, 2, 3].map((i) => generate(cached, promptOf(40, 10 + i), { maxTokens: 2 })));
    assert.equal(others.length, 4);
    const c = cached.counters;
    const evaluatedBefore = c.numEvaluatedPromptTokens;
    const loadsBefore = c.numStateLoads;
    const withCache = await generate(cached, second);
    assert.equal(c.numEvaluatedPromptTokens - evaluatedBefore, 7, "only the 7 new tokens are evaluated");
    assert.equal(withCache.last?.usage?.cachedTokens, 1000);
    assert.equal(c.numStateLoads - loadsBefore, 1, "loaded from the prefix cache");

    const withoutCache = await generate(uncached, second);
    assert.deepEqual(withCache.tokens, withoutCache.tokens);
    assert.equal(withoutCache.last?.usage?.cachedTokens, 0);
    assert.equal(uncached.counters.numEvaluatedPromptTokens, second.length);

    // The cache published the prefix's blocks: 62 full blocks of 16 for the first request.
    const stored = events.filter((e) => e.data.type === "stored").flatMap((e) => (e.data.type === "stored" ? e.data.blocks : []));
    const hashes = computeSequenceHashes(first, 16);
    for (const h of hashes) assert.ok(stored.some((b) => b.hash === h), "every full block of the first request was stored");
    assert.ok(cached.load().prefixCacheHitRate > 0);
  });

  test("llamacpp - concurrent requests are batched and each returns what it returns alone", async () => {
    const prompts = [0, 1, 2, 3].map((i) => promptOf(24 + i * 5, 100 + i));
    const alone: number[][] = [];
    for (const p of prompts) alone.push((await generate(uncached, p, { maxTokens: 16 })).tokens);
    const c = uncached.counters;
    const multiBefore = c.numMultiSequenceBatches;
    const batchesBefore = c.numBatches;
    const together = await Promise.all(prompts.map((p) => generate(uncached, p, { maxTokens: 16 })));
    assert.deepEqual(
      together.map((t) => t.tokens),
      alone,
    );
    const batches = c.numBatches - batchesBefore;
    assert.ok(c.numMultiSequenceBatches - multiBefore >= 10, `batched steps: ${c.numMultiSequenceBatches - multiBefore} of ${batches}`);
    assert.equal(c.maxSequencesInBatch, 4);
    assert.ok(batches < 40, `4 × 16 tokens in ${batches} batches`);
  });

  test("llamacpp - seeded sampling repeats; stop ids and max tokens end requests", async () => {
    const p = promptOf(30, 7);
    const a = await generate(uncached, p, { maxTokens: 10, sampling: { temperature: 1, seed: 42 } });
    const b = await generate(uncached, p, { maxTokens: 10, sampling: { temperature: 1, seed: 42 } });
    assert.deepEqual(a.tokens, b.tokens);
    assert.equal(a.finish, "length");
    assert.equal(a.tokens.length, 10);
    const greedy = await generate(uncached, p, { maxTokens: 10 });
    const stopAt = greedy.tokens[3]!;
    const stopped = await generate(uncached, p, { maxTokens: 10, stopTokenIds: [stopAt] });
    assert.equal(stopped.finish, "stop");
    assert.deepEqual(stopped.tokens, greedy.tokens.slice(0, greedy.tokens.indexOf(stopAt) + 1));
    assert.equal(stopped.last?.usage?.completionTokens, stopped.tokens.length);
  });

  test("llamacpp - a cancelled request frees its sequence at once", async () => {
    const ac = new AbortController();
    const p = promptOf(20, 9);
    let n = 0;
    const seen: number[] = [];
    const request = { requestId: asRequestId("cancel"), model: "m", tokenIds: p, sampling: { temperature: 0 }, stop: { maxTokens: 500, stopTokenIds: [] } };
    let finish: string | undefined;
    for await (const out of uncached.generate(request, { signal: ac.signal })) {
      seen.push(...out.tokenIds);
      finish = out.finishReason ?? finish;
      if (++n === 3) {
        assert.equal(uncached.load().numRunningSeqs, 1);
        ac.abort();
      }
    }
    assert.equal(finish, "cancelled");
    assert.ok(seen.length <= 4);
    assert.equal(uncached.load().numRunningSeqs, 0);
    // A request waiting for a sequence leaves the queue when cancelled.
    const engine = await LlamaCppEngine.create({ modelPath: path, numSequences: 1, contextSize: 256, prefixCache: false });
    try {
      const running = generate(engine, p, { maxTokens: 30 });
      const ac2 = new AbortController();
      const waiting = generate(engine, p, { signal: ac2.signal });
      await new Promise((r) => setImmediate(r));
      assert.equal(engine.load().numWaitingSeqs, 1);
      ac2.abort();
      assert.equal((await waiting).finish, "cancelled");
      assert.equal(engine.load().numWaitingSeqs, 0);
      assert.equal((await running).tokens.length, 30);
    } finally {
      await engine.close();
    }
  });
});
