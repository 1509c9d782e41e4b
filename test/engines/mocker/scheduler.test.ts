// The scheduler through the pure core: prefix reuse, preemption and eviction on a tiny pool
// (exact block ids and order), chunked prefill within the token budget, rejections.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MockerCore, NO_TOKEN } from "../../../src/engines/mocker/index.ts";
import type { StepOutput } from "../../../src/engines/mocker/index.ts";
import { asRequestId } from "../../../src/protocols/index.ts";
import { computeSequenceHashes } from "../../../src/kv/index.ts";
import { EventRecorder, makeRequest, range } from "./helpers.ts";

const BS = 4;

function blockIds(core: MockerCore, id: string): number[] {
  const req = [...core.scheduler.running, ...core.scheduler.waitingRequests()].find((r) => r.requestId === id);
  assert.ok(req, `request ${id} is in the engine`);
  return req.kv.blocks.map((b) => b.id);
}

function runToEnd(core: MockerCore, maxSteps = 10_000): Map<string, StepOutput[]> {
  const out = new Map<string, StepOutput[]>();
  let now = 0;
  for (let i = 0; i < maxSteps && core.hasWork(); i++) {
    const r = core.step(now);
    now += r.durationMs;
    for (const o of r.outputs) {
      const list = out.get(o.requestId) ?? [];
      list.push(o);
      out.set(o.requestId, list);
    }
  }
  assert.equal(core.hasWork(), false, "all requests finished");
  return out;
}

const tokensOf = (outs: StepOutput[] | undefined): number[] => (outs ?? []).flatMap((o) => o.tokenIds);

test("mocker scheduler - a repeated prefix is served from the cache", () => {
  const core = new MockerCore({ blockSize: BS, numKvBlocks: 64 });
  const shared = range(1, 12); // 3 blocks
  assert.equal(core.addRequest(makeRequest("a", [...shared, 70, 71, 72]), 0), null);
  const first = runToEnd(core);
  assert.deepEqual(first.get("a")!.at(-1)!.usage, { promptTokens: 15, completionTokens: 4, cachedTokens: 0 });
  core.addRequest(makeRequest("b", [...shared, 80, 81, 82, 83, 84]), 0);
  const second = runToEnd(core);
  assert.deepEqual(second.get("b")!.at(-1)!.usage, { promptTokens: 17, completionTokens: 4, cachedTokens: 12 });
  const c = core.counters;
  assert.equal(c.numPrefixQueryTokens, 15 + 17);
  assert.equal(c.numPrefixHitTokens, 12);
  assert.equal(core.load().prefixCacheHitRate, 12 / 32);
});

test("mocker scheduler - requests sharing a prefix in one step share its blocks", () => {
  const core = new MockerCore({ blockSize: BS, numKvBlocks: 64 });
  core.addRequest(makeRequest("a", range(1, 9), { maxTokens: 3 }), 0);
  core.addRequest(makeRequest("b", [...range(1, 8), 50, 51], { maxTokens: 3 }), 0);
  core.step(0);
  assert.deepEqual(blockIds(core, "a"), [0, 1, 2]);
  assert.deepEqual(blockIds(core, "b"), [0, 1, 3]);
  assert.equal(core.load().activeBlocks, 4);
});

