import { test } from "node:test";
import assert from "node:assert/strict";
import { AdmissionQueue } from "../../src/admission/index.ts";
import type { PriorityClass, QueueItem } from "../../src/admission/index.ts";

const item = (value: string, tenant: string, priority: PriorityClass = "normal", cost = 100, weight = 1): QueueItem<string> => ({ value, tenant, priority, cost, weight });

function drain(q: AdmissionQueue<string>): string[] {
  const out: string[] = [];
  for (let t = q.peek(); t; t = q.peek()) {
    q.take(t);
    out.push(t.value);
  }
  return out;
}

test("admission - the queue serves every higher class before a lower one, FIFO for one tenant", () => {
  const q = new AdmissionQueue<string>({ maxLength: 10, maxWaitMs: 1000 });
  q.push(item("l1", "a", "low"), 0);
  q.push(item("n1", "a", "normal"), 1);
  q.push(item("h1", "b", "high"), 2);
  q.push(item("n2", "a", "normal"), 3);
  q.push(item("h2", "b", "high"), 4);
  assert.equal(q.lengthOf("high"), 2);
  assert.deepEqual(drain(q), ["h1", "h2", "n1", "n2", "l1"]);
  assert.equal(q.length, 0);
});

test("admission - under saturation a light tenant gets its weight's share of served tokens, whatever the heavy one sends", () => {
  for (const [wHeavy, wLight] of [
    [1, 1],
    [3, 1],
    [1, 2],
  ] as const) {
    const q = new AdmissionQueue<string>({ maxLength: 100_000, maxWaitMs: 1e12 });
    // The heavy tenant has 10x the requests waiting, of mixed sizes; both stay backlogged.
    let n = 0;
    for (let i = 0; i < 2000; i++) q.push(item(`h${i}`, "heavy", "normal", 50 + ((i * 37) % 400), wHeavy), n++);
    for (let i = 0; i < 200; i++) q.push(item(`l${i}`, "light", "normal", 50 + ((i * 53) % 400), wLight), n++);
    const served = { heavy: 0, light: 0 };
    // Serve until the light tenant's backlog is nearly gone (while both are backlogged).
    while (q.lengthOf("normal") > 0) {
      const t = q.peek()!;
      q.take(t);
      served[t.tenant as "heavy" | "light"] += t.cost;
      if (t.tenant === "light" && Number(t.value.slice(1)) >= 150) break;
    }
    const share = served.light / (served.light + served.heavy);
    const weight = wLight / (wLight + wHeavy);
    assert.ok(Math.abs(share - weight) <= 0.1 * weight, `weights ${wHeavy}:${wLight}: light share ${share.toFixed(3)}, weight share ${weight.toFixed(3)}`);
  }
});

test("admission - requests larger than many quanta are still served in fair turns", () => {
  const q = new AdmissionQueue<string>({ maxLength: 100, maxWaitMs: 1000, quantumTokens: 10 });
  q.push(item("a1", "a", "normal", 10_000), 0);
  q.push(item("a2", "a", "normal", 10_000), 0);
  q.push(item("b1", "b", "normal", 10_000), 0);
  q.push(item("b2", "b", "normal", 10_000), 0);
  assert.deepEqual(drain(q), ["a1", "b1", "a2", "b2"]);
});

test("admission - a full queue refuses, unless a higher class can displace the newest lower-class request", () => {
  const q = new AdmissionQueue<string>({ maxLength: 2, maxWaitMs: 1000 });
  q.push(item("n1", "a"), 0);
  q.push(item("l1", "a", "low"), 1);
  const refused = q.push(item("l2", "b", "low"), 2);
  assert.equal(refused.ticket, null);
  const h = q.push(item("h1", "b", "high"), 3);
  assert.equal(h.evicted?.value, "l1");
  assert.equal(h.evicted?.waiting, false);
  assert.deepEqual(drain(q), ["h1", "n1"]);
});

test("admission - a request that waited too long expires, and one whose client left is removed at once", () => {
  const q = new AdmissionQueue<string>({ maxLength: 10, maxWaitMs: 100 });
  const a = q.push(item("a", "x"), 0).ticket!;
  const b = q.push(item("b", "y"), 50).ticket!;
  const c = q.push(item("c", "y"), 60).ticket!;
  assert.ok(q.remove(b));
  assert.equal(q.remove(b), false);
  assert.equal(q.nextDeadlineMs(), 100);
  assert.deepEqual(q.expire(99), []);
  assert.deepEqual(q.expire(100).map((t) => t.value), ["a"]);
  assert.equal(a.waiting, false);
  assert.equal(q.nextDeadlineMs(), 160);
  assert.equal(q.peek()?.value, "c");
  assert.ok(q.take(c));
  assert.equal(q.length, 0);
  assert.equal(q.nextDeadlineMs(), undefined);
});
