// The router over kv's real indexers: RadixIndexer fed by KV events, ApproxIndexer fed by the
// router's own decisions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ApproxIndexer, KvEventIngestor, RadixIndexer } from "../../src/kv/index.ts";
import { asLocalBlockHash } from "../../src/protocols/index.ts";
import type { KvCacheEvent, KvStoredData, SequenceHash, StorageTier, WorkerId } from "../../src/protocols/index.ts";
import { W, hashesOf, makeRouter, req, tokens } from "./fixtures.ts";

const chain = (hashes: SequenceHash[]): KvStoredData => ({
  type: "stored",
  parentHash: null,
  blocks: hashes.map((hash) => ({ hash, tokensHash: asLocalBlockHash(hash) })),
});
const stored = (workerId: WorkerId, eventId: number, hashes: SequenceHash[], tier: StorageTier = "device"): KvCacheEvent => ({
  workerId,
  eventId,
  tier,
  data: chain(hashes),
});

test("router with RadixIndexer - KV events steer requests to the worker holding the prefix", async () => {
  const indexer = new RadixIndexer();
  const { router } = makeRouter(3, { indexer });
  const prompt = tokens(40);
  const h = hashesOf(prompt);
  // The index has one writer, the ingestor; a gap makes it ask the worker for its block set.
  const dumps: WorkerId[] = [];
  const ingestor = new KvEventIngestor(indexer, {
    requestDump: (workerId) => {
      dumps.push(workerId);
      return Promise.resolve({ workerId, lastEventId: 5, events: [{ tier: "device", data: chain(h) }] });
    },
  });
  ingestor.ingest(stored(W(2), 0, h.slice(0, 8)));
  ingestor.ingest(stored(W(1), 0, h.slice(0, 9), "host"));
  const d = router.route(req(prompt), 0);
  // w2: 10 − 8 = 2; w1: 10 − 9 · 0.8 = 2.8.
  assert.equal(d.workerId, W(2));
  assert.equal(d.overlapBlocks, 8);
  assert.equal(d.cachedTokens, 32);
  // A gap is detected, and the dump puts the worker right.
  ingestor.ingest(stored(W(0), 5, h));
  await ingestor.whenIdle();
  assert.deepEqual(dumps, [W(0)]);
  assert.equal(ingestor.stats.gaps, 1);
  assert.equal(router.workerLoad(W(0))!.cachedBlocks, 10);
  assert.equal(router.route(req(prompt), 0).workerId, W(0));
});

test("router with ApproxIndexer - decisions are recorded and expire after the TTL", () => {
  const indexer = new ApproxIndexer({ ttlMs: 1000 });
  const { router } = makeRouter(4, { indexer });
  const prompt = tokens(40);
  const a = req(prompt);
  const first = router.route(a, 0);
  router.markFinished(a.requestId);
  const b = req(prompt);
  const second = router.route(b, 500);
  router.markFinished(b.requestId);
  assert.equal(second.workerId, first.workerId);
  assert.equal(second.overlapBlocks, 10);
  assert.equal(router.route(req(prompt), 5000).overlapBlocks, 0, "entries older than the TTL are gone");
});
