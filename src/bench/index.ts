// bench: workloads, trace loading, benchmark metrics, the load generator and the
// discrete-event replay. Front door: other folders import only from here.
export { Prng } from "./prng.ts";
export {
  DEFAULT_VOCAB,
  sampleDistribution,
  parseDistribution,
  pushRandomTokens,
  syntheticWorkload,
  sharedPrefixWorkload,
  multiTurnWorkload,
} from "./workload.ts";
export type {
  WorkloadRequest,
  Vocab,
  Distribution,
  SyntheticWorkloadOptions,
  SharedPrefixWorkloadOptions,
  MultiTurnWorkloadOptions,
} from "./workload.ts";
export { loadMooncakeTrace, parseMooncakeTrace, fillBlock, TraceRequest, TraceBlocks } from "./trace.ts";
export type { TraceOptions } from "./trace.ts";
export {
  percentile,
  latencyStats,
  requestItlMs,
  summarize,
  formatMarkdownTable,
  formatNumber,
  formatPercent,
  formatSummaryTable,
} from "./metrics.ts";
export type { RequestRecord, LatencyStats, SummaryOptions, BenchSummary } from "./metrics.ts";
export { replay, MEASURED_TRANSFER_GBPS, MEASURED_SHM_TRANSFER_GBPS, NO_SHEDDING } from "./replay.ts";
export type { ReplayOptions, ReplayMode, ReplayEngineOptions, ReplayProgress, ReplayResult, ReplayEngineCounters, ReplayDisaggregation } from "./replay.ts";
export { EventQueue } from "./replay-event-queue.ts";
export { ReplayScaler, scalingSlots } from "./replay-scaling.ts";
export type { ReplayScaling, ReplayIntervalView, ReplayScalingPoint, ReplayScalingResult } from "./replay-scaling.ts";
export { boundReport } from "./replay-bound.ts";
export type { BoundOptions } from "./replay-bound.ts";
export { createReplayKvbm } from "./replay-kvbm.ts";
export type { ReplayKvbm, ReplayKvbmFleet } from "./replay-kvbm.ts";
export { replayReport, formatReplayTable } from "./replay-report.ts";
export type { ReplayReport } from "./replay-report.ts";
export { BenchHttpClient, renderText, spreadTokenTimes } from "./http-client.ts";
export type { HttpClientOptions, PromptFormat, PromptFormatOption, ServerDialect, BenchRecord, SendOptions } from "./http-client.ts";
export { runLoad, poissonArrivals } from "./load-generator.ts";
export type { SendMode, LoadProgress, LoadGeneratorOptions, ScheduledRecord, LoadRunResult } from "./load-generator.ts";
export { runBench } from "./bench-runner.ts";
export type { BenchRunOptions } from "./bench-runner.ts";
export { BENCH_RESULT_FORMAT_VERSION, benchResultJson, countErrors } from "./bench-result.ts";
export type { BenchResult, BenchConfig, BenchWorkloadConfig } from "./bench-result.ts";
export { ProgressReporter } from "./progress.ts";
export type { ProgressOptions } from "./progress.ts";
export { formatBenchText } from "./report-text.ts";
export { renderHtmlReport, cdfPoints, throughputSeries } from "./report-html.ts";
export { svgPlot, niceTicks, escapeXml } from "./svg-plot.ts";
export type { PlotOptions, PlotSeries } from "./svg-plot.ts";
