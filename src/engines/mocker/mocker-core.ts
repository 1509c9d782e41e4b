// The pure mocker: block pool, KV cache manager and scheduler behind one small API, driven
// by whoever owns the clock. It never reads wall time: `step(now)` runs one engine step and
// says how long it took; its outputs take effect at now + durationMs. The real-time engine
// (mocker-engine.ts) and a discrete-event simulator drive the same core.
import type { ErrorCode, PreprocessedRequest, RequestId, Usage } from "../../protocols/index.ts";
import type { EngineKvEvent, EngineLoad } from "../engine.ts";
import { BlockPool } from "./block-pool.ts";
import { KvCacheManager } from "./kv-cache-manager.ts";
import type { BlockHashes } from "./kv-cache-manager.ts";
import { MockerRequest } from "./mocker-request.ts";
import { DEFAULT_TOKEN_RANGE, tokenAt, tokenKey } from "./output-tokens.ts";
import type { TokenRange } from "./output-tokens.ts";
import { NO_TOKEN, Scheduler } from "./scheduler.ts";
import type { StepOutput } from "./scheduler.ts";
import { PolynomialTimingModel, stepDurationMs } from "./timing.ts";
import type { TimingModel } from "./timing.ts";

export interface MockerCoreOptions {
  /** Tokens per KV block. Default 16. */
  blockSize?: number;
  /** KV blocks of the engine. Default 16384. */
  numKvBlocks?: number;
  /** Maximum prompt + output tokens. Default: no limit beyond KV capacity. */
  contextLength?: number;
  /** Default 256. */
  maxNumSeqs?: number;
  /** Default 8192. */
  maxNumBatchedTokens?: number;
  /** Seed of the output tokens when a request has no sampling.seed. Default 0. */
  seed?: number;
  /** Range output tokens are drawn from. Default printable ASCII, 32..126. */
  tokenRange?: TokenRange;
  /** Default: Dynamo's H100 fit. */
  timing?: TimingModel;
}

/** The result of one step. */
export interface MockerStepResult {
  /** Simulated duration of the step; 0 when nothing was scheduled. */
  durationMs: number;
  /** Outputs, effective at now + durationMs. */
  outputs: StepOutput[];
}

/** Counters since start, for tests and metrics. */
export interface MockerCounters {
  numSteps: number;
  numPreemptions: number;
  /** Cached blocks evicted to make room. */
  numEvictions: number;
  numPrefixQueryTokens: number;
  numPrefixHitTokens: number;
  /** Tokens generated. */
  numOutputTokens: number;
}

export const MOCKER_DEFAULTS = {
  blockSize: 16,
  numKvBlocks: 16384,
  maxNumSeqs: 256,
  maxNumBatchedTokens: 8192,
  seed: 0,
} as const;

export class MockerCore {
  readonly blockSize: number;
  readonly numKvBlocks: number;
  readonly contextLength: number;
  readonly pool: BlockPool;
  readonly kv: KvCacheManager;
  readonly scheduler: Scheduler;

  private readonly seed: number;
  private readonly tokenRange: TokenRange;
  private readonly timing: TimingModel;
  private readonly requests = new Map<RequestId, MockerRequest>();
  private readonly listeners: ((event: EngineKvEvent) => void)[] = [];
  private sampled = new Int32Array(64);
  private numSteps = 0;
  /** Start time of the last step, as the driver gave it. */
  lastStepAtMs = Number.NEGATIVE_INFINITY;
  private numOutputTokens = 0;

