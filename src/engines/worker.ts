// A worker serves one engine as the `generate` endpoint of a component, registers its model
// card, publishes its KV events and load metrics, and serves its block set on `kv_dump`
// so that a router that missed events can resync, and its tokenizer files on `model_files` so
// that a frontend that cannot read the worker's paths can serve the model.
import {
  TurbineError,
  mergeEngineOutputs,
  BACKEND_COMPONENT,
  GENERATE_ENDPOINT,
  KV_DUMP_ENDPOINT,
  MODEL_FILES_ENDPOINT,
  asWorkerId,
  kvEventsSubject,
  loadMetricsSubject,
  outputTokenCount,
  sharedStoreWorkerId,
} from "../protocols/index.ts";
import type {
  EngineOutput,
  KvBlockSetDump,
  ModelCard,
  PreprocessedRequest,
  TokenizerFileChunk,
  WorkerId,
  WorkerLoadMetrics,
} from "../protocols/index.ts";
import { KvBlockSet } from "../kv/index.ts";
import { tokenizerFileChunks, withTokenizerDigest } from "../model/index.ts";
import { newInstanceId, readAhead } from "../runtime/index.ts";
import { TransferAgent } from "../transfer/index.ts";
import type { HandlerContext, Runtime, ServedEndpoint } from "../runtime/index.ts";
import type { Engine } from "./engine.ts";
import { WorkerRequestTrace } from "./worker-tracing.ts";

/** Outputs a worker reads ahead of a slow caller, to send them merged. */
const READ_AHEAD_OUTPUTS = 256;

export interface WorkerOptions {
  runtime: Runtime;
  engine: Engine;
  namespace: string;
  /** Component the worker serves under (default "backend"). */
  component?: string;
  /** How often load metrics are published (ms, default 100). */
  metricsIntervalMs?: number;
  /** Address the KV transfer agent serves on (default 127.0.0.1). */
  transferHost?: string;
  /** How long an exported KV region waits to be pulled (ms, default 30000). */
  kvRegionTtlMs?: number;
  /** Told of every KV import that failed, before the engine prefills the prompt itself (to log it). */
  onKvImportFallback?: (reason: KvImportFallbackReason, error: unknown) => void;
}

/** Why a decode worker prefilled a prompt itself instead of importing its KV. */
export type KvImportFallbackReason = "connect_failed" | "fetch_failed" | "import_failed";

/** Metadata a worker registers with its generate endpoint. */
export interface WorkerMetadata {
  modelCard: ModelCard;
  [key: string]: unknown;
}

export class Worker {
  readonly workerId: WorkerId;
  private readonly blockSet: KvBlockSet;
  private served: ServedEndpoint[] = [];
  private metricsTimer: NodeJS.Timeout | undefined;
  private unsubscribeKv: (() => void) | undefined;
  private stopped = false;
  private agent: Promise<TransferAgent> | undefined;
  private numExports = 0;
  private numKvImports = 0;
  private numKvImportFailures = 0;
  private readonly kvImportFallbacks = new Map<KvImportFallbackReason, number>();
  private readonly kvImportsByPath = new Map<"shm" | "tcp", number>();

  private constructor(
    private readonly options: WorkerOptions,
    workerId: WorkerId,
  ) {
    this.workerId = workerId;
    this.blockSet = new KvBlockSet(workerId);
  }

  static async start(options: WorkerOptions): Promise<Worker> {
    const worker = new Worker(options, asWorkerId(newInstanceId()));
    await worker.startServing();
    return worker;
  }

  get engine(): Engine {
    return this.options.engine;
  }

  get component(): string {
    return this.options.component ?? BACKEND_COMPONENT;
  }

  /** Requests in flight on the generate endpoint. */
  get numInFlight(): number {
    return this.served[0]?.numInFlight ?? 0;
  }

  loadMetrics(): WorkerLoadMetrics {
    return {
      ...this.options.engine.load(),
      workerId: this.workerId,
      timestamp: Date.now(),
      lastKvEventId: this.blockSet.lastEventId,
    };
  }

