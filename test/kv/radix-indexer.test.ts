import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { MatchBuffer, RadixIndexer } from "../../src/kv/index.ts";
import type { WorkerMatch } from "../../src/kv/index.ts";
import { STORAGE_TIERS, asSequenceHash, asWorkerId } from "../../src/protocols/index.ts";
import type { KvCacheEvent, KvEventData, SequenceHash, StorageTier, WorkerId } from "../../src/protocols/index.ts";
import { h, indexerSuite } from "./indexer-suite.ts";

indexerSuite("kv radix indexer", () => {
  const indexer = new RadixIndexer();
  return { indexer, store: (w, hashes) => indexer.storeHashes(w, "device", hashes) };
});

const A = asWorkerId("a");
const B = asWorkerId("b");
const stored = (parent: number | null, ...blocks: number[]): KvEventData => ({
  type: "stored",
  parentHash: parent === null ? null : asSequenceHash(BigInt(parent)),
  blocks: h(...blocks).map((hash) => ({ hash, tokensHash: hash as never })),
});
const ev = (workerId: WorkerId, eventId: number, tier: StorageTier, data: KvEventData): KvCacheEvent => ({
  workerId,
  eventId,
  tier,
  data,
});

test("kv radix indexer - event ids: next applies, duplicate ignored, gap refused", () => {
  const idx = new RadixIndexer();
  assert.equal(idx.lastEventId(A), -1);
  assert.equal(idx.applyEvent(ev(A, 1, "device", stored(null, 1))), false); // unknown worker starts at 0
  assert.equal(idx.size, 0);
  assert.deepEqual(idx.workers(), []);
  assert.equal(idx.applyEvent(ev(A, 0, "device", stored(null, 1))), true);
  assert.equal(idx.applyEvent(ev(A, 1, "device", stored(1, 2))), true);
  assert.equal(idx.applyEvent(ev(A, 1, "device", { type: "removed", hashes: h(1, 2) })), true); // duplicate
  assert.equal(idx.numBlocks(A), 2);
  assert.equal(idx.applyEvent(ev(A, 3, "device", { type: "cleared" })), false); // gap
  assert.equal(idx.numBlocks(A), 2);
  assert.equal(idx.lastEventId(A), 1);
  assert.equal(idx.applyEvent(ev(A, 2, "device", { type: "removed", hashes: h(2, 99) })), true);
  assert.equal(idx.numBlocks(A), 1);
  assert.deepEqual(idx.workers(), [A]);
});

test("kv radix indexer - tiers: a block counts in its fastest tier; removal in one tier keeps the others", () => {
  const idx = new RadixIndexer();
  let id = 0;
  idx.applyEvent(ev(A, id++, "disk", stored(null, 1, 2, 3, 4)));
  idx.applyEvent(ev(A, id++, "host", stored(null, 1, 2)));
  idx.applyEvent(ev(A, id++, "device", stored(null, 1)));
  idx.applyEvent(ev(A, id++, "remote", stored(4, 5)));
  let m = idx.findMatches(h(1, 2, 3, 4, 5, 6)).get(A);
  assert.deepEqual(m, { numBlocks: 5, byTier: { device: 1, host: 1, disk: 2, remote: 1 } });
  assert.equal(idx.size, 5);
  assert.equal(idx.numBlocks(A, "disk"), 4);
  idx.applyEvent(ev(A, id++, "device", { type: "removed", hashes: h(1) }));
  m = idx.findMatches(h(1, 2, 3)).get(A);
  assert.deepEqual(m, { numBlocks: 3, byTier: { device: 0, host: 2, disk: 1, remote: 0 } });
  idx.applyEvent(ev(A, id++, "disk", { type: "cleared" }));
  m = idx.findMatches(h(1, 2, 3)).get(A);
  assert.deepEqual(m, { numBlocks: 2, byTier: { device: 0, host: 2, disk: 0, remote: 0 } });
  assert.equal(idx.numBlocks(A), 3); // 1, 2 on host; 5 remote
});

