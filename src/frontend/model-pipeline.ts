// Everything the frontend holds for one model: its tokenizer and template (preprocessing),
// its router with the KV index fed by the workers' events, and the client of the workers'
// generate endpoints. `generate` routes one request and streams the chosen worker's output,
// keeping the router's active-sequence accounting right whatever way the stream ends.
import { TurbineError, isTurbineError, mergeEngineOutputs } from "../protocols/index.ts";
import type {
  EngineOutput,
  RouterSyncMessage,
  KvBlockSetDump,
  KvCacheEvent,
  ModelCard,
  PreprocessedRequest,
  WorkerId,
  WorkerLoadMetrics,
} from "../protocols/index.ts";
import { ApproxIndexer, KvEventIngestor, RadixIndexer } from "../kv/index.ts";
import { Router } from "../router/index.ts";
import type { RouterOptions, RoutingDecision } from "../router/index.ts";
import { readAhead } from "../runtime/index.ts";
import type { EndpointClient } from "../runtime/index.ts";
import type { ChatTemplate, Tokenizer } from "../model/index.ts";
import type { FrontendMetrics } from "./metrics.ts";
import { Preprocessor } from "./preprocessor.ts";

export interface ModelPipelineOptions {
  card: ModelCard;
  tokenizer: Tokenizer;
  chatTemplate: ChatTemplate;
  generate: EndpointClient<PreprocessedRequest, EngineOutput>;
  dump: EndpointClient<unknown, KvBlockSetDump>;
  router: Omit<RouterOptions, "blockSize" | "indexer">;
  metrics: FrontendMetrics;
  /**
   * How many times a request whose worker fails mid-stream is resent to another worker, with
   * the tokens generated so far appended to its prompt (default 1; 0 disables migration).
   */
  migrationLimit?: number;
  /** Shares this router's decisions with the other replicas (absent: a single router). */
  publishSync?: (message: Omit<RouterSyncMessage, "replicaId">) => void;
  /** How long a worker whose stream broke stays out of routing unless discovery drops it first (ms, default 15000). */
  suspendMs?: number;
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
  readonly router: Router;
  readonly created = Math.floor(Date.now() / 1000);
  private readonly ingestor: KvEventIngestor | null;
  private readonly workers = new Set<WorkerId>();
  private readonly cards = new Map<WorkerId, ModelCard>();
  private readonly suspended = new Map<WorkerId, NodeJS.Timeout>();
  /** Per worker: the event id its metrics claimed while our index was behind it. */
  private readonly behind = new Map<WorkerId, number>();

  constructor(private readonly options: ModelPipelineOptions) {
    this.card = options.card;
    this.tokenizer = options.tokenizer;
    this.preprocessor = new Preprocessor({ card: options.card, tokenizer: options.tokenizer, chatTemplate: options.chatTemplate });
    const withEvents = options.card.publishesKvEvents ?? true;
    const indexer = withEvents ? new RadixIndexer() : new ApproxIndexer();
    this.ingestor = indexer instanceof RadixIndexer ? new KvEventIngestor(indexer, { requestDump: (id) => this.fetchDump(id) }) : null;
    this.router = new Router({ ...options.router, blockSize: options.card.kvBlockSize, indexer });
  }

  get numWorkers(): number {
    return this.workers.size;
  }

  /** (worker, block) entries in the router's KV index. */
  get numIndexedBlocks(): number {
    return this.router.indexer.size;
  }

  /** Workers the router can choose now (those not suspended after a failure). */
  routableWorkers(): WorkerId[] {
    return this.router.workerIds();
  }

  hasWorker(workerId: WorkerId): boolean {
    return this.workers.has(workerId);
  }

  addWorker(workerId: WorkerId, card: ModelCard): void {
    if (this.workers.has(workerId)) return;
    this.workers.add(workerId);
    this.cards.set(workerId, card);
    this.router.addWorker(workerId, { totalBlocks: card.numKvBlocks });
    // Learn what it already caches (a router that starts late, a worker that restarted).
    this.ingestor?.resync(workerId);
  }

  removeWorker(workerId: WorkerId): void {
    clearTimeout(this.suspended.get(workerId));
    this.suspended.delete(workerId);
    this.behind.delete(workerId);
    this.cards.delete(workerId);
    if (!this.workers.delete(workerId)) return;
    this.router.removeWorker(workerId);
    this.ingestor?.removeWorker(workerId);
    const labels = { model: this.card.name, worker: workerId };
    this.options.metrics.workerActiveBlocks.remove(labels);
    this.options.metrics.workerPrefillTokens.remove(labels);
    this.options.metrics.workerKvUsage.remove(labels);
  }

  /** Another router replica's decision about a request of this model. */
  applySync(m: RouterSyncMessage): void {
    if (m.kind === "routed") {
      if (m.workerId !== undefined) this.router.applyRemoteRouted(m.requestId, m.workerId, m.prefillTokens ?? 0, m.blocks ?? 0);
    } else if (m.kind === "prefill_done") this.router.markPrefillDone(m.requestId);
    else this.router.markFinished(m.requestId);
  }

  applyKvEvent(event: KvCacheEvent): void {
    if (!this.workers.has(event.workerId)) return;
    this.ingestor?.ingest(event);
  }

  updateMetrics(m: WorkerLoadMetrics): void {
    if (!this.workers.has(m.workerId)) return;
    this.checkIndexLag(m);
    this.router.updateMetrics(m);
    this.options.metrics.workerKvUsage.set({ model: this.card.name, worker: m.workerId }, m.kvUsage);
  }