  private async startServing(): Promise<void> {
    const { runtime, engine, namespace } = this.options;
    const events = runtime.events;
    const kvSubject = kvEventsSubject(namespace, this.component);
    // Subscribe before serving: no block stored by a request can be missed.
    // The shared store's (KVBM G4) events go under the worker's shared-store id, numbered apart.
    const sharedSet = new KvBlockSet(sharedStoreWorkerId(this.workerId));
    this.unsubscribeKv = engine.onKvEvent((e) => {
      events.publish(kvSubject, (e.shared === true ? sharedSet : this.blockSet).apply(e.tier, e.data));
    });
    const component = runtime.namespace(namespace).component(this.component);
    // The card names its tokenizer files by digest; the files are read once, here, and kept.
    const { card, files } = await withTokenizerDigest(engine.card);
    const metadata: WorkerMetadata = { modelCard: card };
    const modelFiles = await component.endpoint(MODEL_FILES_ENDPOINT).serve<unknown, TokenizerFileChunk>(
      async function* (this: void, _req: unknown) {
        yield* tokenizerFileChunks(files);
      },
      { instanceId: this.workerId },
    );
    const dump = await component.endpoint(KV_DUMP_ENDPOINT).serve<unknown, KvBlockSetDump>(
      async function* (this: void, _req: unknown) {
        yield dumpOf();
      },
      { instanceId: this.workerId },
    );
    const dumpOf = (): KvBlockSetDump => this.blockSet.dump();
    const generate = await component.endpoint(GENERATE_ENDPOINT).serve<PreprocessedRequest, EngineOutput>(
      (request: PreprocessedRequest, ctx: HandlerContext) => this.handle(request, ctx),
      { instanceId: this.workerId, metadata },
    );
    this.served = [generate, dump, modelFiles];
    const metricsSubject = loadMetricsSubject(namespace, this.component);
    this.metricsTimer = setInterval(
      () => events.publish(metricsSubject, this.loadMetrics()),
      this.options.metricsIntervalMs ?? 100,
    );
    this.metricsTimer.unref();
  }

  /** One request on `generate`: a disaggregated prefill, or a generation (after pulling its KV, if a prefill worker made it). */
  private async *handle(request: PreprocessedRequest, ctx: HandlerContext): AsyncGenerator<EngineOutput> {
    const engine = this.options.engine;
    const tr = WorkerRequestTrace.start(ctx.trace, () => ({
      "turbine.worker_id": this.workerId,
      "turbine.role": engine.card.role,
      "turbine.request_id": request.requestId,
      "turbine.prompt_tokens": request.tokenIds.length,
      ...(request.disaggPhase ? { "turbine.disagg_phase": request.disaggPhase } : {}),
    }));
    // One generator from the engine to the request plane (each async layer costs a promise
    // and a tick per output).
    try {
      if (request.disaggPhase === "prefill") {
        tr.begin("queue");
        yield await this.prefillForTransfer(request, ctx.signal, tr);
        return;
      }
      if (request.kvTransfer && engine.importPrefilledKv) {
        tr.begin("kv_transfer", { "turbine.kv_tokens": request.kvTransfer.numTokens });
        tr.annotate({ "turbine.kv_transfer.outcome": (await this.pullKv(request, ctx.signal)) ? "ok" : "failed" });
      }
      tr.begin("queue");
      let first = true;
      const outputs = engine.generate(request, { signal: ctx.signal, onScheduled: tr.scheduled });
      // Across a network, tokens the caller has not taken yet go out together: one message, not
      // one per token. An in-process caller reads ahead itself.
      for await (const out of ctx.local ? outputs : merged(readAhead(outputs, READ_AHEAD_OUTPUTS))) {
        if (first && outputTokenCount(out) > 0) {
          first = false;
          tr.firstToken();
        }
        // Stopped under the request (not drained): to the caller this worker failed, so the
        // request is migrated rather than ended as "cancelled".
        if (out.finishReason === "cancelled" && this.stopped && !ctx.signal.aborted) {
          throw new TurbineError("RUNTIME_CONNECTION_LOST", `worker ${this.workerId} stopped`);
        }
        yield out;
      }
    } catch (err) {
      tr.finish(err);
      throw err;
    } finally {
      tr.finish();
    }
  }

