// Everything the frontend holds for one model: its tokenizer and template (preprocessing),
// its router with the KV index fed by the workers' events, and the client of the workers'
// generate endpoints. `generate` routes one request and streams the chosen worker's output,
// keeping the router's active-sequence accounting right whatever way the stream ends.
import { TurbineError } from "../protocols/index.ts";
import type {
  EngineOutput,
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

  hasWorker(workerId: WorkerId): boolean {
    return this.workers.has(workerId);
  }

  addWorker(workerId: WorkerId, card: ModelCard): void {
    if (this.workers.has(workerId)) return;
    this.workers.add(workerId);
    this.router.addWorker(workerId, { totalBlocks: card.numKvBlocks });
  }

  removeWorker(workerId: WorkerId): void {
    if (!this.workers.delete(workerId)) return;
    this.router.removeWorker(workerId);
    this.ingestor?.removeWorker(workerId);
    const labels = { model: this.card.name, worker: workerId };
    this.options.metrics.workerActiveBlocks.remove(labels);
    this.options.metrics.workerPrefillTokens.remove(labels);
    this.options.metrics.workerKvUsage.remove(labels);
  }

  applyKvEvent(event: KvCacheEvent): void {
    if (!this.workers.has(event.workerId)) return;
    this.ingestor?.ingest(event);
  }

  updateMetrics(m: WorkerLoadMetrics): void {
    if (!this.workers.has(m.workerId)) return;
    this.router.updateMetrics(m);
    this.options.metrics.workerKvUsage.set({ model: this.card.name, worker: m.workerId }, m.kvUsage);
  }

  /** Routes a request and streams the chosen worker's output. Throws 503s when nobody can take it. */
  generate(request: PreprocessedRequest, signal: AbortSignal): RoutedStream {
    const decision = this.router.route(request, Date.now());
    this.recordDecision(decision);
    const outputs = this.stream(decision, request, signal);
    return { decision, outputs };
  }

  private async *stream(decision: RoutingDecision, request: PreprocessedRequest, signal: AbortSignal): AsyncGenerator<EngineOutput> {
    const { router } = this;
    let first = true;
    try {
      for await (const out of this.options.generate.call(decision.workerId, request, { signal })) {
        if (first && out.tokenIds.length > 0) {
          first = false;
          router.markPrefillDone(request.requestId);
        }
        yield out;
      }
    } finally {
      router.markFinished(request.requestId);
      this.publishWorkerLoad(decision.workerId);
    }
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
