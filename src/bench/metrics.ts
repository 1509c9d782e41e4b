// Benchmark arithmetic: per-request records in, one summary out. Shared by `turbine bench`
// (wall-clock records) and `turbine replay` (simulated-time records): the same definitions, so
// their numbers compare.
//
// Definitions (those of genai-perf / aiperf):
// - TTFT = firstTokenMs − startMs; E2E = endMs − startMs.
// - ITL is per request: the mean gap between consecutive output tokens of that request,
//   (last token − first token) / (tokens − 1), from tokenTimesMs when recorded, else
//   (endMs − firstTokenMs) / (outputTokens − 1). Its percentiles are over requests, not over
//   all gaps pooled. Requests with fewer than 2 output tokens have no ITL.
// - Percentiles are nearest-rank (see `percentile`).
// - Rates divide by the run's duration: last endMs − first startMs over all records.
// - Goodput: successful requests per second meeting both SLOs, TTFT ≤ sloTtftMs and the
//   request's mean ITL ≤ sloItlMs (a request without an ITL meets the ITL SLO).

/** What a sender or a simulator records for one request. Times in ms on one clock. */
export interface RequestRecord {
  index: number;
  startMs: number;
  /** When the first output token arrived. */
  firstTokenMs?: number;
  endMs: number;
  outputTokens: number;
  promptTokens: number;
  /** Prompt tokens served from the prefix cache, when the server says. */
  cachedTokens?: number;
  /** Arrival time of each output token (for ITL). */
  tokenTimesMs?: number[];
  ok: boolean;
  error?: string;
}

/** Percentiles and mean of one latency, ms. NaN when there is no sample. */
export interface LatencyStats {
  p50: number;
  p90: number;
  p99: number;
  mean: number;
}

export interface SummaryOptions {
  sloTtftMs?: number;
  sloItlMs?: number;
}

export interface BenchSummary {
  /** All records, failed ones included. */
  count: number;
  failures: number;
  /** Last end − first start, seconds. */
  durationS: number;
  /** Successful requests per second. */
  requestsPerS: number;
  /** Output tokens of successful requests per second. */
  outputTokensPerS: number;
  promptTokens: number;
  outputTokens: number;
  /** Over successful requests, ms. */
  ttft: LatencyStats;
  /** Per-request mean inter-token gap, percentiles over requests, ms. */
  itl: LatencyStats;
  e2e: LatencyStats;
  /** Σ cachedTokens / Σ promptTokens over successful requests that report cachedTokens. */
  prefixHitRate?: number;
  /** Requests meeting both SLOs (present when an SLO is given). */
  goodRequests?: number;
  /** goodRequests / durationS (present when an SLO is given). */
  goodput?: number;
  sloTtftMs?: number;
  sloItlMs?: number;
}

/**
 * Nearest-rank percentile of an ascending array: the smallest value such that at least p % of
 * the samples are ≤ it, i.e. sorted[ceil(p/100 · n) − 1] (p = 0 gives the minimum). Always a
 * sample, never an interpolation. NaN for an empty array.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * n);
  return sorted[Math.min(n, Math.max(1, rank)) - 1]!;
}

/** p50/p90/p99/mean of unsorted samples (sorted in place). */
export function latencyStats(samples: Float64Array | number[]): LatencyStats {
  const s = samples instanceof Float64Array ? samples : Float64Array.from(samples);
  s.sort();
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += s[i]!;
  return {
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    mean: s.length > 0 ? sum / s.length : Number.NaN,
  };
}

/** A request's mean inter-token latency, or undefined with fewer than 2 output tokens. */
export function requestItlMs(r: RequestRecord): number | undefined {
  const times = r.tokenTimesMs;
  if (times !== undefined && times.length >= 2) return (times[times.length - 1]! - times[0]!) / (times.length - 1);
  if (times === undefined && r.firstTokenMs !== undefined && r.outputTokens >= 2) {
    return (r.endMs - r.firstTokenMs) / (r.outputTokens - 1);
  }
  return undefined;
}

