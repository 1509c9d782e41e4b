import { test } from "node:test";
import assert from "node:assert/strict";
import { ApproxIndexer } from "../../src/kv/index.ts";
import { asWorkerId } from "../../src/protocols/index.ts";
import { h, indexerSuite } from "./indexer-suite.ts";

indexerSuite("kv approx indexer", () => {
  const indexer = new ApproxIndexer();
  return { indexer, store: (w, hashes) => indexer.recordRouted(w, hashes, 0) };
});

const A = asWorkerId("a");
const B = asWorkerId("b");

test("kv approx indexer - entries expire after the TTL; re-routing refreshes them", () => {
  const idx = new ApproxIndexer({ ttlMs: 1000 });
  assert.equal(idx.ttlMs, 1000);
  idx.recordRouted(A, h(1, 2, 3), 0);
  idx.recordRouted(B, h(1, 2), 500);
  idx.recordRouted(A, h(1), 600); // refreshes A's first block only
  assert.equal(idx.findMatches(h(1, 2, 3), 999).get(A)!.numBlocks, 3);
  const m = idx.findMatches(h(1, 2, 3), 1000); // A's blocks 2 and 3 are now 1000 ms old
  assert.deepEqual(m.get(A), { numBlocks: 1, byTier: { device: 1, host: 0, disk: 0, remote: 0 } });
  assert.equal(m.get(B)!.numBlocks, 2);
  assert.equal(idx.size, 3);
  assert.equal(idx.findMatches(h(1), 1600).size, 0);
  assert.equal(idx.size, 0);
  assert.deepEqual(idx.workers(), []);
});

test("kv approx indexer - default TTL is 120 s and findMatches without time does not expire", () => {
  const idx = new ApproxIndexer();
  idx.recordRouted(A, h(1), 0);
  assert.equal(idx.findMatches(h(1)).size, 1);
  assert.equal(idx.findMatches(h(1), 119_999).size, 1);
  assert.equal(idx.findMatches(h(1), 120_000).size, 0);
});

test("kv approx indexer - the entry bound evicts the oldest first, deepest block first within one request", () => {
  const idx = new ApproxIndexer({ maxEntries: 5 });
  idx.recordRouted(A, h(1, 2, 3), 0);
  idx.recordRouted(B, h(1, 2), 10);
  assert.equal(idx.size, 5);
  idx.recordRouted(B, h(1, 2, 4), 20); // one entry over: A's oldest-and-deepest (3) goes
  assert.equal(idx.size, 5);
  assert.equal(idx.numBlocks(A), 2);
  assert.equal(idx.findMatches(h(1, 2, 3)).get(A)!.numBlocks, 2);
  idx.recordRouted(B, h(7, 8), 30); // two more: A's 2 then 1
  assert.equal(idx.size, 5);
  assert.equal(idx.findMatches(h(1, 2)).has(A), false);
  assert.equal(idx.findMatches(h(1, 2, 4)).get(B)!.numBlocks, 3);
});

test("kv approx indexer - time going backwards does not resurrect or reorder entries", () => {
  const idx = new ApproxIndexer({ ttlMs: 100 });
  idx.recordRouted(A, h(1), 1000);
  idx.recordRouted(B, h(1), 900); // stamped at 1000, the latest time seen
  assert.equal(idx.findMatches(h(1), 1099).size, 2);
  assert.equal(idx.findMatches(h(1), 1100).size, 0);
});

test("kv approx indexer - removed and cleared events drop entries", () => {
  const idx = new ApproxIndexer();
  idx.recordRouted(A, h(1, 2), 0);
  idx.recordRouted(B, h(1, 2), 0);
  assert.equal(idx.applyEvent({ workerId: A, eventId: 7, tier: "device", data: { type: "removed", hashes: h(2) } }), true);
  assert.equal(idx.findMatches(h(1, 2)).get(A)!.numBlocks, 1);
  idx.applyEvent({ workerId: B, eventId: 0, tier: "device", data: { type: "cleared" } });
  assert.deepEqual([...idx.findMatches(h(1, 2)).keys()], [A]);
  assert.equal(idx.size, 1);
});
