// `turbine replay`: a workload (a Mooncake trace or a synthetic one) in simulated time against
// N mocker engines behind the real router; one policy, or several side by side (--compare).
import { writeFileSync } from "node:fs";
import { Command, InvalidArgumentError, Option } from "commander";
import {
  formatReplayTable,
  loadMooncakeTrace,
  MEASURED_TRANSFER_GBPS,
  multiTurnWorkload,
  parseDistribution,
  replay,
  replayReport,
  sharedPrefixWorkload,
  syntheticWorkload,
} from "../bench/index.ts";
import type { Distribution, ReplayMode, ReplayProgress, ReplayReport, WorkloadRequest } from "../bench/index.ts";
import { POLICY_NAMES } from "../router/index.ts";
import type { PolicyName } from "../router/index.ts";
import { busyThreshold, nonNegativeInt, nonNegativeNumber, positiveInt, positiveNumber } from "./options.ts";

const WORKLOADS = ["synthetic", "shared-prefix", "multi-turn"] as const;
type WorkloadKind = (typeof WORKLOADS)[number];

interface ReplayFlags {
  trace?: string;
  start: number;
  limit?: number;
  timeScale: number;
  workload: WorkloadKind;
  numRequests: number;
  inputTokens: Distribution;
  outputTokens: Distribution;
  numGroups: number;
  promptsPerGroup: number;
  prefixTokens: Distribution;
  suffixTokens: Distribution;
  numSessions: number;
  turns: number;
  userTokens: Distribution;
  assistantTokens: Distribution;
  seed: number;
  concurrency?: number;
  requestRate?: number;
  workers: number;
  router: PolicyName;
  compare?: PolicyName[];
  prefillLoadScale?: number;
  routerTemperature?: number;
  numKvBlocks: number;
  blockSize: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  kvEventDelay: number;
  prefillWorkers: number;
  maxLocalPrefillTokens: number;
  kvBytesPerToken: number;
  transferGbps: number;
  maxPrefillQueueTokens: number;
  busyDecodeBlocks?: number;
  busyPrefillTokens?: number;
  busyRequestsPerSeq?: number;
  sloTtft?: number;
  sloItl?: number;
  json?: string;
  progress: boolean;
}

