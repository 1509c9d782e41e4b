import { test } from "node:test";
import assert from "node:assert/strict";
import { EventQueue, multiTurnWorkload, parseDistribution, parseMooncakeTrace, replay, sharedPrefixWorkload, syntheticWorkload } from "../../src/bench/index.ts";
import type { WorkloadRequest } from "../../src/bench/index.ts";
import { PolynomialTimingModel } from "../../src/engines/index.ts";

test("replay - event queue pops by time, ties in push order", () => {
  const q = new EventQueue();
  const pushed: [number, number][] = [];
  // Many ties, pushed out of time order, enough to grow the arrays.
  for (let i = 0; i < 3000; i++) {
    const t = (i * 7919) % 13;
    q.push(t, i % 4, i);
    pushed.push([t, i]);
  }
  const expected = pushed.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const got: [number, number][] = [];
  while (q.pop()) {
    assert.equal(q.kind, q.payload % 4);
    got.push([q.time, q.payload]);
  }
  assert.deepEqual(got, expected);
  assert.equal(q.size, 0);
  assert.equal(q.peekTime(), Number.POSITIVE_INFINITY);
});

const timing = new PolynomialTimingModel();

function traceWorkload(): WorkloadRequest[] {
  // 40 requests over 4 families of shared 512-token blocks, arriving 50 ms apart in bursts.
  const rows: string[] = [];
  for (let i = 0; i < 40; i++) {
    const fam = i % 4;
    rows.push(JSON.stringify({ timestamp: Math.floor(i / 2) * 50, input_length: 1200 + (i % 3) * 100, output_length: 20 + (i % 5), hash_ids: [100 + fam, 200 + fam, 1000 + i] }));
  }
  return parseMooncakeTrace(rows.join("\n"), "mem");
}

test("replay - trace arrivals, first token never before arrival + its prefill step, exact output lengths", () => {
  const w = traceWorkload();
  const r = replay(w, { numWorkers: 3, policy: "kv", numKvBlocks: 2048, recordTokenTimes: true });
  assert.equal(r.records.length, 40);
  for (const rec of r.records) {
    const req = w[rec.index]!;
    assert.ok(rec.ok, rec.error);
    assert.equal(rec.startMs, req.arrivalMs);
    assert.equal(rec.outputTokens, req.outputTokens);
    assert.equal(rec.tokenTimesMs!.length, req.outputTokens);
    const uncached = rec.promptTokens - rec.cachedTokens!;
    // Its uncached tokens all fit one step (≤ 8192), and a step with more tokens costs more.
    assert.ok(rec.firstTokenMs! >= rec.startMs + timing.prefillMs(uncached) - 1e-9, `request ${rec.index}`);
    assert.equal(rec.firstTokenMs, rec.tokenTimesMs![0]);
    assert.equal(rec.endMs, rec.tokenTimesMs![rec.tokenTimesMs!.length - 1]);
    for (let k = 1; k < rec.tokenTimesMs!.length; k++) assert.ok(rec.tokenTimesMs![k]! > rec.tokenTimesMs![k - 1]!);
  }
  assert.equal(r.summary.count, 40);
  assert.equal(r.summary.failures, 0);
  assert.ok(r.hitRate > 0);
});

test("replay - the same run twice gives identical records", () => {
  const w = traceWorkload();
  for (const policy of ["kv", "random", "power-of-two", "sglang"] as const) {
    const a = replay(w, { numWorkers: 3, policy, numKvBlocks: 512, recordTokenTimes: true, seed: 5 });
    const b = replay(w, { numWorkers: 3, policy, numKvBlocks: 512, recordTokenTimes: true, seed: 5 });
    assert.deepEqual(a.records, b.records, policy);
    assert.equal(a.hitRate, b.hitRate);
  }
});

