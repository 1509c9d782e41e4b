// `turbine replay`'s core: a discrete-event simulation of a fleet of mocker engines behind the
// real router. No HTTP, no wall clock: an hour of trace runs in seconds.
//
//   arrival ──▶ Router.route (RadixIndexer, active sequences, policy) ──▶ MockerCore.addRequest
//   engine step at t ──▶ outputs at t + durationMs ──▶ first token: markPrefillDone
//                                                      last token:  markFinished, record
//   MockerCore KV events ──(optional delay)──▶ KvEventIngestor.ingest (the live path's one writer)
//   every metricsIntervalMs of sim time ──▶ Router.updateMetrics(engine.load())
//   disaggregation: planPrefill (src/router, the frontend's rule) ──▶ prefill engine ──▶
//                   KV transfer (measured cost) ──▶ decode engine
//
// Events pop in (time, sequence number) order, so a run is a pure function of the workload
// and the options: the same run twice gives identical records.
import { chainSequenceHashes, computeLocalBlockHashes, KvEventIngestor, RadixIndexer } from "../kv/index.ts";
import type { KvEventIngestorStats } from "../kv/index.ts";
import { MockerCore } from "../engines/index.ts";
import { createReplayKvbm } from "./replay-kvbm.ts";
import type { ReplayKvbm } from "./replay-kvbm.ts";
import type { StepOutput, TimingModel } from "../engines/index.ts";
import { TurbineError, asRequestId, asWorkerId, isTurbineError } from "../protocols/index.ts";
import type { KvCacheEvent, PreprocessedRequest, WorkerId } from "../protocols/index.ts";
import { createSeededRandom, planPrefill, Router } from "../router/index.ts";
import type { PolicyName, PolicyOptions, PrefillPlace, RouterOptions } from "../router/index.ts";
import { summarize } from "./metrics.ts";
import type { BenchSummary, RequestRecord } from "./metrics.ts";
import { Prng } from "./prng.ts";
import { EventQueue } from "./replay-event-queue.ts";
import { ReplayScaler, scalingSlots } from "./replay-scaling.ts";
import type { ReplayScaling, ReplayScalingResult } from "./replay-scaling.ts";
import type { WorkloadRequest } from "./workload.ts";

/** How requests arrive. */
export type ReplayMode =
  /** At each request's arrivalMs (a trace, already time-scaled). */
  | { kind: "trace" }
  /** Closed loop: this many requests in flight; each completion sends the next. */
  | { kind: "concurrency"; concurrency: number }
  /** Open loop: Poisson arrivals at this rate. */
  | { kind: "rate"; requestsPerS: number };

/** The mocker engines' settings (each of the N engines gets the same). */
export interface ReplayEngineOptions {
  /** KV blocks per engine. Default 16384. */
  numKvBlocks?: number;
  /** Default 256. */
  maxNumSeqs?: number;
  /** Default 8192. */
  maxNumBatchedTokens?: number;
  /** Tokens per KV block, engines and router alike. Default 16. */
  blockSize?: number;
  /** Default: Dynamo's H100 fit. */
  timing?: TimingModel;
}

export interface ReplayProgress {
  done: number;
  total: number;
  simMs: number;
}

/**
 * KV transfer bandwidth between workers that replay assumes by default, GB/s: bench:transfer's
 * TCP figure for 64 MiB reads on the reference machine (1.49 GB/s, 2026-12-01) (docs/benchmarks.md, "KV transfer").
 */
export const MEASURED_TRANSFER_GBPS = 1.5;
/** The same benchmark's shared-memory figure (prefill and decode workers on one host), 64 MiB reads. */
export const MEASURED_SHM_TRANSFER_GBPS = 5.6;

/** Disaggregated serving in the simulation: prefill workers beside the decode workers. */
export interface ReplayDisaggregation {
  numPrefillWorkers: number;
  /** The router's rule (planPrefill): prompts whose uncached part on the chosen decode worker is shorter are prefilled there. Default 512; 0: all remote. */
  maxLocalPrefillTokens?: number;
  /** The router's rule: prefill locally while the prefill workers have more prompt tokens queued each. Default 16384. */
  maxPrefillQueueTokens?: number;
  /** KV bytes per token moved from prefill to decode. Default 131072 (an 8B model in fp16). */
  kvBytesPerToken?: number;
  /** Transfer bandwidth between workers, GB/s. Default MEASURED_TRANSFER_GBPS (bench:transfer, TCP). */
  transferGBps?: number;
}