  /**
   * Lost KV events leave no gap to see when nothing follows them (the last events before a
   * NATS outage). The metrics say which event the worker is at: an index still behind that
   * one report later has lost events, and is rebuilt from the worker's dump.
   */
  private checkIndexLag(m: WorkerLoadMetrics): void {
    const ingestor = this.ingestor;
    if (!ingestor || m.lastKvEventId === undefined) return;
    const have = (ingestor.indexer as RadixIndexer).lastEventId(m.workerId);
    const claimed = this.behind.get(m.workerId);
    if (have >= m.lastKvEventId) {
      this.behind.delete(m.workerId);
    } else if (claimed === undefined) {
      this.behind.set(m.workerId, m.lastKvEventId);
    } else if (have < claimed) {
      this.behind.delete(m.workerId);
      ingestor.resync(m.workerId);
    }
  }

  /** Routes a request and streams the chosen worker's output. Throws 503s when nobody can take it. */
  generate(request: PreprocessedRequest, signal: AbortSignal): RoutedStream {
    const decision = this.route(request);
    return { decision, outputs: this.stream(decision, request, signal) };
  }

  close(): void {
    for (const t of this.suspended.values()) clearTimeout(t);
    this.suspended.clear();
  }

  private route(request: PreprocessedRequest): RoutingDecision {
    const decision = this.router.route(request, Date.now());
    this.recordDecision(decision);
    this.options.publishSync?.({
      model: this.card.name,
      kind: "routed",
      requestId: request.requestId,
      workerId: decision.workerId,
      prefillTokens: request.tokenIds.length - decision.cachedTokens,
      blocks: decision.promptBlocks,
    });
    return decision;
  }

  /**
   * Streams one request, migrating it when its worker fails mid-stream: the request is resent
   * to another worker with the tokens generated so far appended to its prompt
   * (`numPrefilledOutputTokens`), so the client sees one stream, no token repeated or lost.
   */
  private async *stream(first: RoutingDecision, request: PreprocessedRequest, signal: AbortSignal): AsyncGenerator<EngineOutput> {
    const { router } = this;
    const sync = this.options.publishSync;
    const limit = this.options.migrationLimit ?? 1;
    const generated: number[] = [];
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
      try {
        const stream = this.options.generate.call(decision.workerId, attempt, { signal: call.signal });
        for await (const batch of readAhead(stream, READ_AHEAD_OUTPUTS)) {
          const out = mergeEngineOutputs(batch);
          if (!prefillDone && out.tokenIds.length > 0) {
            prefillDone = true;
            router.markPrefillDone(request.requestId);
            sync?.({ model: this.card.name, kind: "prefill_done", requestId: request.requestId });
          }
          for (const t of out.tokenIds) generated.push(t);
          if (out.finishReason) finished = true;
          yield out;
        }
        if (finished || signal.aborted) return;
        throw new TurbineError("RUNTIME_CONNECTION_LOST", `worker ${decision.workerId} ended the stream before the request finished`);
      } catch (err) {
        if (signal.aborted || !isWorkerFailure(err) || migrations >= limit) throw err;
        finished = true; // this attempt is over; don't abort the next one's signal
        this.suspend(decision.workerId);
      } finally {
        signal.removeEventListener("abort", onAbort);
        if (!finished) call.abort();
        router.markFinished(request.requestId);
        sync?.({ model: this.card.name, kind: "finished", requestId: request.requestId });
        this.publishWorkerLoad(decision.workerId);
      }
      const base = request.numPrefilledOutputTokens ?? 0;
      attempt = {
        ...request,
        tokenIds: [...request.tokenIds, ...generated],
        numPrefilledOutputTokens: base + generated.length,
      };
      this.options.metrics.migrations.inc({ model: this.card.name });
      decision = this.route(attempt);
    }
  }

  /** Takes a worker whose stream broke out of routing until discovery drops it, or for a while. */
  private suspend(workerId: WorkerId): void {
    const card = this.cards.get(workerId);
    if (!card || this.suspended.has(workerId)) return;
    this.router.removeWorker(workerId);
    this.ingestor?.removeWorker(workerId);
    const timer = setTimeout(() => {
      this.suspended.delete(workerId);
      // Still registered after the lease would have expired: it is alive, take it back.
      if (this.workers.has(workerId) && this.options.generate.instance(workerId)) {
        this.router.addWorker(workerId, { totalBlocks: card.numKvBlocks });
        this.ingestor?.resync(workerId);
      }
    }, this.options.suspendMs ?? 15_000);
    timer.unref();
    this.suspended.set(workerId, timer);
  }

  private recordDecision(d: RoutingDecision): void {
    const m = this.options.metrics;
    const model = this.card.name;
    m.routerOverhead.observe({ model, phase: "hash" }, d.timings.hashUs / 1e6);
    m.routerOverhead.observe({ model, phase: "match" }, d.timings.matchUs / 1e6);
    m.routerOverhead.observe({ model, phase: "schedule" }, d.timings.scheduleUs / 1e6);
    m.kvHitRate.set({ model }, this.router.stats().kvHitRate);
    this.publishWorkerLoad(d.workerId);
  }

  private publishWorkerLoad(workerId: WorkerId): void {
    const load = this.router.workerLoad(workerId);
    if (!load) return;
    const labels = { model: this.card.name, worker: workerId };
    this.options.metrics.workerActiveBlocks.set(labels, load.activeDecodeBlocks);
    this.options.metrics.workerPrefillTokens.set(labels, load.activePrefillTokens);
  }

  private async fetchDump(workerId: WorkerId): Promise<KvBlockSetDump> {
    const [dump] = await this.options.dump.collect(workerId, {});
    if (!dump) throw new TurbineError("RUNTIME_CONNECTION_LOST", `worker ${workerId} returned no block set`);
    return dump;
  }
}
