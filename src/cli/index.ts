// cli: the `turbine` command, and the embedded server it starts (also used by tests).
export { main, buildProgram } from "./main.ts";
export { EmbeddedServer } from "./embedded-server.ts";
export type { EmbeddedServerOptions } from "./embedded-server.ts";
export { ENGINE_KINDS, prepareEngines } from "./engine-factory.ts";
export type { EngineKind, EngineSpec, EngineFactory } from "./engine-factory.ts";
export { clusterAuthFromFlags, isLoopbackHost } from "./runtime-options.ts";
export type { DistributedFlags } from "./runtime-options.ts";
export { metricsReference, METRICS_BEGIN, METRICS_END } from "./metrics-reference.ts";
export { startTracing, tracingRequested } from "./tracing.ts";
export type { Tracing } from "./tracing.ts";
