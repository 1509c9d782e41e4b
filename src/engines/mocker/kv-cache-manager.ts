// The KV cache manager: what the scheduler knows of KV memory. Per sequence it finds the
// longest cached prefix, allocates blocks for new tokens, registers full blocks' hashes as
// they fill (prompt and generated tokens alike) and frees blocks. Running out of blocks is a
// return value (false), never an exception: the scheduler then preempts and retries.
import { chainSequenceHash, hashBlockTokens } from "../../kv/index.ts";
import type { LocalBlockHash, SequenceHash } from "../../protocols/index.ts";
import type { BlockPool } from "./block-pool.ts";
import type { KvBlock } from "./free-block-queue.ts";
import type { KvbmTiers } from "./kvbm-tiers.ts";

/** Precomputed hashes of a request's full blocks (so a simulator hashes each prompt once). */
export interface BlockHashes {
  local: readonly LocalBlockHash[];
  sequence: readonly SequenceHash[];
}

/**
 * One sequence's KV state. Opaque to the scheduler: only the manager reads or writes it.
 * `tokens` is the sequence's token list (prompt, then generated tokens), shared with the
 * scheduler's request, which appends to it.
 */
export class KvSequence {
  readonly tokens: number[];
  /** Blocks held, in sequence order. */
  readonly blocks: KvBlock[] = [];
  /** Hashes of full blocks known so far (grows as generated tokens fill blocks). */
  readonly localHashes: LocalBlockHash[];
  readonly sequenceHashes: SequenceHash[];
  /** Leading blocks of `blocks` that are full and registered (or were prefix hits). */
  numRegisteredBlocks = 0;
  /** Result of the last findCachedPrefix, consumed by the next allocateSlots. */
  pendingPrefixBlocks = 0;
  pendingPrefixFreeBlocks = 0;
  /** Blocks after the device prefix to onboard from lower tiers, and their transfer time (KVBM). */
  pendingOnboardBlocks = 0;
  pendingOnboardMs = 0;

  constructor(tokens: number[], localHashes: LocalBlockHash[], sequenceHashes: SequenceHash[]) {
    this.tokens = tokens;
    this.localHashes = localHashes;
    this.sequenceHashes = sequenceHashes;
  }
}

export class KvCacheManager {
  readonly blockSize: number;
  readonly pool: BlockPool;
  /** Tokens looked up in the prefix cache at admission, and of those, tokens found. */
  numPrefixQueryTokens = 0;
  numPrefixHitTokens = 0;
  /** Of those, tokens onboarded from lower tiers (KVBM), per tier. */
  readonly numOnboardedTokens = { host: 0, disk: 0, remote: 0 };
  /** Lower tiers (G2..G4), or null without a KVBM. */
  kvbm: KvbmTiers | null = null;

  constructor(pool: BlockPool, blockSize: number) {
    if (!Number.isInteger(blockSize) || blockSize <= 0) throw new RangeError(`blockSize must be a positive integer, got ${blockSize}`);
    this.pool = pool;
    this.blockSize = blockSize;
  }

  /** Creates the KV state of a sequence, hashing its full blocks unless `hashes` are given. */
  createSequence(tokens: number[], hashes?: BlockHashes): KvSequence {
    const numFull = Math.floor(tokens.length / this.blockSize);
    let local: LocalBlockHash[];
    let seq: SequenceHash[];
    if (hashes !== undefined && hashes.local.length >= numFull && hashes.sequence.length >= numFull) {
      local = hashes.local.slice(0, numFull);
      seq = hashes.sequence.slice(0, numFull);
    } else {
      local = new Array<LocalBlockHash>(numFull);
      seq = new Array<SequenceHash>(numFull);
      let parent: SequenceHash | null = null;
      for (let b = 0; b < numFull; b++) {
        local[b] = hashBlockTokens(tokens, b * this.blockSize, (b + 1) * this.blockSize);
        parent = chainSequenceHash(parent, local[b]!);
        seq[b] = parent;
      }
    }
    return new KvSequence(tokens, local, seq);
  }

  /**
   * Looks up the longest cached prefix of a sequence that holds no blocks, in blocks. At least
   * one token is left to compute (a fully cached prompt recomputes its last block, as vLLM
   * does), so the first output token has a step to come from. Touches nothing: the result is
   * kept for the next allocateSlots.
   */
  findCachedPrefix(seq: KvSequence): number {
    const maxBlocks = Math.min(seq.sequenceHashes.length, Math.floor((seq.tokens.length - 1) / this.blockSize));
    let n = 0;
    let numFree = 0;
    for (; n < maxBlocks; n++) {
      const block = this.pool.getCached(seq.sequenceHashes[n]!);
      if (block === undefined) break;
      if (block.refCount === 0) numFree++;
    }
    seq.pendingPrefixBlocks = n;
    seq.pendingPrefixFreeBlocks = numFree;
    seq.pendingOnboardBlocks = 0;
    seq.pendingOnboardMs = 0;
    if (this.kvbm !== null && n < maxBlocks) {
      // The blocks after the device prefix that lower tiers hold, when onboarding them is cheaper.
      const plan = this.kvbm.plan(seq.sequenceHashes, n, maxBlocks);
      seq.pendingOnboardBlocks = plan.numBlocks;
      seq.pendingOnboardMs = plan.ms;
      this.pendingPlanByTier = plan.byTier;
    }
    return n + seq.pendingOnboardBlocks;
  }

  private pendingPlanByTier = { host: 0, disk: 0, remote: 0 };

