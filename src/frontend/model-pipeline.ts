// Everything the frontend holds for one model: its tokenizer and template (preprocessing), the
// pool of workers that generate (aggregated or decode), and, when the model has prefill
// workers, the pool that prefills for them (disaggregated serving). `generate` routes one
// request and streams its tokens, keeping the routers' accounting right whatever way the
// stream ends, migrating it when its worker fails mid-stream.
import { Gauge } from "prom-client";
import { TurbineError, engineOutputError, isTurbineError, mergeEngineOutputs, outputTokenCount } from "../protocols/index.ts";
import type { EngineOutput, KvTransferParams, ModelCard, PreprocessedRequest, TokenizerSource, WorkerId } from "../protocols/index.ts";
import { planPrefill } from "../router/index.ts";
import type { DisaggregationOptions, RoutingDecision } from "../router/index.ts";
import { ROOT_CONTEXT } from "@opentelemetry/api";
import type { Context } from "@opentelemetry/api";
import { readAhead } from "../runtime/index.ts";
import { TokenizerThreads, tokenizerRunsInThreads } from "../model/index.ts";
import type { ChatTemplate, Tokenizer, TokenizerThreadOptions } from "../model/index.ts";
import type { FrontendMetrics } from "./metrics.ts";
import { startHop, tracedRoute } from "./request-tracing.ts";
import type { Hop } from "./request-tracing.ts";
import { Preprocessor } from "./preprocessor.ts";
import type { PromptCacheOptions } from "./prompt-cache.ts";
import type { ParserChoice } from "./chat-features.ts";
import { WorkerPool } from "./worker-pool.ts";
import type { WorkerPoolOptions } from "./worker-pool.ts";

/** When a prompt is prefilled on a prefill worker: the router's rule (src/router). */
export type { DisaggregationOptions };

export interface ModelPipelineOptions {
  card: ModelCard;
  tokenizer: Tokenizer;
  chatTemplate: ChatTemplate;
  /**
   * Where `tokenizer` was loaded from: long prompts are encoded on threads that load the same
   * (absent: every prompt is encoded on the event loop).
   */
  tokenizerSource?: TokenizerSource;
  /** The tokenizer threads' size and threshold (default: one thread, 16,384 characters). */
  tokenizerThreads?: TokenizerThreadOptions;
  /** The prompt cache's bound (default 64 MiB); false: no cache. */
  promptCache?: PromptCacheOptions | false;
  /** The aggregated/decode workers. */
  decode: Omit<WorkerPoolOptions, "card">;
  /** The prefill workers' endpoints, when the fleet may have some. */
  prefill?: Omit<WorkerPoolOptions, "card">;
  metrics: FrontendMetrics;
  /**
   * How many times a request whose worker fails mid-stream is resent to another worker, with
   * the tokens generated so far appended to its prompt (default 1; 0 disables migration).
   */
  migrationLimit?: number;
  disaggregation?: DisaggregationOptions;
  /** Tool-call and reasoning parsers (absent: detected from the chat template). */
  parsers?: ParserChoice;
  /**
   * A stream whose worker has left the fleet and that sends nothing for this long is given up
   * on and migrated (ms, default 5000). A draining worker keeps sending, so it is not affected.
   */
  orphanStallMs?: number;
  /** Told when a remote prefill failed and the request is prefilled locally instead (to log it). */
  onPrefillFallback?: (prefillWorker: WorkerId, error: unknown) => void;
  /**
   * Scale to zero: a request that finds no worker waits this long for one (the planner is
   * starting it) before its 503, and the model stays listed in /v1/models (ms, default 0:
   * no wait).
   */
  coldStartWaitMs?: number;
}

/** Outputs read ahead of a slow client, to be sent to it merged. */
const READ_AHEAD_OUTPUTS = 256;

/** Errors after which a request is resent elsewhere: its worker is gone, not the request bad. */
function isWorkerFailure(err: unknown): boolean {
  return isTurbineError(err) && (err.code === "RUNTIME_CONNECTION_LOST" || err.code === "RUNTIME_NO_INSTANCE");
}

