// Block hashing, as ARCHITECTURE.md fixes it:
//   local[i] = XXH3-64(seed 1337) over block i's token ids as little-endian u32
//   seq[0]   = local[0]
//   seq[i]   = XXH3-64(seed 1337) over le_u64(seq[i-1]) ‖ le_u64(local[i])
// The chain step uses the same seed as the local hash (as Dynamo's router does), so there is
// one hash function in the system. Only full blocks are hashed.
import { xxh3 } from "@node-rs/xxhash";
import { asLocalBlockHash, asSequenceHash } from "../protocols/index.ts";
import type { LocalBlockHash, SequenceHash } from "../protocols/index.ts";

export const KV_HASH_SEED = 1337n;

// Scratch buffers reused across calls: hashing allocates only the result arrays.
let tokenScratch = new Uint8Array(16 * 4);
let tokenView = new DataView(tokenScratch.buffer);
const pairScratch = new Uint8Array(16);
const pairView = new DataView(pairScratch.buffer);

/** Local hash of one block of token ids. */
export function hashBlockTokens(tokens: ArrayLike<number>, start = 0, end = tokens.length): LocalBlockHash {
  const n = end - start;
  if (tokenScratch.length < n * 4) {
    tokenScratch = new Uint8Array(n * 4);
    tokenView = new DataView(tokenScratch.buffer);
  }
  for (let i = 0; i < n; i++) tokenView.setUint32(i * 4, tokens[start + i]! >>> 0, true);
  return asLocalBlockHash(xxh3.xxh64(tokenScratch.subarray(0, n * 4), KV_HASH_SEED));
}

/** Sequence hash of a block given its parent's sequence hash (null for the first block). */
export function chainSequenceHash(parent: SequenceHash | null, local: LocalBlockHash): SequenceHash {
  if (parent === null) return asSequenceHash(local);
  pairView.setBigUint64(0, parent, true);
  pairView.setBigUint64(8, local, true);
  return asSequenceHash(xxh3.xxh64(pairScratch, KV_HASH_SEED));
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
  const locals = computeLocalBlockHashes(tokens, blockSize);
  return chainSequenceHashes(locals, null);
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
