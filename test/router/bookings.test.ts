// Booked load that cannot rot: bookings expire (TTL), go with the replica that made them, are
// reconciled with the workers' own metrics, and count a shared prompt block once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { asRequestId, isTurbineError } from "../../src/protocols/index.ts";
import type { WorkerId, WorkerLoadMetrics } from "../../src/protocols/index.ts";
import { W, makeRouter, req, tokens } from "./fixtures.ts";

const idle = (workerId: WorkerId, timestamp: number): WorkerLoadMetrics => ({
  workerId,
  activeBlocks: 0,
  totalBlocks: 10,
  kvUsage: 0,
  numRunningSeqs: 0,
  numWaitingSeqs: 0,
  pendingPrefillTokens: 0,
  prefixCacheHitRate: 0,
  timestamp,
});

const isAllBusy = (err: unknown): boolean => isTurbineError(err) && err.code === "ROUTER_ALL_BUSY";

test("router bookings - a lost finished message does not leave an idle worker busy: its metrics reconcile the booking", () => {
  const { router } = makeRouter(1, { maxActiveDecodeBlocks: 0.5 }, 10);
  router.route(req(tokens(32)), 0); // 8 of the worker's 10 blocks booked; its `finished` is lost
  assert.throws(() => router.route(req(tokens(4, 1)), 100), isAllBusy);
  // The worker says, twice, that it runs nothing: the old booking is stale and goes.
  router.updateMetrics(idle(W(0), 5000));
  router.updateMetrics(idle(W(0), 5100));
  assert.equal(router.workerLoad(W(0))!.activeDecodeBlocks, 0);
  assert.equal(router.workerLoad(W(0))!.numActiveRequests, 0);
  assert.equal(router.stats().numReconciledBookings, 1);
  assert.equal(router.route(req(tokens(4, 1)), 5200).workerId, W(0));
});

test("router bookings - reconciliation leaves young bookings and bookings the worker reports alone", () => {
  const { router } = makeRouter(1, { bookingGraceMs: 1000 });
  const old = req(tokens(8));
  router.route(old, 0);
  const young = req(tokens(8, 1));
  router.route(young, 4500);
  // The worker runs one request (the old one); the young one may not have reached it yet.
  for (const t of [5000, 5100, 5200]) router.updateMetrics({ ...idle(W(0), t), numRunningSeqs: 1, totalBlocks: 1000 });
  assert.equal(router.workerOf(old.requestId), W(0));
  assert.equal(router.workerOf(young.requestId), W(0));
  assert.equal(router.numActiveRequests, 2);
  // One idle snapshot alone (a request that just finished, its end still on the way) drops nothing.
  const { router: r2 } = makeRouter(1);
  const a = req(tokens(8));
  r2.route(a, 0);
  r2.updateMetrics({ ...idle(W(0), 5000), numRunningSeqs: 1 });
  r2.updateMetrics(idle(W(0), 5100));
  assert.equal(r2.workerOf(a.requestId), W(0));
});

test("router bookings - a booking whose end never arrives expires after the TTL", () => {
  const { router } = makeRouter(1, { bookingTtlMs: 60_000 });
  const lost = req(tokens(8));
  router.route(lost, 0);
  router.route(req(tokens(8, 1)), 30_000);
  assert.equal(router.numActiveRequests, 2);
  router.route(req(tokens(8, 2)), 60_001);
  assert.equal(router.workerOf(lost.requestId), undefined, "expired");
  assert.equal(router.numActiveRequests, 2);
  assert.equal(router.stats().numExpiredBookings, 1);
  assert.equal(router.markFinished(lost.requestId), false, "a late end changes nothing");
});

test("router bookings - a replica that leaves takes its bookings with it", () => {
  const { router } = makeRouter(2);
  router.applyRemoteRouted({ requestId: asRequestId("x1"), workerId: W(0), prefillTokens: 32, blocks: 8, replicaId: "replica-b" }, 0);
  router.applyRemoteRouted({ requestId: asRequestId("x2"), workerId: W(1), prefillTokens: 16, blocks: 4, replicaId: "replica-b" }, 0);
  router.applyRemoteRouted({ requestId: asRequestId("y1"), workerId: W(1), prefillTokens: 4, blocks: 1, replicaId: "replica-c" }, 0);
  const mine = req(tokens(8));
  router.route(mine, 0);
  assert.equal(router.dropReplica("replica-b"), 2);
  const l0 = router.workerLoad(W(0))!;
  const l1 = router.workerLoad(W(1))!;
  const onMine = router.workerOf(mine.requestId) === W(0) ? l0 : l1;
  assert.equal(l0.numActiveRequests + l1.numActiveRequests, 2, "replica-c's and my own remain");
  assert.equal(onMine.activePrefillTokens >= 8, true);
  assert.equal(router.dropReplica("replica-b"), 0);
  assert.equal(router.markFinished(asRequestId("x1")), false);
});

test("router bookings - a prompt block shared by concurrent requests counts once", () => {
  const { router } = makeRouter(1);
  const prompt = tokens(40); // 10 full blocks of 4
  for (let i = 0; i < 3; i++) router.route(req(prompt), i);
  assert.equal(router.workerLoad(W(0))!.activeDecodeBlocks, 10, "3 requests on one 10-block prefix hold 10 blocks, not 30");
  // A partial last block is the request's own; a diverging suffix adds only its own blocks.
  const longer = req([...tokens(40), 7, 7, 7, 7, 7, 7]);
  router.route(longer, 5);
  assert.equal(router.workerLoad(W(0))!.activeDecodeBlocks, 12);
  router.markFinished(longer.requestId);
  assert.equal(router.workerLoad(W(0))!.activeDecodeBlocks, 10);
});

test("router bookings - a request dispatched late (after a remote prefill) counts as young again", () => {
  const { router } = makeRouter(1, { bookingGraceMs: 1000 });
  const r = req(tokens(8));
  router.route(r, 0);
  assert.equal(router.markDispatched(r.requestId, 4800), true);
  for (const t of [5000, 5100]) router.updateMetrics({ ...idle(W(0), t), totalBlocks: 1000 });
  assert.equal(router.workerOf(r.requestId), W(0), "kept: the worker may not have it yet");
});

test("router bookings - default busy thresholds come from the worker's capacity", () => {
  const { router } = makeRouter(0);
  router.addWorker(W(0), { totalBlocks: 1000, maxNumSeqs: 2 });
  // Two batches' worth (2 · maxNumSeqs) waits; the fifth request is refused.
  for (let i = 0; i < 4; i++) router.route(req(tokens(4, i)), i);
  assert.throws(() => router.route(req(tokens(4, 9)), 10), isAllBusy);
  // KV capacity: a worker whose booked blocks exceed its blocks is busy (no flag needed).
  const { router: small } = makeRouter(1, {}, 4);
  small.route(req(tokens(20)), 0);
  assert.throws(() => small.route(req(tokens(4, 1)), 1), isAllBusy);
});