/** A routed request's stream, and where it went. */
export interface RoutedStream {
  decision: RoutingDecision;
  outputs: AsyncIterable<EngineOutput>;
}

export class ModelPipeline {
  readonly card: ModelCard;
  readonly tokenizer: Tokenizer;
  readonly preprocessor: Preprocessor;
  /** Where long prompts are encoded, off the event loop (null: on it). */
  readonly tokenizerThreads: TokenizerThreads | null;
  readonly created = Math.floor(Date.now() / 1000);
  readonly decode: WorkerPool;
  /** Prefill workers of this model (empty pool when none). */
  readonly prefill: WorkerPool | null;

  private numWaiting = 0;
  private readonly stopCollectingWaiting: () => void;

  constructor(private readonly options: ModelPipelineOptions) {
    this.card = options.card;
    // One gauge per registry, shared by its pipelines; the planner reads it to start a worker.
    const registry = options.metrics.registry;
    const gauge =
      (registry.getSingleMetric("turbine_requests_waiting_for_workers") as Gauge<"model"> | undefined) ??
      new Gauge({ name: "turbine_requests_waiting_for_workers", help: "Requests waiting for a worker of a model that has none (scale to zero)", labelNames: ["model"] as const, registers: [registry] });
    this.stopCollectingWaiting = options.metrics.onCollect(() => gauge.set({ model: this.card.name }, this.numWaiting));
    this.tokenizer = options.tokenizer;
    const source = options.tokenizerSource;
    this.tokenizerThreads = source && tokenizerRunsInThreads(source, options.tokenizer) && options.tokenizerThreads?.threads !== 0 ? new TokenizerThreads(source, options.tokenizer, options.tokenizerThreads) : null;
    this.tokenizerThreads?.countIn(options.metrics.forModel(options.card.name).tokenizerThreads);
    this.preprocessor = new Preprocessor({
      card: options.card,
      tokenizer: options.tokenizer,
      chatTemplate: options.chatTemplate,
      ...(options.parsers !== undefined ? { parsers: options.parsers } : {}),
      ...(this.tokenizerThreads ? { threads: this.tokenizerThreads } : {}),
      ...(options.promptCache !== undefined ? { promptCache: options.promptCache } : {}),
    });
    this.decode = new WorkerPool({ ...options.decode, card: options.card });
    this.prefill = options.prefill ? new WorkerPool({ ...options.prefill, card: options.card }) : null;
  }

  /** The decode pool's router (the one that chooses who generates). */
  get router(): WorkerPool["router"] {
    return this.decode.router;
  }

  get numWorkers(): number {
    return this.decode.numWorkers;
  }

  get numPrefillWorkers(): number {
    return this.prefill?.numWorkers ?? 0;
  }

  get numIndexedBlocks(): number {
    return this.decode.numIndexedBlocks;
  }

  routableWorkers(): WorkerId[] {
    return this.decode.routableWorkers();
  }

  /** Routes a request and streams its tokens. Throws 503s when nobody can take it. */
  generate(request: PreprocessedRequest, signal: AbortSignal, parent: Context = ROOT_CONTEXT): RoutedStream {
    const decision = tracedRoute(parent, "decode", (explain) => this.decode.route(request, explain));
    return { decision, outputs: this.stream(decision, request, signal, parent) };
  }

  get coldStartWaitMs(): number {
    return this.options.coldStartWaitMs ?? 0;
  }

  /** Requests waiting in waitForWorkers now. */
  get numWaitingForWorkers(): number {
    return this.numWaiting;
  }

