import { test } from "node:test";
import assert from "node:assert/strict";
import { BlockPool } from "../../../src/engines/mocker/index.ts";
import type { KvBlock } from "../../../src/engines/mocker/index.ts";
import { computeLocalBlockHashes, computeSequenceHashes } from "../../../src/kv/index.ts";
import { EventRecorder, range } from "./helpers.ts";

const BS = 4;

function hashesOf(tokens: number[]) {
  return { local: computeLocalBlockHashes(tokens, BS), seq: computeSequenceHashes(tokens, BS) };
}

test("mocker block pool - allocation takes the free queue head, in id order on a fresh pool", () => {
  const pool = new BlockPool(12);
  assert.deepEqual(pool.freeBlockIds(), range(0, 12));
  const got: KvBlock[] = [];
  pool.allocate(3, got);
  assert.deepEqual(got.map((b) => b.id), [0, 1, 2]);
  assert.deepEqual(got.map((b) => b.refCount), [1, 1, 1]);
  assert.equal(pool.numFreeBlocks, 9);
  assert.equal(pool.numActiveBlocks, 3);
  assert.throws(() => pool.allocate(10, []), RangeError);
});

test("mocker block pool - freeing appends to the tail, last block first", () => {
  const pool = new BlockPool(12);
  const a: KvBlock[] = [];
  pool.allocate(4, a); // 0..3
  pool.freeReversed(a);
  assert.deepEqual(pool.freeBlockIds(), [4, 5, 6, 7, 8, 9, 10, 11, 3, 2, 1, 0]);
  const b: KvBlock[] = [];
  pool.allocate(9, b);
  assert.deepEqual(b.map((x) => x.id), [4, 5, 6, 7, 8, 9, 10, 11, 3]);
});

test("mocker block pool - a shared block returns to the free queue only when its last reference goes", () => {
  const pool = new BlockPool(12);
  const a: KvBlock[] = [];
  pool.allocate(2, a);
  pool.touch(a[0]!); // a second sequence shares block 0
  pool.freeReversed(a);
  assert.equal(a[0]!.refCount, 1);
  assert.deepEqual(pool.freeBlockIds().slice(-1), [1]);
  pool.freeReversed([a[0]!]);
  assert.deepEqual(pool.freeBlockIds().slice(-2), [1, 0]);
});

test("mocker block pool - cached free blocks stay reusable until evicted, in LRU order, with events", () => {
  const pool = new BlockPool(12);
  const rec = new EventRecorder();
  pool.eventSink = rec.listener;
  const tokens = range(100, 12); // 3 full blocks
  const h = hashesOf(tokens);
  const seq: KvBlock[] = [];
  pool.allocate(3, seq); // 0, 1, 2
  pool.cacheFullBlocks(seq, h.seq, h.local, 0, 3);
  assert.equal(rec.events.length, 1);
  assert.deepEqual(rec.events[0]!.data, {
    type: "stored",
    parentHash: null,
    blocks: h.seq.map((hash, i) => ({ hash, tokensHash: h.local[i] })),
  });
  assert.equal(rec.events[0]!.tier, "device");
  pool.freeReversed(seq);
  assert.equal(pool.numCachedBlocks, 3);
  assert.deepEqual(pool.freeBlockIds(), [3, 4, 5, 6, 7, 8, 9, 10, 11, 2, 1, 0]);

  // A prefix hit on the first two blocks takes them out of the free queue.
  const hit0 = pool.getCached(h.seq[0]!)!;
  const hit1 = pool.getCached(h.seq[1]!)!;
  assert.deepEqual([hit0.id, hit1.id], [0, 1]);
  pool.touch(hit0);
  pool.touch(hit1);
  assert.deepEqual(pool.freeBlockIds(), [3, 4, 5, 6, 7, 8, 9, 10, 11, 2]);

  // Allocating 10 blocks: 9 uncached ones, then block 2, evicted with a removed event.
  const other: KvBlock[] = [];
  pool.allocate(10, other);
  assert.deepEqual(other.map((b) => b.id), [3, 4, 5, 6, 7, 8, 9, 10, 11, 2]);
  assert.deepEqual(rec.removed(), [[h.seq[2]!]]);
  assert.equal(pool.isCached(h.seq[2]!), false);
  assert.equal(pool.isCached(h.seq[0]!), true);
  assert.equal(pool.numEvictions, 1);
  assert.deepEqual(new Set(pool.cachedHashes()), rec.blocks);
});

test("mocker block pool - a hash cached twice keeps one block; stored runs break around it", () => {
  const pool = new BlockPool(12);
  const rec = new EventRecorder();
  pool.eventSink = rec.listener;
  const h = hashesOf(range(7, 12));
  const first: KvBlock[] = [];
  pool.allocate(2, first);
  pool.cacheFullBlocks(first, h.seq, h.local, 1, 2); // only block 1 of the chain
  const second: KvBlock[] = [];
  pool.allocate(3, second);
  pool.cacheFullBlocks(second, h.seq, h.local, 0, 3);
  assert.equal(second[1]!.hash, null, "the duplicate stays uncached");
  assert.equal(pool.getCached(h.seq[1]!), first[1]);
  const stored = rec.events.map((e) => (e.data.type === "stored" ? [e.data.parentHash, e.data.blocks.map((b) => b.hash)] : null));
  assert.deepEqual(stored, [
    [h.seq[0], [h.seq[1]]],
    [null, [h.seq[0]]],
    [h.seq[1], [h.seq[2]]],
  ]);
  assert.deepEqual(new Set(pool.cachedHashes()), rec.blocks);
});
