import { test } from "node:test";
import assert from "node:assert/strict";
import { BlockPool, KvCacheManager } from "../../../src/engines/mocker/index.ts";
import { computeSequenceHashes } from "../../../src/kv/index.ts";
import { EventRecorder, range } from "./helpers.ts";

const BS = 4;

function setup(numBlocks = 12) {
  const pool = new BlockPool(numBlocks);
  const rec = new EventRecorder();
  pool.eventSink = rec.listener;
  return { pool, kv: new KvCacheManager(pool, BS), rec };
}

test("mocker kv cache manager - block hashes are the router's sequence hashes", () => {
  const { kv, rec } = setup();
  const tokens = range(1, 10);
  const seq = kv.createSequence(tokens);
  assert.deepEqual(seq.sequenceHashes, computeSequenceHashes(tokens, BS));
  assert.equal(kv.findCachedPrefix(seq), 0);
  assert.equal(kv.allocateSlots(seq, 0, 10), true);
  assert.deepEqual(seq.blocks.map((b) => b.id), [0, 1, 2]);
  const stored = rec.events.flatMap((e) => (e.data.type === "stored" ? e.data.blocks.map((b) => b.hash) : []));
  assert.deepEqual(stored, computeSequenceHashes(tokens, BS));
});

test("mocker kv cache manager - generated tokens' blocks are hashed and registered as they fill", () => {
  const { kv, pool } = setup();
  const tokens = range(1, 6);
  const seq = kv.createSequence(tokens);
  kv.findCachedPrefix(seq);
  kv.allocateSlots(seq, 0, 6); // one full block
  assert.equal(pool.numCachedBlocks, 1);
  tokens.push(50, 51); // two generated tokens: KV for 7 tokens after the next decode, 8 after the one after
  assert.equal(kv.allocateSlots(seq, 6, 1), true);
  assert.equal(pool.numCachedBlocks, 1);
  assert.equal(kv.allocateSlots(seq, 7, 1), true);
  assert.equal(pool.numCachedBlocks, 2);
  assert.deepEqual(seq.sequenceHashes, computeSequenceHashes(tokens, BS));
  assert.equal(pool.isCached(computeSequenceHashes(tokens, BS)[1]!), true);
});

test("mocker kv cache manager - a repeated prefix reuses the cached blocks and counts hits", () => {
  const { kv, pool } = setup();
  const a = kv.createSequence(range(1, 13)); // 3 full blocks + 1 token
  kv.findCachedPrefix(a);
  kv.allocateSlots(a, 0, 13);
  const b = kv.createSequence([...range(1, 8), 99, 98, 97, 96]); // shares 2 blocks
  assert.equal(kv.findCachedPrefix(b), 2);
  assert.equal(kv.allocateSlots(b, 8, 4), true);
  assert.deepEqual(b.blocks.map((x) => x.id), [0, 1, 4]);
  assert.deepEqual(a.blocks.map((x) => x.refCount), [2, 2, 1, 1]);
  // Freeing a: its unshared blocks go to the tail, last first; the shared ones stay held.
  kv.free(a);
  assert.deepEqual(pool.freeBlockIds(), [5, 6, 7, 8, 9, 10, 11, 3, 2]);
  kv.free(b);
  assert.deepEqual(pool.freeBlockIds(), [5, 6, 7, 8, 9, 10, 11, 3, 2, 4, 1, 0]);
});

test("mocker kv cache manager - a fully cached prompt recomputes its last block", () => {
  const { kv } = setup();
  const a = kv.createSequence(range(1, 8));
  kv.findCachedPrefix(a);
  kv.allocateSlots(a, 0, 8);
  kv.free(a);
  const b = kv.createSequence(range(1, 8));
  assert.equal(kv.findCachedPrefix(b), 1, "at least one token is left to compute");
  const c = kv.createSequence(range(1, 9));
  assert.equal(kv.findCachedPrefix(c), 2);
});

test("mocker kv cache manager - running out of blocks returns false and changes nothing", () => {
  const { kv, pool } = setup();
  const a = kv.createSequence(range(1, 40)); // 10 blocks
  kv.findCachedPrefix(a);
  assert.equal(kv.allocateSlots(a, 0, 40), true);
  kv.free(a);
  // b shares 8 cached free blocks; touching them counts against the budget.
  const b = kv.createSequence([...range(1, 32), ...range(200, 20)]); // 13 blocks
  assert.equal(kv.findCachedPrefix(b), 8);
  const before = pool.freeBlockIds();
  assert.equal(kv.allocateSlots(b, 32, 20), false);
  assert.deepEqual(pool.freeBlockIds(), before);
  assert.equal(b.blocks.length, 0);
  assert.equal(kv.allocateSlots(b, 32, 16), true); // 8 cached + 4 new = 12 blocks
  assert.equal(pool.numFreeBlocks, 0);
});
