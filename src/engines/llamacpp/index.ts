// llamacpp: real inference through node-llama-cpp on a GGUF model (internal front door;
// src/engines/index.ts re-exports the public part).
export { LlamaCppEngine } from "./llamacpp-engine.ts";
export type { LlamaCppEngineOptions, LlamaCppKvExport, LlamaCppCounters } from "./llamacpp-engine.ts";
export { PrefixCache } from "./prefix-cache.ts";
export type { PrefixCacheEntry, PrefixCacheOptions, PrefixMatch } from "./prefix-cache.ts";
