// The router's view of which worker caches which block, fed by KV events.
//
// A sequence hash identifies a whole prefix, so the radix tree over blocks is stored as nodes
// found by hash (an open-addressing table over the hash's two 32-bit halves) plus, per node, a
// hint to its latest child: walking a prompt follows the hints through adjacent memory and
// falls back to the table only where the path branches. Nodes live in one Int32Array
// (struct of arrays); a node's holders are one SMI each (workerIndex << 4 | tier mask), inline
// when there is one holder. Each node keeps an XOR fingerprint of its holder set, so findMatches
// sees in O(1) that a block is held by exactly the workers still matching, and only intersects
// sets where the match narrows.
import type { KvBlockSetDump, KvCacheEvent, SequenceHash, StorageTier, WorkerId } from "../protocols/index.ts";
import type { KvIndexer, WorkerMatch } from "./indexer-types.ts";
import { IntMap } from "./int-map.ts";
import type { MatchBuffer } from "./match-buffer.ts";

/** Tier -> bit in a holder's 4-bit mask; lower bit = faster tier. */
const TIER_BIT: Record<StorageTier, number> = { device: 1, host: 2, disk: 4, remote: 8 };

/** FASTEST[mask] = index (0 device .. 3 remote) of the fastest tier in a non-empty mask. */
const FASTEST = new Int8Array(16).fill(-1);
for (let m = 1; m < 16; m++) FASTEST[m] = 31 - Math.clz32(m & -m);

// Node record layout (Int32 fields). Node id 0 is the null node.
const STRIDE = 12;
const HASH_LO = 0;
const HASH_HI = 1;
const COUNT = 2; // number of holders
const FP_LO = 3; // XOR of the holders' 64-bit keys
const FP_HI = 4;
const CHILD = 5; // latest child stored after this block (a hint: verified by hash before use)
const SOLO = 6; // the holder when COUNT is 1
const F0 = 7; // F0..F0+3: holders whose fastest tier is device / host / disk / remote

const MAX_WORKER_INDEX = 1 << 26; // holders pack the index above a 4-bit mask into an SMI
const MAX_LOAD = 0.6;

// Splits a u64 hash into two int32 halves without allocating. (A BigUint64Array store is several
// times cheaper than DataView.setBigUint64; which half is "lo" follows the platform's byte
// order, which is harmless: the halves never leave this process.)
const splitU64 = new BigUint64Array(1);
const splitI32 = new Int32Array(splitU64.buffer);
let splitLo = 0;
let splitHi = 0;
function split(hash: bigint): void {
  splitU64[0] = hash;
  splitLo = splitI32[0]!;
  splitHi = splitI32[1]!;
}

/** 32-bit mix of a hash's halves: its table slot is the low bits; the table keeps all 32. */
function mixHash(lo: number, hi: number): number {
  const h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
  return h ^ (h >>> 15);
}

class WorkerState {
  lastEventId = -1;
  /** Node id -> position of this worker's holder entry in the node. */
  readonly blocks = new IntMap();
  constructor(
    readonly id: WorkerId,
    readonly index: number,
  ) {}
}

export interface RadixIndexerOptions {
  /** Distinct blocks expected: sizes the tables up front so that growing them never pauses the router. */
  expectedBlocks?: number;
}

export class RadixIndexer implements KvIndexer {
  // Nodes.
  private nodes: Int32Array;
  private nodeCapacity: number;
  private nextNode = 1;
  private readonly freeNodes: number[] = [];
  /** Holder lists of nodes with two or more holders. */
  private lists: (number[] | undefined)[] = [];
  private numLiveNodes = 0;
  // Hash table: [mixHash(lo, hi), nodeId] per slot (nodeId 0 = empty; the full hash is checked
  // in the node record, which the caller reads next anyway). Linear probing.
  private table: Int32Array;
  private tableMask: number;

  private readonly byId = new Map<WorkerId, WorkerState>();
  private byIndex: (WorkerState | undefined)[] = [];
  private readonly freeIndices: number[] = [];
  private numEntries = 0;

  // Per worker index: fingerprint keys, and findMatches scratch (reused, never allocated per call).
  private capacity = 0;
  private keyLo = new Int32Array(0);
  private keyHi = new Int32Array(0);
  private active = new Int32Array(0);
  private touched = new Int32Array(0);
  private mark = new Int32Array(0);
  private markTier = new Int8Array(0);
  private matchLen = new Int32Array(0);
  private tierAcc = new Int32Array(0);
  private stamp = 0;
  private rng = 0x2545f491; // deterministic keys: the indexer is pure

