import { test } from "node:test";
import assert from "node:assert/strict";
import { KvBlockSet, KvEventIngestor, RadixIndexer, computeLocalBlockHashes, computeSequenceHashes } from "../../src/kv/index.ts";
import { asSequenceHash, asWorkerId, isTurbineError } from "../../src/protocols/index.ts";
import type { KvBlockSetDump, KvEventData, SequenceHash, WorkerId } from "../../src/protocols/index.ts";

const W = asWorkerId("w");
const hs = (...ns: number[]): SequenceHash[] => ns.map((n) => asSequenceHash(BigInt(n)));
const stored = (parent: number | null, ...blocks: number[]): KvEventData => ({
  type: "stored",
  parentHash: parent === null ? null : asSequenceHash(BigInt(parent)),
  blocks: hs(...blocks).map((hash) => ({ hash, tokensHash: hash as never })),
});

/** Dump requests the test answers by hand. */
function manualDumps() {
  const waiting: ((d: KvBlockSetDump) => void)[] = [];
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    requestDump: (_w: WorkerId) => {
      calls++;
      return new Promise<KvBlockSetDump>((resolve) => waiting.push(resolve));
    },
    /** Answers the oldest pending request. */
    answer: (dump: KvBlockSetDump) => waiting.shift()!(dump),
    pending: () => waiting.length,
  };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

test("kv event ingestor - applies in-order events and ignores duplicates", () => {
  const set = new KvBlockSet(W);
  const ing = new KvEventIngestor(new RadixIndexer(), { requestDump: () => Promise.reject(new Error("unused")) });
  const e0 = set.apply("device", stored(null, 1, 2));
  ing.ingest(e0);
  ing.ingest(set.apply("device", stored(2, 3)));
  ing.ingest(e0);
  assert.equal(ing.indexer.findMatches(hs(1, 2, 3)).get(W)!.numBlocks, 3);
  assert.deepEqual(ing.stats, { eventsApplied: 2, duplicates: 1, gaps: 0, resyncs: 0, resyncFailures: 0 });
});

test("kv event ingestor - a gap triggers a dump; events meanwhile are buffered and replayed after it", async () => {
  const set = new KvBlockSet(W);
  const dumps = manualDumps();
  const ing = new KvEventIngestor(new RadixIndexer(), { requestDump: dumps.requestDump });
  ing.ingest(set.apply("device", stored(null, 1))); // id 0
  set.apply("device", stored(1, 2)); // id 1: lost on the way
  ing.ingest(set.apply("device", stored(2, 3))); // id 2: gap
  assert.equal(dumps.calls, 1);
  assert.deepEqual(ing.resyncingWorkers(), [W]);
  assert.equal(ing.indexer.numBlocks(W), 1); // the gap event was not applied
  ing.ingest(set.apply("host", stored(null, 1))); // id 3: buffered, and included in the dump below
  const snapshotAt3 = set.dump();
  ing.ingest(set.apply("device", stored(3, 4))); // id 4: buffered, after the dump
  ing.ingest(set.apply("device", { type: "removed", hashes: hs(1) })); // id 5: buffered
  assert.equal(ing.indexer.numBlocks(W), 1);
  // Answer with the dump taken at id 3.
  assert.equal(dumps.pending(), 1);
  dumps.answer(snapshotAt3);
  await ing.whenIdle();
  assert.equal(ing.indexer.lastEventId(W), 5);
  const m = ing.indexer.findMatches(hs(1, 2, 3, 4)).get(W)!;
  assert.deepEqual(m, { numBlocks: 4, byTier: { device: 3, host: 1, disk: 0, remote: 0 } });
  assert.deepEqual(ing.stats, { eventsApplied: 3, duplicates: 0, gaps: 1, resyncs: 1, resyncFailures: 0 });
  assert.deepEqual(ing.resyncingWorkers(), []);
});

test("kv event ingestor - a failing dump is retried, then the worker is dropped and reported", async () => {
  const set = new KvBlockSet(W);
  const other = asWorkerId("other");
  let calls = 0;
  const errors: [WorkerId, unknown][] = [];
  const idx = new RadixIndexer();
  const ing = new KvEventIngestor(idx, {
    requestDump: () => {
      calls++;
      return Promise.reject(new Error("unreachable"));
    },
    maxDumpAttempts: 3,
    onError: (w, e) => errors.push([w, e]),
  });
  ing.ingest({ workerId: other, eventId: 0, tier: "device", data: stored(null, 1) });
  ing.ingest(set.apply("device", stored(null, 1)));
  set.apply("device", stored(1, 2));
  ing.ingest(set.apply("device", stored(2, 3)));
  await ing.whenIdle();
  assert.equal(calls, 3);
  assert.equal(errors.length, 1);
  assert.equal(errors[0]![0], W);
  assert.ok(isTurbineError(errors[0]![1]));
  assert.deepEqual(idx.workers(), [other]);
  assert.equal(ing.stats.resyncFailures, 1);
  assert.equal(idx.findMatches(hs(1)).size, 1);
});

test("kv event ingestor - a dump older than the buffered events resyncs again", async () => {
  const set = new KvBlockSet(W);
  const stale = set.dump(); // lastEventId -1
  const answers: KvBlockSetDump[] = [];
  let calls = 0;
  const ing = new KvEventIngestor(new RadixIndexer(), {
    requestDump: async () => {
      calls++;
      return answers.shift() ?? set.dump();
    },
  });
  set.apply("device", stored(null, 1)); // id 0: lost
  set.apply("device", stored(1, 2)); // id 1: lost
  answers.push(stale);
  ing.ingest(set.apply("device", stored(2, 3))); // id 2: gap; the first dump is stale
  await ing.whenIdle();
  assert.equal(calls, 2);
  assert.equal(ing.indexer.findMatches(hs(1, 2, 3)).get(W)!.numBlocks, 3);
  assert.equal(ing.stats.gaps, 2);
  assert.equal(ing.stats.resyncs, 2);
});

test("kv event ingestor - removing a worker during its resync cancels it", async () => {
  const set = new KvBlockSet(W);
  let signal: AbortSignal | undefined;
  let release!: (d: KvBlockSetDump) => void;
  const ing = new KvEventIngestor(new RadixIndexer(), {
    requestDump: (_w, opts) => {
      signal = opts.signal;
      return new Promise((r) => (release = r));
    },
  });
  set.apply("device", stored(null, 1));
  ing.ingest(set.apply("device", stored(1, 2))); // gap at id 1
  ing.removeWorker(W);
  assert.equal(signal!.aborted, true);
  release(set.dump());
  await flush();
  assert.deepEqual(ing.indexer.workers(), []);
  assert.equal(ing.stats.resyncs, 0);
});

test("kv - an explicit resync loads a worker's blocks stored before the router listened", async () => {
  const w = asWorkerId("late");
  const set = new KvBlockSet(w);
  const tokens = Array.from({ length: 64 }, (_, i) => i);
  const hashes = computeSequenceHashes(tokens, 16);
  const locals = computeLocalBlockHashes(tokens, 16);
  set.apply("device", { type: "stored", parentHash: null, blocks: hashes.map((hash, i) => ({ hash, tokensHash: locals[i]! })) });
  const indexer = new RadixIndexer();
  const ingestor = new KvEventIngestor(indexer, { requestDump: async () => set.dump() });
  assert.equal(indexer.findMatches(hashes).get(w), undefined);
  ingestor.resync(w);
  await ingestor.whenIdle();
  assert.equal(indexer.findMatches(hashes).get(w)?.numBlocks, 4);
  assert.equal(ingestor.stats.resyncs, 1);
});
