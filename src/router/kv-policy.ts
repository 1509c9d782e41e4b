// kv: the KV-aware cost policy of ARCHITECTURE.md ("Routing"), with the prompt's own new
// prefill weighted apart from the prefill already queued on the worker:
//
//   cost = prefillLoadScale · (activePrefillBlocks + newBlockWeight · max(promptBlocks − overlapCredit, 0))
//          + activeDecodeBlocks
//
// newBlockWeight 1 is the ARCHITECTURE.md formula exactly (the credit never exceeds the prompt).
// activePrefillBlocks = activePrefillTokens / blockSize (fractional); overlapCredit weighs the
// worker's cached leading blocks by tier. Queued prefill is work the fleet does wherever this
// request goes: it only delays this request. The prompt's uncached blocks are new work this
// choice creates: they also delay every later request on that worker and store as many new
// blocks, evicting other conversations' prefixes; hence newBlockWeight > 1 (README: "kv").
// Shared store: blocks of a remote store every worker reads (KVBM G4) are credited to every
// worker at the remote credit, beyond the worker's own match.
// Cache pressure: new blocks on a worker whose G1 holds more cached blocks than the emptiest
// candidate's evict other prefixes sooner, so they cost more:
//   + prefillLoadScale · newBlockWeight · cachePressure · newBlocks · (occupancy − min occupancy)
// with occupancy = device-cached blocks / total blocks. It is relative, so a fleet whose caches
// are all full (the steady state under load) is priced as before; it spreads distinct prefixes
// over idle workers instead of piling them onto the one that shares a template's first block.
// The tier credits are measured, not assumed (README: "Tier credits").
// Temperature 0: the lowest cost wins, ties go to the worker with the fewest cached blocks
// overall (spreads the cache footprint, as Dynamo's tree-size tie-break does), then random.
// Temperature T > 0: costs are min-max normalized to [0, 1] over the candidates and the worker
// is sampled with probability ∝ exp(−norm / T), so T is on the same scale whatever the
// magnitude of the costs (all equal: uniform).
import type { StorageTier } from "../protocols/index.ts";
import type { RoutingContext, RoutingPolicy } from "./routing-policy.ts";
import type { WorkerState } from "./worker-state.ts";

export interface KvPolicyOptions {
  /** Weight of prefill work against decode load. Default 16. Per-request override: hints. */
  prefillLoadScale?: number;
  /**
   * Weight of the prompt's uncached blocks against prefill already queued on the worker.
   * Default 16; 1 gives the plain ARCHITECTURE.md cost.
   */
  newBlockWeight?: number;
  /** Softmax temperature; 0 is deterministic. Default 0. Per-request override: hints. */
  temperature?: number;
  /**
   * Credit of one cached block by tier: 1 − onboard time / prefill time of the block (see
   * `deriveTierCredits` in src/kvbm and README "Tier credits"). Default device 1, host 0.72,
   * disk 0, remote 0.30: Dynamo's H100 fit, 128 KiB of KV per token, 25/3/10 GB/s.
   */
  tierCredit?: Partial<Record<StorageTier, number>>;
  /** Weight of cache pressure (see the header). Default 1; 0 turns it off. */
  cachePressure?: number;
}

/** The default credits, derived as README "Tier credits" shows (measured costs, not guesses). */
export const DEFAULT_TIER_CREDIT: Readonly<Record<StorageTier, number>> = { device: 1, host: 0.72, disk: 0, remote: 0.3 };

const TIE_EPSILON = 1e-9;
/** A queued prefill block delays a request ~37x more than a decode block does (README: "kv"). */
export const DEFAULT_PREFILL_LOAD_SCALE = 16;
/** Stay on the worker holding the prefix unless its queue exceeds 16x the prefill it saves. */
export const DEFAULT_NEW_BLOCK_WEIGHT = 16;

export class KvPolicy implements RoutingPolicy {
  readonly name = "kv";
  readonly prefillLoadScale: number;
  readonly temperature: number;
  readonly newBlockWeight: number;
  readonly cachePressure: number;
  private readonly creditDevice: number;
  private readonly creditHost: number;
  private readonly creditDisk: number;
  private readonly creditRemote: number;
  private costs = new Float64Array(64);

  constructor(options: KvPolicyOptions = {}) {
    this.prefillLoadScale = options.prefillLoadScale ?? DEFAULT_PREFILL_LOAD_SCALE;
    this.temperature = options.temperature ?? 0;
    this.newBlockWeight = Math.max(0, options.newBlockWeight ?? DEFAULT_NEW_BLOCK_WEIGHT);
    this.cachePressure = Math.max(0, options.cachePressure ?? 1);
    this.creditDevice = options.tierCredit?.device ?? DEFAULT_TIER_CREDIT.device;
    this.creditHost = options.tierCredit?.host ?? DEFAULT_TIER_CREDIT.host;
    this.creditDisk = options.tierCredit?.disk ?? DEFAULT_TIER_CREDIT.disk;
    this.creditRemote = options.tierCredit?.remote ?? DEFAULT_TIER_CREDIT.remote;
  }

  /** Overlap credit of a worker for the current route, in blocks (its own tiers, then the shared store). */
  overlapCredit(w: WorkerState, ctx: RoutingContext): number {
    const own = w.matchStamp === ctx.stamp;
    const shared = (ctx.sharedStoreBlocks ?? 0) - (own ? w.matchBlocks : 0);
    return (own ? this.creditOf(w) : 0) + (shared > 0 ? shared * this.creditRemote : 0);
  }

