// The worker-side record of its own KV blocks, fed by the engine's events. It numbers the
// events (the router detects gaps by these ids) and answers the router's resync request with a
// dump that rebuilds exactly this set.
import type {
  KvBlockSetDump,
  KvCacheEvent,
  KvEventData,
  KvStoredData,
  LocalBlockHash,
  SequenceHash,
  StorageTier,
  StoredBlock,
  WorkerId,
} from "../protocols/index.ts";

interface BlockRecord {
  parent: SequenceHash | null;
  tokensHash: LocalBlockHash;
}

export class KvBlockSet {
  private nextEventId = 0;
  /** Per tier: hash -> parent and tokens hash, in the order first stored. */
  private readonly tiers = new Map<StorageTier, Map<SequenceHash, BlockRecord>>();

  constructor(readonly workerId: WorkerId) {}

  /** Id of the last event numbered; -1 before the first. */
  get lastEventId(): number {
    return this.nextEventId - 1;
  }

  /** Records one engine event and returns it numbered (the next eventId) for publishing. */
  apply(tier: StorageTier, data: KvEventData): KvCacheEvent {
    let blocks = this.tiers.get(tier);
    if (blocks === undefined) {
      blocks = new Map();
      this.tiers.set(tier, blocks);
    }
    switch (data.type) {
      case "stored": {
        let parent = data.parentHash;
        for (const b of data.blocks) {
          blocks.set(b.hash, { parent, tokensHash: b.tokensHash });
          parent = b.hash;
        }
        break;
      }
      case "removed":
        for (const h of data.hashes) blocks.delete(h);
        break;
      case "cleared":
        blocks.clear();
        break;
    }
    return { workerId: this.workerId, eventId: this.nextEventId++, tier, data };
  }

  has(hash: SequenceHash, tier: StorageTier = "device"): boolean {
    return this.tiers.get(tier)?.has(hash) ?? false;
  }

  /** Number of blocks in `tier`, or the sum over tiers if omitted. */
  numBlocks(tier?: StorageTier): number {
    if (tier !== undefined) return this.tiers.get(tier)?.size ?? 0;
    let n = 0;
    for (const blocks of this.tiers.values()) n += blocks.size;
    return n;
  }

  /**
   * The whole set as stored events, each tier's blocks as chains (parents before children):
   * a router that resets this worker from it holds exactly these blocks, and resumes at the
   * event after lastEventId.
   */
  dump(): KvBlockSetDump {
    const events: KvBlockSetDump["events"] = [];
    for (const [tier, blocks] of this.tiers) {
      for (const data of chainsOf(blocks)) events.push({ tier, data });
    }
    return { workerId: this.workerId, lastEventId: this.lastEventId, events };
  }
}

/** Splits one tier's blocks into chains: a depth-first walk from every block whose parent is absent. */
function chainsOf(blocks: Map<SequenceHash, BlockRecord>): KvStoredData[] {
  const children = new Map<SequenceHash, SequenceHash[]>();
  const roots: SequenceHash[] = [];
  for (const [hash, rec] of blocks) {
    if (rec.parent !== null && blocks.has(rec.parent) && rec.parent !== hash) {
      const list = children.get(rec.parent);
      if (list === undefined) children.set(rec.parent, [hash]);
      else list.push(hash);
    } else {
      roots.push(hash);
    }
  }
  const out: KvStoredData[] = [];
  const emitted = new Set<SequenceHash>();
  const stack: SequenceHash[] = [];
  const chainFrom = (start: SequenceHash): void => {
    const chain: StoredBlock[] = [];
    let cur: SequenceHash | undefined = start;
    while (cur !== undefined) {
      emitted.add(cur);
      chain.push({ hash: cur, tokensHash: blocks.get(cur)!.tokensHash });
      const kids = children.get(cur);
      if (kids === undefined) break;
      // Follow the first child; the others start chains of their own, emitted after this one.
      for (let k = kids.length - 1; k >= 1; k--) stack.push(kids[k]!);
      cur = kids[0];
    }
    out.push({ type: "stored", parentHash: blocks.get(start)!.parent, blocks: chain });
  };
  for (const root of roots) {
    stack.push(root);
    while (stack.length > 0) chainFrom(stack.pop()!);
  }
  // Blocks on a parent cycle (impossible with real hashes) are unreachable from a root: emit them alone.
  for (const [hash, rec] of blocks) {
    if (!emitted.has(hash)) out.push({ type: "stored", parentHash: rec.parent, blocks: [{ hash, tokensHash: rec.tokensHash }] });
  }
  return out;
}