  /**
   * Resolves at once when a worker can take requests; otherwise waits up to `timeoutMs`
   * (default coldStartWaitMs) for one to join, then fails with a 503 and Retry-After.
   * With no wait configured it resolves, and routing answers as it always did.
   */
  async waitForWorkers(signal: AbortSignal, timeoutMs = this.coldStartWaitMs): Promise<void> {
    if (this.decode.routableWorkers().length > 0 || timeoutMs <= 0) return;
    this.numWaiting++;
    try {
      const end = performance.now() + timeoutMs;
      while (this.decode.routableWorkers().length === 0) {
        if (signal.aborted) throw new TurbineError("RUNTIME_CANCELLED", "client disconnected while waiting for a worker");
        if (performance.now() >= end) {
          throw new TurbineError("ROUTER_NO_WORKERS", `no worker of ${this.card.name} started within ${timeoutMs} ms`, { retryAfterSeconds: Math.max(1, Math.ceil(timeoutMs / 1000)) });
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      this.numWaiting--;
    }
  }

  close(): void {
    void this.tokenizerThreads?.close();
    this.stopCollectingWaiting();
    this.decode.close();
    this.prefill?.close();
  }

  /**
   * Prefill on a prefill worker when it pays (the router's rule, planPrefill: the prompt's
   * uncached part on the chosen decode worker is long enough, the prefill workers are not too
   * busy). Returns where the KV waits, or null to prefill locally. A prefill worker that fails
   * costs a local prefill, never the request; every local prefill of a model with prefill
   * workers is counted with its reason, and a failed remote one is logged.
   */
  private async remotePrefill(request: PreprocessedRequest, decision: RoutingDecision, signal: AbortSignal, parent: Context): Promise<KvTransferParams | null> {
    const pool = this.prefill;
    if (!pool) return null;
    const metrics = this.options.metrics;
    const plan = planPrefill(
      {
        promptTokens: request.tokenIds.length,
        cachedTokens: decision.cachedTokens,
        numPrefillWorkers: pool.routableWorkers().length,
        prefillQueueTokens: pool.router.meanActivePrefillTokens(),
      },
      this.options.disaggregation ?? {},
      () => tracedRoute(parent, "prefill", (explain) => pool.route(request, explain)),
    );
    if (plan.decision === null) {
      // A model without any prefill worker is simply served aggregated: not a fallback.
      if (plan.place !== "no_prefill_workers" || pool.numWorkers > 0) metrics.localPrefills.inc({ model: this.card.name, reason: plan.place });
      return null;
    }
    const chosen = plan.decision;
    // Our own signal: a prefill worker that leaves the fleet mid-request is given up on.
    const call = new AbortController();
    const onAbort = (): void => call.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    // A prefill worker that leaves the fleet and does not answer soon is given up on (a local
    // prefill follows); a draining one normally finishes first.
    let stall: NodeJS.Timeout | undefined;
    const unwatch = pool.onWorkerLost(chosen.workerId, () => {
      stall = setTimeout(() => call.abort(), this.options.orphanStallMs ?? 5000);
    });
    const hop = startHop(parent, chosen.workerId, { "turbine.disagg_phase": "prefill" });
    try {
      let params: KvTransferParams | null = null;
      for await (const out of pool.call(chosen.workerId, { ...request, disaggPhase: "prefill" }, call.signal, hop.trace)) {
        if (out.kvTransfer) params = out.kvTransfer;
        if (out.finishReason === "error") throw engineOutputError(out.error);
      }
      metrics.remotePrefills.inc({ model: this.card.name, outcome: params ? "ok" : "empty" });
      if (!params) metrics.localPrefills.inc({ model: this.card.name, reason: "prefill_empty" });
      return params;
    } catch (err) {
      hop.end(err);
      if (signal.aborted) throw err;
      if (isWorkerFailure(err)) pool.suspend(chosen.workerId);
      metrics.remotePrefills.inc({ model: this.card.name, outcome: "failed" });
      metrics.localPrefills.inc({ model: this.card.name, reason: "prefill_failed" });
      this.options.onPrefillFallback?.(chosen.workerId, err);
      return null;
    } finally {
      hop.end();
      unwatch();
      clearTimeout(stall);
      signal.removeEventListener("abort", onAbort);
      pool.markFinished(request);
    }
  }

  /**
   * Streams one request, migrating it when its worker fails mid-stream: the request is resent
   * to another worker with the tokens generated so far appended to its prompt
   * (`numPrefilledOutputTokens`), so the client sees one stream, no token repeated or lost.
   */
  private async *stream(first: RoutingDecision, request: PreprocessedRequest, signal: AbortSignal, parent: Context): AsyncGenerator<EngineOutput> {
    const pool = this.decode;
    const limit = this.options.migrationLimit ?? 1;
    const generated: number[] = [];
    // Text of outputs that came as a count without ids (an upstream server): tokenized only
    // if the request migrates.
    let generatedText = "";
    let decision = first;
    let attempt = request;
    for (let migrations = 0; ; migrations++) {
      let prefillDone = false;
      let finished = false;
      // Our own signal, so that leaving early (a stop string) cancels the worker's stream at
      // once, even while the read-ahead is waiting on it.
      const call = new AbortController();
      const onAbort = (): void => call.abort();
      signal.addEventListener("abort", onAbort, { once: true });
      // A worker that leaves the fleet while streaming is either draining (it keeps sending
      // tokens until done) or gone (partitioned, frozen: its lease expired and its stream may
      // never fail by itself). Once it has left, a stream that stalls for `orphanStallMs` is
      // given up on and migrated.
      let lost = false;
      let stall: NodeJS.Timeout | undefined;
      const giveUp = (): void => {
        lost = true;
        call.abort();
      };
      const stallMs = this.options.orphanStallMs ?? 5000;
      const unwatch = pool.onWorkerLost(decision.workerId, () => {
        stall = setTimeout(giveUp, stallMs);
      });
      let hop: Hop | undefined;
      try {
        if (migrations === 0) {
          const kvTransfer = await this.remotePrefill(request, decision, call.signal, parent);
          if (kvTransfer) {
            attempt = { ...request, kvTransfer };
            // It reaches its decode worker only now: its booking there is young again.
            pool.markDispatched(request);
          }
        }
        hop = startHop(parent, decision.workerId, { "turbine.attempt": migrations });
        const stream = pool.call(decision.workerId, attempt, call.signal, hop.trace);
        for await (const batch of readAhead(stream, READ_AHEAD_OUTPUTS)) {
          const out = mergeEngineOutputs(batch);
          stall?.refresh();
          if (!prefillDone && outputTokenCount(out) > 0) {
            prefillDone = true;
            pool.markPrefillDone(request);
          }
          for (const t of out.tokenIds) generated.push(t);
          if (out.numTokens !== undefined && out.text !== undefined) generatedText += out.text;
          if (out.finishReason) finished = true;
          yield out;
        }
        if (finished || signal.aborted) return;
        throw new TurbineError("RUNTIME_CONNECTION_LOST", `worker ${decision.workerId} ended the stream before the request finished`);
      } catch (caught) {
        const err = lost && !signal.aborted ? new TurbineError("RUNTIME_CONNECTION_LOST", `worker ${decision.workerId} left the fleet mid-request`, { cause: caught }) : caught;
        hop?.end(err);
        if (signal.aborted || !isWorkerFailure(err) || migrations >= limit) throw err;
        finished = true; // this attempt is over; don't abort the next one's signal
        pool.suspend(decision.workerId);
      } finally {
        hop?.end();
        unwatch();
        clearTimeout(stall);
        signal.removeEventListener("abort", onAbort);
        if (!finished) call.abort();
        pool.markFinished(request);
      }
      if (generatedText.length > 0) {
        for (const t of this.tokenizer.encode(generatedText, { addSpecialTokens: false })) generated.push(t);
        generatedText = "";
      }
      const base = request.numPrefilledOutputTokens ?? 0;
      attempt = {
        ...request,
        tokenIds: [...request.tokenIds, ...generated],
        numPrefilledOutputTokens: base + generated.length,
      };
      // A pin to the worker that failed cannot hold: the next attempt goes where the router says.
      if (request.routing?.workerId !== undefined) {
        const { workerId: _failed, ...rest } = request.routing;
        attempt.routing = rest;
      }
      this.options.metrics.migrations.inc({ model: this.card.name });
      const failed = decision.workerId;
      decision = tracedRoute(parent, "decode", (explain) => pool.route(attempt, explain));
      this.options.metrics.fleetState.migrated(this.card.name, failed, decision.workerId);
    }
  }
}
