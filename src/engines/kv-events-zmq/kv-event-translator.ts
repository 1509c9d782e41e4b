// Turns an engine's KV events (its own block hashes) into Turbine's (sequence hashes computed
// from the token ids the event carries), so the router's index matches the hashes it computes
// for requests. It owns the map engine hash -> Turbine sequence hash: parents and removals
// name engine hashes, and only this map can translate them.
import { chainSequenceHash, hashBlockTokens } from "../../kv/index.ts";
import type { SequenceHash, StorageTier, StoredBlock } from "../../protocols/index.ts";
import type { EngineKvEvent } from "../engine.ts";
import type { EngineBlockKey, VllmKvEvent } from "./vllm-wire.ts";

export interface KvTranslatorStats {
  /** Blocks currently mapped. */
  numBlocks: number;
  /** Stored events dropped because their parent was unknown (stored before a gap). */
  numOrphanEvents: number;
  /** Stored events whose block size differs from the card's (dropped: hashes would not match). */
  numBlockSizeMismatches: number;
}

interface Mapped {
  hash: SequenceHash;
  /** Tiers holding the block (the same content hash can sit on GPU and CPU). */
  refs: number;
}

/**
 * vLLM's `medium` on BlockStored / BlockRemoved as a Turbine storage tier (KVBM G1..G4):
 * "GPU" (or absent: engines before the field) is device, "CPU" (vLLM's CPU offloading
 * connector) host, "DISK" disk; names that connectors use for the same places map alike
 * (case-insensitive), and a remote or shared store is remote. Unknown names stay device, the
 * engine's own memory, which is what an unmarked event always meant.
 */
export function tierOfMedium(medium: string | null): StorageTier {
  switch (medium?.toLowerCase().replace(/[^a-z0-9]/g, "")) {
    case "cpu":
    case "host":
    case "pinned":
    case "localcpu":
      return "host";
    case "disk":
    case "localdisk":
    case "ssd":
    case "nvme":
    case "gds":
      return "disk";
    case "remote":
    case "redis":
    case "shared":
      return "remote";
    default:
      return "device";
  }
}

export class KvEventTranslator {
  private readonly blocks = new Map<EngineBlockKey, Mapped>();
  /** Tiers that have held blocks: a reset clears each of them. */
  private readonly tiers = new Set<StorageTier>(["device"]);
  private numOrphanEvents = 0;
  private numBlockSizeMismatches = 0;

  constructor(
    /** The card's block size: the router hashes requests with it. */
    private readonly blockSize: number,
    private readonly emit: (event: EngineKvEvent) => void,
  ) {}

  stats(): KvTranslatorStats {
    return { numBlocks: this.blocks.size, numOrphanEvents: this.numOrphanEvents, numBlockSizeMismatches: this.numBlockSizeMismatches };
  }

  apply(event: VllmKvEvent): void {
    if (event.type === "cleared") {
      this.reset();
      return;
    }
    const tier = tierOfMedium(event.medium);
    this.tiers.add(tier);
    if (event.type === "removed") {
      const hashes: SequenceHash[] = [];
      for (const key of event.blockHashes) {
        const m = this.blocks.get(key);
        if (!m) continue;
        hashes.push(m.hash);
        if (--m.refs <= 0) this.blocks.delete(key);
      }
      if (hashes.length > 0) this.emit({ tier, data: { type: "removed", hashes } });
      return;
    }
    if (event.blockSize !== this.blockSize) {
      this.numBlockSizeMismatches++;
      return;
    }
    let parent: SequenceHash | null = null;
    if (event.parent !== null) {
      const p = this.blocks.get(event.parent);
      if (!p) {
        this.numOrphanEvents++;
        return;
      }
      parent = p.hash;
    }
    const bs = this.blockSize;
    const n = Math.min(event.blockHashes.length, Math.floor(event.tokenIds.length / bs));
    const stored: StoredBlock[] = new Array<StoredBlock>(n);
    let prev = parent;
    for (let i = 0; i < n; i++) {
      const tokensHash = hashBlockTokens(event.tokenIds, i * bs, (i + 1) * bs);
      prev = chainSequenceHash(prev, tokensHash);
      stored[i] = { hash: prev, tokensHash };
      const key = event.blockHashes[i]!;
      const m = this.blocks.get(key);
      if (m) m.refs++;
      else this.blocks.set(key, { hash: prev, refs: 1 });
    }
    if (n > 0) this.emit({ tier, data: { type: "stored", parentHash: parent, blocks: stored } });
  }

  /** Forgets every block and tells the worker to do the same (engine cleared, or events lost). */
  reset(): void {
    this.blocks.clear();
    for (const tier of this.tiers) this.emit({ tier, data: { type: "cleared" } });
  }
}