  constructor(options: RadixIndexerOptions = {}) {
    const expected = Math.max(1024, Math.ceil(options.expectedBlocks ?? 0));
    this.nodeCapacity = expected + 1;
    this.nodes = new Int32Array(this.nodeCapacity * STRIDE);
    let slots = 2048;
    while (slots * MAX_LOAD < expected) slots *= 2;
    this.table = new Int32Array(slots * 2);
    this.tableMask = slots - 1;
  }

  /** Number of (worker, block) entries, a block held in several tiers counting once. */
  get size(): number {
    return this.numEntries;
  }

  /** Number of distinct blocks (sequence hashes) held by at least one worker. */
  get numNodes(): number {
    return this.numLiveNodes;
  }

  /** Workers known to the index (they sent an event or were reset), with or without blocks. */
  workers(): WorkerId[] {
    return [...this.byId.keys()];
  }

  /** Number of blocks the worker holds in `tier`, or in any tier if omitted. */
  numBlocks(workerId: WorkerId, tier?: StorageTier): number {
    const ws = this.byId.get(workerId);
    if (ws === undefined) return 0;
    if (tier === undefined) return ws.blocks.size;
    const bit = TIER_BIT[tier];
    let n = 0;
    for (const node of ws.blocks.keySnapshot()) if (this.entryAt(node, ws.blocks.get(node)) & bit) n++;
    return n;
  }

  /** Id of the last event applied for the worker; -1 for an unknown worker. */
  lastEventId(workerId: WorkerId): number {
    return this.byId.get(workerId)?.lastEventId ?? -1;
  }

  /**
   * Applies one event if it is the worker's next (eventId = last + 1). A duplicate
   * (eventId <= last) is ignored and returns true; a gap is not applied and returns false.
   */
  applyEvent(event: KvCacheEvent): boolean {
    let ws = this.byId.get(event.workerId);
    const last = ws === undefined ? -1 : ws.lastEventId;
    if (event.eventId <= last) return true;
    if (event.eventId !== last + 1) return false;
    ws ??= this.addWorker(event.workerId);
    ws.lastEventId = event.eventId;
    const data = event.data;
    const bit = TIER_BIT[event.tier];
    switch (data.type) {
      case "stored": {
        let parent = data.parentHash === null ? 0 : this.lookup(data.parentHash);
        const blocks = data.blocks;
        for (let i = 0; i < blocks.length; i++) parent = this.addBlock(ws, parent, blocks[i]!.hash, bit);
        break;
      }
      case "removed": {
        const hashes = data.hashes;
        for (let i = 0; i < hashes.length; i++) {
          const node = this.lookup(hashes[i]!);
          if (node !== 0) this.clearHolderBits(ws, node, bit);
        }
        break;
      }
      case "cleared":
        this.clearWorkerBits(ws, bit);
        break;
    }
    return true;
  }

  /** Replaces the worker's whole part of the index with a dump and resumes after its lastEventId. */
  resetWorker(dump: KvBlockSetDump): void {
    const ws = this.byId.get(dump.workerId) ?? this.addWorker(dump.workerId);
    this.clearWorkerBits(ws, 15);
    for (const { tier, data } of dump.events) {
      const bit = TIER_BIT[tier];
      let parent = data.parentHash === null ? 0 : this.lookup(data.parentHash);
      for (const block of data.blocks) parent = this.addBlock(ws, parent, block.hash, bit);
    }
    ws.lastEventId = dump.lastEventId;
  }

  removeWorker(workerId: WorkerId): void {
    const ws = this.byId.get(workerId);
    if (ws === undefined) return;
    this.clearWorkerBits(ws, 15);
    this.byId.delete(workerId);
    this.byIndex[ws.index] = undefined;
    this.freeIndices.push(ws.index);
  }

  /**
   * Low level, bypassing event ids (the approximate indexer's entry point): marks the chain
   * `hashes` (each the child of the one before) as held by the worker in `tier`.
   */
  storeHashes(workerId: WorkerId, tier: StorageTier, hashes: readonly SequenceHash[]): void {
    const ws = this.byId.get(workerId) ?? this.addWorker(workerId);
    const bit = TIER_BIT[tier];
    let parent = 0;
    for (let i = 0; i < hashes.length; i++) parent = this.addBlock(ws, parent, hashes[i]!, bit);
  }

