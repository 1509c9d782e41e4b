// cli: the `turbine` command, and the embedded server it starts (also used by tests).
export { main, buildProgram } from "./main.ts";
export { EmbeddedServer } from "./embedded-server.ts";
export type { EmbeddedServerOptions } from "./embedded-server.ts";
export { ENGINE_KINDS, prepareEngines } from "./engine-factory.ts";
export type { EngineKind, EngineSpec, EngineFactory } from "./engine-factory.ts";
export { clusterAuthFromFlags, isLoopbackHost } from "./runtime-options.ts";
export type { DistributedFlags } from "./runtime-options.ts";
