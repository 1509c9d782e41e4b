import { test } from "node:test";
import assert from "node:assert/strict";
import { asWorkerId } from "../../src/protocols/index.ts";
import fc from "fast-check";
import { KvPolicy, WorkerState, createSeededRandom } from "../../src/router/index.ts";
import type { RoutingContext } from "../../src/router/index.ts";
import { RecordingIndexer, W, hashesOf, makeRouter, req, tokens } from "./fixtures.ts";

/** Cached-block counts of the policy-level tests (the tie-break reads them through the context). */
const cachedOf = new WeakMap<WorkerState, number>();
const PROMPT = tokens(20); // 5 blocks of 4

test("router kv - the worker holding the prefix wins", () => {
  const { router, indexer } = makeRouter(3);
  indexer.hold(W(1), hashesOf(PROMPT).slice(0, 4));
  const d = router.route(req(PROMPT), 0);
  assert.equal(d.workerId, W(1));
  assert.equal(d.overlapBlocks, 4);
  assert.equal(d.cachedTokens, 16);
  assert.equal(d.promptBlocks, 5);
});

test("router kv - cachedTokens is capped at the prompt length and promptBlocks rounds up", () => {
  const { router, indexer } = makeRouter(2);
  const prompt = tokens(18); // 4 full blocks + 2 tokens
  indexer.hold(W(0), hashesOf(prompt));
  const d = router.route(req(prompt), 0);
  assert.equal(d.workerId, W(0));
  assert.equal(d.overlapBlocks, 4);
  assert.equal(d.cachedTokens, 16);
  assert.equal(d.promptBlocks, 5);
});

test("router kv - load outweighs the hit, unless prefill is weighted up", () => {
  // The plain ARCHITECTURE.md cost (prefill scale 1, new-block weight 1).
  const plain = { policyOptions: { prefillLoadScale: 1, newBlockWeight: 1 } };
  const { router, indexer } = makeRouter(3, plain);
  indexer.hold(W(1), hashesOf(PROMPT).slice(0, 4));
  // 3 blocks of prefill and decode load on w1: cost 1·(3 + 5 − 4) + 3 = 7 against 5 elsewhere.
  router.route(req(tokens(12, 7), { workerId: W(1) }), 0);
  assert.notEqual(router.route(req(PROMPT), 0).workerId, W(1));
  // prefillLoadScale 10 per request: w1 = 10·4 + 3 = 43, a free worker = 10·5 = 50.
  const { router: r2, indexer: i2 } = makeRouter(3, plain);
  i2.hold(W(1), hashesOf(PROMPT).slice(0, 4));
  r2.route(req(tokens(12, 7), { workerId: W(1) }), 0);
  assert.equal(r2.route(req(PROMPT, { prefillLoadScale: 10 }), 0).workerId, W(1));
});

test("router kv - the default weights keep a request on its prefix unless the queue there is long", () => {
  // Defaults: scale 16, new-block weight 16. Prompt 5 blocks, w1 holds 4 → 1 new block there.
  const { router, indexer } = makeRouter(3);
  indexer.hold(W(1), hashesOf(PROMPT).slice(0, 4));
  // The same load as above (3 blocks queued, 3 decoding) no longer outweighs the hit:
  // w1 = 16·(3 + 16·1) + 3 = 307 against 16·16·5 = 1280 on a free worker.
  router.route(req(tokens(12, 7), { workerId: W(1) }), 0);
  const first = req(PROMPT);
  assert.equal(router.route(first, 0).workerId, W(1));
  assert.equal(router.markFinished(first.requestId), true);
  // A queue worth more than 16x the 4 blocks it saves does: 80 more queued blocks (320 tokens)
  // make w1 = 16·(83 + 16) + 83 = 1667 > 1280.
  router.route(req(tokens(320, 9), { workerId: W(1) }), 0);
  assert.notEqual(router.route(req(PROMPT), 0).workerId, W(1));
});

