// The HTML report: self-contained (no script, no external resource), plots present, text escaped;
// and the numbers behind the plots.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cdfPoints, niceTicks, renderHtmlReport, summarize, svgPlot, throughputSeries } from "../../src/bench/index.ts";
import type { BenchResult, ScheduledRecord } from "../../src/bench/index.ts";

function record(index: number, startMs: number, ttftMs: number, tokens: number, gapMs: number, ok = true): ScheduledRecord {
  const times: number[] = [];
  for (let i = 0; i < tokens; i++) times.push(startMs + ttftMs + i * gapMs);
  const r: ScheduledRecord = {
    index,
    startMs,
    firstTokenMs: ok ? startMs + ttftMs : undefined,
    endMs: ok ? times[times.length - 1]! + 1 : startMs + 5,
    outputTokens: ok ? tokens : 0,
    promptTokens: 100,
    cachedTokens: 50,
    ok,
    requestedOutputTokens: tokens,
    status: ok ? 200 : 503,
    chunkTimesMs: ok ? times : [],
    tokenTimesMs: ok ? times : [],
  };
  if (!ok) r.error = "HTTP 503: busy";
  return r;
}

function result(records: ScheduledRecord[], model = "m"): BenchResult {
  return {
    formatVersion: 1,
    tool: "turbine bench",
    startedAt: "2025-01-01T00:00:00.000Z",
    wallS: 3,
    stoppedBy: "completed",
    notSent: 0,
    wrongLength: 0,
    config: {
      url: "http://127.0.0.1:8000",
      endpoint: "http://127.0.0.1:8000/v1/completions",
      model,
      workload: { kind: "synthetic", inputTokens: "100", outputTokens: "10" },
      mode: { kind: "rate", requestsPerS: 10, seed: 0 },
      numRequests: records.length,
      seed: 0,
      vocab: { min: 1, max: 255 },
      promptFormatRequested: "auto",
      promptFormat: "tokens",
      forceLength: true,
      timeoutS: 600,
      sloTtftMs: 50,
    },
    summary: summarize(records, { sloTtftMs: 50 }),
    errors: records.some((r) => !r.ok) ? { "HTTP 503: busy": records.filter((r) => !r.ok).length } : {},
    records,
  };
}

const records = Array.from({ length: 30 }, (_, i) => record(i, i * 100, 10 + i, 10, 5, i % 10 !== 9));

test("report-html - self-contained: inline SVG plots, no script, no external resource", () => {
  const html = renderHtmlReport(result(records));
  assert.match(html, /^<!doctype html>/);
  assert.ok((html.match(/<svg /g) ?? []).length >= 3, "at least three plots");
  for (const title of ["TTFT CDF", "Throughput over time", "Latency over time"]) assert.ok(html.includes(title), title);
  assert.doesNotMatch(html, /<script/i);
  assert.doesNotMatch(html, /<link/i);
  assert.doesNotMatch(html, /(src|href)\s*=\s*["']?(https?:)?\/\//i);
  assert.doesNotMatch(html, /@import|url\(/i);
  assert.ok(html.includes("HTTP 503: busy"), "errors listed");
  assert.ok(html.includes("goodput"));
});

test("report-html - text from the run is escaped", () => {
  const html = renderHtmlReport(result(records, `<script>alert("x")</script>`));
  assert.doesNotMatch(html, /<script/i);
  assert.ok(html.includes("&lt;script&gt;"));
});

test("report-html - an empty or all-failed run still renders", () => {
  for (const rs of [[], [record(0, 0, 5, 3, 1, false)]]) {
    const html = renderHtmlReport(result(rs));
    assert.match(html, /<svg /);
    assert.doesNotMatch(html, /NaN|Infinity/);
  }
});

test("report-html - CDF ends at 1 and is nondecreasing; throughput bins add up to the tokens", () => {
  const cdf = cdfPoints([30, 10, 20, 40]);
  assert.deepEqual(Array.from(cdf), [10, 0, 10, 0.25, 20, 0.5, 30, 0.75, 40, 1]);
  const r = result(records);
  const tp = throughputSeries(r);
  let tokens = 0;
  let requests = 0;
  for (let i = 1; i < tp.tokens.length; i += 2) tokens += tp.tokens[i]! * tp.binS;
  for (let i = 1; i < tp.requests.length; i += 2) requests += tp.requests[i]! * tp.binS;
  assert.ok(Math.abs(tokens - r.summary.outputTokens) < 1e-6);
  assert.ok(Math.abs(requests - (r.summary.count - r.summary.failures)) < 1e-6);
});

test("report-html - axis ticks are round and cover the data", () => {
  assert.deepEqual(niceTicks(9.3), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(niceTicks(1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0), [0, 1]);
  const t = niceTicks(12345);
  assert.ok(t[t.length - 1]! >= 12345 && t.length <= 8);
  const svg = svgPlot({ title: "t", xLabel: "x", yLabel: "y", series: [{ name: "s", color: "#000", kind: "line", points: [0, 0, 1, 2, 2, 1] }] });
  assert.match(svg, /<path d="M[\d.]+ [\d.]+L/);
});
