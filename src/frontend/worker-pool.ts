// The workers of one model in one role (aggregated/decode, or prefill), with the router that
// chooses among them and the KV index fed by their events. A pool owns its workers' routing
// state: membership, suspension after a failure, index resyncs.
import { SHARED_STORE_SUFFIX, TurbineError, asRequestId, asWorkerId, isSharedStoreWorkerId } from "../protocols/index.ts";
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
import type { EndpointClient, TraceCarrier } from "../runtime/index.ts";
import type { FleetSource } from "./fleet-state.ts";
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
  /**
   * With publishSync: how often this replica says it is alive (ms, default 2000); a replica not
   * heard from for `replicaTimeoutMs` (default 10000, an etcd lease) has left, and the bookings
   * it shared are released.
   */
  replicaHeartbeatMs?: number;
  replicaTimeoutMs?: number;
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
  /** Other router replicas: when each was last heard from (ms). */
  private readonly replicasSeen = new Map<string, number>();
  private readonly heartbeat: NodeJS.Timeout | undefined;
  private readonly beat: () => void = () => undefined;
  private readonly stopFleet: () => void;
  /** What the fleet page reads of this pool at its ticks. */
  private readonly fleetSource: FleetSource;

  constructor(private readonly options: WorkerPoolOptions) {
    const withEvents = options.card.publishesKvEvents ?? true;
    const indexer = withEvents ? new RadixIndexer() : new ApproxIndexer();
    this.ingestor = indexer instanceof RadixIndexer ? new KvEventIngestor(indexer, { requestDump: (id) => this.fetchDump(id) }) : null;
    this.router = new Router({ ...options.router, blockSize: options.card.kvBlockSize, indexer });
    this.modelMetrics = options.metrics.forModel(options.card.name);
    this.stopCollecting = options.metrics.onCollect(() => this.collectMetrics());
    if (options.publishSync) {
      const publish = options.publishSync;
      const every = options.replicaHeartbeatMs ?? 2000;
      const beat = (): void => publish({ model: this.model, kind: "heartbeat", requestId: asRequestId("") });
      this.beat = beat;
      this.heartbeat = setInterval(() => {
        beat();
        this.dropSilentReplicas(Date.now());
      }, every);
      this.heartbeat.unref();
      // At once too: the other replicas start telling this one about their requests now.
      beat();
    }
    this.fleetSource = {
      model: options.card.name,
      role: options.role ?? "decode",
      stats: () => this.router.stats(),
      workerLoad: (id) => this.router.workerLoad(id),
    };
    this.stopFleet = options.metrics.fleetState.register(this.fleetSource);
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

  hasWorker(workerId: WorkerId): boolean {
    return this.workers.has(workerId);
  }

  addWorker(workerId: WorkerId, card: ModelCard): void {
    if (this.workers.has(workerId)) return;
    this.workers.add(workerId);
    this.cards.set(workerId, card);
    this.router.addWorker(workerId, capacityOf(card));
    this.options.metrics.fleetState.workerAdded(this.fleetSource, workerId, card.role, card.name, card.numKvBlocks);
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
    const fleet = this.options.metrics.fleetState;
    fleet.streamStarted(workerId);
    return () => {
      if (set.delete(onLost)) fleet.streamEnded(workerId);
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
    this.options.metrics.fleetState.workerLeft(workerId);
    if (!this.workers.delete(workerId)) return;
    this.router.removeWorker(workerId);
    this.ingestor?.removeWorker(workerId);
    const labels = { model: this.model, worker: workerId };
    this.options.metrics.workerActiveBlocks.remove(labels);
    this.options.metrics.workerPrefillTokens.remove(labels);
    this.options.metrics.workerKvUsage.remove(labels);
    this.options.metrics.fleet.forgetWorker(this.model, workerId);
  }

  /**
   * Tells the other router replicas about a request, while there are any: a lone frontend (the
   * embedded default) publishes three messages per request to nobody otherwise. A replica that
   * starts says so at once (its first heartbeat), and is told from then on; a replica that
   * hears a new one answers at once, so the newcomer need not wait a heartbeat period to learn
   * of replicas whose first heartbeat came before it listened.
   */
  private publishRequest(message: Omit<RouterSyncMessage, "replicaId">): void {
    if (this.replicasSeen.size > 0) this.options.publishSync?.(message);
  }

  /** Another router replica's decision about a request of this pool. */
  applySync(m: RouterSyncMessage, now = Date.now()): void {
    const known = this.replicasSeen.has(m.replicaId);
    this.replicasSeen.set(m.replicaId, now);
    if (!known) this.beat();
    if (m.kind === "routed") {
      if (m.workerId !== undefined && this.workers.has(m.workerId)) {
        const booking = { requestId: m.requestId, workerId: m.workerId, prefillTokens: m.prefillTokens ?? 0, blocks: m.blocks ?? 0, replicaId: m.replicaId };
        this.router.applyRemoteRouted(booking, now);
      }
    } else if (m.kind === "prefill_done") this.router.markPrefillDone(m.requestId);
    else if (m.kind === "finished") this.router.markFinished(m.requestId);
  }

  /** Releases the bookings of replicas silent for longer than the timeout (they left). */
  dropSilentReplicas(now: number): number {
    const timeout = this.options.replicaTimeoutMs ?? 10_000;
    let n = 0;
    for (const [id, seen] of this.replicasSeen) {
      if (now - seen <= timeout) continue;
      this.replicasSeen.delete(id);
      n += this.router.dropReplica(id);
    }
    return n;
  }

  applyKvEvent(event: KvCacheEvent): void {
    // Shared-store (G4) events are the publishing worker's to vouch for; the router credits them to all.
    const owner = isSharedStoreWorkerId(event.workerId) ? asWorkerId(event.workerId.slice(0, -SHARED_STORE_SUFFIX.length)) : event.workerId;
    if (!this.workers.has(owner)) return;
    this.ingestor?.ingest(event);
    this.options.metrics.fleetState.kvEvent(event);
  }

  updateMetrics(m: WorkerLoadMetrics): void {
    if (!this.workers.has(m.workerId)) return;
    this.checkIndexLag(m);
    this.router.updateMetrics(m);
    this.options.metrics.fleetState.loadMetrics(m);
    this.options.metrics.workerKvUsage.set({ model: this.model, worker: m.workerId }, m.kvUsage);
  }

  /** Routes a request (throws 503s when nobody can take it) and tells the other replicas. */
  route(request: PreprocessedRequest, explainCandidates = 0): RoutingDecision {
    const fleet = this.options.metrics.fleetState;
    const explain = Math.max(explainCandidates, fleet.wantsDecision() ? fleet.maxCandidates : 0);
    const decision = this.router.route(request, Date.now(), explain > 0 ? { explain } : undefined);
    this.recordDecision(decision);
    if (decision.candidates) fleet.decision(this.model, this.options.role ?? "decode", decision.workerId, decision.promptBlocks, decision.candidates);
    this.publishRequest({
      model: this.model,
      kind: "routed",
      requestId: request.requestId,
      workerId: decision.workerId,
      prefillTokens: request.tokenIds.length - decision.cachedTokens,
      blocks: decision.promptBlocks,
    });
    return decision;
  }

  call(workerId: WorkerId, request: PreprocessedRequest, signal: AbortSignal, trace?: TraceCarrier): AsyncIterable<EngineOutput> {
    return this.options.generate.call(workerId, request, trace ? { signal, trace } : { signal });
  }

  markPrefillDone(request: PreprocessedRequest): void {
    if (this.router.markPrefillDone(request.requestId)) {
      this.publishRequest({ model: this.model, kind: "prefill_done", requestId: request.requestId });
    }
  }

  /** The request reaches its worker only now (after a remote prefill): see Router.markDispatched. */
  markDispatched(request: PreprocessedRequest): void {
    this.router.markDispatched(request.requestId, Date.now());
  }

  markFinished(request: PreprocessedRequest): void {
    this.router.markFinished(request.requestId);
    this.publishRequest({ model: this.model, kind: "finished", requestId: request.requestId });
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
        this.router.addWorker(workerId, capacityOf(card));
        this.ingestor?.resync(workerId);
      }
    }, this.options.suspendMs ?? 15_000);
    timer.unref();
    this.suspended.set(workerId, timer);
  }

  close(): void {
    this.stopCollecting();
    clearInterval(this.heartbeat);
    this.stopFleet();
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
    this.options.metrics.fleet.decided(this.model, d.workerId);
  }

  /** Sets the router-state gauges; run at scrape time, not per request. */
  private collectMetrics(): void {
    const metrics = this.options.metrics;
    if (this.options.role !== "prefill") {
      const stats = this.router.stats();
      metrics.kvHitRate.set({ model: this.model }, stats.kvHitRate);
      metrics.fleet.reportRouterStats(this.model, stats.numPromptBlocks, stats.numHitBlocksByTier);
    }
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
    this.options.metrics.fleetState.kvDump(dump);
    return dump;
  }
}

/** What the router needs of a worker's card. */
function capacityOf(card: ModelCard): { totalBlocks: number; maxNumSeqs?: number } {
  return card.maxNumSeqs !== undefined ? { totalBlocks: card.numKvBlocks, maxNumSeqs: card.maxNumSeqs } : { totalBlocks: card.numKvBlocks };
}