  /** Computes the prompt's KV and leaves it in a registered region for the decode worker to pull. */
  private async prefillForTransfer(request: PreprocessedRequest, signal: AbortSignal, tr: WorkerRequestTrace): Promise<EngineOutput> {
    const engine = this.options.engine;
    if (!engine.prefillForTransfer) {
      throw new TurbineError("REQUEST_UNSUPPORTED", `the ${engine.card.name} engine of worker ${this.workerId} cannot export KV`);
    }
    const kv = await engine.prefillForTransfer(request, { signal, onScheduled: tr.scheduled });
    tr.begin("kv_export", { "turbine.kv_bytes": kv.byteLength });
    const agent = await this.transferAgent();
    const region = agent.register({ regionId: `kv-${this.workerId}-${++this.numExports}`, data: kv });
    // The decode worker pulls it at once; a region nobody pulled goes after a while.
    setTimeout(() => agent.deregister(region), this.options.kvRegionTtlMs ?? 30_000).unref();
    return {
      tokenIds: [],
      finishReason: "stop",
      kvTransfer: { agent: { ...agent.metadata }, descriptor: region.descriptor(), numTokens: request.tokenIds.length },
    };
  }

  /** Pulls a prefill worker's KV into the engine. On failure the engine prefills itself: the request never fails for it. */
  private async pullKv(request: PreprocessedRequest, signal: AbortSignal): Promise<boolean> {
    const params = request.kvTransfer!;
    let stage: KvImportFallbackReason = "connect_failed";
    try {
      const agent = await this.transferAgent();
      const peer = await agent.connect(params.agent);
      stage = "fetch_failed";
      const kv = await agent.fetch(params.descriptor, { signal });
      stage = "import_failed";
      await this.options.engine.importPrefilledKv!(request.tokenIds.slice(0, params.numTokens), kv, { signal });
      this.numKvImports++;
      this.kvImportsByPath.set(peer.path, (this.kvImportsByPath.get(peer.path) ?? 0) + 1);
      return true;
    } catch (err) {
      if (signal.aborted) throw err;
      this.numKvImportFailures++;
      this.kvImportFallbacks.set(stage, (this.kvImportFallbacks.get(stage) ?? 0) + 1);
      this.options.onKvImportFallback?.(stage, err);
      return false;
    }
  }

  /** KV imports that succeeded, by the path the bytes took (shm: same host; tcp: across hosts). */
  kvImportCounts(): ReadonlyMap<"shm" | "tcp", number> {
    return this.kvImportsByPath;
  }

  /** KV imports that fell back to a local prefill, by reason. */
  kvImportFallbackCounts(): ReadonlyMap<KvImportFallbackReason, number> {
    return this.kvImportFallbacks;
  }

  /** The worker's transfer agent, started on first use. */
  private transferAgent(): Promise<TransferAgent> {
    this.agent ??= TransferAgent.create({ host: this.options.transferHost, auth: this.options.runtime.clusterAuth });
    return this.agent;
  }

  /** KV imports from prefill workers that succeeded, and those that fell back to a local prefill. */
  get kvTransferCounters(): { imports: number; failures: number; exports: number } {
    return { imports: this.numKvImports, failures: this.numKvImportFailures, exports: this.numExports };
  }

  /**
   * Stops the worker. With `drain`, it first deregisters (routers stop sending), then waits
   * for requests in flight to finish, up to `drainTimeoutMs` (default: no limit); what is
   * still running then, or everything without `drain`, is cancelled in the engine and reaches
   * its callers as a lost connection, so that frontends migrate it.
   */
  async stop(options: { drain?: boolean; drainTimeoutMs?: number } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.metricsTimer);
    const [generate, ...rest] = this.served;
    if (generate) {
      const stopping = generate.stop({ drain: options.drain ?? false });
      const limit = options.drain ? options.drainTimeoutMs : 0;
      if (limit === undefined) await stopping;
      else await Promise.race([stopping, new Promise((r) => setTimeout(r, limit).unref())]);
    }
    await Promise.all(rest.map((s) => s.stop()));
    this.unsubscribeKv?.();
    await this.options.engine.close();
    await this.agent?.then((a) => a.close()).catch(() => undefined);
  }

}

/** Each batch as one output, without an async generator of its own. */
function merged(batches: AsyncIterable<EngineOutput[]>): AsyncIterable<EngineOutput> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<EngineOutput> {
      const it = batches[Symbol.asyncIterator]();
      return {
        next: () => it.next().then((r): IteratorResult<EngineOutput> => (r.done ? { done: true, value: undefined } : { done: false, value: mergeEngineOutputs(r.value) })),
        return: async () => {
          await it.return?.();
          return { done: true, value: undefined };
        },
      };
    },
  };
}