  /** Low level, bypassing event ids: the worker no longer holds `hashes` in `tier`. */
  removeHashes(workerId: WorkerId, tier: StorageTier, hashes: readonly SequenceHash[]): void {
    const ws = this.byId.get(workerId);
    if (ws === undefined) return;
    const bit = TIER_BIT[tier];
    for (let i = 0; i < hashes.length; i++) {
      const node = this.lookup(hashes[i]!);
      if (node !== 0) this.clearHolderBits(ws, node, bit);
    }
  }

  /**
   * For each worker holding hashes[0]: how many leading hashes it holds in any tier, and of
   * those how many in each tier (counted in the fastest tier holding the block).
   * One pass over the query, stopping when no worker matches any more. Per block: a child-hint
   * check (or a table probe where the path branches); O(holders) work only where the set of
   * matching workers changes, detected by holder count plus a 64-bit fingerprint (a false
   * "unchanged" has probability 2^-64).
   */
  findMatches(hashes: readonly SequenceHash[]): Map<WorkerId, WorkerMatch> {
    const result = new Map<WorkerId, WorkerMatch>();
    const numTouched = this.walk(hashes);
    const { touched, matchLen, tierAcc } = this;
    for (let k = 0; k < numTouched; k++) {
      const w = touched[k]!;
      const b = w * 4;
      result.set(this.byIndex[w]!.id, {
        numBlocks: matchLen[w]!,
        byTier: { device: tierAcc[b]!, host: tierAcc[b + 1]!, disk: tierAcc[b + 2]!, remote: tierAcc[b + 3]! },
      });
      tierAcc[b] = 0;
      tierAcc[b + 1] = 0;
      tierAcc[b + 2] = 0;
      tierAcc[b + 3] = 0;
    }
    return result;
  }

  /**
   * findMatches without allocating: fills `out` (reused across calls) and returns the number
   * of workers matched. For callers on the hot path with many matching workers, where building
   * the Map dominates.
   */
  findMatchesInto(hashes: readonly SequenceHash[], out: MatchBuffer): number {
    const numTouched = this.walk(hashes);
    out.reserve(numTouched);
    const { touched, matchLen, tierAcc } = this;
    const ids = out.workerIds;
    const numBlocks = out.numBlocks;
    const byTier = out.byTier;
    for (let k = 0; k < numTouched; k++) {
      const w = touched[k]!;
      const b = w * 4;
      ids[k] = this.byIndex[w]!.id;
      numBlocks[k] = matchLen[w]!;
      byTier[k * 4] = tierAcc[b]!;
      byTier[k * 4 + 1] = tierAcc[b + 1]!;
      byTier[k * 4 + 2] = tierAcc[b + 2]!;
      byTier[k * 4 + 3] = tierAcc[b + 3]!;
      tierAcc[b] = 0;
      tierAcc[b + 1] = 0;
      tierAcc[b + 2] = 0;
      tierAcc[b + 3] = 0;
    }
    out.length = numTouched;
    return numTouched;
  }