test("kv radix indexer - resetWorker replaces the worker's blocks and its event position", () => {
  const idx = new RadixIndexer();
  idx.applyEvent(ev(A, 0, "device", stored(null, 1, 2, 3)));
  idx.applyEvent(ev(B, 0, "device", stored(null, 1, 2)));
  idx.resetWorker({
    workerId: A,
    lastEventId: 41,
    events: [
      { tier: "host", data: stored(null, 1, 7) as never },
      { tier: "device", data: stored(1, 8) as never },
    ],
  });
  assert.equal(idx.lastEventId(A), 41);
  assert.equal(idx.numBlocks(A), 3);
  assert.equal(idx.findMatches(h(1, 2, 3)).get(A)!.numBlocks, 1);
  assert.deepEqual(idx.findMatches(h(1, 8)).get(A)!.byTier, { device: 1, host: 1, disk: 0, remote: 0 });
  assert.equal(idx.findMatches(h(1, 2)).get(B)!.numBlocks, 2);
  assert.equal(idx.applyEvent(ev(A, 42, "device", { type: "cleared" })), true);
  assert.equal(idx.numBlocks(A), 2);
});

test("kv radix indexer - findMatchesInto fills a reusable buffer with the same answer", () => {
  const idx = new RadixIndexer();
  for (let w = 0; w < 50; w++) idx.storeHashes(asWorkerId(`w${w}`), w % 2 ? "host" : "device", h(1, 2, 3, 4).slice(0, 1 + (w % 4)));
  const buf = new MatchBuffer();
  for (const q of [h(1, 2, 3, 4), h(1, 2), h(9)]) {
    const n = idx.findMatchesInto(q, buf);
    const viaMap = idx.findMatches(q);
    assert.equal(n, viaMap.size);
    assert.equal(buf.length, n);
    for (let r = 0; r < n; r++) {
      const m = viaMap.get(buf.workerIds[r]!)!;
      assert.equal(buf.numBlocks[r], m.numBlocks);
      for (const t of STORAGE_TIERS) assert.equal(buf.tierCount(r, t), m.byTier[t]);
    }
  }
});

test("kv radix indexer - churn of thousands of 64-bit hashes keeps lookups exact", () => {
  const idx = new RadixIndexer();
  const model = new Set<bigint>();
  let x = 0x1234_5678_9abc_def0n;
  const next = (): SequenceHash => {
    x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffff_ffff_ffff_ffffn;
    return asSequenceHash(x);
  };
  const universe = Array.from({ length: 6000 }, next);
  // Hashes sharing their low or high 32 bits with another.
  universe.push(asSequenceHash(universe[0]! ^ (1n << 40n)), asSequenceHash(universe[1]! ^ 1n));
  let seed = 7;
  const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  for (let round = 0; round < 20_000; round++) {
    const hash = universe[rand(universe.length)]!;
    if (rand(3) === 0) {
      idx.removeHashes(A, "device", [hash]);
      model.delete(hash);
    } else {
      idx.storeHashes(A, "device", [hash]);
      model.add(hash);
    }
  }
  assert.equal(idx.size, model.size);
  assert.equal(idx.numNodes, model.size);
  for (const hash of universe) assert.equal(idx.findMatches([hash]).has(A), model.has(hash));
});

// ---- property test against a brute-force model ----

type Model = Map<WorkerId, Map<StorageTier, Set<bigint>>>;

function modelMatches(model: Model, hashes: readonly SequenceHash[]): Map<WorkerId, WorkerMatch> {
  const out = new Map<WorkerId, WorkerMatch>();
  for (const [w, tiers] of model) {
    const holds = (hash: bigint) => STORAGE_TIERS.find((t) => tiers.get(t)?.has(hash));
    if (hashes.length === 0 || holds(hashes[0]!) === undefined) continue;
    const byTier = { device: 0, host: 0, disk: 0, remote: 0 };
    let n = 0;
    for (const hash of hashes) {
      const t = holds(hash);
      if (t === undefined) break;
      byTier[t]++;
      n++;
    }
    out.set(w, { numBlocks: n, byTier });
  }
  return out;
}

