// Event-plane subjects and well-known endpoint names: the wire contract between workers
// and routers, whichever event plane carries them.

/** Endpoint names every worker serves. */
export const GENERATE_ENDPOINT = "generate";
export const KV_DUMP_ENDPOINT = "kv_dump";
/** The tokenizer files of the worker's model card (TokenizerFileChunk stream), for frontends that cannot read them. */
export const MODEL_FILES_ENDPOINT = "model_files";

/** Default component of aggregated and decode workers. */
export const BACKEND_COMPONENT = "backend";

/** Component of prefill workers (disaggregated serving). */
export const PREFILL_COMPONENT = "prefill";

/** KV events (KvCacheEvent) of every worker of a component. */
export const kvEventsSubject = (namespace: string, component: string): string => `${namespace}.${component}.kv_events`;

/** Load metrics (WorkerLoadMetrics) of every worker of a component. */
export const loadMetricsSubject = (namespace: string, component: string): string =>
  `${namespace}.${component}.load_metrics`;

/** Router replicas' in-flight decisions (RouterSyncMessage), shared so replicas don't pile onto one worker. */
export const routerSyncSubject = (namespace: string, component: string): string => `${namespace}.${component}.router_sync`;

/** Planner decisions (PlannerDecisionMessage) of a namespace, for the frontends' fleet pages. */
export const plannerDecisionsSubject = (namespace: string): string => `${namespace}.planner.decisions`;
