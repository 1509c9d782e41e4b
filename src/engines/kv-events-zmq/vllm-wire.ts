// vLLM's KV event wire format (vllm/distributed/kv_events.py), decoded into plain objects.
// One ZMQ message is three frames: [topic, 8-byte big-endian sequence number, msgpack payload].
// The payload is a msgspec-encoded KVEventBatch, in one of two shapes:
//   - array_like (vLLM up to mid-2025, and SGLang):  [ts, [event...], data_parallel_rank?]
//     with each event [tag, ...fields]: ["BlockStored", block_hashes, parent_block_hash,
//     token_ids, block_size, lora_id, medium?], ["BlockRemoved", block_hashes, medium?],
//     ["AllBlocksCleared"];
//   - map (later vLLM, array_like dropped): {ts, events: [{type: "BlockStored", block_hashes,
//     ...}], data_parallel_rank}.
// Block hashes are ints (older vLLM, SGLang) or bytes (vLLM's sha256 hashes); both are keyed
// by a string here, because only equality matters.
import { Decoder } from "@msgpack/msgpack";

/** An engine-side block hash, as a map key ("123", "-5", or "x" + hex for bytes). */
export type EngineBlockKey = string;

export type VllmKvEvent =
  | { type: "stored"; blockHashes: EngineBlockKey[]; parent: EngineBlockKey | null; tokenIds: number[]; blockSize: number; medium: string | null }
  | { type: "removed"; blockHashes: EngineBlockKey[]; medium: string | null }
  | { type: "cleared" };

export interface VllmKvEventBatch {
  ts: number;
  events: VllmKvEvent[];
  dataParallelRank: number | null;
}

// 64-bit ints come back as bigint, so no hash loses precision.
const decoder = new Decoder({ useBigInt64: true });

/** The sequence number frame: 8 bytes, big-endian, signed (-1 marks the end of a replay). */
export function readSequenceNumber(frame: Uint8Array): number {
  if (frame.length !== 8) throw new Error(`sequence frame has ${frame.length} bytes, expected 8`);
  return Number(new DataView(frame.buffer, frame.byteOffset, 8).getBigInt64(0, false));
}

export function writeSequenceNumber(seq: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(seq));
  return b;
}

export function blockKey(v: unknown): EngineBlockKey {
  if (typeof v === "bigint" || typeof v === "number") return String(v);
  if (v instanceof Uint8Array) return "x" + Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex");
  throw new Error(`block hash of unexpected type ${typeof v}`);
}

function keys(v: unknown): EngineBlockKey[] {
  if (!Array.isArray(v)) throw new Error("block_hashes is not an array");
  return v.map(blockKey);
}

function ints(v: unknown): number[] {
  if (!Array.isArray(v)) throw new Error("token_ids is not an array");
  return v.map(Number);
}

function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

function decodeEvent(raw: unknown): VllmKvEvent | null {
  if (Array.isArray(raw)) {
    switch (raw[0]) {
      case "BlockStored":
        return {
          type: "stored",
          blockHashes: keys(raw[1]),
          parent: raw[2] === null || raw[2] === undefined ? null : blockKey(raw[2]),
          tokenIds: ints(raw[3]),
          blockSize: Number(raw[4]),
          medium: str(raw[6]),
        };
      case "BlockRemoved":
        return { type: "removed", blockHashes: keys(raw[1]), medium: str(raw[2]) };
      case "AllBlocksCleared":
        return { type: "cleared" };
    }
    return null;
  }
  if (raw !== null && typeof raw === "object") {
    const o = raw as Record<string, unknown>;
    switch (o["type"]) {
      case "BlockStored":
        return {
          type: "stored",
          blockHashes: keys(o["block_hashes"]),
          parent: o["parent_block_hash"] === null || o["parent_block_hash"] === undefined ? null : blockKey(o["parent_block_hash"]),
          tokenIds: ints(o["token_ids"]),
          blockSize: Number(o["block_size"]),
          medium: str(o["medium"]),
        };
      case "BlockRemoved":
        return { type: "removed", blockHashes: keys(o["block_hashes"]), medium: str(o["medium"]) };
      case "AllBlocksCleared":
        return { type: "cleared" };
    }
  }
  // An event kind this version does not know: skipped, as msgspec consumers would fail on it.
  return null;
}

/** Decodes one payload frame. Throws on a malformed batch; unknown event kinds are skipped. */
export function decodeKvEventBatch(payload: Uint8Array): VllmKvEventBatch {
  const raw = decoder.decode(payload);
  let ts: unknown;
  let events: unknown;
  let rank: unknown;
  if (Array.isArray(raw)) [ts, events, rank] = raw;
  else if (raw !== null && typeof raw === "object") {
    const o = raw as Record<string, unknown>;
    ts = o["ts"];
    events = o["events"];
    rank = o["data_parallel_rank"];
  }
  if (!Array.isArray(events)) throw new Error("KV event batch has no events array");
  const out: VllmKvEvent[] = [];
  for (const e of events) {
    const d = decodeEvent(e);
    if (d) out.push(d);
  }
  return { ts: Number(ts ?? 0), events: out, dataParallelRank: rank === undefined || rank === null ? null : Number(rank) };
}
