import { test } from "node:test";
import assert from "node:assert/strict";
import { TurbineError } from "../../src/protocols/index.ts";
import type { WorkerId, WorkerLoadMetrics } from "../../src/protocols/index.ts";
import { W, hashesOf, makeRouter, req, tokens } from "./fixtures.ts";

const metrics = (workerId: WorkerId, timestamp: number, m: Partial<WorkerLoadMetrics> = {}): WorkerLoadMetrics => ({
  workerId,
  activeBlocks: 0,
  totalBlocks: 10,
  kvUsage: 0,
  numRunningSeqs: 0,
  numWaitingSeqs: 0,
  pendingPrefillTokens: 0,
  prefixCacheHitRate: 0,
  timestamp,
  ...m,
});

test("router busy - a worker over the decode-block fraction is skipped, even if it holds the prefix", () => {
  const { router, indexer } = makeRouter(2, { maxActiveDecodeBlocks: 0.5 }, 10);
  const prompt = tokens(20);
  indexer.hold(W(0), hashesOf(prompt));
  router.route(req(tokens(24, 1), { workerId: W(0) }), 0); // 6 blocks > 0.5 · 10
  assert.equal(router.route(req(prompt), 0).workerId, W(1));
});

test("router busy - a worker over the prefill-token threshold is skipped until its first token", () => {
  const { router } = makeRouter(2, { maxActivePrefillTokens: 10 });
  const hog = req(tokens(12, 1), { workerId: W(0) });
  router.route(hog, 0);
  for (let i = 0; i < 3; i++) assert.equal(router.route(req(tokens(4, 10 + i)), 0).workerId, W(1));
  router.markPrefillDone(hog.requestId); // w0: 0 prefill tokens, w1: 12
  assert.equal(router.workerLoad(W(1))!.activePrefillTokens, 12);
  assert.equal(router.route(req(tokens(4, 20)), 0).workerId, W(0));
});

test("router busy - every worker saturated throws ROUTER_ALL_BUSY with Retry-After", () => {
  const { router } = makeRouter(2, { maxActivePrefillTokens: 3, retryAfterSeconds: 2 });
  router.route(req(tokens(8, 1)), 0);
  router.route(req(tokens(8, 2)), 0);
  const err = (() => {
    try {
      router.route(req(tokens(8, 3)), 0);
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  assert.ok(err instanceof TurbineError);
  assert.equal(err.code, "ROUTER_ALL_BUSY");
  assert.equal(err.status, 503);
  assert.equal(err.retryAfterSeconds, 2);
});

test("router busy - a pinned worker is taken even when busy", () => {
  const { router } = makeRouter(1, { maxActivePrefillTokens: 3 });
  router.route(req(tokens(8, 1)), 0);
  assert.throws(() => router.route(req(tokens(8, 2)), 0), { code: "ROUTER_ALL_BUSY" });
  assert.equal(router.route(req(tokens(8, 2), { workerId: W(0) }), 0).workerId, W(0));
});

test("router busy - no workers at all throws ROUTER_NO_WORKERS", () => {
  const { router } = makeRouter(0);
  assert.throws(() => router.route(req(tokens(8)), 0), { code: "ROUTER_NO_WORKERS" });
  router.addWorker(W(0), { totalBlocks: 10 });
  assert.equal(router.route(req(tokens(8)), 0).workerId, W(0));
  assert.equal(router.removeWorker(W(0)), true);
  assert.throws(() => router.route(req(tokens(8)), 0), { code: "ROUTER_NO_WORKERS" });
});

test("router busy - published metrics make a worker busy until they lapse", () => {
  const { router } = makeRouter(2, { maxActiveDecodeBlocks: 0.8, metricsMaxAgeMs: 1000 }, 10);
  assert.equal(router.updateMetrics(metrics(W(0), 100, { activeBlocks: 9, kvUsage: 0.9 })), true);
  for (let i = 0; i < 3; i++) {
    const r = req(tokens(4, i));
    assert.equal(router.route(r, 200).workerId, W(1));
    router.markFinished(r.requestId);
  }
  // 1000 ms after the snapshot it no longer counts: w0 (idle) beats w1 (one request).
  router.route(req(tokens(4, 8), { workerId: W(1) }), 1100);
  assert.equal(router.route(req(tokens(4, 9)), 1101).workerId, W(0));
  assert.equal(router.workerLoad(W(0))!.activeDecodeBlocks, 1);
});