  /**
   * After a successful admission: counts the hit (every tier refreshes the blocks and counts a
   * use, so reused blocks are the ones worth offloading further) and the onboarded blocks.
   * Returns the onboard transfer time to charge in this step.
   */
  commitAdmission(seq: KvSequence, numCachedBlocks: number): number {
    const kvbm = this.kvbm;
    if (kvbm === null) return 0;
    if (numCachedBlocks > 0) kvbm.policy.recordUse(seq.sequenceHashes, 0, numCachedBlocks);
    const ms = seq.pendingOnboardMs;
    if (seq.pendingOnboardBlocks > 0) {
      const t = this.pendingPlanByTier;
      kvbm.hits[t.host > 0 ? "host" : t.disk > 0 ? "disk" : "remote"]++;
      kvbm.latency.observe(ms / 1000);
      for (const tier of ["host", "disk", "remote"] as const) {
        if (t[tier] > 0) {
          kvbm.policy.recordOnboard(tier, t[tier]);
          this.numOnboardedTokens[tier] += t[tier] * this.blockSize;
        }
      }
    } else if (numCachedBlocks < Math.floor((seq.tokens.length - 1) / this.blockSize)) {
      kvbm.misses++; // blocks left to compute, and no lower tier held the next one
    }
    seq.pendingOnboardBlocks = 0;
    seq.pendingOnboardMs = 0;
    return ms;
  }

  /**
   * Makes room for `numNewTokens` more tokens after `numComputedTokens`, taking the prefix
   * found by the last findCachedPrefix if the sequence holds no blocks yet. Registers the
   * blocks that are full once these tokens are computed. Returns false, changing nothing,
   * when the pool has too few free blocks.
   */
  allocateSlots(seq: KvSequence, numComputedTokens: number, numNewTokens: number): boolean {
    const bs = this.blockSize;
    const blocks = seq.blocks;
    const numPrefix = blocks.length === 0 ? seq.pendingPrefixBlocks : 0;
    const total = numComputedTokens + numNewTokens;
    const required = Math.ceil(total / bs);
    const numNew = Math.max(0, required - blocks.length - numPrefix);
    // A free cached prefix block leaves the free queue when touched: it counts against the budget.
    const prefixFree = numPrefix > 0 ? seq.pendingPrefixFreeBlocks : 0;
    if (numNew + prefixFree > this.pool.numFreeBlocks) return false;
    if (numPrefix > 0) {
      for (let i = 0; i < numPrefix; i++) {
        const block = this.pool.getCached(seq.sequenceHashes[i]!)!;
        this.pool.touch(block);
        blocks.push(block);
      }
      seq.numRegisteredBlocks = numPrefix;
    }
    seq.pendingPrefixBlocks = 0;
    seq.pendingPrefixFreeBlocks = 0;
    if (numNew > 0) this.pool.allocate(numNew, blocks);
    const numFull = Math.floor(total / bs);
    if (numFull > seq.numRegisteredBlocks) {
      this.extendHashes(seq, numFull);
      this.pool.cacheFullBlocks(blocks, seq.sequenceHashes, seq.localHashes, seq.numRegisteredBlocks, numFull);
      this.kvbm?.stored(seq.sequenceHashes, seq.localHashes, seq.numRegisteredBlocks, numFull);
      seq.numRegisteredBlocks = numFull;
    }
    return true;
  }

  /**
   * Registers the full blocks of `tokens` as cached, as if a finished sequence had left them:
   * KV imported from a prefill worker (disaggregated serving). They sit in the free queue,
   * reusable by the next request with that prefix. Returns the blocks now cached for the
   * prefix, or 0 when the pool has no room (the request then computes its prompt itself).
   */
  importPrefix(tokens: number[], hashes?: BlockHashes): number {
    const seq = this.createSequence(tokens, hashes);
    const numFull = seq.sequenceHashes.length;
    if (numFull === 0) return 0;
    // findCachedPrefix leaves the last block to compute; an import holds every full block.
    this.findCachedPrefix(seq);
    if (!this.allocateSlots(seq, 0, numFull * this.blockSize)) return 0;
    const held = seq.numRegisteredBlocks;
    this.free(seq);
    return held;
  }

  /** Counts an admission's prefix-cache lookup (hit rate = hits / queries, in tokens). */
  recordPrefixQuery(numTokens: number, numHitTokens: number): void {
    this.numPrefixQueryTokens += numTokens;
    this.numPrefixHitTokens += numHitTokens;
  }

  /** Releases every block of the sequence, last first (the prefix is evicted last). */
  free(seq: KvSequence): void {
    this.pool.freeReversed(seq.blocks);
    seq.blocks.length = 0;
    seq.numRegisteredBlocks = 0;
    seq.pendingPrefixBlocks = 0;
    seq.pendingPrefixFreeBlocks = 0;
    seq.pendingOnboardBlocks = 0;
    seq.pendingOnboardMs = 0;
  }

  /** Hashes generated tokens' full blocks up to `numFull` blocks. */
  private extendHashes(seq: KvSequence, numFull: number): void {
    const bs = this.blockSize;
    let parent = seq.sequenceHashes.length === 0 ? null : seq.sequenceHashes[seq.sequenceHashes.length - 1]!;
    for (let b = seq.sequenceHashes.length; b < numFull; b++) {
      const local = hashBlockTokens(seq.tokens, b * bs, (b + 1) * bs);
      parent = chainSequenceHash(parent, local);
      seq.localHashes.push(local);
      seq.sequenceHashes.push(parent);
    }
  }
}
