// The `bound` reference row of `turbine replay --compare`: each request's TTFT with no
// queueing and an unlimited cache shared by the whole fleet, i.e. the prefill time of the
// tokens that no earlier request had (in arrival order; at least one token, as an engine
// always computes one). Prefill is chunked at maxNumBatchedTokens as the mocker does, and
// priced by the same timing model. Every routing table shows its distance from this limit.
import { chainSequenceHashes, computeLocalBlockHashes } from "../kv/index.ts";
import { PolynomialTimingModel, stepDurationMs } from "../engines/index.ts";
import type { TimingModel } from "../engines/index.ts";
import type { SequenceHash } from "../protocols/index.ts";
import { latencyStats } from "./metrics.ts";
import type { ReplayReport } from "./replay-report.ts";
import type { WorkloadRequest } from "./workload.ts";

export interface BoundOptions {
  blockSize?: number;
  maxNumBatchedTokens?: number;
  timing?: TimingModel;
}

/** The bound as a report row (ITL, E2E and throughput are not part of it: NaN / 0). */
export function boundReport(workload: readonly WorkloadRequest[], options: BoundOptions = {}): ReplayReport {
  const blockSize = options.blockSize ?? 16;
  const chunk = options.maxNumBatchedTokens ?? 8192;
  const timing = options.timing ?? new PolynomialTimingModel();
  const order = workload.map((_, i) => i).sort((a, b) => (workload[a]!.arrivalMs ?? a) - (workload[b]!.arrivalMs ?? b));
  const seen = new Set<SequenceHash>();
  const ttft = new Float64Array(workload.length);
  let sumCached = 0;
  let sumPrompt = 0;
  for (let k = 0; k < order.length; k++) {
    const tokens = workload[order[k]!]!.tokenIds;
    const hashes = chainSequenceHashes(computeLocalBlockHashes(tokens, blockSize), null);
    const maxBlocks = Math.min(hashes.length, Math.floor((tokens.length - 1) / blockSize));
    let cached = 0;
    while (cached < maxBlocks && seen.has(hashes[cached]!)) cached++;
    for (const h of hashes) seen.add(h);
    let left = tokens.length - cached * blockSize;
    let ms = 0;
    while (left > 0) {
      const t = Math.min(left, chunk);
      ms += stepDurationMs(timing, { numPrefillTokens: t, numDecodeSeqs: 0, kvUsage: 0 });
      left -= t;
    }
    ttft[k] = ms;
    sumCached += cached * blockSize;
    sumPrompt += tokens.length;
  }
  const nan = { p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, mean: Number.NaN };
  return {
    policy: "bound",
    hitRate: sumPrompt > 0 ? sumCached / sumPrompt : 0,
    routerHitRate: Number.NaN,
    requests: workload.length,
    failures: 0,
    ttftMs: latencyStats(ttft),
    itlMs: nan,
    e2eMs: nan,
    requestsPerS: Number.NaN,
    outputTokensPerS: Number.NaN,
    goodput: null,
    sloTtftMs: null,
    sloItlMs: null,
    simulatedS: 0,
    wallS: 0,
    numSteps: 0,
    numPreemptions: 0,
    numEvictions: 0,
  };
}