test("router kv - newBlockWeight 1 equals the ARCHITECTURE.md cost", () => {
  const w = new WorkerState(W(0), { totalBlocks: 1000 });
  w.ownPrefillTokens = 48;
  w.ownDecodeBlocks = 7;
  w.matchStamp = 1;
  w.matchBlocks = 2;
  w.matchDevice = 2;
  const ctx = contextOf([w], 5);
  assert.equal(new KvPolicy({ prefillLoadScale: 2, newBlockWeight: 1 }).cost(w, ctx), 2 * (3 + 5 - 2) + 7);
  assert.equal(new KvPolicy({ prefillLoadScale: 2, newBlockWeight: 4 }).cost(w, ctx), 2 * (3 + 4 * (5 - 2)) + 7);
  assert.equal(new KvPolicy().cost(w, ctx), 16 * (3 + 16 * 3) + 7);
});

test("router kv - host and disk blocks earn partial credit", () => {
  const { router, indexer } = makeRouter(3);
  const h = hashesOf(PROMPT);
  indexer.hold(W(0), h.slice(0, 4), "host"); // cost 5 − 3.2 = 1.8
  indexer.hold(W(2), h.slice(0, 3), "device"); // cost 5 − 3 = 2
  assert.equal(router.route(req(PROMPT), 0).workerId, W(0));
  const policy = new KvPolicy({ tierCredit: { host: 0.5 } }); // host now 2 + 5 − 4·0.5 = 3 > 2
  const { router: r2, indexer: i2 } = makeRouter(3, { policy });
  i2.hold(W(0), h.slice(0, 4), "host");
  i2.hold(W(2), h.slice(0, 3), "device");
  assert.equal(r2.route(req(PROMPT), 0).workerId, W(2));
});

test("router kv - ties go to the worker with the fewest cached blocks, then random", () => {
  const { router, indexer } = makeRouter(3);
  indexer.hold(W(0), hashesOf(tokens(200, 5))); // 50 unrelated blocks
  indexer.hold(W(1), hashesOf(tokens(40, 6))); // 10
  indexer.hold(W(2), hashesOf(tokens(40, 8))); // 10
  const counts = new Map<string, number>();
  for (let i = 0; i < 200; i++) {
    const r = req(PROMPT);
    const d = router.route(r, 0);
    counts.set(d.workerId, (counts.get(d.workerId) ?? 0) + 1);
    router.markFinished(r.requestId); // back to equal load
  }
  assert.equal(counts.get(W(0)) ?? 0, 0);
  assert.ok((counts.get(W(1)) ?? 0) > 50, `w1 chosen ${counts.get(W(1))} times`);
  assert.ok((counts.get(W(2)) ?? 0) > 50, `w2 chosen ${counts.get(W(2))} times`);
});

test("router kv - temperature > 0 samples lower costs more often, every worker some", () => {
  const { router, indexer } = makeRouter(4, { policyOptions: { temperature: 1 }, random: createSeededRandom(7) });
  const h = hashesOf(PROMPT);
  indexer.hold(W(0), h); // cost 0
  indexer.hold(W(1), h.slice(0, 3)); // 2
  indexer.hold(W(2), h.slice(0, 1)); // 4
  // w3: 5. Normalized 0, .4, .8, 1 → weights e^0, e^-.4, e^-.8, e^-1.
  const weights = [1, Math.exp(-0.4), Math.exp(-0.8), Math.exp(-1)];
  const total = weights.reduce((a, b) => a + b);
  const n = 4000;
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) {
    const r = req(PROMPT);
    counts[Number(router.route(r, 0).workerId.slice(1))]!++;
    router.markFinished(r.requestId);
  }
  for (let i = 1; i < 4; i++) assert.ok(counts[i - 1]! > counts[i]!, `counts ${counts}`);
  assert.ok(counts.every((c) => c > 0.1 * n));
  let chi2 = 0;
  for (let i = 0; i < 4; i++) {
    const expected = (n * weights[i]!) / total;
    chi2 += (counts[i]! - expected) ** 2 / expected;
  }
  assert.ok(chi2 < 16.27, `chi-square ${chi2.toFixed(2)} over 3 degrees of freedom (p = 0.001)`);
});

test("router kv - the per-request temperature overrides the policy's", () => {
  const { router, indexer } = makeRouter(2);
  indexer.hold(W(0), hashesOf(PROMPT));
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const r = req(PROMPT, { temperature: 5 });
    seen.add(router.route(r, 0).workerId);
    router.markFinished(r.requestId);
  }
  assert.equal(seen.size, 2);
  for (let i = 0; i < 20; i++) {
    const r = req(PROMPT);
    assert.equal(router.route(r, 0).workerId, W(0));
    router.markFinished(r.requestId);
  }
});

