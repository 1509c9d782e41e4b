// bench:disagg — disaggregated prefill/decode against aggregated workers, in `turbine replay`'s
// simulated time (mocker engines with Dynamo's H100 timing, the real routers). A prefill-heavy
// workload (input ~3,000 tokens, output ~150) at several request rates; for each rate, the
// goodput (requests/s meeting both the TTFT and the ITL target) of N aggregated workers and of
// every prefill:decode split of the same N workers. Ratios, side by side, one run. The
// disaggregation decision is the router's (planPrefill, the frontend's code); the KV transfer
// costs bench:transfer's measured bandwidth (TCP across hosts by default; shared memory, and the
// 25 GB/s RDMA-class figure replay used to assume, in the sensitivity table).
import { MEASURED_SHM_TRANSFER_GBPS, MEASURED_TRANSFER_GBPS, replay, syntheticWorkload } from "../src/bench/index.ts";
import type { ReplayResult } from "../src/bench/index.ts";
import { fmt, machineLine, markdownTable } from "./support.ts";

const NUM_WORKERS = 8;
const NUM_REQUESTS = 2000;
const SLO_TTFT_MS = 1000;
const SLO_ITL_MS = 14;
const RATES = [20, 25, 30];

const workload = syntheticWorkload({
  numRequests: NUM_REQUESTS,
  inputTokens: { kind: "normal", mean: 3000, sd: 300, min: 2000, max: 4000 },
  outputTokens: { kind: "normal", mean: 150, sd: 30, min: 50, max: 250 },
  seed: 7,
});

function run(rate: number, numPrefill: number, transferGBps = MEASURED_TRANSFER_GBPS): ReplayResult {
  return replay(workload, {
    numWorkers: NUM_WORKERS - numPrefill,
    policy: "kv",
    mode: { kind: "rate", requestsPerS: rate },
    sloTtftMs: SLO_TTFT_MS,
    sloItlMs: SLO_ITL_MS,
    seed: 1,
    ...(numPrefill > 0 ? { disaggregation: { numPrefillWorkers: numPrefill, maxLocalPrefillTokens: 0, transferGBps } } : {}),
  });
}

const rows: (string | number)[][] = [];
const splitRows: (string | number)[][] = [];
const t0 = performance.now();
for (const rate of RATES) {
  const agg = run(rate, 0);
  const aggGoodput = agg.summary.goodput ?? 0;
  let best = { split: "", goodput: -1, result: agg };
  for (let p = 1; p < NUM_WORKERS; p++) {
    const r = run(rate, p);
    const g = r.summary.goodput ?? 0;
    splitRows.push([rate, `${p}:${NUM_WORKERS - p}`, fmt(g), fmt(r.summary.ttft.p90, 0), fmt(r.summary.itl.p90, 1)]);
    if (g > best.goodput) best = { split: `${p}:${NUM_WORKERS - p}`, goodput: g, result: r };
  }
  splitRows.push([rate, `aggregated ${NUM_WORKERS}`, fmt(aggGoodput), fmt(agg.summary.ttft.p90, 0), fmt(agg.summary.itl.p90, 1)]);
  rows.push([
    rate,
    `${fmt(aggGoodput)} (TTFT p90 ${fmt(agg.summary.ttft.p90, 0)}, ITL p90 ${fmt(agg.summary.itl.p90, 1)})`,
    `${best.split}: ${fmt(best.goodput)} (TTFT p90 ${fmt(best.result.summary.ttft.p90, 0)}, ITL p90 ${fmt(best.result.summary.itl.p90, 1)})`,
    `**${fmt(aggGoodput > 0 ? best.goodput / aggGoodput : Infinity)}**`,
  ]);
  process.stderr.write(`rate ${rate} done\n`);
}

// How much the result depends on the transfer's cost: the middle rate, every split, three bandwidths.
const SENSITIVITY_RATE = RATES[1]!;
const sensitivityRows: (string | number)[][] = [];
const aggMid = run(SENSITIVITY_RATE, 0).summary.goodput ?? 0;
for (const [label, gbps] of [
  [`TCP, measured (${MEASURED_TRANSFER_GBPS} GB/s)`, MEASURED_TRANSFER_GBPS],
  [`shared memory, measured (${MEASURED_SHM_TRANSFER_GBPS} GB/s)`, MEASURED_SHM_TRANSFER_GBPS],
  ["assumed before (25 GB/s)", 25],
] as const) {
  let best = { split: "", goodput: -1, result: null as ReplayResult | null };
  for (let p = 1; p < NUM_WORKERS; p++) {
    const r = run(SENSITIVITY_RATE, p, gbps);
    if ((r.summary.goodput ?? 0) > best.goodput) best = { split: `${p}:${NUM_WORKERS - p}`, goodput: r.summary.goodput ?? 0, result: r };
  }
  const places = best.result!.prefillPlaces;
  sensitivityRows.push([label, `${best.split}: ${fmt(best.goodput)}`, fmt(best.result!.summary.ttft.p90, 0), `**${fmt(aggMid > 0 ? best.goodput / aggMid : Infinity)}**`, `${places.remote ?? 0} / ${places.prefill_queue_full ?? 0} / ${places.prefill_busy ?? 0}`]);
}

console.log(`\nbench:disagg — ${machineLine()}`);
console.log(
  `turbine replay, simulated time: ${NUM_REQUESTS} requests, input ~3000 tokens (normal, sd 300), output ~150 (sd 30), Poisson arrivals; ` +
    `${NUM_WORKERS} mocker workers (Dynamo H100 timing, 16,384 blocks of 16 tokens), kv routing; disaggregated: every prompt prefilled remotely, ` +
    `KV 128 KiB/token over ${MEASURED_TRANSFER_GBPS} GB/s (bench:transfer's measured TCP read, 64 MiB); the prefill decision is the router's planPrefill (maxLocalPrefillTokens 0, maxPrefillQueueTokens 16384) and the routers' default busy thresholds apply. Goodput = requests/s with TTFT <= ${SLO_TTFT_MS} ms and mean ITL <= ${SLO_ITL_MS} ms. Wall time ${fmt((performance.now() - t0) / 1000, 1)} s.\n`,
);
console.log(markdownTable(["req/s offered", `aggregated (${NUM_WORKERS} workers) goodput`, "best prefill:decode split, goodput", "goodput ratio"], rows));
console.log("\nEvery split:\n");
console.log(markdownTable(["req/s offered", "workers", "goodput (req/s)", "TTFT p90 (ms)", "ITL p90 (ms)"], splitRows));
console.log(`\nTransfer sensitivity at ${SENSITIVITY_RATE} req/s (aggregated goodput ${fmt(aggMid)}):\n`);
console.log(markdownTable(["KV transfer", "best split: goodput", "TTFT p90 (ms)", "goodput ratio", "prefills remote / local (queue full) / local (busy)"], sensitivityRows));