  /**
   * The walk behind findMatches: leaves, for the `touched` workers (those holding hashes[0]),
   * their match length in matchLen and tier counts in tierAcc (which the caller zeroes).
   */
  private walk(hashes: readonly SequenceHash[]): number {
    if (hashes.length === 0) return 0;
    const first = this.lookup(hashes[0]!);
    if (first === 0) return 0;

    const { nodes, lists, active, touched, mark, markTier, matchLen, tierAcc, keyLo, keyHi } = this;
    let numActive = nodes[first * STRIDE + COUNT]!;
    const firstList = lists[first];
    for (let k = 0; k < numActive; k++) {
      const w = (firstList === undefined ? nodes[first * STRIDE + SOLO]! : firstList[k]!) >> 4;
      active[k] = w;
      touched[k] = w;
    }
    let fpLo = nodes[first * STRIDE + FP_LO]!;
    let fpHi = nodes[first * STRIDE + FP_HI]!;
    const numTouched = numActive;
    // Blocks held by exactly the workers still matching, all in one fastest tier, are counted
    // once here and folded into each worker's tally when it stops matching.
    let g0 = 0;
    let g1 = 0;
    let g2 = 0;
    let g3 = 0;

    let node = first;
    let i = 0;
    for (; i < hashes.length; i++) {
      if (i > 0) {
        split(hashes[i]!);
        const child = nodes[node * STRIDE + CHILD]!;
        if (child !== 0 && nodes[child * STRIDE + HASH_LO] === splitLo && nodes[child * STRIDE + HASH_HI] === splitHi) {
          node = child;
        } else {
          node = this.probe(splitLo, splitHi);
          if (node === 0) break;
        }
      }
      const base = node * STRIDE;
      const n = nodes[base + COUNT]!;
      if (n === numActive && nodes[base + FP_LO] === fpLo && nodes[base + FP_HI] === fpHi) {
        // Same holders as the workers still matching: nobody drops out.
        if (nodes[base + F0] === n) g0++;
        else if (nodes[base + F0 + 1] === n) g1++;
        else if (nodes[base + F0 + 2] === n) g2++;
        else if (nodes[base + F0 + 3] === n) g3++;
        else {
          const list = lists[node]!; // mixed tiers implies two or more holders
          for (let k = 0; k < n; k++) {
            const e = list[k]!;
            tierAcc[(e >> 4) * 4 + FASTEST[e & 15]!]++;
          }
        }
        continue;
      }
      // The matching set narrows: keep the active workers that hold this block.
      let kept = 0;
      const list = lists[node];
      if (numActive * 16 < n) {
        // Few active workers on a popular block: ask each active worker's own map.
        for (let k = 0; k < numActive; k++) {
          const w = active[k]!;
          const pos = this.byIndex[w]!.blocks.get(node);
          if (pos >= 0) {
            active[kept++] = w;
            tierAcc[w * 4 + FASTEST[list![pos]! & 15]!]++;
          } else {
            matchLen[w] = i;
            tierAcc[w * 4] += g0;
            tierAcc[w * 4 + 1] += g1;
            tierAcc[w * 4 + 2] += g2;
            tierAcc[w * 4 + 3] += g3;
            fpLo ^= keyLo[w]!;
            fpHi ^= keyHi[w]!;
          }
        }
      } else {
        const s = this.nextStamp();
        for (let k = 0; k < n; k++) {
          const e = list === undefined ? nodes[base + SOLO]! : list[k]!;
          const w = e >> 4;
          mark[w] = s;
          markTier[w] = FASTEST[e & 15]!;
        }
        for (let k = 0; k < numActive; k++) {
          const w = active[k]!;
          if (mark[w] === s) {
            active[kept++] = w;
            tierAcc[w * 4 + markTier[w]!]++;
          } else {
            matchLen[w] = i;
            tierAcc[w * 4] += g0;
            tierAcc[w * 4 + 1] += g1;
            tierAcc[w * 4 + 2] += g2;
            tierAcc[w * 4 + 3] += g3;
            fpLo ^= keyLo[w]!;
            fpHi ^= keyHi[w]!;
          }
        }
      }
      numActive = kept;
      if (numActive === 0) break;
    }
    for (let k = 0; k < numActive; k++) {
      const w = active[k]!;
      matchLen[w] = i;
      tierAcc[w * 4] += g0;
      tierAcc[w * 4 + 1] += g1;
      tierAcc[w * 4 + 2] += g2;
      tierAcc[w * 4 + 3] += g3;
    }
    return numTouched;
  }

  // ---- hash table ----

  /** Node id of `hash`, or 0. */
  private lookup(hash: bigint): number {
    split(hash);
    return this.probe(splitLo, splitHi);
  }

