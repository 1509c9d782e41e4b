// Follows the workers of a namespace and keeps one ModelPipeline per model they serve: a model
// appears with its first worker; its pipeline stays when its last worker leaves, so that
// requests for it get a clear 503 instead of a 404. Two components are followed: the one whose
// workers generate (aggregated or decode, "backend" by default) and "prefill" (disaggregated
// serving); each has its own endpoints, KV events, load metrics and router sync. It also
// follows the namespace's planner decisions, for the fleet page.
import type { ParserChoice } from "./chat-features.ts";
import {
  BACKEND_COMPONENT,
  GENERATE_ENDPOINT,
  KV_DUMP_ENDPOINT,
  MODEL_FILES_ENDPOINT,
  PREFILL_COMPONENT,
  SHARED_STORE_SUFFIX,
  TurbineError,
  asWorkerId,
  isSharedStoreWorkerId,
  kvEventsSubject,
  loadMetricsSubject,
  plannerDecisionsSubject,
  routerSyncSubject,
} from "../protocols/index.ts";
import type {
  EngineOutput,
  KvBlockSetDump,
  KvCacheEvent,
  ModelCard,
  PlannerDecisionMessage,
  PreprocessedRequest,
  RouterSyncMessage,
  TokenizerFileChunk,
  WorkerId,
  WorkerLoadMetrics,
} from "../protocols/index.ts";
import { newInstanceId } from "../runtime/index.ts";
import type { EndpointClient, InstanceInfo, Runtime, Subscription } from "../runtime/index.ts";
import { loadModelForCard } from "../model/index.ts";
import type { TokenizerThreadOptions } from "../model/index.ts";
import type { RouterOptions } from "../router/index.ts";
import type { FrontendMetrics } from "./metrics.ts";
import { ModelPipeline } from "./model-pipeline.ts";
import type { DisaggregationOptions } from "./model-pipeline.ts";
import type { PromptCacheOptions } from "./prompt-cache.ts";
import type { WorkerPool } from "./worker-pool.ts";

export interface ModelManagerOptions {
  runtime: Runtime;
  namespace: string;
  /** Component of the workers that generate (default "backend"). */
  component?: string;
  router: Omit<RouterOptions, "blockSize" | "indexer">;
  metrics: FrontendMetrics;
  /** Resends of a request whose worker fails mid-stream (default 1). */
  migrationLimit?: number;
  disaggregation?: DisaggregationOptions;
  /** Tool-call and reasoning parsers (absent: detected from each model's chat template). */
  parsers?: ParserChoice;
  /** See ModelPipelineOptions.orphanStallMs. */
  orphanStallMs?: number;
  /** See ModelPipelineOptions.coldStartWaitMs. */
  coldStartWaitMs?: number;
  /** A model that fails to load (a bad card, unreachable tokenizer files): that model only fails. */
  onError?: (err: unknown) => void;
  /** Where tokenizer files fetched from workers are cached (default: under the OS temp dir). */
  tokenizerCacheDir?: string;
  /** See ModelPipelineOptions.tokenizerThreads. */
  tokenizerThreads?: TokenizerThreadOptions;
  /** See ModelPipelineOptions.promptCache. */
  promptCache?: PromptCacheOptions | false;
}

type Role = "decode" | "prefill";

/** The endpoints and event subjects of one component. */
interface ComponentFeed {
  role: Role;
  generate: EndpointClient<PreprocessedRequest, EngineOutput>;
  dump: EndpointClient<unknown, KvBlockSetDump>;
  /** The workers' tokenizer files (MODEL_FILES_ENDPOINT). */
  files: EndpointClient<unknown, TokenizerFileChunk>;
  syncSubject: string;
  /** Which model each of its workers serves. */
  modelOf: Map<WorkerId, string>;
}

export class ModelManager {
  private readonly pipelines = new Map<string, ModelPipeline>();
  private readonly loading = new Map<string, Promise<ModelPipeline>>();
  private readonly feeds: ComponentFeed[] = [];
  private subscriptions: Subscription<unknown>[] = [];
  private stopPeerWatch: (() => void) | undefined;
  private pending: Promise<void> = Promise.resolve();
  /** Where each loaded model's tokenizer came from: the card's path, or the worker's files. */
  readonly tokenizerSources = new Map<string, "path" | "worker">();
  /** Models whose card failed to load, with the error (retried when another worker registers). */
  readonly failedModels = new Map<string, Error>();
  /** This router replica's id in router-sync messages. */
  readonly replicaId = newInstanceId();

  private constructor(private readonly options: ModelManagerOptions) {}

