import { test } from "node:test";
import assert from "node:assert/strict";
import { xxh3 } from "@node-rs/xxhash";
import { KV_HASH_SEED, chainSequenceHash, computeSequenceHashes, hashBlockTokens } from "../../src/kv/index.ts";
import { asSequenceHash } from "../../src/protocols/index.ts";

const range = (n: number, f: (i: number) => number): number[] => Array.from({ length: n }, (_, i) => f(i));

test("kv hashing - local hash is XXH3-64 seed 1337 over little-endian u32 tokens", () => {
  const tokens = range(16, (i) => i);
  const bytes = new Uint8Array(64);
  for (let i = 0; i < 16; i++) {
    bytes[i * 4] = tokens[i]! & 0xff;
    bytes[i * 4 + 1] = (tokens[i]! >>> 8) & 0xff;
    bytes[i * 4 + 2] = (tokens[i]! >>> 16) & 0xff;
    bytes[i * 4 + 3] = (tokens[i]! >>> 24) & 0xff;
  }
  assert.equal(KV_HASH_SEED, 1337n);
  assert.equal(hashBlockTokens(tokens), xxh3.xxh64(bytes, 1337n));
  assert.equal(hashBlockTokens(tokens), 15310707395893867146n);
});

test("kv hashing - chain step is XXH3-64 over le_u64(parent) then le_u64(local)", () => {
  const parent = hashBlockTokens(range(16, (i) => i));
  const local = hashBlockTokens(range(16, (i) => 16 + i));
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, parent, true);
  view.setBigUint64(8, local, true);
  assert.equal(chainSequenceHash(asSequenceHash(parent), local), xxh3.xxh64(bytes, 1337n));
});

test("kv hashing - pinned sequence hashes, block size 16", () => {
  // 40 tokens: two full blocks, the 8-token tail is ignored.
  assert.deepEqual(computeSequenceHashes(range(40, (i) => i), 16), [15310707395893867146n, 13769157705258532664n]);
  assert.deepEqual(computeSequenceHashes(range(15, (i) => i), 16), []);
});

test("kv hashing - pinned sequence hashes, block size 4", () => {
  assert.deepEqual(computeSequenceHashes(range(10, (i) => 1000 + i * 7), 4), [
    17322450797541998029n,
    7968211970888044591n,
  ]);
  assert.deepEqual(computeSequenceHashes([4294967295, 0, 1, 2, 3, 4, 5, 6], 4), [
    6304548326766447106n,
    15178802413606895336n,
  ]);
});

test("kv hashing - equal prefixes give equal leading sequence hashes", () => {
  const a = computeSequenceHashes(range(64, (i) => i), 16);
  const b = computeSequenceHashes([...range(32, (i) => i), ...range(32, (i) => 500 + i)], 16);
  assert.deepEqual(a.slice(0, 2), b.slice(0, 2));
  assert.notEqual(a[2], b[2]);
});