test("mocker scheduler - preemption and eviction on a tiny pool, in exact order", () => {
  const core = new MockerCore({ blockSize: BS, numKvBlocks: 12, maxNumBatchedTokens: 64 });
  const rec = new EventRecorder();
  core.onKvEvent(rec.listener);
  const prompts = { a: range(100, 16), b: range(200, 16), c: range(300, 16) };
  const hashC = computeSequenceHashes(prompts.c, BS);
  for (const [id, p] of Object.entries(prompts)) core.addRequest(makeRequest(id, p, { maxTokens: 20 }), 0);

  const seen = new Map<string, StepOutput[]>();
  const step = () => {
    const res = core.step(0);
    for (const o of res.outputs) seen.set(o.requestId, [...(seen.get(o.requestId) ?? []), o]);
    return res;
  };
  // Step 1: all three prompts fit exactly (4 blocks each).
  let r = step();
  assert.deepEqual(r.outputs.map((o) => o.requestId), ["a", "b", "c"]);
  assert.deepEqual([blockIds(core, "a"), blockIds(core, "b"), blockIds(core, "c")], [range(0, 4), range(4, 4), range(8, 4)]);
  assert.deepEqual(core.pool.freeBlockIds(), []);

  // Step 2: a and b each need a 5th block: c (the most recently admitted) is preempted, its
  // blocks freed last-first, and a then b evict c's last two blocks.
  r = step();
  assert.deepEqual(r.outputs.map((o) => o.requestId), ["a", "b"]);
  assert.equal(core.counters.numPreemptions, 1);
  assert.deepEqual(core.requestIds(), { running: ["a", "b"], waiting: ["c"] });
  assert.deepEqual(blockIds(core, "a"), [0, 1, 2, 3, 11]);
  assert.deepEqual(blockIds(core, "b"), [4, 5, 6, 7, 10]);
  assert.deepEqual(core.pool.freeBlockIds(), [9, 8]);
  assert.deepEqual(rec.removed(), [[hashC[3]], [hashC[2]]]);
  assert.equal(core.counters.numEvictions, 2);

  // c cannot come back while a and b hold the rest (its 2 cached blocks are not enough).
  for (let i = 0; i < 4; i++) step();
  assert.deepEqual(blockIds(core, "a"), [0, 1, 2, 3, 11, 9]);
  assert.deepEqual(blockIds(core, "b"), [4, 5, 6, 7, 10, 8]);
  assert.deepEqual(rec.removed(), [[hashC[3]], [hashC[2]], [hashC[1]], [hashC[0]]]);
  assert.deepEqual(core.requestIds().waiting, ["c"]);

  // Four steps on, a needs a 7th block: b is preempted, goes to the front of waiting, and a
  // takes b's last block (the head of the free queue now).
  for (let i = 0; i < 4; i++) step();
  assert.equal(core.counters.numPreemptions, 2);
  assert.deepEqual(core.requestIds(), { running: ["a"], waiting: ["b", "c"] });
  assert.deepEqual(blockIds(core, "a"), [0, 1, 2, 3, 11, 9, 8]);
  assert.deepEqual(core.pool.freeBlockIds(), [10, 7, 6, 5, 4]);
  assert.deepEqual(new Set(core.pool.cachedHashes()), rec.blocks);

  // Everyone finishes with all 20 tokens, and recomputation changes no token.
  for (const [id, outs] of runToEnd(core)) seen.set(id, [...(seen.get(id) ?? []), ...outs]);
  const alone = new MockerCore({ blockSize: BS, numKvBlocks: 64 });
  for (const [id, p] of Object.entries(prompts)) alone.addRequest(makeRequest(id, p, { maxTokens: 20 }), 0);
  const ref = runToEnd(alone);
  for (const id of ["a", "b", "c"]) {
    assert.equal(tokensOf(seen.get(id)).length, 20);
    assert.deepEqual(tokensOf(seen.get(id)), tokensOf(ref.get(id)));
    assert.deepEqual(seen.get(id)!.at(-1)!.usage, { promptTokens: 16, completionTokens: 20, cachedTokens: 0 });
  }
  assert.equal(core.load().activeBlocks, 0);
  assert.deepEqual(new Set(core.pool.cachedHashes()), rec.blocks);
});

test("mocker scheduler - chunked prefill splits a long prompt within the token budget, decodes first", () => {
  const core = new MockerCore({ blockSize: BS, numKvBlocks: 64, maxNumBatchedTokens: 32 });
  const sched = core.scheduler;
  core.addRequest(makeRequest("d", range(1, 8), { maxTokens: 50 }), 0);
  core.step(0); // d is decoding from now on
  core.addRequest(makeRequest("long", range(500, 100), { maxTokens: 2 }), 0);

  const chunks: number[][] = [];
  for (let i = 0; i < 4; i++) {
    const plan = sched.schedule();
    const entries = Array.from({ length: plan.numScheduled }, (_, j) => [plan.requests[j]!.requestId as string, plan.numNewTokens[j]!] as const);
    chunks.push(entries.map(([, n]) => n));
    assert.equal(entries[0]![0], "d", "the running decode is scheduled first");
    assert.ok(plan.numNewTokens.slice(0, plan.numScheduled).reduce((a, b) => a + b, 0) <= 32);
    const sampled = entries.map(([id], j) => {
      const req = plan.requests[j]!;
      return req.numComputedTokens + plan.numNewTokens[j]! === req.tokens.length ? (id === "d" ? 33 : 34) : NO_TOKEN;
    });
    const outs = sched.updateFromOutput(plan, sampled);
    const longOut = outs.filter((o) => o.requestId === "long");
    assert.equal(longOut.length, i === 3 ? 1 : 0, "the long prompt yields its first token after its last chunk");
  }
  assert.deepEqual(chunks, [[1, 31], [1, 31], [1, 31], [1, 7]]);
});

