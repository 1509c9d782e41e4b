// mocker: a simulated engine with vLLM's scheduling behaviour (paged KV blocks, prefix
// cache, LRU eviction, continuous batching, chunked prefill, preemption) and a timing model.
// Internal front door: src/engines/index.ts re-exports what the rest of Turbine uses.
export { MockerEngine, DEFAULT_MOCKER_CONTEXT_LENGTH } from "./mocker-engine.ts";
export type { MockerEngineOptions } from "./mocker-engine.ts";
export { MockerCore, MOCKER_DEFAULTS } from "./mocker-core.ts";
export type { MockerCoreOptions, MockerStepResult, MockerCounters } from "./mocker-core.ts";
export type { StepOutput } from "./scheduler.ts";
export type { BlockHashes } from "./kv-cache-manager.ts";
export { KvbmTiers, createMockerKvbm, mockerTransferCosts, recomputeMsPerBlock } from "./kvbm-tiers.ts";
export type { MockerKvbm, MockerKvbmConfig } from "./kvbm-tiers.ts";
export {
  PolynomialTimingModel,
  TableTimingModel,
  stepDurationMs,
  DYNAMO_H100_PREFILL,
  DYNAMO_H100_DECODE,
} from "./timing.ts";
export type { TimingModel, TimingTable, StepShape, Quadratic } from "./timing.ts";
export { DEFAULT_TOKEN_RANGE } from "./output-tokens.ts";
export type { TokenRange } from "./output-tokens.ts";
// Internals, for white-box tests and tools (e.g. a simulator inspecting block state).
export { BlockPool } from "./block-pool.ts";
export type { KvEventSink } from "./block-pool.ts";
export { KvBlock, FreeBlockQueue } from "./free-block-queue.ts";
export { KvCacheManager, KvSequence } from "./kv-cache-manager.ts";
export { Scheduler, NO_TOKEN } from "./scheduler.ts";
export type { SchedulerConfig, StepPlan } from "./scheduler.ts";
export { MockerRequest, RequestStatus } from "./mocker-request.ts";
export { tokenAt, tokenKey } from "./output-tokens.ts";
export type { TokenKey } from "./output-tokens.ts";