test("router kv - a pinned worker is taken even when another is cheaper", () => {
  const { router, indexer } = makeRouter(2);
  indexer.hold(W(0), hashesOf(PROMPT));
  const d = router.route(req(PROMPT, { workerId: W(1) }), 0);
  assert.equal(d.workerId, W(1));
  assert.equal(d.overlapBlocks, 0);
  assert.throws(() => router.route(req(PROMPT, { workerId: asWorkerId("ghost") }), 0), { code: "ROUTER_NO_WORKERS" });
});

test("router kv - approximate mode records each decision so the next request follows it", () => {
  const indexer = new RecordingIndexer();
  const { router } = makeRouter(4, { indexer });
  const r = req(PROMPT);
  const first = router.route(r, 1234);
  assert.deepEqual(indexer.recorded, [{ workerId: first.workerId, numBlocks: 5, now: 1234 }]);
  router.markFinished(r.requestId);
  const second = router.route(req(PROMPT), 1300);
  assert.equal(second.workerId, first.workerId);
  assert.equal(second.overlapBlocks, 5);
});

test("router kv - counters give the KV hit rate and timings come from the injected clock", () => {
  let t = 0;
  const { router, indexer } = makeRouter(2, { clock: () => (t += 0.002) });
  indexer.hold(W(0), hashesOf(PROMPT).slice(0, 4));
  const d = router.route(req(PROMPT), 0);
  assert.deepEqual(d.timings, { hashUs: 2, matchUs: 2, scheduleUs: 2 });
  router.route(req(tokens(20, 9)), 0);
  const s = router.stats();
  assert.deepEqual(s, { numRequests: 2, numPromptBlocks: 10, numHitBlocks: 4, kvHitRate: 0.4, numExpiredBookings: 0, numReconciledBookings: 0, numHitBlocksByTier: { device: 4, host: 0, disk: 0, remote: 0 } });
});

test("router kv - the choice always has the minimum cost (property)", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          prefill: fc.nat(5000),
          decode: fc.nat(500),
          device: fc.nat(40),
          host: fc.nat(40),
          cached: fc.nat(3),
        }),
        { minLength: 1, maxLength: 12 },
      ),
      fc.constantFrom(0, 0.5, 1, 2, 4), // costs then differ by 0 or at least 1/32
      (specs, scale) => {
        const workers = specs.map((s, i) => {
          const w = new WorkerState(W(i), { totalBlocks: 1000 });
          w.ownPrefillTokens = s.prefill;
          w.ownDecodeBlocks = s.decode;
          w.matchStamp = 1;
          w.matchBlocks = s.device + s.host;
          w.matchDevice = s.device;
          w.matchHost = s.host;
          cachedOf.set(w, s.cached);
          return w;
        });
        const ctx: RoutingContext = {
          candidates: workers,
          numCandidates: workers.length,
          hashes: [],
          promptTokens: 640,
          promptBlocks: 40,
          blockSize: 16,
          hints: undefined,
          rng: createSeededRandom(1),
          now: 0,
          stamp: 1,
          cachedBlocks: (w) => cachedOf.get(w) ?? 0,
        };
        const policy = new KvPolicy({ prefillLoadScale: scale });
        const chosen = policy.select(ctx);
        const costs = workers.map((w) => policy.cost(w, ctx));
        const min = Math.min(...costs);
        assert.ok(Math.abs(policy.cost(chosen, ctx) - min) < 1e-6);
        const tied = workers.filter((_, i) => Math.abs(costs[i]! - min) < 1e-6);
        assert.equal(cachedOf.get(chosen), Math.min(...tied.map((w) => cachedOf.get(w)!)));
      },
    ),
  );
});

function contextOf(workers: WorkerState[], promptBlocks: number): RoutingContext {
  return {
    candidates: workers,
    numCandidates: workers.length,
    hashes: [],
    promptTokens: promptBlocks * 16,
    promptBlocks,
    blockSize: 16,
    hints: undefined,
    rng: createSeededRandom(1),
    now: 0,
    stamp: 1,
    cachedBlocks: (w) => cachedOf.get(w) ?? 0,
  };
}