  static async start(options: ModelManagerOptions): Promise<ModelManager> {
    const m = new ModelManager(options);
    await m.init();
    return m;
  }

  get(name: string): ModelPipeline | undefined {
    return this.pipelines.get(name);
  }

  models(): ModelPipeline[] {
    return [...this.pipelines.values()];
  }

  /** Resolves when every worker seen so far is attached to its model. */
  settled(): Promise<void> {
    return this.pending;
  }

  close(): void {
    this.stopPeerWatch?.();
    for (const p of this.pipelines.values()) p.close();
    for (const f of this.feeds) {
      f.generate.close();
      f.dump.close();
      f.files.close();
    }
    for (const s of this.subscriptions) s.unsubscribe();
  }

  private async init(): Promise<void> {
    // A worker process whose connection drops (killed, crashed) leaves routing at once, not
    // when its discovery lease expires; discovery then removes it for good.
    this.stopPeerWatch = this.options.runtime.requests.onPeerLost?.((t) => {
      if (t.kind !== "tcp") return;
      for (const feed of this.feeds) {
        for (const instance of feed.generate.instances()) {
          const it = instance.transport;
          if (it.kind === "tcp" && it.host === t.host && it.port === t.port) {
            const id = asWorkerId(instance.instanceId);
            this.poolOf(feed, id)?.suspend(id);
          }
        }
      }
    });
    const decode = await this.follow("decode", this.options.component ?? BACKEND_COMPONENT);
    const prefill = await this.follow("prefill", PREFILL_COMPONENT);
    // A distributed planner (`turbine planner`) publishes its decisions; an embedded one records them itself.
    const planner = this.options.runtime.events.subscribe<PlannerDecisionMessage>(plannerDecisionsSubject(this.options.namespace), { maxPending: 1000 });
    this.subscriptions.push(planner);
    void this.consume(planner, (d) => this.options.metrics.fleetState.plannerDecision(d));
    for (const feed of [decode, prefill]) {
      feed.generate.onChange((change) => {
        if (change.type === "added") this.attach(feed, change.instance);
        else this.detach(feed, asWorkerId(change.instance.instanceId));
      });
      for (const instance of feed.generate.instances()) this.attach(feed, instance);
    }
    await this.pending;
  }

  /** Subscribes to a component's events (before its instances: see attach) and opens its clients. */
  private async follow(role: Role, name: string): Promise<ComponentFeed> {
    const { runtime, namespace } = this.options;
    const component = runtime.namespace(namespace).component(name);
    const feed: ComponentFeed = {
      role,
      dump: await component.endpoint(KV_DUMP_ENDPOINT).client(),
      files: await component.endpoint(MODEL_FILES_ENDPOINT).client(),
      generate: await component.endpoint(GENERATE_ENDPOINT).client(),
      syncSubject: routerSyncSubject(namespace, name),
      modelOf: new Map(),
    };
    // Events of a worker not yet attached are dropped; attaching resyncs it from its dump.
    const kv = runtime.events.subscribe<KvCacheEvent>(kvEventsSubject(namespace, name));
    const load = runtime.events.subscribe<WorkerLoadMetrics>(loadMetricsSubject(namespace, name), { maxPending: 10_000 });
    const sync = runtime.events.subscribe<RouterSyncMessage>(feed.syncSubject, { maxPending: 100_000 });
    this.subscriptions.push(kv, load, sync);
    // A worker's shared-store (KVBM G4) events come under `<id>@g4`: they belong to its model's pool.
    void this.consume(kv, (e) => this.poolOf(feed, isSharedStoreWorkerId(e.workerId) ? asWorkerId(e.workerId.slice(0, -SHARED_STORE_SUFFIX.length)) : e.workerId)?.applyKvEvent(e));
    void this.consume(load, (m) => this.poolOf(feed, m.workerId)?.updateMetrics(m));
    void this.consume(sync, (m) => {
      if (m.replicaId !== this.replicaId) this.poolFor(feed, this.pipelines.get(m.model))?.applySync(m);
    });
    this.feeds.push(feed);
    return feed;
  }

  private poolFor(feed: ComponentFeed, pipeline: ModelPipeline | undefined): WorkerPool | null | undefined {
    return feed.role === "decode" ? pipeline?.decode : pipeline?.prefill;
  }

  private poolOf(feed: ComponentFeed, workerId: WorkerId): WorkerPool | null | undefined {
    const name = feed.modelOf.get(workerId);
    return name === undefined ? undefined : this.poolFor(feed, this.pipelines.get(name));
  }

