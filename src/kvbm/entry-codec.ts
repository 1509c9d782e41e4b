// The bytes of one stored entry, the same on disk (G3) and in Redis (G4): a header naming the
// blocks it holds, the payload (KV or an engine's sequence state) and a checksum over all of
// it. A reader trusts nothing it cannot verify: a torn, truncated or corrupt frame, or one
// stored under another key, decodes to null (a miss), never to data.
//
//   "TKVB" | version u32 | numBlocks u32 | hasParent u32 | parentHash u64 | payloadLen u64
//   | hashes u64 × n | tokensHashes u64 × n | payload | xxh3-64(everything before) u64
import { xxh3 } from "@node-rs/xxhash";
import { asLocalBlockHash, asSequenceHash } from "../protocols/index.ts";
import type { LocalBlockHash, SequenceHash } from "../protocols/index.ts";
import type { TierEntry } from "./tier-lru.ts";

const MAGIC = 0x42564b54; // "TKVB" little-endian
const VERSION = 1;
const HEADER = 32;
const CHECKSUM_SEED = 0x7475726269n; // "turbi"

export interface DecodedEntry {
  entry: TierEntry;
  payload: Uint8Array;
}

export function encodeEntry(entry: TierEntry, payload: Uint8Array): Uint8Array {
  const n = entry.hashes.length;
  const size = HEADER + 16 * n + payload.length + 8;
  const buf = new Uint8Array(size);
  const v = new DataView(buf.buffer);
  v.setUint32(0, MAGIC, true);
  v.setUint32(4, VERSION, true);
  v.setUint32(8, n, true);
  v.setUint32(12, entry.parentHash === null ? 0 : 1, true);
  v.setBigUint64(16, entry.parentHash ?? 0n, true);
  v.setBigUint64(24, BigInt(payload.length), true);
  for (let i = 0; i < n; i++) {
    v.setBigUint64(HEADER + 8 * i, entry.hashes[i]!, true);
    v.setBigUint64(HEADER + 8 * (n + i), entry.tokensHashes[i]!, true);
  }
  buf.set(payload, HEADER + 16 * n);
  v.setBigUint64(size - 8, xxh3.xxh64(buf.subarray(0, size - 8), CHECKSUM_SEED), true);
  return buf;
}

/** The entry and payload, or null when the frame is not a whole, intact entry (stored under `key`, if given). */
export function decodeEntry(buf: Uint8Array, key?: SequenceHash): DecodedEntry | null {
  if (buf.length < HEADER + 8) return null;
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (v.getUint32(0, true) !== MAGIC || v.getUint32(4, true) !== VERSION) return null;
  const n = v.getUint32(8, true);
  const payloadLen = v.getBigUint64(24, true);
  if (n === 0 || BigInt(buf.length) !== BigInt(HEADER + 16 * n + 8) + payloadLen) return null;
  const end = buf.length - 8;
  if (xxh3.xxh64(buf.subarray(0, end), CHECKSUM_SEED) !== v.getBigUint64(end, true)) return null;
  const hashes: SequenceHash[] = [];
  const tokensHashes: LocalBlockHash[] = [];
  for (let i = 0; i < n; i++) {
    hashes.push(asSequenceHash(v.getBigUint64(HEADER + 8 * i, true)));
    tokensHashes.push(asLocalBlockHash(v.getBigUint64(HEADER + 8 * (n + i), true)));
  }
  const last = hashes[n - 1]!;
  if (key !== undefined && last !== key) return null;
  const payload = buf.subarray(HEADER + 16 * n, end);
  return {
    entry: {
      key: last,
      bytes: buf.length,
      parentHash: v.getUint32(12, true) === 0 ? null : asSequenceHash(v.getBigUint64(16, true)),
      hashes,
      tokensHashes,
      numUses: 0,
    },
    payload,
  };
}

/** The size of an entry's frame. */
export function encodedSize(numBlocks: number, payloadBytes: number): number {
  return HEADER + 16 * numBlocks + payloadBytes + 8;
}

/** A key as 16 hex digits (file names, Redis keys). */
export function keyHex(key: SequenceHash): string {
  return key.toString(16).padStart(16, "0");
}
