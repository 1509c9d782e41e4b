// cli: the `turbine` command, and the embedded server it starts (also used by tests).
export { main, buildProgram } from "./main.ts";
export { EmbeddedServer } from "./embedded-server.ts";
export type { EmbeddedServerOptions } from "./embedded-server.ts";
export { ENGINE_KINDS, prepareEngines } from "./engine-factory.ts";
export type { EngineKind, EngineSpec, EngineFactory } from "./engine-factory.ts";
export { startWorkerStatusServer } from "./worker-status-server.ts";
export type { WorkerStatusServer } from "./worker-status-server.ts";