// A small universe with shared prefixes; the top bits make the halves differ in both words.
const hashOf = (n: number): SequenceHash => asSequenceHash((BigInt(n) * 0x9e3779b97f4a7c15n) & 0xffff_ffff_ffff_ffffn);
const PROMPTS: SequenceHash[][] = [
  [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  [1, 2, 3, 4, 11, 12, 13, 14],
  [1, 2, 15, 16, 17, 18],
  [19, 20, 21, 22, 23, 24],
].map((p) => p.map(hashOf));
const WORKERS = ["w0", "w1", "w2", "w3", "w4"].map(asWorkerId);

const opArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("stored" as const),
      w: fc.nat(WORKERS.length - 1),
      tier: fc.constantFrom(...STORAGE_TIERS),
      prompt: fc.nat(PROMPTS.length - 1),
      start: fc.nat(9),
      len: fc.integer({ min: 1, max: 10 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("removed" as const),
      w: fc.nat(WORKERS.length - 1),
      tier: fc.constantFrom(...STORAGE_TIERS),
      picks: fc.array(fc.integer({ min: 1, max: 25 }), { minLength: 1, maxLength: 6 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("cleared" as const), w: fc.nat(WORKERS.length - 1), tier: fc.constantFrom(...STORAGE_TIERS) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("removeWorker" as const), w: fc.nat(WORKERS.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("gap" as const), w: fc.nat(WORKERS.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("duplicate" as const), w: fc.nat(WORKERS.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reset" as const), w: fc.nat(WORKERS.length - 1) }) },
);

test("kv radix indexer - matches a brute-force model under random event sequences", () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 150 }), fc.array(fc.integer({ min: 1, max: 25 }), { maxLength: 8 }), (ops, extraQuery) => {
      const idx = new RadixIndexer();
      const model: Model = new Map();
      const nextId = new Map<WorkerId, number>();
      const lastEvent = new Map<WorkerId, KvCacheEvent>();
      const tierSet = (w: WorkerId, t: StorageTier): Set<bigint> => {
        let tiers = model.get(w);
        if (tiers === undefined) model.set(w, (tiers = new Map()));
        let s = tiers.get(t);
        if (s === undefined) tiers.set(t, (s = new Set()));
        return s;
      };
      const send = (w: WorkerId, tier: StorageTier, data: KvEventData): void => {
        const e = ev(w, nextId.get(w) ?? 0, tier, data);
        assert.equal(idx.applyEvent(e), true);
        nextId.set(w, e.eventId + 1);
        lastEvent.set(w, e);
      };
      const queries = [...PROMPTS, extraQuery.map(hashOf)];
      for (const op of ops) {
        const w = WORKERS[op.w]!;
        switch (op.kind) {
          case "stored": {
            const p = PROMPTS[op.prompt]!;
            const start = Math.min(op.start, p.length - 1);
            const blocks = p.slice(start, start + op.len);
            send(w, op.tier, { type: "stored", parentHash: start === 0 ? null : p[start - 1]!, blocks: blocks.map((hash) => ({ hash, tokensHash: hash as never })) });
            for (const b of blocks) tierSet(w, op.tier).add(b);
            break;
          }
          case "removed": {
            const hashes = op.picks.map(hashOf);
            send(w, op.tier, { type: "removed", hashes });
            for (const b of hashes) tierSet(w, op.tier).delete(b);
            break;
          }
          case "cleared":
            send(w, op.tier, { type: "cleared" });
            tierSet(w, op.tier).clear();
            break;
          case "removeWorker":
            idx.removeWorker(w);
            model.delete(w);
            nextId.delete(w);
            lastEvent.delete(w);
            break;
          case "gap":
            assert.equal(idx.applyEvent(ev(w, (nextId.get(w) ?? 0) + 1, "device", { type: "cleared" })), false);
            break;
          case "duplicate": {
            const e = lastEvent.get(w);
            if (e !== undefined) assert.equal(idx.applyEvent({ ...e, tier: "device", data: { type: "cleared" } }), true);
            break;
          }
          case "reset": {
            // Reset from the model's own view of the worker, as a dump would carry it.
            const events = [...(model.get(w) ?? new Map<StorageTier, Set<bigint>>())].map(([tier, set]) => ({
              tier,
              data: { type: "stored" as const, parentHash: null, blocks: [...set].map((hash) => ({ hash: asSequenceHash(hash), tokensHash: hash as never })) },
            }));
            const lastEventId = (nextId.get(w) ?? 0) + 5;
            idx.resetWorker({ workerId: w, lastEventId, events });
            nextId.set(w, lastEventId + 1);
            if (!model.has(w)) model.set(w, new Map());
            break;
          }
        }
        for (const q of queries) assert.deepEqual(idx.findMatches(q), modelMatches(model, q));
      }
      let entries = 0;
      for (const [w, tiers] of model) {
        const all = new Set<bigint>();
        for (const s of tiers.values()) for (const b of s) all.add(b);
        assert.equal(idx.numBlocks(w), all.size);
        for (const t of STORAGE_TIERS) assert.equal(idx.numBlocks(w, t), tiers.get(t)?.size ?? 0);
        entries += all.size;
      }
      assert.equal(idx.size, entries);
      assert.deepEqual(new Set(idx.workers()), new Set(model.keys()));
    }),
    { numRuns: 200 },
  );
});
