// The HTML report of `turbine bench` (--html): one self-contained file (inline CSS and SVG, no
// script, no external resource) with the summary table, the configuration, the errors, and
// three plots: TTFT CDF, throughput over time, latency over time.
import type { BenchResult } from "./bench-result.ts";
import type { LatencyStats } from "./metrics.ts";
import { escapeXml, svgPlot } from "./svg-plot.ts";

/** Bins of the "over time" plots: about 60 over the run, at least 0.1 s each. */
function binWidthS(durationS: number): number {
  return Math.max(0.1, durationS / 60);
}

/** [x0, y0, x1, y1, ...] of the empirical CDF of `values` (ms), as a step function. */
export function cdfPoints(values: number[]): Float64Array {
  const s = Float64Array.from(values).sort();
  const out = new Float64Array(2 * s.length + 2);
  out[0] = s.length > 0 ? s[0]! : 0;
  out[1] = 0;
  for (let i = 0; i < s.length; i++) {
    out[2 * i + 2] = s[i]!;
    out[2 * i + 3] = (i + 1) / s.length;
  }
  return out;
}

/** Throughput per time bin: output tokens/s (from token arrival times) and completed requests/s. */
export function throughputSeries(result: BenchResult): { tokens: Float64Array; requests: Float64Array; binS: number } {
  const records = result.records;
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  for (const r of records) {
    first = Math.min(first, r.startMs);
    last = Math.max(last, r.endMs);
  }
  if (!Number.isFinite(first)) first = 0;
  const binS = binWidthS((last - first) / 1000);
  const numBins = Math.max(1, Math.ceil((last - first) / 1000 / binS));
  const tok = new Float64Array(numBins);
  const req = new Float64Array(numBins);
  const bin = (ms: number): number => Math.min(numBins - 1, Math.max(0, Math.floor((ms - first) / 1000 / binS)));
  for (const r of records) {
    if (!r.ok) continue;
    req[bin(r.endMs)]!++;
    const times = r.tokenTimesMs ?? [];
    for (let i = 0; i < times.length; i++) tok[bin(times[i]!)]!++;
  }
  const tokens = new Float64Array(2 * numBins);
  const requests = new Float64Array(2 * numBins);
  for (let b = 0; b < numBins; b++) {
    const x = (b + 0.5) * binS;
    tokens[2 * b] = x;
    tokens[2 * b + 1] = tok[b]! / binS;
    requests[2 * b] = x;
    requests[2 * b + 1] = req[b]! / binS;
  }
  return { tokens, requests, binS };
}

function statsRow(name: string, s: LatencyStats): string {
  const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : "-");
  return `<tr><th>${name}</th><td>${f(s.p50)}</td><td>${f(s.p90)}</td><td>${f(s.p99)}</td><td>${f(s.mean)}</td></tr>`;
}