export interface ReplayOptions extends ReplayEngineOptions {
  /** Workers that generate (aggregated, or decode when `disaggregation` is set). */
  numWorkers: number;
  /** Prefill workers and the rule that sends prompts to them. */
  disaggregation?: ReplayDisaggregation;
  /** KV block manager tiers below each engine's G1 (replay-kvbm.ts). Default: none. */
  kvbm?: ReplayKvbm;
  /** Default "kv". */
  policy?: PolicyName;
  policyOptions?: PolicyOptions;
  /** The routers' busy thresholds (default: the router's own, derived from the engines' capacity as the product does). */
  busy?: Pick<RouterOptions, "maxActiveDecodeBlocks" | "maxActivePrefillTokens" | "maxActiveRequestsPerSeq">;
  /** Default: trace when every request has arrivalMs, else concurrency 4 · numWorkers. */
  mode?: ReplayMode;
  /** Delay between an engine's KV event and the router's indexer seeing it, ms. Default 0. */
  kvEventDelayMs?: number;
  /** Sim-time period of the workers' load metrics. Default 100 ms. */
  metricsIntervalMs?: number;
  /** Seeds the router's tie-breaking and the Poisson arrivals. Default 0. */
  seed?: number;
  sloTtftMs?: number;
  sloItlMs?: number;
  /** Keep every token's time in the records (memory: one number per output token). Default false. */
  recordTokenTimes?: boolean;
  /** Called every `progressEvery` completions and at the end. */
  onProgress?: (p: ReplayProgress) => void;
  /** Default 500. */
  progressEvery?: number;
  /** Autoscaling of the generating workers (`numWorkers` is then the initial fleet): see replay-scaling.ts. */
  scaling?: ReplayScaling;
}

export interface ReplayEngineCounters {
  numSteps: number;
  numPreemptions: number;
  numEvictions: number;
}

export interface ReplayResult {
  summary: BenchSummary;
  /** One per workload request, in workload order. */
  records: RequestRecord[];
  /** Engine-side prefix-cache hit rate: Σ cached prompt tokens / Σ prompt tokens. */
  hitRate: number;
  /** The router's estimate: hit blocks / prompt blocks at routing time. */
  routerHitRate: number;
  /** Simulated time from the first arrival to the last completion, ms. */
  simMs: number;
  /** Wall time of the replay, ms. */
  wallMs: number;
  /** Summed over the engines. */
  engines: ReplayEngineCounters;
  /** Requests prefilled on a prefill worker (disaggregation). */
  numRemotePrefills: number;
  /** With disaggregation: requests per place the rule chose (remote, short_prompt, ...). */
  prefillPlaces: Partial<Record<PrefillPlace, number>>;
  /** The KV event ingestor's counters (decode and prefill routers summed). */
  kvEvents: KvEventIngestorStats;
  /** With `scaling`: worker time billed and the decisions' timeline. */
  scaling?: ReplayScalingResult;
  /** With a KVBM: prompt tokens onboarded from each lower tier (part of hitRate). */
  onboardedTokens?: { host: number; disk: number; remote: number };
}

const ARRIVAL = 0;
const STEP = 1;
const STEP_DONE = 2;
const METRICS = 3;
/** A prefill worker's KV has arrived at its decode worker: the request starts there. */
const KV_ARRIVED = 4;
/** An autoscaling interval boundary (options.scaling). */
const SCALE = 5;

/** Requests of the same session wait for their previous turn (a chat client does). */
interface SessionState {
  busy: boolean;
  parked: number[];
}

/** Runs the workload through N simulated engines behind the router. */
/**
 * Busy thresholds off: every request queues at its engine, none is refused. The routing, KVBM
 * and planner benchmarks compare policies on the same requests (their tables were measured so);
 * without it a replay sheds as the product does by default.
 */
