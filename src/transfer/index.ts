// transfer: moves registered memory between agents by descriptor, through shared memory on
// one host and TCP between hosts (the KV transfer library of disaggregated serving).
export { TransferAgent } from "./transfer-agent.ts";
export type { TransferAgentOptions, RegisterOptions } from "./transfer-agent.ts";
export { MemoryRegion } from "./memory-region.ts";
export type { RegionKind } from "./memory-region.ts";
export { PeerConnection } from "./peer-connection.ts";
export { Transfer } from "./transfer.ts";
export type { TransferOptions, TransferPath, TransferDirection } from "./transfer.ts";
export { TransferError, isTransferError } from "./transfer-error.ts";
export type { TransferFailure } from "./transfer-error.ts";
export { TRANSFER_METADATA_KEY, parseAgentMetadata } from "./descriptor.ts";
export type { AgentMetadata, TransferDescriptor } from "./descriptor.ts";
export { defaultHostId } from "./host-id.ts";
