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
  /** Credit of one cached block by tier. Default device 1, host 0.8, disk 0.5, remote 0.3. */
  tierCredit?: Partial<Record<StorageTier, number>>;
}

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
  private readonly creditDevice: number;
  private readonly creditHost: number;
  private readonly creditDisk: number;
  private readonly creditRemote: number;
  private costs = new Float64Array(64);

  constructor(options: KvPolicyOptions = {}) {
    this.prefillLoadScale = options.prefillLoadScale ?? DEFAULT_PREFILL_LOAD_SCALE;
    this.temperature = options.temperature ?? 0;
    this.newBlockWeight = Math.max(0, options.newBlockWeight ?? DEFAULT_NEW_BLOCK_WEIGHT);
    this.creditDevice = options.tierCredit?.device ?? 1;
    this.creditHost = options.tierCredit?.host ?? 0.8;
    this.creditDisk = options.tierCredit?.disk ?? 0.5;
    this.creditRemote = options.tierCredit?.remote ?? 0.3;
  }

  /** Overlap credit of a worker for the current route, in blocks. */
  overlapCredit(w: WorkerState, ctx: RoutingContext): number {
    return w.matchStamp === ctx.stamp ? this.creditOf(w) : 0;
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
  cost(w: WorkerState, ctx: RoutingContext, prefillLoadScale = this.prefillLoadScale): number {
    const newBlocks = ctx.promptBlocks - this.overlapCredit(w, ctx);
    const prefillBlocks = w.activePrefillTokens / ctx.blockSize + this.newBlockWeight * (newBlocks > 0 ? newBlocks : 0);
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
    let min = Infinity;
    let first = 0;
    for (let i = 0; i < n; i++) {
      // this.cost(), inlined: this loop runs once per worker per request.
      const w = candidates[i]!;
      let newBlocks = promptBlocks;
      if (w.matchStamp === stamp) newBlocks -= this.creditOf(w);
      const prefill = w.activePrefillTokens * invBlockSize + newBlockWeight * (newBlocks > 0 ? newBlocks : 0);
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
    for (let i = 0; i < n; i++) {
      const c = this.cost(ctx.candidates[i]!, ctx, scale);
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
