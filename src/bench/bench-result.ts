// The JSON result of `turbine bench` (--json): what was run, the summary, and every request's
// record. docs/bench.md documents each field; `formatVersion` changes when a field changes
// meaning or goes away (new fields do not bump it).
import type { ScheduledRecord, SendMode } from "./load-generator.ts";
import type { BenchSummary } from "./metrics.ts";
import type { PromptFormat, PromptFormatOption } from "./http-client.ts";

export const BENCH_RESULT_FORMAT_VERSION = 1;

/** How the requests were made: the workload's parameters as given on the command line. */
export type BenchWorkloadConfig =
  | { kind: "synthetic"; inputTokens: string; outputTokens: string }
  | { kind: "shared-prefix"; groups: number; promptsPerGroup: number; prefixTokens: string; suffixTokens: string; outputTokens: string }
  | { kind: "multi-turn"; sessions: number; turns: number; userTokens: string; outputTokens: string }
  | { kind: "trace"; path: string; start: number; limit?: number; timeScale: number };

export interface BenchConfig {
  url: string;
  /** The full URL requests went to. */
  endpoint: string;
  model: string;
  workload: BenchWorkloadConfig;
  mode: SendMode;
  /** Requests in the workload (sent or not). */
  numRequests: number;
  seed: number;
  /** Token ids are drawn from [min, max]. */
  vocab: { min: number; max: number };
  /** As asked (--prompt-format). */
  promptFormatRequested: PromptFormatOption;
  /** As used after the probe. */
  promptFormat: PromptFormat;
  /** Whether ignore_eos and min_tokens were sent. */
  forceLength: boolean;
  timeoutS: number;
  durationS?: number;
  sloTtftMs?: number;
  sloItlMs?: number;
}

export interface BenchResult {
  formatVersion: number;
  tool: "turbine bench";
  /** Wall-clock start of the run (ISO 8601). */
  startedAt: string;
  /** Wall time of the run, s. */
  wallS: number;
  stoppedBy: "completed" | "duration" | "signal";
  /** Requests of the workload never sent (the deadline or Ctrl-C came first). */
  notSent: number;
  /** Requests whose output length differs from the one asked for (successful ones only). */
  wrongLength: number;
  config: BenchConfig;
  summary: BenchSummary;
  /** Error message → number of failed requests with it. */
  errors: Record<string, number>;
  records: ScheduledRecord[];
}

/** Groups failures by message (the first 120 characters). */
export function countErrors(records: readonly ScheduledRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) {
    if (r.ok) continue;
    const key = (r.error ?? "unknown error").slice(0, 120);
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

/** JSON text of a result; times (`…Ms` fields) rounded to µs so the file stays small; NaN → null. */
export function benchResultJson(result: BenchResult): string {
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  return JSON.stringify(result, (key, value: unknown) => {
    if (key.endsWith("Ms")) {
      if (typeof value === "number") return round(value);
      if (Array.isArray(value)) return (value as number[]).map(round);
    }
    if (typeof value === "number" && !Number.isFinite(value)) return null;
    return value;
  });
}
