// Shared fixtures of the router tests: a tiny in-memory indexer and request builders.
import { computeSequenceHashes } from "../../src/kv/index.ts";
import { asRequestId, asWorkerId } from "../../src/protocols/index.ts";
import type {
  KvCacheEvent,
  RequestId,
  RoutingHints,
  SequenceHash,
  StorageTier,
  WorkerId,
} from "../../src/protocols/index.ts";
import { Router, createSeededRandom } from "../../src/router/index.ts";
import type { WorkerMatch } from "../../src/kv/index.ts";
import type { RouterIndexer, RouterOptions, RouteRequest } from "../../src/router/index.ts";

export const BLOCK_SIZE = 4;

/** A plain KvIndexer: hash -> (worker -> tier); findMatches walks the prefix. */
export class FakeIndexer implements RouterIndexer {
  readonly blocks = new Map<SequenceHash, Map<WorkerId, StorageTier>>();
  readonly lastEvent = new Map<WorkerId, number>();
  readonly recorded: { workerId: WorkerId; numBlocks: number; now: number }[] = [];

  hold(workerId: WorkerId, hashes: readonly SequenceHash[], tier: StorageTier = "device"): void {
    for (const h of hashes) {
      let m = this.blocks.get(h);
      if (m === undefined) this.blocks.set(h, (m = new Map()));
      m.set(workerId, tier);
    }
  }

  findMatches(hashes: readonly SequenceHash[]): Map<WorkerId, WorkerMatch> {
    const out = new Map<WorkerId, WorkerMatch>();
    const live = new Set(this.blocks.get(hashes[0]!)?.keys() ?? []);
    for (const w of live) out.set(w, { numBlocks: 0, byTier: { device: 0, host: 0, disk: 0, remote: 0 } });
    for (const h of hashes) {
      const holders = this.blocks.get(h);
      for (const w of [...live]) {
        const tier = holders?.get(w);
        if (tier === undefined) {
          live.delete(w);
          continue;
        }
        const m = out.get(w)!;
        m.numBlocks++;
        m.byTier[tier]++;
      }
      if (live.size === 0) break;
    }
    return out;
  }

  applyEvent(e: KvCacheEvent): boolean {
    const last = this.lastEvent.get(e.workerId) ?? -1;
    if (e.eventId !== last + 1) return false;
    this.lastEvent.set(e.workerId, e.eventId);
    if (e.data.type === "stored") this.hold(e.workerId, e.data.blocks.map((b) => b.hash), e.tier);
    else if (e.data.type === "removed") for (const h of e.data.hashes) this.blocks.get(h)?.delete(e.workerId);
    else for (const m of this.blocks.values()) m.delete(e.workerId);
    return true;
  }

  removeWorker(workerId: WorkerId): void {
    for (const m of this.blocks.values()) m.delete(workerId);
  }

  get size(): number {
    let n = 0;
    for (const m of this.blocks.values()) n += m.size;
    return n;
  }

  numBlocks(workerId: WorkerId): number {
    let n = 0;
    for (const m of this.blocks.values()) if (m.has(workerId)) n++;
    return n;
  }
}

/** An approximate-mode indexer: remembers what the router recorded. */
export class RecordingIndexer extends FakeIndexer {
  recordRouted(workerId: WorkerId, hashes: readonly SequenceHash[], now: number): void {
    this.recorded.push({ workerId, numBlocks: hashes.length, now });
    this.hold(workerId, hashes);
  }
}

export const W = (i: number): WorkerId => asWorkerId(`w${i}`);

let nextRequest = 0;
export const rid = (): RequestId => asRequestId(`r${nextRequest++}`);

/** `n` tokens of a prompt family: same `family` = same tokens, so shared prefixes. */
export function tokens(n: number, family = 0): number[] {
  return Array.from({ length: n }, (_, i) => family * 100_000 + i);
}

export const hashesOf = (t: readonly number[]): SequenceHash[] => computeSequenceHashes(t, BLOCK_SIZE);

export function req(tokenIds: number[], routing?: RoutingHints): RouteRequest {
  return routing === undefined ? { requestId: rid(), tokenIds } : { requestId: rid(), tokenIds, routing };
}

/** A router over `numWorkers` workers of `totalBlocks` each, seeded. */
export function makeRouter(
  numWorkers: number,
  options: Partial<RouterOptions> = {},
  totalBlocks = 1000,
): { router: Router; indexer: FakeIndexer } {
  const indexer = (options.indexer as FakeIndexer | undefined) ?? new FakeIndexer();
  const router = new Router({ blockSize: BLOCK_SIZE, random: createSeededRandom(42), ...options, indexer });
  for (let i = 0; i < numWorkers; i++) router.addWorker(W(i), { totalBlocks });
  return { router, indexer };
}