export function summarize(records: readonly RequestRecord[], options: SummaryOptions = {}): BenchSummary {
  let firstStart = Number.POSITIVE_INFINITY;
  let lastEnd = Number.NEGATIVE_INFINITY;
  let failures = 0;
  let promptTokens = 0;
  let outputTokens = 0;
  let cachedSum = 0;
  let cachedPrompt = 0;
  let cachedKnown = false;
  let good = 0;
  const ttft: number[] = [];
  const itl: number[] = [];
  const e2e: number[] = [];
  const { sloTtftMs, sloItlMs } = options;
  for (const r of records) {
    if (r.startMs < firstStart) firstStart = r.startMs;
    if (r.endMs > lastEnd) lastEnd = r.endMs;
    if (!r.ok) {
      failures++;
      continue;
    }
    promptTokens += r.promptTokens;
    outputTokens += r.outputTokens;
    if (r.cachedTokens !== undefined) {
      cachedKnown = true;
      cachedSum += r.cachedTokens;
      cachedPrompt += r.promptTokens;
    }
    const t = r.firstTokenMs !== undefined ? r.firstTokenMs - r.startMs : undefined;
    if (t !== undefined) ttft.push(t);
    const i = requestItlMs(r);
    if (i !== undefined) itl.push(i);
    e2e.push(r.endMs - r.startMs);
    const ttftOk = sloTtftMs === undefined || (t !== undefined && t <= sloTtftMs);
    const itlOk = sloItlMs === undefined || i === undefined || i <= sloItlMs;
    if (ttftOk && itlOk) good++;
  }
  const durationS = records.length > 0 ? Math.max(0, lastEnd - firstStart) / 1000 : 0;
  const rate = (x: number): number => (durationS > 0 ? x / durationS : 0);
  const ok = records.length - failures;
  const summary: BenchSummary = {
    count: records.length,
    failures,
    durationS,
    requestsPerS: rate(ok),
    outputTokensPerS: rate(outputTokens),
    promptTokens,
    outputTokens,
    ttft: latencyStats(ttft),
    itl: latencyStats(itl),
    e2e: latencyStats(e2e),
  };
  if (cachedKnown) summary.prefixHitRate = cachedPrompt > 0 ? cachedSum / cachedPrompt : 0;
  if (sloTtftMs !== undefined || sloItlMs !== undefined) {
    summary.goodRequests = good;
    summary.goodput = rate(good);
    if (sloTtftMs !== undefined) summary.sloTtftMs = sloTtftMs;
    if (sloItlMs !== undefined) summary.sloItlMs = sloItlMs;
  }
  return summary;
}

/** A markdown table; cells are written as given. */
export function formatMarkdownTable(headers: readonly string[], rows: readonly (readonly string[])[], align?: readonly ("l" | "r")[]): string {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const pad = (s: string, c: number): string => ((align?.[c] ?? (c === 0 ? "l" : "r")) === "l" ? s.padEnd(widths[c]!) : s.padStart(widths[c]!));
  const line = (cells: readonly string[]): string => `| ${cells.map((s, c) => pad(s, c)).join(" | ")} |`;
  const rule = `| ${widths.map((w, c) => ((align?.[c] ?? (c === 0 ? "l" : "r")) === "l" ? "-".repeat(w) : `${"-".repeat(Math.max(1, w - 1))}:`)).join(" | ")} |`;
  return [line(headers), rule, ...rows.map(line)].join("\n");
}

/** A number for a table: NaN/undefined → "-", else fixed decimals. */
export function formatNumber(x: number | undefined, digits = 1): string {
  return x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(digits);
}

/** A 0..1 ratio as a percentage, "-" when unknown. */
export function formatPercent(x: number | undefined, digits = 1): string {
  return x === undefined || !Number.isFinite(x) ? "-" : `${(x * 100).toFixed(digits)}%`;
}

/**
 * One markdown table, one row per named summary: requests, failures, req/s, output tok/s,
 * prefix hit rate, TTFT / ITL / E2E p50, p90, p99 and mean (ms), and goodput when known.
 */
export function formatSummaryTable(summaries: readonly { name: string; summary: BenchSummary }[]): string {
  const withGoodput = summaries.some((s) => s.summary.goodput !== undefined);
  const headers = ["name", "requests", "failed", "req/s", "out tok/s", "hit rate"];
  for (const m of ["TTFT", "ITL", "E2E"]) for (const p of ["p50", "p90", "p99", "mean"]) headers.push(`${m} ${p} (ms)`);
  if (withGoodput) headers.push("goodput (req/s)");
  const rows = summaries.map(({ name, summary: s }) => {
    const row = [name, String(s.count), String(s.failures), formatNumber(s.requestsPerS, 2), formatNumber(s.outputTokensPerS, 1), formatPercent(s.prefixHitRate)];
    for (const l of [s.ttft, s.itl, s.e2e]) row.push(formatNumber(l.p50), formatNumber(l.p90), formatNumber(l.p99), formatNumber(l.mean));
    if (withGoodput) row.push(formatNumber(s.goodput, 2));
    return row;
  });
  return formatMarkdownTable(headers, rows);
}