test("mocker scheduler - maxNumSeqs bounds the running batch", () => {
  const core = new MockerCore({ blockSize: BS, numKvBlocks: 64, maxNumSeqs: 2 });
  for (const id of ["a", "b", "c"]) core.addRequest(makeRequest(id, range(id.charCodeAt(0) * 10, 5), { maxTokens: 3 }), 0);
  core.step(0);
  assert.deepEqual(core.requestIds(), { running: ["a", "b"], waiting: ["c"] });
  assert.equal(core.load().numWaitingSeqs, 1);
  assert.equal(core.load().pendingPrefillTokens, 5);
});

test("mocker scheduler - stop tokens, max tokens and context length end generation", () => {
  const probe = new MockerCore({ blockSize: BS, numKvBlocks: 64 });
  probe.addRequest(makeRequest("p", range(1, 6), { maxTokens: 10 }), 0);
  const ref = tokensOf(runToEnd(probe).get("p"));
  assert.equal(ref.length, 10);

  const stop = new MockerCore({ blockSize: BS, numKvBlocks: 64 });
  stop.addRequest(makeRequest("p", range(1, 6), { maxTokens: 10, stopTokenIds: [ref[3]!], ignoreEos: false }), 0);
  const stopped = runToEnd(stop).get("p")!;
  assert.deepEqual(tokensOf(stopped), ref.slice(0, ref.indexOf(ref[3]!) + 1), "the stop token is the last token");
  assert.equal(stopped.at(-1)!.finishReason, "stop");

  const ignore = new MockerCore({ blockSize: BS, numKvBlocks: 64 });
  ignore.addRequest(makeRequest("p", range(1, 6), { maxTokens: 10, stopTokenIds: [ref[3]!], ignoreEos: true }), 0);
  const ignored = runToEnd(ignore).get("p")!;
  assert.deepEqual(tokensOf(ignored), ref);
  assert.equal(ignored.at(-1)!.finishReason, "length");

  const ctx = new MockerCore({ blockSize: BS, numKvBlocks: 64, contextLength: 9 });
  ctx.addRequest(makeRequest("p", range(1, 6), { maxTokens: 10 }), 0);
  const limited = runToEnd(ctx).get("p")!;
  assert.equal(tokensOf(limited).length, 3);
  assert.equal(limited.at(-1)!.finishReason, "length");
});

test("mocker scheduler - a prompt that can never fit is rejected with a clear error", () => {
  const core = new MockerCore({ blockSize: BS, numKvBlocks: 4, contextLength: 1000 });
  const tooBig = core.addRequest(makeRequest("big", range(1, 17)), 0);
  assert.equal(tooBig?.finishReason, "error");
  assert.equal(tooBig?.error?.code, "REQUEST_CONTEXT_LENGTH_EXCEEDED");
  assert.match(tooBig!.error!.message, /17 tokens needs 5 KV blocks; the engine has 4/);
  const ctx = new MockerCore({ blockSize: BS, numKvBlocks: 64, contextLength: 8 });
  assert.equal(ctx.addRequest(makeRequest("long", range(1, 8)), 0)!.error!.code, "REQUEST_CONTEXT_LENGTH_EXCEEDED");
  assert.equal(core.addRequest(makeRequest("ok", range(1, 16), { maxTokens: 5 }), 0), null);
  assert.equal(core.addRequest(makeRequest("ok", range(1, 3)), 0)?.error?.code, "REQUEST_INVALID");
  assert.equal(core.hasWork(), true);
  // A prompt that fills the whole pool gets exactly one token (no room for more KV).
  const out = runToEnd(core).get("ok")!;
  assert.equal(tokensOf(out).length, 1);
  assert.equal(out.at(-1)!.finishReason, "length");
});

test("mocker scheduler - cancelling frees blocks at once, waiting or running", () => {
  const core = new MockerCore({ blockSize: BS, numKvBlocks: 16, maxNumSeqs: 1 });
  core.addRequest(makeRequest("run", range(1, 10), { maxTokens: 100 }), 0);
  core.addRequest(makeRequest("wait", range(50, 10), { maxTokens: 100 }), 0);
  core.step(0);
  assert.equal(core.load().activeBlocks, 3);
  assert.deepEqual(core.cancel(asRequestId("wait")), { promptTokens: 10, completionTokens: 0, cachedTokens: 0 });
  assert.equal(core.load().numWaitingSeqs, 0);
  assert.deepEqual(core.cancel(asRequestId("run")), { promptTokens: 10, completionTokens: 1, cachedTokens: 0 });
  assert.equal(core.load().activeBlocks, 0);
  assert.equal(core.cancel(asRequestId("run")), null);
  assert.equal(core.hasWork(), false);
  assert.deepEqual(core.step(0), { durationMs: 0, outputs: [] });
});
