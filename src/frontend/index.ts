// frontend: the OpenAI-compatible HTTP API, request preprocessing and response postprocessing.
export { Frontend } from "./frontend.ts";
export type { FrontendOptions } from "./frontend.ts";
export { FrontendMetrics } from "./metrics.ts";
export { ModelManager } from "./model-manager.ts";
export { ModelPipeline } from "./model-pipeline.ts";
export type { DisaggregationOptions } from "./model-pipeline.ts";
export { WorkerPool } from "./worker-pool.ts";
export { Preprocessor } from "./preprocessor.ts";
export { postprocess } from "./postprocessor.ts";
export type { TextDelta } from "./postprocessor.ts";
export { IncrementalDetokenizer } from "./detokenizer.ts";
export type { IncrementalDetokenizerOptions } from "./detokenizer.ts";
export { StopJail } from "./stop-jail.ts";
export type { StopJailResult } from "./stop-jail.ts";
export { toHttpError } from "./openai-errors.ts";
export { DEFAULT_HTTP_LIMITS } from "./http-server.ts";
export type { HttpServerLimits } from "./http-server.ts";
