// The workers of one model in one role (aggregated/decode, or prefill), with the router that
// chooses among them and the KV index fed by their events. A pool owns its workers' routing
// state: membership, suspension after a failure, index resyncs.
import { SHARED_STORE_SUFFIX, TurbineError, asWorkerId, isSharedStoreWorkerId } from "../protocols/index.ts";
import type {
  EngineOutput,
  KvBlockSetDump,
  KvCacheEvent,
  ModelCard,
  PreprocessedRequest,
  RouterSyncMessage,
  WorkerId,
  WorkerLoadMetrics,
} from "../protocols/index.ts";
import { ApproxIndexer, KvEventIngestor, RadixIndexer } from "../kv/index.ts";
import { Router } from "../router/index.ts";
import type { RouterOptions, RoutingDecision } from "../router/index.ts";
import type { EndpointClient } from "../runtime/index.ts";
import type { FrontendMetrics, ModelMetrics } from "./metrics.ts";

export interface WorkerPoolOptions {
  card: ModelCard;
  generate: EndpointClient<PreprocessedRequest, EngineOutput>;
  dump: EndpointClient<unknown, KvBlockSetDump>;
  router: Omit<RouterOptions, "blockSize" | "indexer">;
  metrics: FrontendMetrics;
  /** Shares this router's decisions with the other replicas (absent: a single router). */
  publishSync?: (message: Omit<RouterSyncMessage, "replicaId">) => void;
  /** How long a worker whose stream broke stays out of routing unless discovery drops it first (ms, default 15000). */
  suspendMs?: number;
  /** Which pool this is; only the generating pool reports the model's KV hit rate. Default "decode". */
  role?: "decode" | "prefill";
}

export class WorkerPool {
  readonly router: Router;
  private readonly ingestor: KvEventIngestor | null;
  private readonly workers = new Set<WorkerId>();
  private readonly cards = new Map<WorkerId, ModelCard>();
  private readonly suspended = new Map<WorkerId, NodeJS.Timeout>();
  /** Per worker: the event id its metrics claimed while our index was behind it. */
  private readonly behind = new Map<WorkerId, number>();
  /** Per worker: what to do with the requests in flight on it if it goes away. */
  private readonly lostHandlers = new Map<WorkerId, Set<() => void>>();
  private readonly modelMetrics: ModelMetrics;
  private readonly stopCollecting: () => void;

  constructor(private readonly options: WorkerPoolOptions) {
    const withEvents = options.card.publishesKvEvents ?? true;
    const indexer = withEvents ? new RadixIndexer() : new ApproxIndexer();
    this.ingestor = indexer instanceof RadixIndexer ? new KvEventIngestor(indexer, { requestDump: (id) => this.fetchDump(id) }) : null;
    this.router = new Router({ ...options.router, blockSize: options.card.kvBlockSize, indexer });
    this.modelMetrics = options.metrics.forModel(options.card.name);
    this.stopCollecting = options.metrics.onCollect(() => this.collectMetrics());
  }

