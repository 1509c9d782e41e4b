// The terminal report of `turbine bench`: a percentile table and the run's totals.
import type { BenchResult } from "./bench-result.ts";
import { formatMarkdownTable, formatNumber, formatPercent } from "./metrics.ts";

export function formatBenchText(result: BenchResult): string {
  const { summary: s, config: c } = result;
  const row = (name: string, l: { p50: number; p90: number; p99: number; mean: number }): string[] => [
    name,
    formatNumber(l.p50, 2),
    formatNumber(l.p90, 2),
    formatNumber(l.p99, 2),
    formatNumber(l.mean, 2),
  ];
  const table = formatMarkdownTable(["latency (ms)", "p50", "p90", "p99", "mean"], [row("TTFT", s.ttft), row("ITL", s.itl), row("E2E", s.e2e)]);
  const mode = c.mode.kind === "concurrency" ? `concurrency ${c.mode.concurrency}` : c.mode.kind === "rate" ? `Poisson ${c.mode.requestsPerS} req/s` : "trace timestamps";
  const lines = [
    `turbine bench: ${c.model} at ${c.endpoint}, ${c.workload.kind} workload, ${mode}, prompts as ${c.promptFormat}${c.forceLength ? "" : " (server refused ignore_eos/min_tokens)"}`,
    "",
    table,
    "",
    `requests        ${s.count - s.failures} ok, ${s.failures} failed${result.notSent > 0 ? `, ${result.notSent} not sent (${result.stoppedBy})` : ""}`,
    `duration        ${formatNumber(s.durationS, 2)} s`,
    `requests/s      ${formatNumber(s.requestsPerS, 2)}`,
    `output tok/s    ${formatNumber(s.outputTokensPerS, 1)}`,
    `tokens          ${s.promptTokens} prompt, ${s.outputTokens} output`,
    `prefix hit rate ${s.prefixHitRate === undefined ? "not reported by the server" : formatPercent(s.prefixHitRate)}`,
  ];
  if (s.goodput !== undefined) {
    const slo = [s.sloTtftMs !== undefined ? `TTFT <= ${s.sloTtftMs} ms` : "", s.sloItlMs !== undefined ? `ITL <= ${s.sloItlMs} ms` : ""].filter(Boolean).join(", ");
    lines.push(`goodput         ${formatNumber(s.goodput, 2)} req/s (${s.goodRequests} of ${s.count} meet ${slo})`);
  }
  if (result.wrongLength > 0) lines.push(`wrong length    ${result.wrongLength} requests got another number of output tokens than asked`);
  const errors = Object.entries(result.errors).sort((a, b) => b[1] - a[1]);
  for (const [e, k] of errors.slice(0, 5)) lines.push(`error           ${k} x ${e}`);
  return lines.join("\n") + "\n";
}
