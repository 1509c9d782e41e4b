// The fleet page's server-side state: worker states (ready, draining while streams finish,
// gone, then dropped), KV blocks per tier from events and dumps, decisions sampled only while
// watched, migrations.
import { test } from "node:test";
import assert from "node:assert/strict";
import { asWorkerId } from "../../src/protocols/index.ts";
import type { SequenceHash } from "../../src/protocols/index.ts";
import { FleetState } from "../../src/frontend/index.ts";

const W = asWorkerId("w1");
const h = (n: number): SequenceHash => BigInt(n) as unknown as SequenceHash;

test("frontend fleet - a worker that leaves with streams in flight drains, then is gone, then dropped", () => {
  let now = 1000;
  const state = new FleetState({ now: () => now, goneTtlMs: 5000 });
  state.workerAdded(undefined, W, "decode", "m", 100);
  state.streamStarted(W);
  state.streamStarted(W);
  state.workerLeft(W);
  assert.equal(state.rows()[0]!.state, "draining");
  state.streamEnded(W);
  assert.equal(state.rows()[0]!.state, "draining");
  state.streamEnded(W);
  assert.equal(state.rows()[0]!.state, "gone");
  now += 4000;
  assert.equal(state.rows().length, 1, "still shown");
  now += 2000;
  assert.equal(state.rows().length, 0, "dropped after its TTL");
  // One without streams goes straight to gone; one that comes back is ready again.
  state.workerAdded(undefined, W, "decode", "m", 100);
  state.workerLeft(W);
  assert.equal(state.rows()[0]!.state, "gone");
  state.workerAdded(undefined, W, "decode", "m", 100);
  assert.equal(state.rows()[0]!.state, "ready");
});

test("frontend fleet - KV blocks per tier follow the events, and a dump replaces them", () => {
  const state = new FleetState();
  state.workerAdded(undefined, W, "aggregated", "m", 100);
  const blocks = (n: number) => Array.from({ length: n }, (_, i) => ({ hash: h(i), tokensHash: h(i) }));
  state.kvEvent({ workerId: W, eventId: 0, tier: "device", data: { type: "stored", parentHash: null, blocks: blocks(5) } } as never);
  state.kvEvent({ workerId: W, eventId: 1, tier: "host", data: { type: "stored", parentHash: null, blocks: blocks(3) } } as never);
  state.kvEvent({ workerId: W, eventId: 2, tier: "device", data: { type: "removed", hashes: [h(1), h(2)] } } as never);
  assert.deepEqual(state.rows()[0]!.kv, { device: 3, host: 3, disk: 0, remote: 0 });
  state.kvEvent({ workerId: W, eventId: 3, tier: "host", data: { type: "cleared" } } as never);
  assert.equal(state.rows()[0]!.kv.host, 0);
  state.kvDump({ workerId: W, lastEventId: 9, events: [{ tier: "disk", data: { parentHash: null, blocks: blocks(7) } }] } as never);
  assert.deepEqual(state.rows()[0]!.kv, { device: 0, host: 0, disk: 7, remote: 0 });
  state.loadMetrics({ workerId: W, activeBlocks: 42, totalBlocks: 100, kvUsage: 0.424, numRunningSeqs: 3, numWaitingSeqs: 1, pendingPrefillTokens: 0, prefixCacheHitRate: 0, timestamp: 0 });
  const r = state.rows()[0]!;
  assert.deepEqual([r.running, r.waiting, r.kvUsagePct], [3, 1, 42]);
});

test("frontend fleet - decisions are sampled only while the page is watched, and migrations are kept", () => {
  let now = 0;
  const state = new FleetState({ now: () => now, decisionsPerSecond: 2, maxDecisions: 2 });
  assert.equal(state.wantsDecision(), false, "nobody watches");
  const unwatch = state.watch();
  assert.equal(state.wantsDecision(), true);
  assert.equal(state.wantsDecision(), false, "sampled at most 2 per second");
  now += 500;
  assert.equal(state.wantsDecision(), true);
  for (let i = 0; i < 3; i++) state.decision("m", "decode", W, 4, [{ workerId: W, overlapBlocks: i, cost: 1.23456 }]);
  assert.equal(state.recentDecisions().length, 2);
  assert.equal(state.recentDecisions()[1]!.candidates[0]!.cost, 1.23);
  unwatch();
  unwatch();
  now += 1000;
  assert.equal(state.wantsDecision(), false, "unwatched again (an unwatch counts once)");
  state.migrated("m", W, asWorkerId("w2"));
  assert.deepEqual(state.recentMigrations().total, 1);
  assert.equal(state.recentMigrations().recent[0]!.to, "w2");
});