test("replay - kv beats round-robin on prefix hit rate with shared prefixes", () => {
  const w = sharedPrefixWorkload({
    numGroups: 7, // not a multiple of the workers: round-robin would otherwise be prefix-affine by accident
    promptsPerGroup: 12,
    prefixTokens: parseDistribution("1024"),
    suffixTokens: parseDistribution("64"),
    outputTokens: parseDistribution("16"),
    seed: 9,
  });
  // Each engine holds about 3 of the 7 prefixes: only placement by prefix can reuse them.
  const mode = { kind: "concurrency", concurrency: 8 } as const;
  const kv = replay(w, { numWorkers: 4, policy: "kv", mode, numKvBlocks: 256 });
  const rr = replay(w, { numWorkers: 4, policy: "round-robin", mode, numKvBlocks: 256 });
  assert.ok(kv.hitRate > rr.hitRate + 0.1, `kv ${kv.hitRate} vs round-robin ${rr.hitRate}`);
  assert.ok(kv.summary.ttft.mean < rr.summary.ttft.mean, `kv ${kv.summary.ttft.mean} vs round-robin ${rr.summary.ttft.mean}`);
  assert.ok(Math.abs(kv.routerHitRate - kv.hitRate) < 0.05, `router ${kv.routerHitRate} vs engines ${kv.hitRate}`);
});

test("replay - closed loop keeps at most `concurrency` requests in flight", () => {
  const w = syntheticWorkload({ numRequests: 30, inputTokens: parseDistribution("uniform:100:400"), outputTokens: parseDistribution("uniform:5:30"), seed: 1 });
  const r = replay(w, { numWorkers: 2, policy: "least-loaded", mode: { kind: "concurrency", concurrency: 3 } });
  const events: [number, number][] = [];
  for (const rec of r.records) events.push([rec.startMs, 1], [rec.endMs, -1]);
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]); // ends before starts at the same instant
  let inFlight = 0;
  let max = 0;
  for (const [, d] of events) max = Math.max(max, (inFlight += d));
  assert.equal(max, 3);
  assert.equal(r.records.filter((x) => x.startMs === 0).length, 3);
});

test("replay - Poisson rate mode spreads arrivals; multi-turn waits for the previous turn", () => {
  const w = multiTurnWorkload({ numSessions: 4, turnsPerSession: 3, userTokens: parseDistribution("64"), assistantTokens: parseDistribution("8"), seed: 3 });
  const r = replay(w, { numWorkers: 2, mode: { kind: "rate", requestsPerS: 50 } });
  const bySession = new Map<number, { turn: number; start: number; end: number }[]>();
  for (const rec of r.records) {
    const req = w[rec.index]!;
    const list = bySession.get(req.sessionId!) ?? [];
    list.push({ turn: req.turn!, start: rec.startMs, end: rec.endMs });
    bySession.set(req.sessionId!, list);
  }
  for (const turns of bySession.values()) {
    turns.sort((a, b) => a.turn - b.turn);
    for (let t = 1; t < turns.length; t++) assert.ok(turns[t]!.start >= turns[t - 1]!.end);
  }
  assert.ok(new Set(r.records.map((x) => x.startMs)).size > 4);
  // Later turns reuse the earlier turns' prompt (history) on the same worker under kv.
  assert.ok(r.hitRate > 0.3, `hit rate ${r.hitRate}`);
});

test("replay - delayed KV events still complete every request", () => {
  const w = traceWorkload();
  const r = replay(w, { numWorkers: 3, policy: "kv", kvEventDelayMs: 200, numKvBlocks: 2048 });
  assert.equal(r.summary.failures, 0);
  assert.equal(r.records.length, 40);
});

test("replay - KV events reach the index through the live path's ingestor (one write path, gaps detected)", () => {
  const w = traceWorkload();
  const r = replay(w, { numWorkers: 3, policy: "kv", numKvBlocks: 2048 });
  assert.ok(r.kvEvents.eventsApplied > 0, `events applied ${r.kvEvents.eventsApplied}`);
  assert.equal(r.kvEvents.gaps, 0);
  assert.ok(r.routerHitRate > 0, "the index the router reads is the one the ingestor wrote");
});
