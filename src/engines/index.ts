// engines: the Engine interface, the worker that serves an engine, and the engines themselves.
export type { Engine, EngineLoad, EngineKvEvent, GenerateOptions } from "./engine.ts";
export { Worker } from "./worker.ts";
export type { WorkerOptions, WorkerMetadata } from "./worker.ts";
export { MockerEngine, MockerCore, MOCKER_DEFAULTS, PolynomialTimingModel, TableTimingModel, recomputeMsPerBlock, mockerTransferCosts, stepDurationMs } from "./mocker/index.ts";
export type { MockerKvbm, MockerKvbmConfig } from "./mocker/index.ts";
export type { MockerEngineOptions, MockerCoreOptions, MockerStepResult, MockerCounters, StepOutput, TimingModel } from "./mocker/index.ts";
export { LlamaCppEngine } from "./llamacpp/index.ts";
export type { LlamaCppEngineOptions, LlamaCppKvExport, LlamaCppCounters } from "./llamacpp/index.ts";
export { OpenAIProxyEngine, createOpenAIProxyEngine } from "./openai-proxy/index.ts";
export type { OpenAIProxyEngineOptions, CreateOpenAIProxyEngineOptions, PromptFormat, OutputTokens } from "./openai-proxy/index.ts";
export { ZmqKvEventSource } from "./kv-events-zmq/index.ts";
export type { ZmqKvEventSourceOptions, ZmqKvEventSourceStats } from "./kv-events-zmq/index.ts";
