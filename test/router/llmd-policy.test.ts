import { test } from "node:test";
import assert from "node:assert/strict";
import type { WorkerId } from "../../src/protocols/index.ts";
import { W, hashesOf, makeRouter, req, tokens } from "./fixtures.ts";

const load = (workerId: WorkerId, queue: number, kvUsage: number) => ({
  workerId,
  activeBlocks: kvUsage * 1000,
  totalBlocks: 1000,
  kvUsage,
  numRunningSeqs: queue,
  numWaitingSeqs: 0,
  pendingPrefillTokens: 0,
  prefixCacheHitRate: 0,
  timestamp: 1,
});

test("router llmd - prefix, queue and KV-use scores weighted 2:2:1", () => {
  const prompt = tokens(20);
  const run = (w0Queue: number) => {
    const { router, indexer } = makeRouter(3, { policy: "llmd" });
    indexer.hold(W(0), hashesOf(prompt)); // prefix score 1
    router.updateMetrics(load(W(0), w0Queue, 0.5));
    router.updateMetrics(load(W(1), 0, 0));
    router.updateMetrics(load(W(2), 2, 0.2));
    return router.route(req(prompt), 2).workerId;
  };
  // w0 = 2·1 + 2·0 + 0.5 = 2.5 < w1 = 0 + 2·1 + 1 = 3.
  assert.equal(run(4), W(1));
  // queues 2, 0, 2: w0 = 2 + 0 + 0.5 = 2.5; w1 = 3; still w1. Queue 1: w0 = 2 + 2·0.5 + 0.5 = 3.5.
  assert.equal(run(2), W(1));
  assert.equal(run(1), W(0));
});

test("router llmd - all equal: ties are broken at random", () => {
  const { router } = makeRouter(3, { policy: "llmd" });
  const seen = new Set<string>();
  for (let i = 0; i < 100; i++) {
    const r = req(tokens(8));
    seen.add(router.route(r, 0).workerId);
    router.markFinished(r.requestId);
  }
  assert.equal(seen.size, 3);
});
