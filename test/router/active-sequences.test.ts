import { test } from "node:test";
import assert from "node:assert/strict";
import { asRequestId, asWorkerId } from "../../src/protocols/index.ts";
import type { WorkerId, WorkerLoadMetrics } from "../../src/protocols/index.ts";
import { ActiveSequences, WorkerState } from "../../src/router/index.ts";
import { W, hashesOf, makeRouter, req, tokens } from "./fixtures.ts";

const load = (w: WorkerState) => [w.activePrefillTokens, w.activeDecodeBlocks, w.numActiveRequests];

test("router active sequences - prefill is released at the first token, the rest at finish", () => {
  const seqs = new ActiveSequences();
  const w = new WorkerState(asWorkerId("a"), { totalBlocks: 100 });
  seqs.add({ requestId: asRequestId("r1"), worker: w, prefillTokens: 30, blocks: 4, now: 0 });
  seqs.add({ requestId: asRequestId("r2"), worker: w, prefillTokens: 10, blocks: 2, now: 0 });
  assert.deepEqual(load(w), [40, 6, 2]);
  assert.equal(seqs.markPrefillDone(asRequestId("r1")), true);
  assert.equal(seqs.markPrefillDone(asRequestId("r1")), false, "a second first token changes nothing");
  assert.deepEqual(load(w), [10, 6, 2]);
  assert.equal(seqs.markFinished(asRequestId("r1")), true);
  assert.deepEqual(load(w), [10, 2, 1]);
  // Cancelled before its first token: everything goes at once.
  assert.equal(seqs.markFinished(asRequestId("r2")), true);
  assert.deepEqual(load(w), [0, 0, 0]);
  assert.equal(seqs.markFinished(asRequestId("r2")), false);
  assert.equal(seqs.size, 0);
});

test("router active sequences - a reused request id replaces its earlier placement", () => {
  const seqs = new ActiveSequences();
  const a = new WorkerState(asWorkerId("a"), { totalBlocks: 100 });
  const b = new WorkerState(asWorkerId("b"), { totalBlocks: 100 });
  seqs.add({ requestId: asRequestId("r"), worker: a, prefillTokens: 8, blocks: 2, now: 0 });
  seqs.add({ requestId: asRequestId("r"), worker: b, prefillTokens: 8, blocks: 2, now: 0 });
  assert.deepEqual(load(a), [0, 0, 0]);
  assert.deepEqual(load(b), [8, 2, 1]);
});

test("router active sequences - route books uncached prefill tokens and all prompt blocks", () => {
  const { router, indexer } = makeRouter(1);
  const prompt = tokens(18);
  indexer.hold(W(0), hashesOf(prompt).slice(0, 2));
  const r = req(prompt);
  router.route(r, 0);
  assert.equal(router.workerOf(r.requestId), W(0));
  assert.deepEqual(router.workerLoad(W(0)), {
    workerId: W(0),
    totalBlocks: 1000,
    activePrefillTokens: 10,
    activeDecodeBlocks: 5,
    numActiveRequests: 1,
    kvUsage: 0.005,
    cachedBlocks: 2,
  });
  assert.equal(router.markPrefillDone(r.requestId), true);
  assert.equal(router.workerLoad(W(0))!.activePrefillTokens, 0);
  assert.equal(router.markFinished(r.requestId), true);
  assert.equal(router.workerLoad(W(0))!.activeDecodeBlocks, 0);
  assert.equal(router.numActiveRequests, 0);
});

test("router active sequences - removing a worker forgets its requests", () => {
  const { router } = makeRouter(2);
  const r = req(tokens(8), { workerId: W(1) });
  router.route(r, 0);
  router.removeWorker(W(1));
  assert.equal(router.markFinished(r.requestId), false);
  assert.equal(router.numActiveRequests, 0);
  assert.deepEqual(router.workerIds(), [W(0)]);
});

const snapshot = (workerId: WorkerId, timestamp: number, m: Partial<WorkerLoadMetrics>): WorkerLoadMetrics => ({
  workerId,
  activeBlocks: 0,
  totalBlocks: 1000,
  kvUsage: 0,
  numRunningSeqs: 0,
  numWaitingSeqs: 0,
  pendingPrefillTokens: 0,
  prefixCacheHitRate: 0,
  timestamp,
  ...m,
});

test("router active sequences - metrics add the load the router did not place, never subtract its own", () => {
  const { router } = makeRouter(1);
  const mine = req(tokens(8));
  router.route(mine, 0); // own: 8 prefill tokens, 2 blocks, 1 request
  router.updateMetrics(snapshot(W(0), 10, { numRunningSeqs: 3, numWaitingSeqs: 1, activeBlocks: 12, pendingPrefillTokens: 0 }));
  let l = router.workerLoad(W(0))!;
  assert.deepEqual([l.activePrefillTokens, l.activeDecodeBlocks, l.numActiveRequests], [8, 12, 4]);
  // Own changes move the load at once, on top of the held correction.
  const next = req(tokens(8, 1));
  router.route(next, 20);
  l = router.workerLoad(W(0))!;
  assert.deepEqual([l.activePrefillTokens, l.activeDecodeBlocks, l.numActiveRequests], [16, 14, 5]);
  router.markFinished(mine.requestId);
  l = router.workerLoad(W(0))!;
  assert.deepEqual([l.activePrefillTokens, l.activeDecodeBlocks, l.numActiveRequests], [8, 12, 4]);
  // An older snapshot is ignored; a newer, lower one removes the correction.
  assert.equal(router.updateMetrics(snapshot(W(0), 5, { numRunningSeqs: 50 })), false);
  assert.equal(router.updateMetrics(snapshot(W(0), 30, { numRunningSeqs: 0 })), true);
  l = router.workerLoad(W(0))!;
  assert.deepEqual([l.activePrefillTokens, l.activeDecodeBlocks, l.numActiveRequests], [8, 2, 1]);
  assert.equal(router.updateMetrics(snapshot(asWorkerId("ghost"), 40, {})), false);
});
