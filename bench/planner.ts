// The planner in simulated time: the Mooncake conversation trace (bench/data, 12,031 requests,
// one hour) with its arrival rate modulated by a day-shaped curve, replayed through
// `turbine replay`'s engine (mocker workers behind the real KV router) against
//   (a) static provisioning for the peak, (b) static provisioning for the mean,
//   (c) the load planner, (d) the SLA planner with each predictor.
// Reports SLA attainment (share of requests with TTFT and mean ITL within the targets),
// goodput, and worker-hours (every worker starting, serving or draining is billed).
//
// The day curve: rate(τ) ∝ 1 + 3·(1 − cos(2πτ/P))/2, a raised cosine with its trough (1×) at
// τ = 0 and its peak (4×) at P/2; mean 2.5×. The trace's timestamps are warped onto it (a
// request at fraction f of the trace arrives where the curve's integral reaches f), so the
// trace's own burstiness and conversation order stay. P = the replay's length / --days.
// Costs: the mocker's timing model (Dynamo's H100 fit); the SLA planner's profile is measured
// from that model by `turbine profile --engine mocker` (profileMocker).
// Run: npm run bench:planner [-- --time-scale 0.5 --days 2 --limit 6000 --variants static-peak,sla:kalman --timeline]
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { profileMocker } from "../src/cli/index.ts";
import { formatMarkdownTable, loadMooncakeTrace, replay, TraceRequest, NO_SHEDDING } from "../src/bench/index.ts";
import type { ReplayIntervalView, ReplayResult } from "../src/bench/index.ts";
import { LoadPlanner, ObservationWindow, PREDICTOR_NAMES, ProfileModel, SlaPlanner, estimateAggregated } from "../src/planner/index.ts";
import type { Planner, PredictorName, PredictorOptions } from "../src/planner/index.ts";
import { machineLine } from "./support.ts";

const TRACE = fileURLToPath(new URL("./data/mooncake_conversation_trace.jsonl", import.meta.url));

const { values } = parseArgs({
  options: {
    "time-scale": { type: "string", default: "0.5" },
    days: { type: "string", default: "2" },
    limit: { type: "string" },
    "interval-s": { type: "string", default: "30" },
    "startup-s": { type: "string", default: "30" },
    "ttft-ms": { type: "string", default: "3000" },
    "itl-ms": { type: "string", default: "60" },
    variants: { type: "string", default: `static-peak,static-mean,load,${PREDICTOR_NAMES.map((p) => `sla:${p}`).join(",")}` },
    "target-fraction": { type: "string", default: "0.8" },
    // Extra predictor settings as JSON, e.g. '{"trendNoise":0.01}' (see PredictorOptions).
    "predictor-options": { type: "string", default: "{}" },
    timeline: { type: "boolean", default: false },
  },
});

// Busy thresholds off (NO_SHEDDING): every policy is measured on every request, as the tables were.
const ENGINE = { numKvBlocks: 16384, blockSize: 16, maxNumSeqs: 256, maxNumBatchedTokens: 8192, busy: NO_SHEDDING };
const MAX_WORKERS = 64;
const timeScale = Number(values["time-scale"]);
const days = Number(values.days);
const intervalMs = Number(values["interval-s"]) * 1000;
const startupMs = Number(values["startup-s"]) * 1000;
const ttftTargetMs = Number(values["ttft-ms"]);
const itlTargetMs = Number(values["itl-ms"]);
const targetFraction = Number(values["target-fraction"]);

