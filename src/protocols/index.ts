// protocols: the shared types and wire formats every other folder builds on. Depends on nothing.
export { asWorkerId, asRequestId, asLocalBlockHash, asSequenceHash } from "./ids.ts";
export type { WorkerId, RequestId, LocalBlockHash, SequenceHash } from "./ids.ts";
export type { SamplingOptions, StopConditions, RoutingHints, PreprocessedRequest, KvTransferParams, GuidedDecoding, LogprobsRequest } from "./request.ts";
export { engineOutputError, mergeEngineOutputs, outputTokenCount } from "./output.ts";
export { requestedFeatures } from "./request.ts";
export type { FinishReason, Usage, EngineOutput, EngineOutputError, TokenLogprob } from "./output.ts";
export { STORAGE_TIERS, SHARED_STORE_SUFFIX, isSharedStoreWorkerId, sharedStoreWorkerId } from "./kv-events.ts";
export type {
  StorageTier,
  StoredBlock,
  KvStoredData,
  KvRemovedData,
  KvClearedData,
  KvEventData,
  KvCacheEvent,
  KvBlockSetDump,
} from "./kv-events.ts";
export type { WorkerLoadMetrics, RouterSyncMessage, PlannerDecisionMessage, PlannerPoolDecision } from "./metrics.ts";
export { DEFAULT_KV_BLOCK_SIZE } from "./model-card.ts";
export type { ModelCard, TokenizerFileChunk, TokenizerSource, WorkerRole, EngineFeature } from "./model-card.ts";
export { ERROR_CODES, TurbineError, isErrorCode, isTurbineError } from "./errors.ts";
export type { ErrorCode, TurbineErrorOptions } from "./errors.ts";
export { PREFILL_COMPONENT, GENERATE_ENDPOINT, KV_DUMP_ENDPOINT, MODEL_FILES_ENDPOINT, BACKEND_COMPONENT, kvEventsSubject, loadMetricsSubject, routerSyncSubject, plannerDecisionsSubject } from "./subjects.ts";
