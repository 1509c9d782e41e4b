import { test } from "node:test";
import assert from "node:assert/strict";
import { formatSummaryTable, latencyStats, percentile, requestItlMs, summarize } from "../../src/bench/index.ts";
import type { RequestRecord } from "../../src/bench/index.ts";

test("metrics - nearest-rank percentiles on 1..10", () => {
  const s = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  assert.equal(percentile(s, 50), 5);
  assert.equal(percentile(s, 90), 9);
  assert.equal(percentile(s, 99), 10);
  assert.equal(percentile(s, 100), 10);
  assert.equal(percentile(s, 0), 1);
  assert.equal(percentile(s, 11), 2); // ceil(1.1) = 2nd value
  assert.ok(Number.isNaN(percentile([], 50)));
  assert.equal(percentile([7], 99), 7);
});

test("metrics - latencyStats sorts and averages", () => {
  const l = latencyStats([30, 10, 20, 40]);
  assert.deepEqual(l, { p50: 20, p90: 40, p99: 40, mean: 25 });
});

function rec(index: number, start: number, first: number, end: number, out: number, extra: Partial<RequestRecord> = {}): RequestRecord {
  return { index, startMs: start, firstTokenMs: first, endMs: end, outputTokens: out, promptTokens: 100, ok: true, ...extra };
}

test("metrics - per-request ITL from token times or from first token and end", () => {
  assert.equal(requestItlMs(rec(0, 0, 10, 40, 4)), 10);
  assert.equal(requestItlMs(rec(0, 0, 10, 40, 4, { tokenTimesMs: [10, 12, 20, 40] })), 10);
  assert.equal(requestItlMs(rec(0, 0, 10, 10, 1)), undefined);
  assert.equal(requestItlMs(rec(0, 0, 10, 40, 4, { tokenTimesMs: [10] })), undefined);
});

test("metrics - summarize: counts, rates, latencies, hit rate and goodput on known inputs", () => {
  const records: RequestRecord[] = [
    rec(0, 0, 100, 1100, 11, { cachedTokens: 50 }), // ttft 100, itl 100, e2e 1100
    rec(1, 0, 300, 2300, 21, { cachedTokens: 0 }), // ttft 300, itl 100, e2e 2300
    rec(2, 1000, 1200, 1700, 6, { cachedTokens: 100 }), // ttft 200, itl 100, e2e 700
    rec(3, 1000, 1050, 4050, 11, { cachedTokens: 25 }), // ttft 50, itl 300, e2e 3050
    { index: 4, startMs: 500, endMs: 600, outputTokens: 0, promptTokens: 100, ok: false, error: "boom" },
  ];
  const s = summarize(records, { sloTtftMs: 250, sloItlMs: 150 });
  assert.equal(s.count, 5);
  assert.equal(s.failures, 1);
  assert.equal(s.durationS, 4.05);
  assert.equal(s.requestsPerS, 4 / 4.05);
  assert.equal(s.outputTokens, 49);
  assert.equal(s.outputTokensPerS, 49 / 4.05);
  assert.equal(s.promptTokens, 400);
  assert.deepEqual(s.ttft, { p50: 100, p90: 300, p99: 300, mean: 162.5 });
  assert.deepEqual(s.itl, { p50: 100, p90: 300, p99: 300, mean: 150 });
  assert.deepEqual(s.e2e, { p50: 1100, p90: 3050, p99: 3050, mean: 1787.5 });
  assert.equal(s.prefixHitRate, 175 / 400);
  // Good: #0 (100, 100) and #2 (200, 100); #1 misses TTFT, #3 misses ITL, #4 failed.
  assert.equal(s.goodRequests, 2);
  assert.equal(s.goodput, 2 / 4.05);
});

test("metrics - no SLO means no goodput; unknown cache means no hit rate", () => {
  const s = summarize([rec(0, 0, 5, 10, 2)]);
  assert.equal(s.goodput, undefined);
  assert.equal(s.prefixHitRate, undefined);
  assert.equal(s.itl.p50, 5);
});

test("metrics - summary table has one row per name with p50/p90/p99/mean columns", () => {
  const s = summarize([rec(0, 0, 100, 1100, 11)], { sloTtftMs: 500 });
  const t = formatSummaryTable([
    { name: "a", summary: s },
    { name: "b", summary: s },
  ]);
  const lines = t.split("\n");
  assert.equal(lines.length, 4);
  assert.match(lines[0]!, /TTFT p50 \(ms\) \| TTFT p90 \(ms\) \| TTFT p99 \(ms\) \| TTFT mean \(ms\)/);
  assert.match(lines[0]!, /goodput/);
  assert.match(lines[2]!, /^\| a /);
  assert.match(lines[2]!, /\| +100\.0 \|/);
});