  constructor(options: MockerCoreOptions = {}) {
    this.blockSize = options.blockSize ?? MOCKER_DEFAULTS.blockSize;
    this.numKvBlocks = options.numKvBlocks ?? MOCKER_DEFAULTS.numKvBlocks;
    this.contextLength = options.contextLength ?? Number.POSITIVE_INFINITY;
    this.seed = options.seed ?? MOCKER_DEFAULTS.seed;
    this.tokenRange = options.tokenRange ?? DEFAULT_TOKEN_RANGE;
    if (!(this.tokenRange.max >= this.tokenRange.min)) throw new RangeError("tokenRange.max must be >= tokenRange.min");
    this.timing = options.timing ?? new PolynomialTimingModel();
    this.pool = new BlockPool(this.numKvBlocks);
    this.kv = new KvCacheManager(this.pool, this.blockSize);
    this.scheduler = new Scheduler(
      {
        maxNumSeqs: options.maxNumSeqs ?? MOCKER_DEFAULTS.maxNumSeqs,
        maxNumBatchedTokens: options.maxNumBatchedTokens ?? MOCKER_DEFAULTS.maxNumBatchedTokens,
      },
      this.kv,
    );
  }

  /**
   * Queues a request at time `now`. Returns null when queued, or the request's final output
   * when it ends at once: an error when it can never run (duplicate id, prompt longer than the
   * context or than the whole KV cache), "length" when a migrated request has no tokens left.
   * `hashes` may carry the prompt's block hashes at this block size, already computed.
   */
  addRequest(request: PreprocessedRequest, now: number, hashes?: BlockHashes, onScheduled?: () => void): StepOutput | null {
    const id = request.requestId;
    const numTokens = request.tokenIds.length;
    const k = request.numPrefilledOutputTokens ?? 0;
    if (this.requests.has(id)) return errorOutput(id, "REQUEST_INVALID", `request ${id} is already in this engine`, null);
    if (!Number.isInteger(k) || k < 0 || k > numTokens) {
      return errorOutput(id, "REQUEST_INVALID", `numPrefilledOutputTokens ${k} out of range for ${numTokens} tokens`, null);
    }
    if (numTokens === 0) return errorOutput(id, "REQUEST_INVALID", "empty prompt", null);
    const usage: Usage = { promptTokens: numTokens - k, completionTokens: k, cachedTokens: 0 };
    if (numTokens >= this.contextLength) {
      const msg = `prompt of ${numTokens} tokens leaves no room in the context length of ${this.contextLength}`;
      return errorOutput(id, "REQUEST_CONTEXT_LENGTH_EXCEEDED", msg, usage);
    }
    const capacity = this.numKvBlocks * this.blockSize;
    if (numTokens > capacity) {
      const msg = `prompt of ${numTokens} tokens needs ${Math.ceil(numTokens / this.blockSize)} KV blocks; the engine has ${this.numKvBlocks}`;
      return errorOutput(id, "REQUEST_CONTEXT_LENGTH_EXCEEDED", msg, usage);
    }
    const maxTokens = request.stop.maxTokens - k;
    if (!(maxTokens > 0)) return { requestId: id, tokenIds: [], finishReason: "length", usage };
    // Generating token n needs KV for numTokens + n - 1 tokens: bounded by capacity and context.
    const maxNewTokens = Math.min(maxTokens, this.contextLength - numTokens, capacity - numTokens + 1);

    const tokens = request.tokenIds.slice();
    const req = new MockerRequest({
      requestId: id,
      tokens,
      numPrefilledOutputTokens: k,
      maxNewTokens,
      stopTokenIds: request.stop.stopTokenIds,
      ignoreEos: request.stop.ignoreEos === true,
      tokenKey: tokenKey(request.sampling.seed ?? this.seed, tokens, numTokens - k),
      arrivalMs: now,
      kv: this.kv.createSequence(tokens, hashes),
    });
    req.onScheduled = onScheduled;
    this.requests.set(id, req);
    this.scheduler.add(req);
    return null;
  }

  /** Stops a request and frees its blocks at once. Returns its usage, or null if unknown. */
  /**
   * Caches the full blocks of a prompt whose KV was computed elsewhere (a prefill worker), so
   * that a request with that prompt prefills only what is left. Returns the blocks cached.
   */
  importPrefix(tokens: number[], hashes?: BlockHashes): number {
    return this.kv.importPrefix(tokens, hashes);
  }

  cancel(requestId: RequestId): Usage | null {
    const req = this.requests.get(requestId);
    if (req === undefined) return null;
    this.requests.delete(requestId);
    this.scheduler.cancel(req);
    return req.usage();
  }

