import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { KvBlockSet, RadixIndexer } from "../../src/kv/index.ts";
import { STORAGE_TIERS, asSequenceHash, asWorkerId } from "../../src/protocols/index.ts";
import type { KvEventData, SequenceHash, StorageTier } from "../../src/protocols/index.ts";

const W = asWorkerId("worker-1");
const hs = (...ns: number[]): SequenceHash[] => ns.map((n) => asSequenceHash(BigInt(n)));
const stored = (parent: number | null, ...blocks: number[]): KvEventData => ({
  type: "stored",
  parentHash: parent === null ? null : asSequenceHash(BigInt(parent)),
  blocks: hs(...blocks).map((hash) => ({ hash, tokensHash: hash as never })),
});

test("kv block set - numbers events consecutively from 0 for its worker", () => {
  const set = new KvBlockSet(W);
  assert.equal(set.lastEventId, -1);
  const e0 = set.apply("device", stored(null, 1, 2));
  const e1 = set.apply("host", { type: "removed", hashes: hs(9) });
  assert.deepEqual([e0.eventId, e1.eventId], [0, 1]);
  assert.equal(e0.workerId, W);
  assert.equal(e1.tier, "host");
  assert.equal(set.lastEventId, 1);
  assert.equal(set.numBlocks("device"), 2);
  assert.ok(set.has(asSequenceHash(2n)));
});

test("kv block set - dump emits chains with parents before children", () => {
  const set = new KvBlockSet(W);
  set.apply("device", stored(null, 1, 2, 3));
  set.apply("device", stored(2, 4, 5)); // branch after 2
  set.apply("device", stored(3, 6));
  set.apply("device", { type: "removed", hashes: hs(1) }); // 2 becomes a root whose parent is gone
  set.apply("host", stored(null, 1));
  const dump = set.dump();
  assert.equal(dump.workerId, W);
  assert.equal(dump.lastEventId, 4);
  const seen = new Map<StorageTier, Set<bigint>>();
  for (const { tier, data } of dump.events) {
    const s = seen.get(tier) ?? new Set<bigint>();
    seen.set(tier, s);
    // The parent of each chain is either emitted earlier in this tier or not held in it.
    if (data.parentHash !== null && set.has(data.parentHash, tier)) assert.ok(s.has(data.parentHash));
    for (const b of data.blocks) s.add(b.hash);
  }
  assert.deepEqual([...seen.get("device")!].sort(), [2n, 3n, 4n, 5n, 6n]);
  assert.deepEqual([...seen.get("host")!], [1n]);
  // Chains follow the branches: 2-3-6 (or 2-4-5) in one event, not one event per block.
  assert.equal(dump.events.filter((e) => e.tier === "device").length, 2);
});

test("kv block set - a router reset from the dump holds exactly the worker's blocks", () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant("stored" as const), tier: fc.constantFrom(...STORAGE_TIERS), parent: fc.option(fc.integer({ min: 1, max: 30 })), blocks: fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 6 }) }),
    fc.record({ kind: fc.constant("removed" as const), tier: fc.constantFrom(...STORAGE_TIERS), blocks: fc.array(fc.integer({ min: 1, max: 30 }), { maxLength: 6 }) }),
    fc.record({ kind: fc.constant("cleared" as const), tier: fc.constantFrom(...STORAGE_TIERS) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const set = new KvBlockSet(W);
      const live = new RadixIndexer(); // follows every event
      for (const o of ops) {
        const data: KvEventData =
          o.kind === "stored" ? stored(o.parent, ...o.blocks) : o.kind === "removed" ? { type: "removed", hashes: hs(...o.blocks) } : { type: "cleared" };
        assert.ok(live.applyEvent(set.apply(o.tier, data)));
      }
      const fresh = new RadixIndexer();
      fresh.resetWorker(set.dump());
      assert.equal(fresh.lastEventId(W), set.lastEventId);
      for (const t of STORAGE_TIERS) {
        assert.equal(fresh.numBlocks(W, t), set.numBlocks(t));
        assert.equal(live.numBlocks(W, t), set.numBlocks(t));
      }
      for (let n = 1; n <= 30; n++) {
        const q = hs(n);
        assert.deepEqual(fresh.findMatches(q), live.findMatches(q));
      }
    }),
    { numRuns: 200 },
  );
});
