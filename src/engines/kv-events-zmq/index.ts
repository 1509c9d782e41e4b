// kv-events-zmq: engine KV events from vLLM / SGLang ZMQ publishers, as Turbine KV events.
// Internal front door: src/engines/index.ts re-exports what the rest of Turbine uses.
export { ZmqKvEventSource } from "./zmq-kv-event-source.ts";
export type { ZmqKvEventSourceOptions, ZmqKvEventSourceStats } from "./zmq-kv-event-source.ts";
export { KvEventTranslator, tierOfMedium } from "./kv-event-translator.ts";
export type { KvTranslatorStats } from "./kv-event-translator.ts";
export { decodeKvEventBatch, readSequenceNumber, writeSequenceNumber, blockKey } from "./vllm-wire.ts";
export type { VllmKvEvent, VllmKvEventBatch, EngineBlockKey } from "./vllm-wire.ts";