/** The whole report as one HTML document. */
export function renderHtmlReport(result: BenchResult): string {
  const { summary: s, config: c, records } = result;
  let first = Number.POSITIVE_INFINITY;
  for (const r of records) first = Math.min(first, r.startMs);
  if (!Number.isFinite(first)) first = 0;

  const ttfts: number[] = [];
  const ttftOverTime: number[] = [];
  const e2eOverTime: number[] = [];
  const failedOverTime: number[] = [];
  for (const r of records) {
    const at = (r.startMs - first) / 1000;
    if (!r.ok) {
      failedOverTime.push(at, r.endMs - r.startMs);
      continue;
    }
    if (r.firstTokenMs !== undefined) {
      ttfts.push(r.firstTokenMs - r.startMs);
      ttftOverTime.push(at, r.firstTokenMs - r.startMs);
    }
    e2eOverTime.push(at, r.endMs - r.startMs);
  }
  const tp = throughputSeries(result);

  const cdf = svgPlot({
    title: "TTFT CDF",
    xLabel: "time to first token (ms)",
    yLabel: "fraction of requests",
    yMax: 1,
    series: [{ name: "TTFT", color: "#1f77b4", kind: "step", points: cdfPoints(ttfts) }],
  });
  const throughput = svgPlot({
    title: `Throughput over time (${tp.binS.toFixed(1)} s bins)`,
    xLabel: "time since start (s)",
    yLabel: "output tokens/s",
    series: [{ name: "output tokens/s", color: "#2ca02c", kind: "line", points: tp.tokens }],
  });
  const requestRate = svgPlot({
    title: "Completed requests over time",
    xLabel: "time since start (s)",
    yLabel: "requests/s",
    series: [{ name: "requests/s", color: "#9467bd", kind: "line", points: tp.requests }],
  });
  const latency = svgPlot({
    title: "Latency over time (by request start)",
    xLabel: "request start since run start (s)",
    yLabel: "latency (ms)",
    series: [
      { name: "E2E", color: "#ff7f0e", kind: "dots", points: e2eOverTime },
      { name: "TTFT", color: "#1f77b4", kind: "dots", points: ttftOverTime },
      ...(failedOverTime.length > 0 ? [{ name: "failed (E2E)", color: "#d62728", kind: "dots" as const, points: failedOverTime }] : []),
    ],
  });

  const f = (x: number | undefined, d = 2): string => (x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(d));
  const pct = (x: number | undefined): string => (x === undefined ? "unknown" : `${(x * 100).toFixed(1)}%`);
  const facts: [string, string][] = [
    ["requests", `${s.count} sent, ${s.failures} failed, ${result.notSent} not sent`],
    ["duration", `${f(s.durationS)} s (stopped: ${result.stoppedBy})`],
    ["requests/s", f(s.requestsPerS)],
    ["output tokens/s", f(s.outputTokensPerS, 1)],
    ["prompt / output tokens", `${s.promptTokens} / ${s.outputTokens}`],
    ["prefix-cache hit rate", pct(s.prefixHitRate)],
  ];
  if (s.goodput !== undefined) {
    const slo = [s.sloTtftMs !== undefined ? `TTFT ≤ ${s.sloTtftMs} ms` : "", s.sloItlMs !== undefined ? `ITL ≤ ${s.sloItlMs} ms` : ""].filter(Boolean).join(", ");
    facts.push(["goodput", `${f(s.goodput)} req/s (${s.goodRequests} requests meet ${slo})`]);
  }
  if (result.wrongLength > 0) facts.push(["wrong output length", `${result.wrongLength} requests`]);
  const errors = Object.entries(result.errors);
  const mode = c.mode.kind === "concurrency" ? `concurrency ${c.mode.concurrency}` : c.mode.kind === "rate" ? `Poisson ${c.mode.requestsPerS} req/s (seed ${c.mode.seed})` : "trace timestamps";

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>turbine bench: ${escapeXml(c.model)} at ${escapeXml(c.url)}</title>
<style>
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1360px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; }
td.l, th.l { text-align: left; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
.plots svg { border: 1px solid #ddd; }
pre { background: #f7f7f7; padding: 8px; overflow-x: auto; }
</style>
</head>
<body>
<h1>turbine bench</h1>
<p>${escapeXml(c.model)} at ${escapeXml(c.endpoint)}, ${escapeXml(c.workload.kind)} workload, ${escapeXml(mode)}, started ${escapeXml(result.startedAt)}.</p>
<table>
${facts.map(([k, v]) => `<tr><th class="l">${escapeXml(k)}</th><td class="l">${escapeXml(v)}</td></tr>`).join("\n")}
</table>
<table>
<tr><th class="l">ms</th><th>p50</th><th>p90</th><th>p99</th><th>mean</th></tr>
${statsRow("TTFT", s.ttft)}
${statsRow("ITL", s.itl)}
${statsRow("E2E", s.e2e)}
</table>
<div class="plots">
${cdf}
${throughput}
${latency}
${requestRate}
</div>
${errors.length > 0 ? `<h2>Errors</h2>\n<table>\n<tr><th class="l">error</th><th>requests</th></tr>\n${errors.map(([e, k]) => `<tr><td class="l">${escapeXml(e)}</td><td>${k}</td></tr>`).join("\n")}\n</table>` : ""}
<h2>Configuration</h2>
<pre>${escapeXml(JSON.stringify(c, null, 2))}</pre>
</body>
</html>
`;
}