function distribution(value: string): Distribution {
  try {
    return parseDistribution(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function policyList(value: string): PolicyName[] {
  const names = value.split(",").map((s) => s.trim()).filter((s) => s !== "");
  for (const n of names) {
    if (!(POLICY_NAMES as readonly string[]).includes(n)) throw new InvalidArgumentError(`unknown policy "${n}"; known: ${POLICY_NAMES.join(", ")}`);
  }
  if (names.length === 0) throw new InvalidArgumentError("name at least one policy");
  return names as PolicyName[];
}

export function replayCommand(): Command {
  return new Command("replay")
    .description("replay a trace or a synthetic workload in simulated time: N mocker engines, the real router, no HTTP")
    .option("--trace <file>", "Mooncake-format trace (JSONL: timestamp, input_length, output_length, hash_ids)")
    .option("--start <i>", "trace: first row of the window", nonNegativeInt, 0)
    .option("--limit <n>", "trace: rows in the window", positiveInt)
    .option("--time-scale <k>", "trace: multiply timestamps by k (k < 1 replays faster)", positiveNumber, 1)
    .addOption(new Option("--workload <kind>", "without --trace: the workload").choices(WORKLOADS).default("synthetic"))
    .option("--num-requests <n>", "synthetic: requests", positiveInt, 1000)
    .option("--input-tokens <dist>", "synthetic: prompt length (N, uniform:A:B, normal:M:SD, lognormal:M:SD)", distribution, parseDistribution("normal:2048:512"))
    .option("--output-tokens <dist>", "synthetic, shared-prefix: output length", distribution, parseDistribution("256"))
    .option("--num-groups <n>", "shared-prefix: groups", positiveInt, 16)
    .option("--prompts-per-group <n>", "shared-prefix: prompts per group", positiveInt, 32)
    .option("--prefix-tokens <dist>", "shared-prefix: shared prefix length", distribution, parseDistribution("2048"))
    .option("--suffix-tokens <dist>", "shared-prefix: unique suffix length", distribution, parseDistribution("256"))
    .option("--num-sessions <n>", "multi-turn: sessions", positiveInt, 64)
    .option("--turns <n>", "multi-turn: turns per session", positiveInt, 8)
    .option("--user-tokens <dist>", "multi-turn: user message length", distribution, parseDistribution("256"))
    .option("--assistant-tokens <dist>", "multi-turn: reply length (the output)", distribution, parseDistribution("256"))
    .option("--seed <n>", "seed of the workload, the arrivals and the router's ties", nonNegativeInt, 0)
    .option("--concurrency <n>", "closed loop: requests in flight (default for synthetic workloads: 4 per worker)", positiveInt)
    .option("--request-rate <r>", "open loop: Poisson arrivals, requests/s", positiveNumber)
    .option("--workers <n>", "mocker engines", positiveInt, 16)
    .addOption(new Option("--router <policy>", "routing policy").choices(POLICY_NAMES).default("kv"))
    .option("--compare <policies>", `run each policy on the same requests, side by side (${POLICY_NAMES.join(",")})`, policyList)
    .option("--prefill-load-scale <x>", "kv: weight of prefill work against decode load", nonNegativeNumber)
    .option("--router-temperature <t>", "kv: softmax temperature (0: deterministic)", nonNegativeNumber)
    .option("--num-kv-blocks <n>", "KV blocks per engine", positiveInt, 16384)
    .option("--block-size <n>", "tokens per KV block", positiveInt, 16)
    .option("--max-num-seqs <n>", "most sequences in one batch", positiveInt, 256)
    .option("--max-num-batched-tokens <n>", "most tokens in one step", positiveInt, 8192)
    .option("--kv-event-delay <ms>", "delay of KV events to the router, ms of simulated time", nonNegativeNumber, 0)
    .option("--prefill-workers <n>", "disaggregated: prefill engines besides --workers (decode)", nonNegativeInt, 0)
    .option("--max-local-prefill-tokens <n>", "disaggregated: prefill on the decode engine when the uncached prompt is shorter", nonNegativeInt, 512)
    .option("--kv-bytes-per-token <n>", "disaggregated: KV bytes moved per prompt token", positiveInt, 128 * 1024)
    .option("--transfer-gbps <x>", "disaggregated: KV transfer bandwidth, GB/s (default: bench:transfer's measured TCP figure)", positiveNumber, MEASURED_TRANSFER_GBPS)
    .option("--max-prefill-queue-tokens <n>", "disaggregated: prefill locally while prefill engines have more prompt tokens queued each", nonNegativeInt, 16384)
    .option("--busy-decode-blocks <fraction>", "an engine above this fraction of its KV blocks in use takes no new requests (default 1; off: never)", busyThreshold)
    .option("--busy-prefill-tokens <n>", "an engine with more prompt tokens waiting for prefill takes no new requests (default: no limit)", busyThreshold)
    .option("--busy-requests-per-seq <x>", "an engine with this many times --max-num-seqs requests takes no new requests (default 2; off: never)", busyThreshold)
    .option("--slo-ttft <ms>", "goodput: TTFT target, ms", positiveNumber)
    .option("--slo-itl <ms>", "goodput: inter-token latency target (request mean), ms", positiveNumber)
    .option("--json <file>", "write one JSON object per policy (an array) to this file")
    .option("--no-progress", "no progress on stderr")
    .action((flags: ReplayFlags) => {
      runReplay(flags);
    });
}

function buildWorkload(f: ReplayFlags): WorkloadRequest[] {
  if (f.trace !== undefined) return loadMooncakeTrace(f.trace, { start: f.start, limit: f.limit, timeScale: f.timeScale });
  switch (f.workload) {
    case "synthetic":
      return syntheticWorkload({ numRequests: f.numRequests, inputTokens: f.inputTokens, outputTokens: f.outputTokens, seed: f.seed });
    case "shared-prefix":
      return sharedPrefixWorkload({
        numGroups: f.numGroups,
        promptsPerGroup: f.promptsPerGroup,
        prefixTokens: f.prefixTokens,
        suffixTokens: f.suffixTokens,
        outputTokens: f.outputTokens,
        seed: f.seed,
      });
    case "multi-turn":
      return multiTurnWorkload({
        numSessions: f.numSessions,
        turnsPerSession: f.turns,
        userTokens: f.userTokens,
        assistantTokens: f.assistantTokens,
        seed: f.seed,
      });
  }
}

function modeOf(f: ReplayFlags): ReplayMode | undefined {
  if (f.concurrency !== undefined && f.requestRate !== undefined) throw new InvalidArgumentError("give --concurrency or --request-rate, not both");
  if (f.concurrency !== undefined) return { kind: "concurrency", concurrency: f.concurrency };
  if (f.requestRate !== undefined) return { kind: "rate", requestsPerS: f.requestRate };
  return undefined; // trace timestamps, or 4 in flight per worker
}

function runReplay(f: ReplayFlags): void {
  const workload = buildWorkload(f);
  const mode = modeOf(f);
  const policies = f.compare ?? [f.router];
  const reports: ReplayReport[] = [];
  const err = process.stderr;
  const source = f.trace !== undefined ? `${f.trace} rows ${f.start}..${f.start + workload.length - 1}, time scale ${f.timeScale}` : `${f.workload} workload`;
  if (f.progress) err.write(`replay: ${workload.length} requests (${source}), ${f.workers} workers\n`);
  for (const policy of policies) {
    let lastDraw = 0;
    const onProgress = (p: ReplayProgress): void => {
      const t = performance.now();
      if (t - lastDraw < 250 && p.done < p.total) return;
      lastDraw = t;
      const pct = p.total > 0 ? Math.floor((100 * p.done) / p.total) : 100;
      const line = `${policy}: ${p.done}/${p.total} (${pct}%) simulated ${(p.simMs / 1000).toFixed(0)} s`;
      if (err.isTTY) err.write(`\r${line}\x1b[K`);
      else if (p.done === p.total) err.write(`${line}\n`);
    };
    const result = replay(workload, {
      numWorkers: f.workers,
      policy,
      policyOptions: { prefillLoadScale: f.prefillLoadScale, temperature: f.routerTemperature },
      mode,
      numKvBlocks: f.numKvBlocks,
      blockSize: f.blockSize,
      maxNumSeqs: f.maxNumSeqs,
      maxNumBatchedTokens: f.maxNumBatchedTokens,
      kvEventDelayMs: f.kvEventDelay,
      busy: { maxActiveDecodeBlocks: f.busyDecodeBlocks, maxActivePrefillTokens: f.busyPrefillTokens, maxActiveRequestsPerSeq: f.busyRequestsPerSeq },
      ...(f.prefillWorkers > 0
        ? {
            disaggregation: {
              numPrefillWorkers: f.prefillWorkers,
              maxLocalPrefillTokens: f.maxLocalPrefillTokens,
              maxPrefillQueueTokens: f.maxPrefillQueueTokens,
              kvBytesPerToken: f.kvBytesPerToken,
              transferGBps: f.transferGbps,
            },
          }
        : {}),
      sloTtftMs: f.sloTtft,
      sloItlMs: f.sloItl,
      seed: f.seed,
      onProgress: f.progress ? onProgress : undefined,
      progressEvery: Math.max(1, Math.floor(workload.length / 100)),
    });
    if (f.progress) {
      if (err.isTTY) err.write("\n");
      err.write(`${policy}: ${(result.wallMs / 1000).toFixed(1)} s wall for ${(result.simMs / 1000).toFixed(0)} s simulated\n`);
    }
    reports.push(replayReport(policy, result));
  }
  process.stdout.write(`${formatReplayTable(reports)}\n`);
  if (f.json !== undefined) writeFileSync(f.json, `${JSON.stringify(reports, null, 2)}\n`);
}
