// kv: block hashing, the radix-tree indexer over block hashes, KV event ingestion.
// Pure state: no I/O, so it runs unchanged in simulated time.
export {
  KV_HASH_SEED,
  hashBlockTokens,
  chainSequenceHash,
  chainSequenceHashes,
  computeLocalBlockHashes,
  computeSequenceHashes,
} from "./hashing.ts";
