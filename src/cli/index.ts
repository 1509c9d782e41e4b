// cli: the `turbine` command, and the embedded server it starts (also used by tests).
export { main, buildProgram } from "./main.ts";
export { EmbeddedServer, ENGINE_KINDS } from "./embedded-server.ts";
export type { EmbeddedServerOptions, EngineKind } from "./embedded-server.ts";