export const NO_SHEDDING = { maxActiveDecodeBlocks: Infinity, maxActivePrefillTokens: Infinity, maxActiveRequestsPerSeq: Infinity } as const;

export function replay(workload: readonly WorkloadRequest[], options: ReplayOptions): ReplayResult {
  const wallStart = performance.now();
  const n = workload.length;
  const initialWorkers = options.numWorkers;
  if (!(Number.isInteger(initialWorkers) && initialWorkers > 0)) throw new RangeError(`numWorkers must be a positive integer, got ${initialWorkers}`);
  // With autoscaling, slots for the largest fleet; those beyond the initial one start idle.
  const numWorkers = scalingSlots(initialWorkers, options.scaling);
  const blockSize = options.blockSize ?? 16;
  const numKvBlocks = options.numKvBlocks ?? 16384;
  const kvDelay = options.kvEventDelayMs ?? 0;
  const metricsInterval = options.metricsIntervalMs ?? 100;
  if (!(metricsInterval > 0)) throw new RangeError(`metricsIntervalMs must be positive, got ${metricsInterval}`);
  const seed = options.seed ?? 0;
  const recordTokenTimes = options.recordTokenTimes === true;
  const progressEvery = Math.max(1, options.progressEvery ?? 500);
  const mode: ReplayMode =
    options.mode ?? (n > 0 && workload.every((r) => r.arrivalMs !== undefined) ? { kind: "trace" } : { kind: "concurrency", concurrency: 4 * numWorkers });

  // KVBM tiers (one policy per engine, one shared G4); their credits unless the caller set some.
  const kvbm = options.kvbm !== undefined ? createReplayKvbm(options.kvbm, { blockSize, timing: options.timing, maxNumBatchedTokens: options.maxNumBatchedTokens ?? 8192 }) : null;
  const policyOptions = kvbm !== null && options.policyOptions?.tierCredit === undefined ? { ...options.policyOptions, tierCredit: kvbm.tierCredit } : options.policyOptions;
  // The fleet. KV events reach each router's index through the live path's ingestor. Events
  // arrive in order here, so a gap would be a bug: its dump request fails loudly (see the end).
  const noDump = (): Promise<never> => Promise.reject(new TurbineError("INTERNAL", "replay engines serve no KV dump"));
  const busy = options.busy ?? {};
  const indexer = new RadixIndexer({ expectedBlocks: Math.min(numWorkers * numKvBlocks, 1 << 22) });
  const ingestor = new KvEventIngestor(indexer, { requestDump: noDump });
  const router = new Router({
    blockSize,
    indexer,
    policy: options.policy ?? "kv",
    policyOptions,
    random: createSeededRandom(seed),
    // Router overhead is not part of simulated time; a constant clock skips the timing calls.
    clock: () => 0,
    ...busy,
  });
  const disagg = options.disaggregation;
  const numPrefill = disagg?.numPrefillWorkers ?? 0;
  const prefillIndexer = numPrefill > 0 ? new RadixIndexer({ expectedBlocks: Math.min(numPrefill * numKvBlocks, 1 << 22) }) : null;
  const prefillIngestor = prefillIndexer !== null ? new KvEventIngestor(prefillIndexer, { requestDump: noDump }) : null;
  const prefillRouter =
    prefillIndexer !== null
      ? new Router({ blockSize, indexer: prefillIndexer, policy: "kv", random: createSeededRandom(seed + 1), clock: () => 0, ...busy })
      : null;
  // Slots 0..numWorkers-1 generate; the numPrefill slots after them prefill.
  const numEngines = numWorkers + numPrefill;
  const engines: MockerCore[] = [];
  const workerIds: WorkerId[] = [];
  const stepPending = new Uint8Array(numEngines);
  const pendingOutputs: StepOutput[][] = [];
  // KV events in flight to the router (delay > 0): their delivery times never decrease, since
  // the simulated clock does not, so a FIFO suffices.
  const kvFifo: KvCacheEvent[] = [];
  const kvFifoAt: number[] = [];
  let kvHead = 0;
  let now = 0;
  const nextEventId = new Float64Array(numEngines);
  for (let w = 0; w < numEngines; w++) {
    const core = new MockerCore({
      blockSize,
      numKvBlocks,
      maxNumSeqs: options.maxNumSeqs,
      maxNumBatchedTokens: options.maxNumBatchedTokens,
      timing: options.timing,
      ...(kvbm !== null && w < numWorkers ? { kvbm: kvbm.engine } : {}),
    });
    const isPrefill = w >= numWorkers;
    const workerId = asWorkerId(isPrefill ? `prefill-${w - numWorkers}` : `worker-${w}`);
    const owner = isPrefill ? prefillRouter! : router;
    const feed = isPrefill ? prefillIngestor! : ingestor;
    core.onKvEvent((e) => {
      const event: KvCacheEvent = { workerId, eventId: nextEventId[w]++, tier: e.tier, data: e.data };
      // Like the live WorkerPool: a worker out of the router (drained by the scaler) is not indexed.
      if (!owner.hasWorker(workerId)) return;
      if (kvDelay > 0 && !isPrefill) {
        kvFifo.push(event);
        kvFifoAt.push(now + kvDelay);
      } else {
        feed.ingest(event);
      }
    });
    if (isPrefill || ReplayScaler.startsServing(w, initialWorkers)) owner.addWorker(workerId, { totalBlocks: numKvBlocks, maxNumSeqs: options.maxNumSeqs ?? 256 });
    engines.push(core);
    workerIds.push(workerId);
    pendingOutputs.push([]);
  }
  const disaggRule = { maxLocalPrefillTokens: disagg?.maxLocalPrefillTokens, maxPrefillQueueTokens: disagg?.maxPrefillQueueTokens };
  const prefillPlaces: Partial<Record<PrefillPlace, number>> = {};
  const transferMsPerToken = ((disagg?.kvBytesPerToken ?? 128 * 1024) / ((disagg?.transferGBps ?? MEASURED_TRANSFER_GBPS) * 1e9)) * 1000;
  // The shared G4's events: one publisher (this process), credited by the router to every worker.
  kvbm?.onRemoteEvent((event) => ingestor.ingest(event));
  /** Per request sent to a prefill worker: its decode slot, and the request to start there. */
  const awaitingKv = new Map<number, { slot: number; request: PreprocessedRequest; hashes: { local: ReturnType<typeof computeLocalBlockHashes>; sequence: ReturnType<typeof chainSequenceHashes> } }>();
  let numRemotePrefills = 0;
  const scaler =
    options.scaling !== undefined
      ? new ReplayScaler(options.scaling, initialWorkers, engines, workerIds, router, { totalBlocks: numKvBlocks, maxNumSeqs: options.maxNumSeqs ?? 256 }, n, (w) => {
          // Its engine kept its cache while out of the fleet: index what it holds now.
          const events = engines[w]!.pool.cachedBlocks().map((b) => ({ tier: "device" as const, data: { type: "stored" as const, parentHash: b.parentHash, blocks: [{ hash: b.hash, tokensHash: b.tokensHash }] } }));
          ingestor.adopt({ workerId: workerIds[w]!, lastEventId: nextEventId[w]! - 1, events });
        })
      : null;

  // Per-request state, by workload index.
  const startMs = new Float64Array(n);
  const firstTokenMs = new Float64Array(n).fill(Number.NaN);
  const endMs = new Float64Array(n).fill(Number.NaN);
  const numOutput = new Int32Array(n);
  const promptTokens = new Int32Array(n);
  const cachedTokens = new Int32Array(n);
  const errors: (string | undefined)[] = new Array<string | undefined>(n);
  const tokenTimes: number[][] | null = recordTokenTimes ? [] : null;
  const sessions = new Map<number, SessionState>();

  const queue = new EventQueue();
  let done = 0;
  let nextToSend = 0;
  let firstArrival = Number.POSITIVE_INFINITY;
  if (mode.kind === "trace") {
    for (let i = 0; i < n; i++) {
      const t = workload[i]!.arrivalMs;
      if (t === undefined) throw new RangeError(`trace mode: request ${i} has no arrivalMs`);
      queue.push(t, ARRIVAL, i);
    }
    nextToSend = n;
  } else if (mode.kind === "rate") {
    if (!(mode.requestsPerS > 0)) throw new RangeError(`requestsPerS must be positive, got ${mode.requestsPerS}`);
    const rng = new Prng(seed ^ 0x5eed);
    const meanGap = 1000 / mode.requestsPerS;
    let t = 0;
    for (let i = 0; i < n; i++) {
      queue.push(t, ARRIVAL, i);
      t += rng.exponential(meanGap);
    }
    nextToSend = n;
  } else {
    if (!(Number.isInteger(mode.concurrency) && mode.concurrency > 0)) throw new RangeError(`concurrency must be a positive integer, got ${mode.concurrency}`);
    for (; nextToSend < Math.min(mode.concurrency, n); nextToSend++) queue.push(0, ARRIVAL, nextToSend);
  }
  if (n > 0) queue.push(queue.peekTime(), METRICS, 0);
  if (n > 0 && scaler !== null) queue.push(queue.peekTime() + options.scaling!.intervalMs, SCALE, 0);

  const scheduleStep = (w: number): void => {
    if (stepPending[w] === 0) {
      stepPending[w] = 1;
      queue.push(now, STEP, w);
    }
  };

  const finish = (i: number, error: string | undefined): void => {
    endMs[i] = now;
    errors[i] = error;
    done++;
    scaler?.onFinish(now, error === undefined, firstTokenMs[i]! - startMs[i]!, numOutput[i]!, now - firstTokenMs[i]!, promptTokens[i]!, cachedTokens[i]!);
    const req = workload[i]!;
    if (req.sessionId !== undefined) {
      const s = sessions.get(req.sessionId)!;
      s.busy = false;
      const next = s.parked.shift();
      if (next !== undefined) queue.push(now, ARRIVAL, next);
    }
    if (mode.kind === "concurrency" && nextToSend < n) queue.push(now, ARRIVAL, nextToSend++);
    if (options.onProgress !== undefined && done % progressEvery === 0) options.onProgress({ done, total: n, simMs: now });
  };

  const arrive = (i: number): void => {
    const req = workload[i]!;
    if (req.sessionId !== undefined) {
      let s = sessions.get(req.sessionId);
      if (s === undefined) sessions.set(req.sessionId, (s = { busy: false, parked: [] }));
      if (s.busy) {
        s.parked.push(i);
        return;
      }
      s.busy = true;
    }
    startMs[i] = now;
    if (now < firstArrival) firstArrival = now;
    const tokens = req.tokenIds;
    promptTokens[i] = tokens.length;
    scaler?.onArrival(tokens.length);
    if (tokenTimes !== null) tokenTimes[i] = [];
    const requestId = asRequestId(String(i));
    let w: number;
    let cachedOnDecode = 0;
    try {
      const decision = router.route({ requestId, tokenIds: tokens }, now);
      w = workerSlot(decision.workerId);
      cachedOnDecode = decision.cachedTokens;
    } catch (err) {
      if (!isTurbineError(err)) throw err;
      finish(i, `${err.code}: ${err.message}`);
      return;
    }
    // The mocker would hash the prompt again; give it the hashes (local and chained) once.
    const local = computeLocalBlockHashes(tokens, blockSize);
    const sequence = chainSequenceHashes(local, null);
    const pre: PreprocessedRequest = {
      requestId,
      model: "replay",
      tokenIds: tokens,
      sampling: {},
      stop: { maxTokens: req.outputTokens, stopTokenIds: [], ignoreEos: true },
    };
    const pid = asRequestId(`p${i}`);
    const plan =
      prefillRouter !== null
        ? planPrefill(
            {
              promptTokens: tokens.length,
              cachedTokens: cachedOnDecode,
              numPrefillWorkers: prefillRouter.numWorkers,
              prefillQueueTokens: prefillRouter.meanActivePrefillTokens(),
            },
            disaggRule,
            () => prefillRouter.route({ requestId: pid, tokenIds: tokens }, now),
          )
        : null;
    if (plan !== null) prefillPlaces[plan.place] = (prefillPlaces[plan.place] ?? 0) + 1;
    if (plan !== null && plan.decision !== null) {
      // Disaggregated: prefill on a prefill worker (prompt and first token), then move the KV.
      const p = slotOf.get(plan.decision.workerId)!;
      const prefillReq: PreprocessedRequest = { ...pre, requestId: pid, stop: { maxTokens: 1, stopTokenIds: [], ignoreEos: true } };
      awaitingKv.set(i, { slot: w, request: pre, hashes: { local, sequence } });
      numRemotePrefills++;
      if (engines[p]!.addRequest(prefillReq, now, { local, sequence }) === null) {
        scheduleStep(p);
        return;
      }
      awaitingKv.delete(i); // refused by the prefill engine: prefill locally
      prefillRouter!.markFinished(pid);
    }
    startOnDecode(i, w, pre, { local, sequence });
  };

  const startOnDecode = (i: number, w: number, pre: PreprocessedRequest, hashes: { local: ReturnType<typeof computeLocalBlockHashes>; sequence: ReturnType<typeof chainSequenceHashes> }): void => {
    const immediate = engines[w]!.addRequest(pre, now, hashes);
    if (immediate !== null) {
      router.markFinished(pre.requestId);
      finish(i, immediate.error !== undefined ? `${immediate.error.code}: ${immediate.error.message}` : undefined);
      return;
    }
    scheduleStep(w);
  };

  const slotOf = new Map<WorkerId, number>();
  for (let w = 0; w < numEngines; w++) slotOf.set(workerIds[w]!, w);
  const workerSlot = (id: WorkerId): number => slotOf.get(id)!;

  const applyOutputs = (outputs: StepOutput[]): void => {
    for (let k = 0; k < outputs.length; k++) {
      const out = outputs[k]!;
      if ((out.requestId as string).charCodeAt(0) === 112 /* "p": a remote prefill */) {
        if (out.finishReason === undefined) continue;
        const i = Number((out.requestId as string).slice(1));
        prefillRouter!.markFinished(out.requestId);
        const waiting = awaitingKv.get(i);
        if (waiting === undefined) continue;
        if (out.finishReason === "error") {
          awaitingKv.delete(i);
          startOnDecode(i, waiting.slot, waiting.request, waiting.hashes); // fall back to a local prefill
        } else {
          queue.push(now + transferMsPerToken * waiting.request.tokenIds.length, KV_ARRIVED, i);
        }
        continue;
      }
      const i = Number(out.requestId);
      const count = out.tokenIds.length;
      if (count > 0) {
        if (numOutput[i] === 0) {
          firstTokenMs[i] = now;
          router.markPrefillDone(out.requestId);
        }
        numOutput[i] += count;
        if (tokenTimes !== null) for (let c = 0; c < count; c++) tokenTimes[i]!.push(now);
      }
      if (out.finishReason !== undefined) {
        router.markFinished(out.requestId);
        if (out.usage !== undefined) cachedTokens[i] = out.usage.cachedTokens;
        finish(i, out.finishReason === "error" ? `${out.error?.code ?? "error"}: ${out.error?.message ?? ""}` : undefined);
      }
    }
  };

  while (queue.pop()) {
    now = queue.time;
    while (kvHead < kvFifo.length && kvFifoAt[kvHead]! <= now) {
      ingestor.ingest(kvFifo[kvHead]!);
      kvHead++;
      if (kvHead > 4096 && kvHead * 2 > kvFifo.length) {
        kvFifo.splice(0, kvHead);
        kvFifoAt.splice(0, kvHead);
        kvHead = 0;
      }
    }
    const payload = queue.payload;
    switch (queue.kind) {
      case ARRIVAL:
        arrive(payload);
        break;
      case STEP: {
        const core = engines[payload]!;
        const result = core.step(now);
        if (result.outputs.length === 0 && result.durationMs === 0) {
          // Nothing could be scheduled: idle until the next arrival (never spin at one instant).
          stepPending[payload] = 0;
        } else {
          pendingOutputs[payload] = result.outputs;
          queue.push(now + result.durationMs, STEP_DONE, payload);
        }
        break;
      }
      case STEP_DONE: {
        const outputs = pendingOutputs[payload]!;
        pendingOutputs[payload] = [];
        applyOutputs(outputs);
        stepPending[payload] = 0;
        if (engines[payload]!.hasWork()) scheduleStep(payload);
        break;
      }
      case KV_ARRIVED: {
        const waiting = awaitingKv.get(payload)!;
        awaitingKv.delete(payload);
        engines[waiting.slot]!.importPrefix(waiting.request.tokenIds, waiting.hashes);
        startOnDecode(payload, waiting.slot, waiting.request, waiting.hashes);
        break;
      }
      case METRICS: {
        for (let w = 0; w < numEngines; w++) {
          const load = engines[w]!.load();
          (w < numWorkers ? router : prefillRouter!).updateMetrics({ workerId: workerIds[w]!, timestamp: now, ...load });
        }
        if (done < n) queue.push(now + metricsInterval, METRICS, 0);
        scaler?.poll(now);
        break;
      }
      case SCALE:
        scaler!.tick(now);
        if (done < n) queue.push(now + options.scaling!.intervalMs, SCALE, 0);
        break;
    }
  }
  if (done < n) throw new Error(`replay stalled: ${n - done} of ${n} requests never finished (an engine that cannot admit them?)`);
  const kvEvents = ingestor.stats;
  if (prefillIngestor !== null) {
    const p = prefillIngestor.stats;
    kvEvents.eventsApplied += p.eventsApplied;
    kvEvents.duplicates += p.duplicates;
    kvEvents.gaps += p.gaps;
    kvEvents.resyncs += p.resyncs;
    kvEvents.resyncFailures += p.resyncFailures;
  }
  if (kvEvents.gaps > 0) throw new Error(`replay: ${kvEvents.gaps} gaps in the KV event stream (events are delivered in order here: a bug)`);
  options.onProgress?.({ done, total: n, simMs: now });

  const records: RequestRecord[] = new Array<RequestRecord>(n);
  let sumCached = 0;
  let sumPrompt = 0;
  let lastEnd = 0;
  for (let i = 0; i < n; i++) {
    const ok = errors[i] === undefined;
    const r: RequestRecord = {
      index: workload[i]!.index,
      startMs: startMs[i]!,
      endMs: endMs[i]!,
      outputTokens: numOutput[i]!,
      promptTokens: promptTokens[i]!,
      cachedTokens: cachedTokens[i]!,
      ok,
    };
    if (!Number.isNaN(firstTokenMs[i]!)) r.firstTokenMs = firstTokenMs[i]!;
    if (tokenTimes !== null) r.tokenTimesMs = tokenTimes[i]!;
    if (!ok) r.error = errors[i];
    else {
      sumCached += cachedTokens[i]!;
      sumPrompt += promptTokens[i]!;
    }
    if (endMs[i]! > lastEnd) lastEnd = endMs[i]!;
    records[i] = r;
  }
  const counters: ReplayEngineCounters = { numSteps: 0, numPreemptions: 0, numEvictions: 0 };
  const onboarded = { host: 0, disk: 0, remote: 0 };
  for (const core of engines) {
    const c = core.counters;
    counters.numSteps += c.numSteps;
    counters.numPreemptions += c.numPreemptions;
    counters.numEvictions += c.numEvictions;
    onboarded.host += c.numOnboardedTokens.host;
    onboarded.disk += c.numOnboardedTokens.disk;
    onboarded.remote += c.numOnboardedTokens.remote;
  }
  return {
    summary: summarize(records, { sloTtftMs: options.sloTtftMs, sloItlMs: options.sloItlMs }),
    records,
    hitRate: sumPrompt > 0 ? sumCached / sumPrompt : 0,
    routerHitRate: router.stats().kvHitRate,
    simMs: n > 0 ? lastEnd - firstArrival : 0,
    wallMs: performance.now() - wallStart,
    engines: counters,
    numRemotePrefills,
    prefillPlaces,
    kvEvents,
    ...(scaler !== null ? { scaling: scaler.result() } : {}),
    ...(kvbm !== null ? { onboardedTokens: onboarded } : {}),
  };
}
