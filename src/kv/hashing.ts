// Block hashing, as ARCHITECTURE.md fixes it:
//   local[i] = XXH3-64(seed 1337) over block i's token ids as little-endian u32
//   seq[0]   = local[0]
//   seq[i]   = XXH3-64(seed 1337) over le_u64(seq[i-1]) ‖ le_u64(local[i])
// The chain step uses the same seed as the local hash (as Dynamo's router does), so there is
// one hash function in the system. Only full blocks are hashed.
//
// The router hashes every prompt (256 blocks for 4k tokens at block size 16), so the hashes are
// computed in TypeScript (xxh3.ts) on 32-bit halves: no N-API call and no BigInt per block
// except the one each result is. Blocks of more than 60 tokens (over 240 bytes) go to
// @node-rs/xxhash; `computeSequenceHashesReference` is the all-N-API path, kept to compare.
import { xxh3 } from "@node-rs/xxhash";
import { asLocalBlockHash, asSequenceHash } from "../protocols/index.ts";
import type { LocalBlockHash, SequenceHash } from "../protocols/index.ts";
import { XXH3_TS_AVAILABLE, XXH3_TS_MAX_LEN, xxh3Counters, xxh3Out, xxh3Tokens, xxh3Words16 } from "./xxh3.ts";

export const KV_HASH_SEED = 1337n;
const SEED_HI = 0;
const SEED_LO = 1337;
/** Longest block (in tokens) hashed in TypeScript; longer blocks call @node-rs/xxhash. */
const TS_MAX_BLOCK_TOKENS = XXH3_TS_AVAILABLE ? XXH3_TS_MAX_LEN / 4 : -1;

// u64 ↔ two u32 halves without allocating (little-endian: word 0 is the low half; the
// TypeScript path only runs where that holds).
const U64 = new BigUint64Array(1);
const U32 = new Uint32Array(U64.buffer);
const toU64 = (hi: number, lo: number): bigint => {
  U32[0] = lo;
  U32[1] = hi;
  return U64[0]!;
};

// Scratch for the N-API path.
let tokenScratch = new Uint8Array(16 * 4);
let tokenView = new DataView(tokenScratch.buffer);
const pairScratch = new Uint8Array(16);
const pairView = new DataView(pairScratch.buffer);

/** Block hash through @node-rs/xxhash (the reference; blocks over 240 bytes). */
function nativeBlockHash(tokens: ArrayLike<number>, start: number, end: number): bigint {
  const n = end - start;
  if (tokenScratch.length < n * 4) {
    tokenScratch = new Uint8Array(n * 4);
    tokenView = new DataView(tokenScratch.buffer);
  }
  for (let i = 0; i < n; i++) tokenView.setUint32(i * 4, tokens[start + i]! >>> 0, true);
  xxh3Counters.native++;
  return xxh3.xxh64(tokenScratch.subarray(0, n * 4), KV_HASH_SEED);
}

function nativeChainHash(parent: bigint, local: bigint): bigint {
  pairView.setBigUint64(0, parent, true);
  pairView.setBigUint64(8, local, true);
  xxh3Counters.native++;
  return xxh3.xxh64(pairScratch, KV_HASH_SEED);
}

/** Hashes tokens[start, end) (at most TS_MAX_BLOCK_TOKENS) into xxh3Out. */
function tsBlockHash(tokens: ArrayLike<number>, start: number, n: number): void {
  xxh3Counters.ts++;
  xxh3Tokens(tokens, start, n, SEED_HI, SEED_LO);
}

/** Local hash of one block of token ids. */
export function hashBlockTokens(tokens: ArrayLike<number>, start = 0, end = tokens.length): LocalBlockHash {
  const n = end - start;
  if (n > TS_MAX_BLOCK_TOKENS) return asLocalBlockHash(nativeBlockHash(tokens, start, end));
  tsBlockHash(tokens, start, n);
  return asLocalBlockHash(toU64(xxh3Out[0]!, xxh3Out[1]!));
}

/** Sequence hash of a block given its parent's sequence hash (null for the first block). */
export function chainSequenceHash(parent: SequenceHash | null, local: LocalBlockHash): SequenceHash {
  if (parent === null) return asSequenceHash(local);
  if (!XXH3_TS_AVAILABLE) return asSequenceHash(nativeChainHash(parent, local));
  U64[0] = parent;
  const p0 = U32[0]!, p1 = U32[1]!;
  U64[0] = local;
  xxh3Counters.ts++;
  xxh3Words16(p0, p1, U32[0]!, U32[1]!, SEED_HI, SEED_LO);
  return asSequenceHash(toU64(xxh3Out[0]!, xxh3Out[1]!));
}

/** Local hashes of every full block of `tokens`. */
export function computeLocalBlockHashes(tokens: ArrayLike<number>, blockSize: number): LocalBlockHash[] {
  const numBlocks = Math.floor(tokens.length / blockSize);
  const out = new Array<LocalBlockHash>(numBlocks);
  for (let b = 0; b < numBlocks; b++) out[b] = hashBlockTokens(tokens, b * blockSize, (b + 1) * blockSize);
  return out;
}

/** Sequence hashes of every full block of `tokens`. */
export function computeSequenceHashes(tokens: ArrayLike<number>, blockSize: number): SequenceHash[] {
  if (blockSize > TS_MAX_BLOCK_TOKENS) return chainSequenceHashes(computeLocalBlockHashes(tokens, blockSize), null);
  const numBlocks = Math.floor(tokens.length / blockSize);
  const out = new Array<SequenceHash>(numBlocks);
  // Local and sequence hashes stay as 32-bit halves; only the results become bigints.
  let prevHi = 0;
  let prevLo = 0;
  for (let b = 0; b < numBlocks; b++) {
    tsBlockHash(tokens, b * blockSize, blockSize);
    if (b > 0) {
      xxh3Counters.ts++;
      xxh3Words16(prevLo, prevHi, xxh3Out[1]!, xxh3Out[0]!, SEED_HI, SEED_LO);
    }
    prevHi = xxh3Out[0]!;
    prevLo = xxh3Out[1]!;
    out[b] = asSequenceHash(toU64(prevHi, prevLo));
  }
  return out;
}

/** Chains local hashes into sequence hashes, continuing after `parent`. */
export function chainSequenceHashes(locals: readonly LocalBlockHash[], parent: SequenceHash | null): SequenceHash[] {
  const out = new Array<SequenceHash>(locals.length);
  let prev = parent;
  for (let i = 0; i < locals.length; i++) {
    prev = chainSequenceHash(prev, locals[i]!);
    out[i] = prev;
  }
  return out;
}

/**
 * Sequence hashes computed the old way, two @node-rs/xxhash calls per block (the reference
 * the TypeScript path is tested and benchmarked against). Same results as computeSequenceHashes.
 */
export function computeSequenceHashesReference(tokens: ArrayLike<number>, blockSize: number): SequenceHash[] {
  const numBlocks = Math.floor(tokens.length / blockSize);
  const out = new Array<SequenceHash>(numBlocks);
  let prev = 0n;
  for (let b = 0; b < numBlocks; b++) {
    const local = nativeBlockHash(tokens, b * blockSize, (b + 1) * blockSize);
    prev = b === 0 ? local : nativeChainHash(prev, local);
    out[b] = asSequenceHash(prev);
  }
  return out;
}
