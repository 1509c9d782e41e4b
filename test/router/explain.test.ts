// The router's explained decisions (what the fleet page shows): each candidate's overlap and
// the cost the policy gave it before the request was booked, cheapest first.
import { test } from "node:test";
import assert from "node:assert/strict";
import { KvPolicy } from "../../src/router/index.ts";
import { W, hashesOf, makeRouter, req, tokens } from "./fixtures.ts";

const PROMPT = tokens(20); // 5 blocks of 4

test("router explain - candidates come with overlap and pre-booking cost, cheapest first", () => {
  const { router, indexer } = makeRouter(3);
  indexer.hold(W(1), hashesOf(PROMPT).slice(0, 4));
  indexer.hold(W(2), hashesOf(PROMPT).slice(0, 2));
  // Cache pressure off: the costs below are the load formula alone (kv-tiers tests cover pressure).
  const { router: fresh, indexer: idx } = makeRouter(3, { policy: new KvPolicy({ cachePressure: 0 }) });
  idx.hold(W(1), hashesOf(PROMPT).slice(0, 4));
  idx.hold(W(2), hashesOf(PROMPT).slice(0, 2));
  assert.equal(router.route(req(PROMPT), 0).candidates, undefined, "nothing explained unless asked");
  const d = fresh.route(req(PROMPT), 0, { explain: 10 });
  assert.equal(d.workerId, W(1));
  assert.deepEqual(
    d.candidates!.map((c) => [c.workerId, c.overlapBlocks]),
    [[W(1), 4], [W(2), 2], [W(0), 0]],
  );
  // kv cost with no load: 16 · 16 · (promptBlocks − credit): 256 per uncached block.
  assert.deepEqual(d.candidates!.map((c) => c.cost), [256, 768, 1280]);
  assert.ok(new KvPolicy().cost, "the kv policy scores by cost");
});

test("router explain - a short list still names the chosen worker", () => {
  const { router, indexer } = makeRouter(4, { policy: "round-robin" });
  indexer.hold(W(3), hashesOf(PROMPT));
  const d = router.route(req(PROMPT), 0, { explain: 1 });
  assert.equal(d.candidates!.length, 1);
  assert.equal(d.candidates![0]!.workerId, d.workerId);
  assert.equal(d.candidates![0]!.cost, null, "round-robin has no cost");
});
