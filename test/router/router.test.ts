import { test } from "node:test";
import assert from "node:assert/strict";
import { RadixIndexer } from "../../src/kv/index.ts";
import { Router, createSeededRandom } from "../../src/router/index.ts";
import { asRequestId, asWorkerId } from "../../src/protocols/index.ts";

test("router - a decision shared by another replica counts as load here", () => {
  const a = new Router({ blockSize: 16, indexer: new RadixIndexer(), policy: "least-loaded", random: createSeededRandom(1) });
  const b = new Router({ blockSize: 16, indexer: new RadixIndexer(), policy: "least-loaded", random: createSeededRandom(1) });
  const w1 = asWorkerId("w1");
  const w2 = asWorkerId("w2");
  for (const r of [a, b]) {
    r.addWorker(w1, { totalBlocks: 1000 });
    r.addWorker(w2, { totalBlocks: 1000 });
  }
  const tokens = Array.from({ length: 64 }, (_, i) => i);
  const first = a.route({ requestId: asRequestId("r1"), tokenIds: tokens }, 0);
  // Replica b hears of it and counts it, so it sends the next request elsewhere.
  assert.equal(b.applyRemoteRouted({ requestId: asRequestId("r1"), workerId: first.workerId, prefillTokens: 64 - first.cachedTokens, blocks: first.promptBlocks }, 0), true);
  const second = b.route({ requestId: asRequestId("r2"), tokenIds: tokens }, 0);
  assert.notEqual(second.workerId, first.workerId);
  assert.equal(b.workerLoad(first.workerId)!.numActiveRequests, 1);
  assert.equal(b.markFinished(asRequestId("r1")), true);
  assert.equal(b.workerLoad(first.workerId)!.numActiveRequests, 0);
  assert.equal(b.applyRemoteRouted({ requestId: asRequestId("r3"), workerId: asWorkerId("unknown"), prefillTokens: 1, blocks: 1 }, 0), false);
});