  /** Whether a step would do anything. */
  hasWork(): boolean {
    return this.scheduler.hasWork();
  }

  /** Whether the request is in the engine (waiting or running). */
  has(requestId: RequestId): boolean {
    return this.requests.has(requestId);
  }

  /** Runs one step that starts at `now`. */
  step(now: number): MockerStepResult {
    // Behaviour never depends on the clock; `now` only dates the step (lastStepAtMs).
    this.lastStepAtMs = now;
    const plan = this.scheduler.schedule();
    const n = plan.numScheduled;
    if (n === 0) return { durationMs: 0, outputs: [] };
    this.numSteps++;
    const durationMs = stepDurationMs(this.timing, {
      numPrefillTokens: plan.numPrefillTokens,
      numDecodeSeqs: plan.numDecodeSeqs,
      kvUsage: this.pool.numActiveBlocks / this.numKvBlocks,
    });
    // The "model": a token for every request whose tokens are all computed after this step.
    if (this.sampled.length < n) this.sampled = new Int32Array(Math.max(n, this.sampled.length * 2));
    const sampled = this.sampled;
    const range = this.tokenRange;
    for (let j = 0; j < n; j++) {
      const req = plan.requests[j]!;
      sampled[j] =
        req.numComputedTokens + plan.numNewTokens[j]! === req.tokens.length ? tokenAt(req.tokenKey, req.nextOutputPosition, range) : NO_TOKEN;
    }
    const outputs = this.scheduler.updateFromOutput(plan, sampled);
    this.numOutputTokens += outputs.length;
    for (const out of outputs) if (out.finishReason !== undefined) this.requests.delete(out.requestId);
    return { durationMs, outputs };
  }

  load(): EngineLoad {
    const active = this.pool.numActiveBlocks;
    return {
      activeBlocks: active,
      totalBlocks: this.numKvBlocks,
      kvUsage: active / this.numKvBlocks,
      numRunningSeqs: this.scheduler.numRunningSeqs,
      numWaitingSeqs: this.scheduler.numWaitingSeqs,
      pendingPrefillTokens: this.scheduler.numPendingPrefillTokens,
      prefixCacheHitRate: this.kv.numPrefixQueryTokens === 0 ? 0 : this.kv.numPrefixHitTokens / this.kv.numPrefixQueryTokens,
    };
  }

  get counters(): MockerCounters {
    return {
      numSteps: this.numSteps,
      numPreemptions: this.scheduler.numPreemptions,
      numEvictions: this.pool.numEvictions,
      numPrefixQueryTokens: this.kv.numPrefixQueryTokens,
      numPrefixHitTokens: this.kv.numPrefixHitTokens,
      numOutputTokens: this.numOutputTokens,
    };
  }

  /** Subscribes to KV events (emitted synchronously, in order, as steps allocate and fill blocks). */
  onKvEvent(listener: (event: EngineKvEvent) => void): () => void {
    this.listeners.push(listener);
    this.updateSink();
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
      this.updateSink();
    };
  }

  /** Ids of requests in the engine: running in admission order, then waiting front first. */
  requestIds(): { running: RequestId[]; waiting: RequestId[] } {
    return {
      running: this.scheduler.running.map((r) => r.requestId),
      waiting: this.scheduler.waitingRequests().map((r) => r.requestId),
    };
  }

  // Events are built only while someone listens.
  private updateSink(): void {
    const ls = this.listeners;
    if (ls.length === 0) this.pool.eventSink = null;
    else if (ls.length === 1) this.pool.eventSink = ls[0]!;
    else this.pool.eventSink = (e) => {
      for (const l of ls.slice()) l(e);
    };
  }
}

function errorOutput(requestId: RequestId, code: ErrorCode, message: string, usage: Usage | null): StepOutput {
  return {
    requestId,
    tokenIds: [],
    finishReason: "error",
    usage: usage ?? { promptTokens: 0, completionTokens: 0, cachedTokens: 0 },
    error: { code, message },
  };
}
