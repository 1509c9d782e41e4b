// One `turbine bench` run as a library call: probe the server, send the workload, summarize.
// The command only parses flags, builds the workload and writes the outputs; tests call this.
import type { BenchConfig, BenchResult, BenchWorkloadConfig } from "./bench-result.ts";
import { BENCH_RESULT_FORMAT_VERSION, countErrors } from "./bench-result.ts";
import { BenchHttpClient } from "./http-client.ts";
import type { PromptFormatOption } from "./http-client.ts";
import { runLoad } from "./load-generator.ts";
import type { SendMode } from "./load-generator.ts";
import { summarize } from "./metrics.ts";
import { ProgressReporter } from "./progress.ts";
import type { Vocab, WorkloadRequest } from "./workload.ts";
import { DEFAULT_VOCAB } from "./workload.ts";

export interface BenchRunOptions {
  url: string;
  model: string;
  apiKey?: string;
  requests: readonly WorkloadRequest[];
  /** Recorded in the result's config. */
  workload: BenchWorkloadConfig;
  mode: SendMode;
  /** Recorded in the config (the workload and the Poisson arrivals were made with it). */
  seed?: number;
  /** The workload's token id range; its max is the probe's token id. Default 1..255. */
  vocab?: Vocab;
  /** Default "auto": token ids if the server takes them, else text. */
  promptFormat?: PromptFormatOption;
  /** Per-request timeout, ms. Default 600 000. */
  timeoutMs?: number;
  /** Most wall time of the run, ms. */
  durationMs?: number;
  sloTtftMs?: number;
  sloItlMs?: number;
  signal?: AbortSignal;
  /** A stream for the progress bar (process.stderr in the command); none by default. */
  progress?: NodeJS.WriteStream;
}

export async function runBench(o: BenchRunOptions): Promise<BenchResult> {
  const vocab = o.vocab ?? DEFAULT_VOCAB;
  const timeoutMs = o.timeoutMs ?? 600_000;
  const client = new BenchHttpClient({
    baseUrl: o.url,
    model: o.model,
    apiKey: o.apiKey,
    timeoutMs,
    maxSockets: o.mode.kind === "concurrency" ? o.mode.concurrency : undefined,
  });
  try {
    const requested = o.promptFormat ?? "auto";
    const dialect = await client.probe(requested, vocab.max, o.signal);
    const progress = o.progress ? new ProgressReporter({ total: o.requests.length, stream: o.progress }) : undefined;
    const run = await runLoad({
      client,
      requests: o.requests,
      mode: o.mode,
      durationMs: o.durationMs,
      signal: o.signal,
      onRecord: progress ? (_r, p) => progress.update(p.done, p.failed, p.inFlight) : undefined,
    });
    progress?.finish();
    const summary = summarize(run.records, { sloTtftMs: o.sloTtftMs, sloItlMs: o.sloItlMs });
    let wrongLength = 0;
    for (const r of run.records) if (r.ok && r.outputTokens !== r.requestedOutputTokens) wrongLength++;
    const config: BenchConfig = {
      url: o.url,
      endpoint: client.endpoint,
      model: o.model,
      workload: o.workload,
      mode: o.mode,
      numRequests: o.requests.length,
      seed: o.seed ?? 0,
      vocab: { min: vocab.min, max: vocab.max },
      promptFormatRequested: requested,
      promptFormat: dialect.promptFormat,
      forceLength: dialect.forceLength,
      timeoutS: timeoutMs / 1000,
    };
    if (o.durationMs !== undefined) config.durationS = o.durationMs / 1000;
    if (o.sloTtftMs !== undefined) config.sloTtftMs = o.sloTtftMs;
    if (o.sloItlMs !== undefined) config.sloItlMs = o.sloItlMs;
    return {
      formatVersion: BENCH_RESULT_FORMAT_VERSION,
      tool: "turbine bench",
      startedAt: run.startedAt,
      wallS: run.wallMs / 1000,
      stoppedBy: run.stoppedBy,
      notSent: run.notSent,
      wrongLength,
      config,
      summary,
      errors: countErrors(run.records),
      records: run.records,
    };
  } finally {
    client.close();
  }
}