  get model(): string {
    return this.options.card.name;
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

  /** Prompt tokens routed to the pool and not yet prefilled, per routable worker. */
  meanPendingPrefillTokens(): number {
    const ids = this.router.workerIds();
    if (ids.length === 0) return Infinity;
    let sum = 0;
    for (const id of ids) sum += this.router.workerLoad(id)?.activePrefillTokens ?? 0;
    return sum / ids.length;
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

  /**
   * Calls `onLost` if the worker leaves the fleet (discovery drops it) while a request is in
   * flight on it: a partitioned worker's stream may never fail on its own. Returns the
   * function that cancels the registration.
   */
  onWorkerLost(workerId: WorkerId, onLost: () => void): () => void {
    let set = this.lostHandlers.get(workerId);
    if (!set) this.lostHandlers.set(workerId, (set = new Set()));
    set.add(onLost);
    return () => {
      set.delete(onLost);
      if (set.size === 0 && this.lostHandlers.get(workerId) === set) this.lostHandlers.delete(workerId);
    };
  }

  removeWorker(workerId: WorkerId): void {
    const handlers = this.lostHandlers.get(workerId);
    this.lostHandlers.delete(workerId);
    if (handlers) for (const h of handlers) h();
    clearTimeout(this.suspended.get(workerId));
    this.suspended.delete(workerId);
    this.behind.delete(workerId);
    this.cards.delete(workerId);
    if (!this.workers.delete(workerId)) return;
    this.router.removeWorker(workerId);
    this.ingestor?.removeWorker(workerId);
    const labels = { model: this.model, worker: workerId };
    this.options.metrics.workerActiveBlocks.remove(labels);
    this.options.metrics.workerPrefillTokens.remove(labels);
    this.options.metrics.workerKvUsage.remove(labels);
  }

  /** Another router replica's decision about a request of this pool. */
  applySync(m: RouterSyncMessage): void {
    if (m.kind === "routed") {
      if (m.workerId !== undefined && this.workers.has(m.workerId)) this.router.applyRemoteRouted(m.requestId, m.workerId, m.prefillTokens ?? 0, m.blocks ?? 0);
    } else if (m.kind === "prefill_done") this.router.markPrefillDone(m.requestId);
    else this.router.markFinished(m.requestId);
  }

  applyKvEvent(event: KvCacheEvent): void {
    // Shared-store (G4) events are the publishing worker's to vouch for; the router credits them to all.
    const owner = isSharedStoreWorkerId(event.workerId) ? asWorkerId(event.workerId.slice(0, -SHARED_STORE_SUFFIX.length)) : event.workerId;
    if (!this.workers.has(owner)) return;
    this.ingestor?.ingest(event);
  }

  updateMetrics(m: WorkerLoadMetrics): void {
    if (!this.workers.has(m.workerId)) return;
    this.checkIndexLag(m);
    this.router.updateMetrics(m);
    this.options.metrics.workerKvUsage.set({ model: this.model, worker: m.workerId }, m.kvUsage);
  }

  /** Routes a request (throws 503s when nobody can take it) and tells the other replicas. */
  route(request: PreprocessedRequest): RoutingDecision {
    const decision = this.router.route(request, Date.now());
    this.recordDecision(decision);
    this.options.publishSync?.({
      model: this.model,
      kind: "routed",
      requestId: request.requestId,
      workerId: decision.workerId,
      prefillTokens: request.tokenIds.length - decision.cachedTokens,
      blocks: decision.promptBlocks,
    });
    return decision;
  }

  call(workerId: WorkerId, request: PreprocessedRequest, signal: AbortSignal): AsyncIterable<EngineOutput> {
    return this.options.generate.call(workerId, request, { signal });
  }

  markPrefillDone(request: PreprocessedRequest): void {
    if (this.router.markPrefillDone(request.requestId)) {
      this.options.publishSync?.({ model: this.model, kind: "prefill_done", requestId: request.requestId });
    }
  }

  markFinished(request: PreprocessedRequest): void {
    this.router.markFinished(request.requestId);
    this.options.publishSync?.({ model: this.model, kind: "finished", requestId: request.requestId });
  }

  /** Takes a worker whose stream broke out of routing until discovery drops it, or for a while. */
  suspend(workerId: WorkerId): void {
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

  close(): void {
    this.stopCollecting();
    for (const t of this.suspended.values()) clearTimeout(t);
    this.suspended.clear();
  }

  /**
   * Lost KV events leave no gap to see when nothing follows them (the last events before a
   * NATS outage). The metrics say which event the worker is at: an index still behind that
   * one report later has lost events, and is rebuilt from the worker's dump.
   */
  private checkIndexLag(m: WorkerLoadMetrics): void {
    const ingestor = this.ingestor;
    if (!ingestor || m.lastKvEventId === undefined) return;
    const have = ingestor.indexer.lastEventId(m.workerId);
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

  private recordDecision(d: RoutingDecision): void {
    const m = this.modelMetrics;
    m.routerHash.observe(d.timings.hashUs / 1e6);
    m.routerMatch.observe(d.timings.matchUs / 1e6);
    m.routerSchedule.observe(d.timings.scheduleUs / 1e6);
  }

  /** Sets the router-state gauges; run at scrape time, not per request. */
  private collectMetrics(): void {
    const metrics = this.options.metrics;
    if (this.options.role !== "prefill") metrics.kvHitRate.set({ model: this.model }, this.router.stats().kvHitRate);
    for (const workerId of this.workers) {
      const load = this.router.workerLoad(workerId);
      if (!load) continue;
      const labels = { model: this.model, worker: workerId };
      metrics.workerActiveBlocks.set(labels, load.activeDecodeBlocks);
      metrics.workerPrefillTokens.set(labels, load.activePrefillTokens);
    }
  }

  private async fetchDump(workerId: WorkerId): Promise<KvBlockSetDump> {
    const [dump] = await this.options.dump.collect(workerId, {});
    if (!dump) throw new TurbineError("RUNTIME_CONNECTION_LOST", `worker ${workerId} returned no block set`);
    return dump;
  }
}
