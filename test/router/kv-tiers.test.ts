// The kv policy with the KV block manager's tiers: tier-tagged events drive the credit, the
// shared remote store (G4) is credited to every worker, and cache pressure keeps distinct
// prefixes from piling onto one idle worker.
import { test } from "node:test";
import assert from "node:assert/strict";
import { computeSequenceHashes, KvEventIngestor, RadixIndexer } from "../../src/kv/index.ts";
import { MockerCore } from "../../src/engines/index.ts";
import { asRequestId, asWorkerId, sharedStoreWorkerId } from "../../src/protocols/index.ts";
import type { KvCacheEvent, StorageTier, WorkerId } from "../../src/protocols/index.ts";
import { createSeededRandom, KvPolicy, Router } from "../../src/router/index.ts";

const BS = 16;
const W = (i: number): WorkerId => asWorkerId(`w${i}`);
/** The KV index's one writer, as the live path and replay feed it (events here are in order: no dump). */
const ingestorOf = (router: Router): KvEventIngestor =>
  new KvEventIngestor(router.indexer as RadixIndexer, { requestDump: () => Promise.reject(new Error("no dump in this test")) });
const tokens = (n: number, salt: number): number[] => Array.from({ length: n }, (_, i) => 1000 + ((i * 7919 + salt * 104729) % 30000));

function fleet(n: number, policy = new KvPolicy()): { router: Router; publish: (w: WorkerId, tier: StorageTier, hashes: bigint[]) => void } {
  const router = new Router({ blockSize: BS, indexer: new RadixIndexer(), policy, random: createSeededRandom(1), clock: () => 0 });
  for (let i = 0; i < n; i++) router.addWorker(W(i), { totalBlocks: 1000 });
  const ids = new Map<WorkerId, number>();
  const ingestor = ingestorOf(router);
  const publish = (w: WorkerId, tier: StorageTier, hashes: bigint[]): void => {
    const eventId = ids.get(w) ?? 0;
    ids.set(w, eventId + 1);
    const event: KvCacheEvent = { workerId: w, eventId, tier, data: { type: "stored", parentHash: null, blocks: hashes.map((h) => ({ hash: h as never, tokensHash: h as never })) } };
    ingestor.ingest(event);
    assert.equal(ingestor.stats.gaps, 0);
  };
  return { router, publish };
}

test("router kv tiers - tier-tagged events drive the credit: device beats host beats a remote-less worker", () => {
  const prompt = tokens(160, 1); // 10 blocks
  const h = computeSequenceHashes(prompt, BS);
  const { router, publish } = fleet(3, new KvPolicy({ tierCredit: { host: 0.6, disk: 0, remote: 0.2 } }));
  publish(W(1), "host", h.slice(0, 10));
  publish(W(2), "disk", h.slice(0, 10)); // credit 0: no better than nothing
  const d = router.route({ requestId: asRequestId("a"), tokenIds: prompt }, 0);
  assert.equal(d.workerId, W(1));
  router.markFinished(asRequestId("a"));
  publish(W(0), "device", h.slice(0, 7));
  assert.equal(router.route({ requestId: asRequestId("b"), tokenIds: prompt }, 0).workerId, W(0), "7 device blocks (7) beat 10 host blocks (6)");
});

test("router kv tiers - blocks in the shared store are credited to every worker", () => {
  const prompt = tokens(160, 2);
  const h = computeSequenceHashes(prompt, BS);
  const policy = new KvPolicy({ tierCredit: { host: 0.6, remote: 0.5 } });
  const { router, publish } = fleet(3, policy);
  // w1 holds 4 device blocks; the shared store (published by w0) holds all 10.
  publish(W(1), "device", h.slice(0, 4));
  publish(sharedStoreWorkerId(W(0)), "remote", h.slice(0, 10));
  // w0, w2: 10 · 0.5 = 5; w1: 4 + 6 · 0.5 = 7: w1 wins.
  const d = router.route({ requestId: asRequestId("a"), tokenIds: prompt }, 0);
  assert.equal(d.workerId, W(1));
  assert.ok(!router.workerIds().includes(sharedStoreWorkerId(W(0))), "the store is never a routing target");
  // A prompt only the store holds: every worker gets the same credit; the tie goes to the
  // smaller footprints (w0 and w2, not w1), whoever published the store's events.
  const other = tokens(160, 3);
  publish(sharedStoreWorkerId(W(0)), "remote", computeSequenceHashes(other, BS));
  const seen = new Set<WorkerId>();
  for (let i = 0; i < 20; i++) {
    const id = asRequestId(`t${i}`);
    seen.add(router.route({ requestId: id, tokenIds: other }, 0).workerId);
    router.markFinished(id);
  }
  assert.deepEqual([...seen].sort(), [W(0), W(2)], "the shared credit favours no worker");
});