  private attach(feed: ComponentFeed, instance: InstanceInfo): void {
    const card = instance.metadata["modelCard"] as ModelCard | undefined;
    if (!card) return;
    const workerId = asWorkerId(instance.instanceId);
    const step = async (): Promise<void> => {
      try {
        const pipeline = await this.pipelineFor(card, feed, workerId);
        // The worker may have left while its model loaded.
        if (!feed.generate.instance(workerId)) return;
        feed.modelOf.set(workerId, card.name);
        this.poolFor(feed, pipeline)?.addWorker(workerId, card);
        this.options.runtime.requests.watch?.(instance);
        this.failedModels.delete(card.name);
      } catch (err) {
        this.failedModels.set(card.name, err as Error);
        this.options.onError?.(new TurbineError("MODEL_LOAD_FAILED", `model ${card.name} (worker ${workerId}) cannot be served: ${(err as Error).message}`, { cause: err }));
      }
    };
    this.pending = this.pending.then(step);
  }

  private detach(feed: ComponentFeed, workerId: WorkerId): void {
    this.pending = this.pending.then(() => {
      this.poolOf(feed, workerId)?.removeWorker(workerId);
      feed.modelOf.delete(workerId);
    });
  }

  /** The worker's tokenizer files, once its files endpoint is visible here. */
  private async fetchTokenizerFiles(feed: ComponentFeed, workerId: WorkerId): Promise<TokenizerFileChunk[]> {
    if (!feed.files.instance(workerId)) {
      const signal = AbortSignal.timeout(10_000);
      while (!feed.files.instance(workerId) && !signal.aborted) await feed.files.waitForInstances(feed.files.instances().length + 1, { signal });
    }
    return feed.files.collect(workerId, {});
  }

  private pipelineFor(card: ModelCard, feed: ComponentFeed, workerId: WorkerId): Promise<ModelPipeline> {
    const existing = this.pipelines.get(card.name);
    if (existing) return Promise.resolve(existing);
    let loading = this.loading.get(card.name);
    if (!loading) {
      loading = (async () => {
        const model = await loadModelForCard(card, {
          fetchTokenizerFiles: () => this.fetchTokenizerFiles(feed, workerId),
          cacheDir: this.options.tokenizerCacheDir,
          onTokenizerSource: (from) => this.tokenizerSources.set(card.name, from),
        });
        const pool = (feed: ComponentFeed) => ({
          generate: feed.generate,
          dump: feed.dump,
          router: this.options.router,
          metrics: this.options.metrics,
          role: feed.role,
          publishSync: (m: Omit<RouterSyncMessage, "replicaId">) =>
            this.options.runtime.events.publish(feed.syncSubject, { ...m, replicaId: this.replicaId }),
        });
        const pipeline = new ModelPipeline({
          card,
          tokenizer: model.tokenizer,
          chatTemplate: model.chatTemplate,
          tokenizerSource: model.source,
          ...(this.options.promptCache !== undefined ? { promptCache: this.options.promptCache } : {}),
          tokenizerThreads: {
            ...this.options.tokenizerThreads,
            onFailure: (err) => this.options.onError?.(new TurbineError("INTERNAL", `model ${card.name}: a tokenizer thread failed; encoding on the event loop instead`, { cause: err })),
          },
          decode: pool(this.feeds[0]!),
          prefill: pool(this.feeds[1]!),
          metrics: this.options.metrics,
          migrationLimit: this.options.migrationLimit,
          disaggregation: this.options.disaggregation,
          ...(this.options.parsers !== undefined ? { parsers: this.options.parsers } : {}),
          orphanStallMs: this.options.orphanStallMs,
          // A failed remote prefill is counted (turbine_local_prefills_total) and reported here.
          onPrefillFallback: (worker, err) =>
            this.options.onError?.(new TurbineError("ENGINE_FAILED", `prefill worker ${worker} failed: prefilling on the decode worker instead`, { cause: err })),
          coldStartWaitMs: this.options.coldStartWaitMs,
        });
        pipeline.preprocessor.countPromptCacheIn(this.options.metrics.forModel(card.name).promptCache);
        this.pipelines.set(card.name, pipeline);
        return pipeline;
      })();
      this.loading.set(card.name, loading);
      loading.finally(() => this.loading.delete(card.name)).catch(() => undefined);
    }
    return loading;
  }

  private async consume<T>(sub: Subscription<T>, apply: (item: T) => void): Promise<void> {
    for await (const item of sub) {
      try {
        apply(item);
      } catch (err) {
        this.options.onError?.(err);
      }
    }
  }
}
