// openai-proxy: an external OpenAI-compatible server (vLLM, SGLang, llama.cpp server, another
// Turbine) as a Turbine engine, with its KV events from ZMQ where it publishes them.
// Internal front door: src/engines/index.ts re-exports what the rest of Turbine uses.
export { OpenAIProxyEngine } from "./openai-proxy-engine.ts";
export type { OpenAIProxyEngineOptions, PromptFormat, OutputTokens } from "./openai-proxy-engine.ts";
export { createOpenAIProxyEngine } from "./create-openai-proxy-engine.ts";
export type { CreateOpenAIProxyEngineOptions } from "./create-openai-proxy-engine.ts";
export { UpstreamClient, UpstreamStream } from "./upstream-client.ts";
export type { UpstreamClientOptions } from "./upstream-client.ts";
export { SseParser } from "./sse-parser.ts";
export { errorOfStatus, errorOfStreamEvent, errorOfSocket, parseRetryAfter, upstreamMessage } from "./upstream-errors.ts";
