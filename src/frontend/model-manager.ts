// Follows the workers that serve a component and keeps one ModelPipeline per model they
// serve: a model appears with its first worker; its pipeline stays when its last worker
// leaves, so that requests for it get a clear 503 instead of a 404.
import {
  BACKEND_COMPONENT,
  GENERATE_ENDPOINT,
  KV_DUMP_ENDPOINT,
  asWorkerId,
  kvEventsSubject,
  loadMetricsSubject,
  routerSyncSubject,
} from "../protocols/index.ts";
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
import { newInstanceId } from "../runtime/index.ts";
import type { EndpointClient, InstanceInfo, Runtime, Subscription } from "../runtime/index.ts";
import { loadModelForCard } from "../model/index.ts";
import type { RouterOptions } from "../router/index.ts";
import type { FrontendMetrics } from "./metrics.ts";
import { ModelPipeline } from "./model-pipeline.ts";

export interface ModelManagerOptions {
  runtime: Runtime;
  namespace: string;
  component?: string;
  router: Omit<RouterOptions, "blockSize" | "indexer">;
  metrics: FrontendMetrics;
  /** Resends of a request whose worker fails mid-stream (default 1). */
  migrationLimit?: number;
  onError?: (err: unknown) => void;
}

export class ModelManager {
  private readonly pipelines = new Map<string, ModelPipeline>();
  private readonly loading = new Map<string, Promise<ModelPipeline>>();
  private readonly modelOfWorker = new Map<WorkerId, string>();
  private generate!: EndpointClient<PreprocessedRequest, EngineOutput>;
  private dump!: EndpointClient<unknown, KvBlockSetDump>;
  private subscriptions: Subscription<unknown>[] = [];
  private pending: Promise<void> = Promise.resolve();
  /** This router replica's id in router-sync messages. */
  readonly replicaId = newInstanceId();
  private syncSubject = "";

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
    for (const p of this.pipelines.values()) p.close();
    this.generate?.close();
    this.dump?.close();
    for (const s of this.subscriptions) s.unsubscribe();
  }

  private async init(): Promise<void> {
    const { runtime, namespace } = this.options;
    const component = runtime.namespace(namespace).component(this.options.component ?? BACKEND_COMPONENT);
    this.dump = await component.endpoint(KV_DUMP_ENDPOINT).client();
    this.generate = await component.endpoint(GENERATE_ENDPOINT).client();
    // Events first, then instances: an event of a worker not yet attached is dropped, and the
    // worker's first event after attaching is then a gap that triggers a resync from its dump.
    const c = component.name;
    const kv = runtime.events.subscribe<KvCacheEvent>(kvEventsSubject(namespace, c));
    const load = runtime.events.subscribe<WorkerLoadMetrics>(loadMetricsSubject(namespace, c), { maxPending: 10_000 });
    this.syncSubject = routerSyncSubject(namespace, c);
    const sync = runtime.events.subscribe<RouterSyncMessage>(this.syncSubject, { maxPending: 100_000 });
    this.subscriptions = [kv, load, sync];
    void this.follow(kv, (e) => this.pipelineOf(e.workerId)?.applyKvEvent(e));
    void this.follow(load, (m) => this.pipelineOf(m.workerId)?.updateMetrics(m));
    void this.follow(sync, (m) => {
      if (m.replicaId !== this.replicaId) this.pipelines.get(m.model)?.applySync(m);
    });
    this.generate.onChange((change) => {
      if (change.type === "added") this.attach(change.instance);
      else this.detach(asWorkerId(change.instance.instanceId));
    });
    for (const instance of this.generate.instances()) this.attach(instance);
    await this.pending;
  }

  private pipelineOf(workerId: WorkerId): ModelPipeline | undefined {
    const name = this.modelOfWorker.get(workerId);
    return name === undefined ? undefined : this.pipelines.get(name);
  }

  private attach(instance: InstanceInfo): void {
    const card = instance.metadata["modelCard"] as ModelCard | undefined;
    if (!card) return;
    const workerId = asWorkerId(instance.instanceId);
    const step = async (): Promise<void> => {
      try {
        const pipeline = await this.pipelineFor(card);
        // The worker may have left while its model loaded.
        if (!this.generate.instance(workerId)) return;
        this.modelOfWorker.set(workerId, card.name);
        pipeline.addWorker(workerId, card);
      } catch (err) {
        this.options.onError?.(err);
      }
    };
    this.pending = this.pending.then(step);
  }

  private detach(workerId: WorkerId): void {
    this.pending = this.pending.then(() => {
      this.pipelineOf(workerId)?.removeWorker(workerId);
      this.modelOfWorker.delete(workerId);
    });
  }

  private pipelineFor(card: ModelCard): Promise<ModelPipeline> {
    const existing = this.pipelines.get(card.name);
    if (existing) return Promise.resolve(existing);
    let loading = this.loading.get(card.name);
    if (!loading) {
      loading = (async () => {
        const model = await loadModelForCard(card);
        const pipeline = new ModelPipeline({
          card,
          tokenizer: model.tokenizer,
          chatTemplate: model.chatTemplate,
          generate: this.generate,
          dump: this.dump,
          router: this.options.router,
          metrics: this.options.metrics,
          migrationLimit: this.options.migrationLimit,
          publishSync: (m) => this.options.runtime.events.publish(this.syncSubject, { ...m, replicaId: this.replicaId }),
        });
        this.pipelines.set(card.name, pipeline);
        return pipeline;
      })();
      this.loading.set(card.name, loading);
      loading.finally(() => this.loading.delete(card.name)).catch(() => undefined);
    }
    return loading;
  }

  private async follow<T>(sub: Subscription<T>, apply: (item: T) => void): Promise<void> {
    for await (const item of sub) {
      try {
        apply(item);
      } catch (err) {
        this.options.onError?.(err);
      }
    }
  }
}
