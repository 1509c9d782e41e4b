import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { xxh3 } from "@node-rs/xxhash";
import {
  KV_HASH_SEED,
  chainSequenceHash,
  chainSequenceHashes,
  computeLocalBlockHashes,
  computeSequenceHashes,
  computeSequenceHashesReference,
  hashBlockTokens,
} from "../../src/kv/index.ts";
import { asLocalBlockHash, asSequenceHash } from "../../src/protocols/index.ts";
import type { LocalBlockHash, SequenceHash } from "../../src/protocols/index.ts";
// The TypeScript XXH3 is internal to kv (not on the front door); its test reaches it directly.
// eslint-disable-next-line no-restricted-imports
import { XXH3_TS_AVAILABLE, XXH3_TS_MAX_LEN, xxh3Counters, xxh3_64 } from "../../src/kv/xxh3.ts";

// Deterministic inputs: a xorshift32 stream.
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
}
const next = rng(0x9e3779b9);
const randomBytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => next() & 0xff);
const random64 = (): bigint => (BigInt(next()) << 32n) | BigInt(next());
const SEEDS = [0n, 1n, 1337n, 0xffff_ffffn, 0x1_0000_0000n, 0x8000_0000_0000_0000n, 0xffff_ffff_ffff_ffffn, random64(), random64()];

/** The reference the spec fixes: XXH3-64 seed 1337 over little-endian u32 tokens, via N-API. */
function referenceLocal(tokens: readonly number[], start: number, end: number): bigint {
  const bytes = new Uint8Array((end - start) * 4);
  const view = new DataView(bytes.buffer);
  for (let i = start; i < end; i++) view.setUint32((i - start) * 4, tokens[i]! >>> 0, true);
  return xxh3.xxh64(bytes, KV_HASH_SEED);
}
function referenceChain(parent: bigint, local: bigint): bigint {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, parent, true);
  view.setBigUint64(8, local, true);
  return xxh3.xxh64(bytes, KV_HASH_SEED);
}
/** A prompt of random token ids, with the edges of the u32 range mixed in. */
function randomPrompt(n: number): number[] {
  return Array.from({ length: n }, (_, i) => (i % 17 === 3 ? 0xffff_ffff : i % 19 === 5 ? 0x8000_0000 : next() % 262_144));
}

test("kv xxh3 - the TypeScript path is available on this platform (little-endian)", () => {
  assert.equal(XXH3_TS_AVAILABLE, true);
  assert.equal(XXH3_TS_MAX_LEN, 240);
});

test("kv xxh3 - bit-exact with @node-rs/xxhash for every length 0..240 and several seeds, without N-API", () => {
  const before = { ...xxh3Counters };
  let calls = 0;
  for (const seed of SEEDS) {
    for (let len = 0; len <= 240; len++) {
      for (let k = 0; k < 3; k++) {
        const input = randomBytes(len);
        assert.equal(xxh3_64(input, seed), xxh3.xxh64(input, seed), `len ${len} seed ${seed}`);
        calls++;
      }
    }
  }
  assert.equal(xxh3Counters.ts - before.ts, calls);
  assert.equal(xxh3Counters.native - before.native, 0);
});

test("kv xxh3 - inputs of all-zero and all-0xff bytes, every length 0..240", () => {
  for (const fill of [0x00, 0xff]) {
    for (let len = 0; len <= 240; len++) {
      const input = new Uint8Array(len).fill(fill);
      for (const seed of [0n, 1337n, 0xffff_ffff_ffff_ffffn]) assert.equal(xxh3_64(input, seed), xxh3.xxh64(input, seed));
    }
  }
});

test("kv xxh3 - longer inputs go to @node-rs/xxhash, with the same results", () => {
  const before = { ...xxh3Counters };
  const lengths = [241, 255, 256, 257, 300, 512, 1024, 4096];
  for (const len of lengths) {
    const input = randomBytes(len);
    for (const seed of [0n, 1337n, random64()]) assert.equal(xxh3_64(input, seed), xxh3.xxh64(input, seed));
  }
  assert.equal(xxh3Counters.native - before.native, lengths.length * 3);
  assert.equal(xxh3Counters.ts - before.ts, 0);
});

test("kv xxh3 - property: random bytes and seeds match @node-rs/xxhash", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }), (input, seed) => xxh3_64(input, seed) === xxh3.xxh64(input, seed)),
    { numRuns: 2000 },
  );
});

test("kv xxh3 - block hashes match the N-API reference for block sizes 1..64 over random prompts", () => {
  for (let blockSize = 1; blockSize <= 64; blockSize++) {
    const prompt = randomPrompt(blockSize * (1 + (next() % 12)) + (next() % blockSize));
    const numBlocks = Math.floor(prompt.length / blockSize);
    const locals: bigint[] = [];
    const seqs: bigint[] = [];
    for (let b = 0; b < numBlocks; b++) {
      locals.push(referenceLocal(prompt, b * blockSize, (b + 1) * blockSize));
      seqs.push(b === 0 ? locals[0]! : referenceChain(seqs[b - 1]!, locals[b]!));
    }
    const before = { ...xxh3Counters };
    assert.deepEqual(computeLocalBlockHashes(prompt, blockSize), locals, `locals, block size ${blockSize}`);
    assert.deepEqual(computeSequenceHashes(prompt, blockSize), seqs, `sequence, block size ${blockSize}`);
    assert.deepEqual(chainSequenceHashes(locals as LocalBlockHash[], null), seqs, `chained, block size ${blockSize}`);
    const native = xxh3Counters.native - before.native;
    // Blocks of up to 60 tokens (240 bytes) never cross into N-API; longer ones hash there.
    if (blockSize <= 60) assert.equal(native, 0, `block size ${blockSize} called N-API`);
    else assert.equal(native, 2 * numBlocks, `block size ${blockSize}`);
    assert.deepEqual(computeSequenceHashesReference(prompt, blockSize), seqs);
  }
});

test("kv xxh3 - chaining continues after a parent, and single steps match", () => {
  for (let trial = 0; trial < 200; trial++) {
    const parent = asSequenceHash(random64());
    const locals = Array.from({ length: 1 + (next() % 8) }, () => asLocalBlockHash(random64()));
    const expected: SequenceHash[] = [];
    let prev: bigint = parent;
    for (const l of locals) expected.push(asSequenceHash((prev = referenceChain(prev, l))));
    assert.deepEqual(chainSequenceHashes(locals, parent), expected);
    assert.equal(chainSequenceHash(parent, locals[0]!), expected[0]);
    assert.equal(chainSequenceHash(null, locals[0]!), locals[0]);
  }
});

test("kv xxh3 - hashBlockTokens over a sub-range equals hashing the copied range", () => {
  const prompt = randomPrompt(200);
  for (const [start, end] of [[0, 16], [5, 21], [7, 67], [100, 200], [3, 3], [10, 11]] as const) {
    assert.equal(hashBlockTokens(prompt, start, end), referenceLocal(prompt, start, end));
  }
  // A typed array of tokens hashes like the equal number[].
  const typed = Uint32Array.from(prompt);
  assert.deepEqual(computeSequenceHashes(typed, 16), computeSequenceHashes(prompt, 16));
});
