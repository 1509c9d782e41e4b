import type { LocalBlockHash, SequenceHash, WorkerId } from "./ids.ts";

/** Where a block sits: G1 engine memory, G2 host, G3 disk, G4 remote store. */
export type StorageTier = "device" | "host" | "disk" | "remote";
export const STORAGE_TIERS: readonly StorageTier[] = ["device", "host", "disk", "remote"];

export interface StoredBlock {
  /** Sequence hash of the block (chained through its parent). */
  hash: SequenceHash;
  /** Local hash of the block's own tokens. */
  tokensHash: LocalBlockHash;
}

/** Blocks appended after `parentHash` (null: they start a sequence). */
export interface KvStoredData {
  type: "stored";
  parentHash: SequenceHash | null;
  blocks: StoredBlock[];
}
export interface KvRemovedData {
  type: "removed";
  hashes: SequenceHash[];
}
export interface KvClearedData {
  type: "cleared";
}
export type KvEventData = KvStoredData | KvRemovedData | KvClearedData;

/** A change to one worker's block set. `eventId` increases by exactly one per event per worker. */
export interface KvCacheEvent {
  workerId: WorkerId;
  eventId: number;
  tier: StorageTier;
  data: KvEventData;
}

/** A worker's whole block set, served by its `kv_dump` endpoint for resync. */
export interface KvBlockSetDump {
  workerId: WorkerId;
  /** Id of the last event included in this dump. */
  lastEventId: number;
  /** Each tier's blocks, as chains of stored events (parents before children). */
  events: { tier: StorageTier; data: KvStoredData }[];
}

/**
 * The id under which a worker publishes the KV events of the remote store (G4) it shares with
 * every worker of its model. Routers credit blocks held under such an id to every worker, and
 * never route to it. Each publisher has its own id, so event ids stay one sequence per id.
 */
export function sharedStoreWorkerId(workerId: WorkerId): WorkerId {
  return `${workerId}${SHARED_STORE_SUFFIX}` as WorkerId;
}
export const SHARED_STORE_SUFFIX = "@g4";
export function isSharedStoreWorkerId(workerId: WorkerId): boolean {
  return (workerId as string).endsWith(SHARED_STORE_SUFFIX);
}
