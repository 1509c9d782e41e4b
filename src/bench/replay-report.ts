// How replay results are shown: the side-by-side policy table (markdown) and the JSON object
// per policy that `turbine replay --json` writes and `npm run bench:routing` prints.
import { formatMarkdownTable, formatNumber, formatPercent } from "./metrics.ts";
import type { BenchSummary, LatencyStats } from "./metrics.ts";
import type { ReplayResult } from "./replay.ts";

/** One policy's replay in JSON form (the `--json` file holds an array of these). */
export interface ReplayReport {
  policy: string;
  /** Engine-side prefix-cache hit rate, 0..1. */
  hitRate: number;
  /** The router's estimate of it at routing time, 0..1. */
  routerHitRate: number;
  requests: number;
  failures: number;
  ttftMs: LatencyStats;
  itlMs: LatencyStats;
  e2eMs: LatencyStats;
  requestsPerS: number;
  outputTokensPerS: number;
  /** Requests/s meeting the SLOs; null without SLOs. */
  goodput: number | null;
  sloTtftMs: number | null;
  sloItlMs: number | null;
  simulatedS: number;
  wallS: number;
  numSteps: number;
  numPreemptions: number;
  numEvictions: number;
}

export function replayReport(policy: string, r: ReplayResult): ReplayReport {
  const s: BenchSummary = r.summary;
  return {
    policy,
    hitRate: r.hitRate,
    routerHitRate: r.routerHitRate,
    requests: s.count,
    failures: s.failures,
    ttftMs: s.ttft,
    itlMs: s.itl,
    e2eMs: s.e2e,
    requestsPerS: s.requestsPerS,
    outputTokensPerS: s.outputTokensPerS,
    goodput: s.goodput ?? null,
    sloTtftMs: s.sloTtftMs ?? null,
    sloItlMs: s.sloItlMs ?? null,
    simulatedS: r.simMs / 1000,
    wallS: r.wallMs / 1000,
    numSteps: r.engines.numSteps,
    numPreemptions: r.engines.numPreemptions,
    numEvictions: r.engines.numEvictions,
  };
}

/**
 * Policies side by side: hit rate, TTFT p50/p90/p99/mean, ITL p50/p99, E2E p50/p99 (ms), and
 * goodput when SLOs were given.
 */
export function formatReplayTable(reports: readonly ReplayReport[]): string {
  const withGoodput = reports.some((r) => r.goodput !== null);
  const headers = ["policy", "hit rate", "TTFT p50", "TTFT p90", "TTFT p99", "TTFT mean", "ITL p50", "ITL p99", "E2E p50", "E2E p99"];
  if (withGoodput) headers.push("goodput (req/s)");
  const ms = (x: number): string => formatNumber(x, 0);
  const rows = reports.map((r) => {
    const row = [
      r.policy,
      formatPercent(r.hitRate),
      ms(r.ttftMs.p50),
      ms(r.ttftMs.p90),
      ms(r.ttftMs.p99),
      ms(r.ttftMs.mean),
      formatNumber(r.itlMs.p50, 1),
      formatNumber(r.itlMs.p99, 1),
      ms(r.e2eMs.p50),
      ms(r.e2eMs.p99),
    ];
    if (withGoodput) row.push(formatNumber(r.goodput ?? undefined, 2));
    return row;
  });
  return `${formatMarkdownTable(headers, rows)}\n\nLatencies in ms (simulated time); ITL is each request's mean inter-token gap.`;
}