test("router kv tiers - with idle workers, six groups with distinct system prompts spread over four workers", () => {
  const router = new Router({ blockSize: BS, indexer: new RadixIndexer(), policy: "kv", random: createSeededRandom(3), clock: () => 0 });
  const engines = new Map<WorkerId, MockerCore>();
  const ingestor = ingestorOf(router);
  for (let i = 0; i < 4; i++) {
    const core = new MockerCore({ blockSize: BS, numKvBlocks: 96 });
    let eventId = 0;
    core.onKvEvent((e) => ingestor.ingest({ workerId: W(i), eventId: eventId++, tier: e.tier, data: e.data }));
    router.addWorker(W(i), { totalBlocks: 96 });
    engines.set(W(i), core);
  }
  // One chat template: the same first block for everyone, then a 320-token system prompt per group.
  const header = tokens(BS, 99);
  const groups = Array.from({ length: 6 }, (_, g) => [...header, ...tokens(320, 10 + g)]);
  const placed: WorkerId[][] = groups.map(() => []);
  let now = 0;
  for (let turn = 0; turn < 3; turn++) {
    for (let g = 0; g < 6; g++) {
      const prompt = [...groups[g]!, ...tokens(24, 100 * turn + g)];
      const requestId = asRequestId(`g${g}-t${turn}`);
      const w = router.route({ requestId, tokenIds: prompt }, now).workerId;
      placed[g]!.push(w);
      const core = engines.get(w)!;
      assert.equal(core.addRequest({ requestId, model: "m", tokenIds: prompt, sampling: {}, stop: { maxTokens: 4, stopTokenIds: [], ignoreEos: true } }, now), null);
      // Run it to completion: requests come one at a time, so every worker is idle at each route.
      while (core.hasWork()) now += core.step(now).durationMs;
      router.markFinished(requestId);
    }
  }
  const groupsOn = new Map<WorkerId, number>();
  for (const p of placed) groupsOn.set(p[0]!, (groupsOn.get(p[0]!) ?? 0) + 1);
  assert.equal(groupsOn.size, 4, `every idle worker gets a group: ${JSON.stringify([...groupsOn])}`);
  assert.ok(Math.max(...groupsOn.values()) <= 2, `no worker holds more than two of the six groups: ${JSON.stringify([...groupsOn])}`);
  for (const p of placed) assert.ok(p.every((w) => w === p[0]), `a group's later turns follow its cache: ${p.join(",")}`);
});

test("router kv tiers - without cache pressure the groups pile onto the worker holding the template's block", () => {
  // The regression the pressure term fixes, measured: the same run with cachePressure 0.
  const router = new Router({ blockSize: BS, indexer: new RadixIndexer(), policy: new KvPolicy({ cachePressure: 0 }), random: createSeededRandom(3), clock: () => 0 });
  const engines = new Map<WorkerId, MockerCore>();
  const ingestor = ingestorOf(router);
  for (let i = 0; i < 4; i++) {
    const core = new MockerCore({ blockSize: BS, numKvBlocks: 96 });
    let eventId = 0;
    core.onKvEvent((e) => ingestor.ingest({ workerId: W(i), eventId: eventId++, tier: e.tier, data: e.data }));
    router.addWorker(W(i), { totalBlocks: 96 });
    engines.set(W(i), core);
  }
  const header = tokens(BS, 99);
  const first = new Set<WorkerId>();
  let now = 0;
  for (let g = 0; g < 6; g++) {
    const prompt = [...header, ...tokens(320, 10 + g), ...tokens(24, g)];
    const requestId = asRequestId(`g${g}`);
    const w = router.route({ requestId, tokenIds: prompt }, now).workerId;
    first.add(w);
    const core = engines.get(w)!;
    core.addRequest({ requestId, model: "m", tokenIds: prompt, sampling: {}, stop: { maxTokens: 4, stopTokenIds: [], ignoreEos: true } }, now);
    while (core.hasWork()) now += core.step(now).durationMs;
    router.markFinished(requestId);
  }
  assert.equal(first.size, 1, "all six groups on one worker");
});
