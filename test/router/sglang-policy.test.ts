import { test } from "node:test";
import assert from "node:assert/strict";
import type { WorkerId } from "../../src/protocols/index.ts";
import { SglangPolicy } from "../../src/router/index.ts";
import { W, hashesOf, makeRouter, req, tokens } from "./fixtures.ts";

const running = (workerId: WorkerId, n: number, timestamp = 1) => ({
  workerId,
  activeBlocks: 0,
  totalBlocks: 1000,
  kvUsage: 0,
  numRunningSeqs: n,
  numWaitingSeqs: 0,
  pendingPrefillTokens: 0,
  prefixCacheHitRate: 0,
  timestamp,
});

test("router sglang - requests sharing a prefix follow the first; new prefixes go to the smallest tree", () => {
  const policy = new SglangPolicy();
  const { router } = makeRouter(3, { policy });
  const a = tokens(40, 1);
  const first = router.route(req(a), 0).workerId;
  assert.equal(policy.tree.sizeOf(first), 10);
  // Same prefix, different tail: 32 of 40 tokens match.
  assert.equal(router.route(req([...a.slice(0, 32), 7, 7, 7, 7, 7, 7, 7, 7]), 0).workerId, first);
  // Unrelated prompts fill the two empty trees before coming back.
  const b = router.route(req(tokens(40, 2)), 0).workerId;
  const c = router.route(req(tokens(40, 3)), 0).workerId;
  assert.deepEqual(new Set([first, b, c]).size, 3);
});

test("router sglang - below the match-ratio threshold the prefix is ignored", () => {
  const policy = new SglangPolicy({ cacheThreshold: 0.5 });
  const { router } = makeRouter(2, { policy });
  const a = tokens(40, 1);
  const first = router.route(req(a), 0).workerId;
  // Shares 16 of 40 tokens (0.4 < 0.5): the other worker's empty tree wins.
  const d = router.route(req([...a.slice(0, 16), ...tokens(24, 9)]), 0);
  assert.notEqual(d.workerId, first);
});

test("router sglang - an imbalanced pool switches to least load, a balanced one keeps affinity", () => {
  const policy = new SglangPolicy();
  const { router } = makeRouter(2, { policy });
  const a = tokens(40, 1);
  const c = tokens(40, 2);
  router.route(req(a, { workerId: W(0) }), 0); // w0's tree holds a and c
  router.route(req(c, { workerId: W(0) }), 0);
  router.updateMetrics(running(W(0), 100));
  router.updateMetrics(running(W(1), 10));
  // 100 − 10 > 64 and 100 > 1.5 · 10: imbalanced.
  assert.equal(router.route(req(a), 1).workerId, W(1));
  router.updateMetrics(running(W(0), 60, 2)); // 60 − 11 < 64: balanced, affinity despite the load
  assert.equal(router.route(req(c), 2).workerId, W(0));
});

test("router sglang - the tree is bounded per worker and forgets removed workers", () => {
  const policy = new SglangPolicy({ maxTreeBlocks: 4 });
  const { router } = makeRouter(2, { policy });
  const a = tokens(40, 1);
  const h = hashesOf(a);
  const first = router.route(req(a), 0).workerId;
  assert.equal(policy.tree.sizeOf(first), 4);
  assert.equal(policy.tree.matchDepth(h), 4, "leaves are evicted before their roots");
  router.removeWorker(first);
  assert.equal(policy.tree.sizeOf(first), 0);
  assert.equal(policy.tree.matchDepth(h), 0);
});