  private probe(lo: number, hi: number): number {
    const table = this.table;
    const nodes = this.nodes;
    const mask = this.tableMask;
    const h = mixHash(lo, hi);
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const node = table[s * 2 + 1]!;
      if (node === 0) return 0;
      if (table[s * 2] === h && nodes[node * STRIDE + HASH_LO] === lo && nodes[node * STRIDE + HASH_HI] === hi) return node;
    }
  }

  /** Node id of (lo, hi), creating an empty node if absent. */
  private findOrCreate(lo: number, hi: number): number {
    if (this.numLiveNodes + 1 > (this.tableMask + 1) * MAX_LOAD) this.growTable();
    const table = this.table;
    const mask = this.tableMask;
    const h = mixHash(lo, hi);
    let s = h & mask;
    for (; ; s = (s + 1) & mask) {
      const found = table[s * 2 + 1]!;
      if (found === 0) break;
      if (table[s * 2] === h && this.nodes[found * STRIDE + HASH_LO] === lo && this.nodes[found * STRIDE + HASH_HI] === hi) {
        return found;
      }
    }
    const node = this.allocNode();
    table[s * 2] = h;
    table[s * 2 + 1] = node;
    const base = node * STRIDE;
    const nodes = this.nodes;
    nodes.fill(0, base, base + STRIDE);
    nodes[base + HASH_LO] = lo;
    nodes[base + HASH_HI] = hi;
    this.numLiveNodes++;
    return node;
  }

  /** Deletes an empty node: backward-shift deletion keeps probe chains intact without tombstones. */
  private deleteNode(node: number): void {
    const nodes = this.nodes;
    const table = this.table;
    const mask = this.tableMask;
    let s = mixHash(nodes[node * STRIDE + HASH_LO]!, nodes[node * STRIDE + HASH_HI]!) & mask;
    while (table[s * 2 + 1] !== node) s = (s + 1) & mask;
    let hole = s;
    for (let j = (hole + 1) & mask; table[j * 2 + 1] !== 0; j = (j + 1) & mask) {
      const home = table[j * 2]! & mask;
      // Move j into the hole unless its home lies cyclically in (hole, j].
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        table[hole * 2] = table[j * 2]!;
        table[hole * 2 + 1] = table[j * 2 + 1]!;
        hole = j;
      }
    }
    table[hole * 2 + 1] = 0;
    nodes[node * STRIDE + COUNT] = 0;
    nodes[node * STRIDE + CHILD] = 0;
    this.lists[node] = undefined;
    this.freeNodes.push(node);
    this.numLiveNodes--;
  }

  /** Doubles the table. Slots keep their full mixed hash, so this reads the old table only, in order. */
  private growTable(): void {
    const old = this.table;
    const size = (this.tableMask + 1) * 2;
    const table = new Int32Array(size * 2);
    const mask = size - 1;
    for (let t = 0; t < old.length; t += 2) {
      const node = old[t + 1]!;
      if (node === 0) continue;
      const h = old[t]!;
      let s = h & mask;
      while (table[s * 2 + 1] !== 0) s = (s + 1) & mask;
      table[s * 2] = h;
      table[s * 2 + 1] = node;
    }
    this.table = table;
    this.tableMask = mask;
  }

  private allocNode(): number {
    const reused = this.freeNodes.pop();
    if (reused !== undefined) return reused;
    if (this.nextNode === this.nodeCapacity) {
      this.nodeCapacity = Math.max(this.nodeCapacity * 2, 1024);
      const nodes = new Int32Array(this.nodeCapacity * STRIDE);
      nodes.set(this.nodes);
      this.nodes = nodes;
    }
    return this.nextNode++;
  }

  // ---- holders ----

  private entryAt(node: number, pos: number): number {
    const list = this.lists[node];
    return list === undefined ? this.nodes[node * STRIDE + SOLO]! : list[pos]!;
  }

  private setEntryAt(node: number, pos: number, entry: number): void {
    const list = this.lists[node];
    if (list === undefined) this.nodes[node * STRIDE + SOLO] = entry;
    else list[pos] = entry;
  }

  /** Adds `bit` to the worker's holding of `hash` (child of node `parent`); returns the node. */
  private addBlock(ws: WorkerState, parent: number, hash: SequenceHash, bit: number): number {
    split(hash);
    const nodes = this.nodes;
    let node = 0;
    if (parent !== 0) {
      const child = nodes[parent * STRIDE + CHILD]!;
      // A freed node keeps its old hash, so check that the hinted child is still live.
      if (
        child !== 0 &&
        nodes[child * STRIDE + HASH_LO] === splitLo &&
        nodes[child * STRIDE + HASH_HI] === splitHi &&
        nodes[child * STRIDE + COUNT] !== 0
      ) {
        node = child;
      }
    }
    if (node === 0) node = this.findOrCreate(splitLo, splitHi);
    // findOrCreate may have grown the node array.
    if (parent !== 0) this.nodes[parent * STRIDE + CHILD] = node;
    this.addHolderBit(ws, node, bit);
    return node;
  }

  private addHolderBit(ws: WorkerState, node: number, bit: number): void {
    const nodes = this.nodes;
    const base = node * STRIDE;
    // A node with no holders (just created) cannot be this worker's: skip the lookup.
    const pos = nodes[base + COUNT] === 0 ? -1 : ws.blocks.get(node);
    if (pos >= 0) {
      const old = this.entryAt(node, pos);
      if (old & bit) return;
      const mask = (old & 15) | bit;
      const before = FASTEST[old & 15]!;
      const after = FASTEST[mask]!;
      if (before !== after) {
        nodes[base + F0 + before]--;
        nodes[base + F0 + after]++;
      }
      this.setEntryAt(node, pos, (old & ~15) | mask);
      return;
    }
    const w = ws.index;
    const entry = (w << 4) | bit;
    const count = nodes[base + COUNT]!;
    if (count === 0) {
      nodes[base + SOLO] = entry;
    } else if (count === 1) {
      this.lists[node] = [nodes[base + SOLO]!, entry];
    } else {
      this.lists[node]!.push(entry);
    }
    ws.blocks.set(node, count);
    nodes[base + COUNT] = count + 1;
    nodes[base + FP_LO] ^= this.keyLo[w]!;
    nodes[base + FP_HI] ^= this.keyHi[w]!;
    nodes[base + F0 + FASTEST[bit]!]++;
    this.numEntries++;
  }

  /** Clears `bits` from every block of the worker (15: all tiers). */
  private clearWorkerBits(ws: WorkerState, bits: number): void {
    // Swaps in clearHolderBits only touch other workers' maps, so a snapshot of this one's keys stays valid.
    const nodes = ws.blocks.keySnapshot();
    for (let i = 0; i < nodes.length; i++) this.clearHolderBits(ws, nodes[i]!, bits);
  }

  private clearHolderBits(ws: WorkerState, node: number, bits: number): void {
    const pos = ws.blocks.get(node);
    if (pos < 0) return;
    const nodes = this.nodes;
    const base = node * STRIDE;
    const old = this.entryAt(node, pos);
    if ((old & bits) === 0) return;
    const mask = old & 15 & ~bits;
    const before = FASTEST[old & 15]!;
    if (mask !== 0) {
      const after = FASTEST[mask]!;
      if (before !== after) {
        nodes[base + F0 + before]--;
        nodes[base + F0 + after]++;
      }
      this.setEntryAt(node, pos, (old & ~15) | mask);
      return;
    }
    // The worker no longer holds the block in any tier: drop its entry.
    const w = ws.index;
    nodes[base + F0 + before]--;
    nodes[base + FP_LO] ^= this.keyLo[w]!;
    nodes[base + FP_HI] ^= this.keyHi[w]!;
    ws.blocks.delete(node);
    this.numEntries--;
    const count = nodes[base + COUNT]! - 1;
    nodes[base + COUNT] = count;
    if (count === 0) {
      this.deleteNode(node);
      return;
    }
    const list = this.lists[node]!;
    const lastEntry = list.pop()!;
    if (pos < list.length) {
      list[pos] = lastEntry;
      this.byIndex[lastEntry >> 4]!.blocks.set(node, pos);
    }
    if (count === 1) {
      // Back to one holder (now at position 0): store it inline.
      nodes[base + SOLO] = list[0]!;
      this.lists[node] = undefined;
    }
  }

  // ---- workers ----

  private nextStamp(): number {
    if (this.stamp === 0x7fffffff) {
      this.mark.fill(0);
      this.stamp = 0;
    }
    return ++this.stamp;
  }

  private addWorker(id: WorkerId): WorkerState {
    let index = this.freeIndices.pop();
    if (index === undefined) {
      index = this.byIndex.length;
      if (index >= MAX_WORKER_INDEX) throw new RangeError(`RadixIndexer: more than ${MAX_WORKER_INDEX} workers`);
      this.byIndex.push(undefined);
      if (index >= this.capacity) this.growWorkers(Math.max(64, this.capacity * 2));
      this.keyLo[index] = this.nextKey();
      this.keyHi[index] = this.nextKey();
    }
    const ws = new WorkerState(id, index);
    this.byIndex[index] = ws;
    this.byId.set(id, ws);
    return ws;
  }

  private growWorkers(capacity: number): void {
    const keyLo = new Int32Array(capacity);
    keyLo.set(this.keyLo);
    const keyHi = new Int32Array(capacity);
    keyHi.set(this.keyHi);
    this.keyLo = keyLo;
    this.keyHi = keyHi;
    this.active = new Int32Array(capacity);
    this.touched = new Int32Array(capacity);
    this.mark = new Int32Array(capacity);
    this.stamp = 0;
    this.markTier = new Int8Array(capacity);
    this.matchLen = new Int32Array(capacity);
    this.tierAcc = new Int32Array(capacity * 4);
    this.capacity = capacity;
  }

  /** splitmix32: deterministic, well-mixed 32-bit keys. */
  private nextKey(): number {
    let z = (this.rng = (this.rng + 0x9e3779b9) | 0);
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return z ^ (z >>> 15);
  }
}