// The trace, warped onto the day curve.
const raw = loadMooncakeTrace(TRACE, { timeScale, limit: values.limit !== undefined ? Number(values.limit) : undefined });
const spanMs = raw[raw.length - 1]!.arrivalMs;
const period = spanMs / days;
const shape = (t: number): number => 1 + (3 * (1 - Math.cos((2 * Math.PI * t) / period))) / 2;
const integral = (t: number): number => 2.5 * t - ((1.5 * period) / (2 * Math.PI)) * Math.sin((2 * Math.PI * t) / period);
const warp = (t: number): number => {
  const target = (t / spanMs) * integral(spanMs);
  let lo = 0;
  let hi = spanMs;
  for (let k = 0; k < 60; k++) {
    const mid = (lo + hi) / 2;
    if (integral(mid) < target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
};
const workload = raw.map((r) => new TraceRequest(r.index, warp(r.arrivalMs), r.inputLength, r.outputTokens, r.hashIds, r.blocks));

// The load at the peak and on average, and the static fleets the SLA model sizes for them.
const meanRate = raw.length / (spanMs / 1000);
const peakRate = (meanRate * 4) / 2.5;
const meanInput = raw.reduce((s, r) => s + r.inputLength, 0) / raw.length;
const meanOutput = raw.reduce((s, r) => s + r.outputTokens, 0) / raw.length;
const profile = profileMocker(ENGINE);
const model = new ProfileModel(profile);
const staticFor = (rate: number): number => {
  for (let n = 1; n <= MAX_WORKERS; n++) {
    const e = estimateAggregated(model, { requestRate: rate, inputTokens: meanInput, outputTokens: meanOutput }, n);
    if (e.stable && e.ttftMs <= ttftTargetMs * targetFraction && e.itlMs <= itlTargetMs * targetFraction && e.kvUsage <= 0.85) return n;
  }
  return MAX_WORKERS;
};
const peakWorkers = staticFor(peakRate);
const meanWorkers = staticFor(meanRate);

function plannerFor(variant: string): Planner | null {
  const bounds = { minWorkers: { aggregated: 1 }, maxWorkers: { aggregated: MAX_WORKERS } };
  if (variant === "load") return new LoadPlanner({ ...bounds, ttftTargetMs, itlTargetMs, cooldownMs: 2 * intervalMs });
  if (variant.startsWith("sla:")) {
    const predictor = variant.slice(4) as PredictorName;
    // A season is one day of intervals.
    return new SlaPlanner({ ...bounds, ttftTargetMs, itlTargetMs, targetFraction, profiles: { aggregated: profile }, predictor, lookaheadIntervals: 1 + Math.ceil(startupMs / intervalMs), predictorOptions: { seasonLength: Math.round(period / intervalMs), ...(JSON.parse(values["predictor-options"]) as PredictorOptions) } });
  }
  return null;
}

interface Row {
  variant: string;
  result: ReplayResult;
  attainment: number;
  workerHours: number;
  numDecisions: number;
}

const rows: Row[] = [];
for (const variant of values.variants.split(",")) {
  const planner = plannerFor(variant);
  const fixed = variant === "static-peak" ? peakWorkers : variant === "static-mean" ? meanWorkers : undefined;
  const initial = fixed ?? meanWorkers;
  const window = new ObservationWindow("aggregated");
  let numDecisions = 0;
  const decide = (v: ReplayIntervalView): number => {
    if (planner === null) return initial;
    window.addRequests({ numRequests: v.numArrivals, inputTokens: v.inputTokens, numCompleted: v.numCompleted, outputTokens: v.outputTokens, cachedTokens: v.cachedTokens, completedInputTokens: v.completedInputTokens, ttftSumMs: v.ttftSumMs, ttftCount: v.ttftCount, itlSumMs: v.itlSumMs, itlCount: v.itlCount });
    v.loads.forEach((l, i) => window.setLoad(String(i), l));
    for (let i = v.loads.length; i < MAX_WORKERS; i++) window.removeWorker(String(i));
    const o = window.close(v.intervalMs, v.numServing + v.numStarting);
    const d = planner.decide({ now: v.now, intervalMs: v.intervalMs, pools: [o] }).pools[0]!;
    if (d.desired !== d.current) numDecisions++;
    if (values.timeline) process.stderr.write(`${variant} t=${(v.now / 1000).toFixed(0)}s rate=${o.requestRate.toFixed(2)} pred=${d.predicted?.requestRate.toFixed(2) ?? "-"} ${d.current}→${d.desired} ${d.reason}\n`);
    return d.desired;
  };
  const result = replay(workload, { numWorkers: initial, ...ENGINE, seed: 0, sloTtftMs: ttftTargetMs, sloItlMs: itlTargetMs, scaling: { intervalMs, maxWorkers: MAX_WORKERS, startupMs, decide } });
  const s = result.summary;
  const row = { variant, result, attainment: (s.goodRequests ?? 0) / s.count, workerHours: result.scaling!.workerMs / 3.6e6, numDecisions };
  rows.push(row);
  process.stderr.write(`${variant}: attainment ${(row.attainment * 100).toFixed(1)}%, ${row.workerHours.toFixed(2)} worker-hours, ${(result.wallMs / 1000).toFixed(0)} s wall\n`);
}

const peak = rows.find((r) => r.variant === "static-peak");
console.log(`## Planner on the Mooncake conversation trace, day-shaped load (simulated)\n`);
console.log(
  `${workload.length} requests, timestamps × ${timeScale} (${(spanMs / 60_000).toFixed(1)} min simulated), warped onto ${days} day(s) of a raised-cosine curve ` +
    `(trough 1×, peak 4× at mid-day, mean 2.5×): mean ${meanRate.toFixed(2)} req/s, peak ${peakRate.toFixed(2)} req/s; mean prompt ${meanInput.toFixed(0)} tokens, output ${meanOutput.toFixed(0)}. ` +
    `Targets: TTFT ≤ ${ttftTargetMs} ms, mean ITL ≤ ${itlTargetMs} ms. Mocker workers (Dynamo's H100 fit; ${ENGINE.numKvBlocks} KV blocks of ${ENGINE.blockSize} tokens, ` +
    `max_num_seqs ${ENGINE.maxNumSeqs}, max_num_batched_tokens ${ENGINE.maxNumBatchedTokens}) behind the kv router; decisions every ${intervalMs / 1000} s, a new worker serves ${startupMs / 1000} s after its decision, ` +
    `scale-down drains. Static fleets sized by the SLA model at the peak (${peakWorkers}) and mean (${meanWorkers}) rates.\n`,
);
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
console.log(
  formatMarkdownTable(
    ["variant", "SLA attainment", "goodput (req/s)", "TTFT p50 / p99 (ms)", "ITL p50 / p99 (ms)", "worker-hours", "vs peak", "scaling moves"],
    rows.map((r) => [
      r.variant,
      pct(r.attainment),
      (r.result.summary.goodput ?? 0).toFixed(2),
      `${r.result.summary.ttft.p50.toFixed(0)} / ${r.result.summary.ttft.p99.toFixed(0)}`,
      `${r.result.summary.itl.p50.toFixed(1)} / ${r.result.summary.itl.p99.toFixed(1)}`,
      r.workerHours.toFixed(2),
      peak !== undefined ? pct(r.workerHours / peak.workerHours) : "n/a",
      String(r.numDecisions),
    ]),
  ),
);
console.log(`\n${machineLine()}`);
void shape;
