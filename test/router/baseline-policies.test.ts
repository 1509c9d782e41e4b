import { test } from "node:test";
import assert from "node:assert/strict";
import { POLICY_NAMES, createPolicy, createSeededRandom } from "../../src/router/index.ts";
import type { Router } from "../../src/router/index.ts";
import { W, makeRouter, req, tokens } from "./fixtures.ts";

function spread(router: Router): number[] {
  return router.workerIds().map((id) => router.workerLoad(id)!.numActiveRequests);
}

test("router policies - every name builds a policy of that name", () => {
  for (const name of POLICY_NAMES) assert.equal(createPolicy(name).name, name);
});

test("router round-robin - cycles through workers in order and skips busy ones", () => {
  const { router } = makeRouter(3, { policy: "round-robin" });
  const order = Array.from({ length: 6 }, () => router.route(req(tokens(4)), 0).workerId);
  assert.deepEqual(order, [W(0), W(1), W(2), W(0), W(1), W(2)]);

  const { router: busy } = makeRouter(3, { policy: "round-robin", maxActivePrefillTokens: 100 });
  busy.route(req(tokens(200), { workerId: W(1) }), 0);
  const skipped = Array.from({ length: 4 }, () => busy.route(req(tokens(4)), 0).workerId);
  assert.deepEqual(skipped, [W(0), W(2), W(0), W(2)]);
});

test("router random - uniform over workers, reproducible with a seed", () => {
  const run = () => {
    const { router } = makeRouter(4, { policy: "random", random: createSeededRandom(3) });
    return Array.from({ length: 2000 }, () => {
      const r = req(tokens(4));
      const id = router.route(r, 0).workerId;
      router.markFinished(r.requestId);
      return id;
    });
  };
  const a = run();
  assert.deepEqual(a, run());
  for (let i = 0; i < 4; i++) {
    const n = a.filter((id) => id === W(i)).length;
    assert.ok(n > 400 && n < 600, `w${i} chosen ${n} times of 2000`);
  }
});

test("router least-loaded - fewest requests, then fewest blocks", () => {
  const { router } = makeRouter(3, { policy: "least-loaded" });
  router.route(req(tokens(40), { workerId: W(0) }), 0); // 1 request, 10 blocks
  router.route(req(tokens(8), { workerId: W(1) }), 0); // 1 request, 2 blocks
  assert.equal(router.route(req(tokens(40)), 0).workerId, W(2));
  assert.equal(router.route(req(tokens(4)), 0).workerId, W(1), "all have one request; w1 has the fewest blocks");
  for (let i = 0; i < 30; i++) router.route(req(tokens(4)), 0);
  const s = spread(router);
  assert.ok(Math.max(...s) - Math.min(...s) <= 1, `loads ${s}`);
});

test("router power-of-two - the less loaded of two wins, keeping the spread tight", () => {
  const { router: two } = makeRouter(2, { policy: "power-of-two" });
  two.route(req(tokens(4), { workerId: W(0) }), 0);
  for (let i = 0; i < 20; i++) {
    const [a, b] = spread(two) as [number, number];
    const chosen = two.route(req(tokens(4)), 0).workerId;
    if (a !== b) assert.equal(chosen, a < b ? W(0) : W(1), `loads ${a}, ${b}`);
  }

  const { router } = makeRouter(10, { policy: "power-of-two" });
  for (let i = 0; i < 500; i++) router.route(req(tokens(4)), 0);
  const p2c = spread(router);
  const { router: rnd } = makeRouter(10, { policy: "random" });
  for (let i = 0; i < 500; i++) rnd.route(req(tokens(4)), 0);
  const random = spread(rnd);
  const range = (s: number[]) => Math.max(...s) - Math.min(...s);
  assert.ok(range(p2c) <= 4, `power-of-two loads ${p2c}`);
  assert.ok(range(p2c) < range(random), `power-of-two ${p2c} vs random ${random}`);
});