  /** Fraction of the worker's G1 holding cached blocks, 0..1. */
  private static occupancy(w: WorkerState, ctx: RoutingContext): number {
    return w.totalBlocks > 0 ? Math.min(1, ctx.cachedBlocks(w) / w.totalBlocks) : 0;
  }

  /** The smallest occupancy among the candidates (the cache-pressure baseline). */
  private minOccupancy(ctx: RoutingContext): number {
    if (this.cachePressure === 0) return 0;
    let min = 1;
    for (let i = 0; i < ctx.numCandidates; i++) {
      const o = KvPolicy.occupancy(ctx.candidates[i]!, ctx);
      if (o < min) min = o;
    }
    return min;
  }

  private creditOf(w: WorkerState): number {
    return (
      w.matchDevice * this.creditDevice +
      w.matchHost * this.creditHost +
      w.matchDisk * this.creditDisk +
      w.matchRemote * this.creditRemote
    );
  }

  /** The cost of placing the current request on `w` (lower is better). */
  cost(w: WorkerState, ctx: RoutingContext, prefillLoadScale = this.prefillLoadScale, minOccupancy = this.minOccupancy(ctx)): number {
    const newBlocks = Math.max(0, ctx.promptBlocks - this.overlapCredit(w, ctx));
    const pressure = 1 + this.cachePressure * (KvPolicy.occupancy(w, ctx) - minOccupancy);
    const prefillBlocks = w.activePrefillTokens / ctx.blockSize + this.newBlockWeight * newBlocks * pressure;
    return prefillLoadScale * prefillBlocks + w.activeDecodeBlocks;
  }

  select(ctx: RoutingContext): WorkerState {
    const scale = Math.max(0, ctx.hints?.prefillLoadScale ?? this.prefillLoadScale);
    const temperature = ctx.hints?.temperature ?? this.temperature;
    const n = ctx.numCandidates;
    if (n === 1) return ctx.candidates[0]!;
    return temperature > 0 ? this.sample(ctx, scale, temperature) : this.argmin(ctx, scale);
  }

  private argmin(ctx: RoutingContext, scale: number): WorkerState {
    // Two passes over a reused cost array, one random draw: an idle pool where every worker
    // ties must not cost a random number per worker.
    const n = ctx.numCandidates;
    const costs = this.costArray(n);
    const candidates = ctx.candidates;
    const invBlockSize = 1 / ctx.blockSize;
    const promptBlocks = ctx.promptBlocks;
    const stamp = ctx.stamp;
    const newBlockWeight = this.newBlockWeight;
    const pressure = this.cachePressure;
    const minOcc = this.minOccupancy(ctx);
    const shared = ctx.sharedStoreBlocks ?? 0;
    const creditRemote = this.creditRemote;
    let min = Infinity;
    let first = 0;
    for (let i = 0; i < n; i++) {
      // this.cost(), inlined: this loop runs once per worker per request.
      const w = candidates[i]!;
      let newBlocks = promptBlocks;
      let own = 0;
      if (w.matchStamp === stamp) {
        newBlocks -= this.creditOf(w);
        own = w.matchBlocks;
      }
      if (shared > own) newBlocks -= (shared - own) * creditRemote;
      const occ = KvPolicy.occupancy(w, ctx);
      const prefill = w.activePrefillTokens * invBlockSize + newBlockWeight * (newBlocks > 0 ? newBlocks : 0) * (1 + pressure * (occ - minOcc));
      const c = scale * prefill + w.activeDecodeBlocks;
      costs[i] = c;
      if (c < min) {
        min = c;
        first = i;
      }
    }
    const limit = min + TIE_EPSILON;
    let numTies = 0;
    let fewest = Infinity;
    for (let i = first; i < n; i++) {
      if (costs[i]! > limit) continue;
      const cached = ctx.cachedBlocks(ctx.candidates[i]!);
      if (cached < fewest) {
        fewest = cached;
        numTies = 1;
        first = i;
      } else if (cached === fewest) {
        numTies++;
      }
      costs[i] = -1 - cached; // remember the tie and its cached count for the pick below
    }
    if (numTies === 1) return ctx.candidates[first]!;
    let pick = Math.floor(ctx.rng.next() * numTies);
    const mark = -1 - fewest;
    for (let i = first; i < n; i++) {
      if (costs[i] === mark && pick-- === 0) return ctx.candidates[i]!;
    }
    return ctx.candidates[first]!;
  }

  private costArray(n: number): Float64Array {
    if (this.costs.length < n) this.costs = new Float64Array(Math.max(n, this.costs.length * 2));
    return this.costs;
  }

  private sample(ctx: RoutingContext, scale: number, temperature: number): WorkerState {
    const n = ctx.numCandidates;
    const costs = this.costArray(n);
    let min = Infinity;
    let max = -Infinity;
    const minOcc = this.minOccupancy(ctx);
    for (let i = 0; i < n; i++) {
      const c = this.cost(ctx.candidates[i]!, ctx, scale, minOcc);
      costs[i] = c;
      if (c < min) min = c;
      if (c > max) max = c;
    }
    const range = max - min;
    if (range <= TIE_EPSILON) return ctx.candidates[Math.floor(ctx.rng.next() * n)]!;
    // Weights exp(−norm/T) with norm in [0, 1]: the cheapest worker has weight 1, no overflow.
    let total = 0;
    for (let i = 0; i < n; i++) {
      const w = Math.exp(-(costs[i]! - min) / range / temperature);
      costs[i] = w;
      total += w;
    }
    let r = ctx.rng.next() * total;
    for (let i = 0; i < n; i++) {
      r -= costs[i]!;
      if (r < 0) return ctx.candidates[i]!;
    }
    return ctx.candidates[n - 1]!;
  }
}
