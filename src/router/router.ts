// The router of one model: the worker set, the active sequences, the indexer and a policy.
// Pure state and policy: time comes in as `now`; the clock is used only to measure overhead.
import { MatchBuffer, TIER_INDEX, computeSequenceHashes } from "../kv/index.ts";
import { TurbineError } from "../protocols/index.ts";
import type {
  StorageTier,
  RequestId,
  RoutingHints,
  SequenceHash,
  WorkerId,
  WorkerLoadMetrics,
} from "../protocols/index.ts";
import { ActiveSequences } from "./active-sequences.ts";
import { createPolicy } from "./policy-factory.ts";
import type { PolicyOptions } from "./policy-factory.ts";
import { mathRandom } from "./random-source.ts";
import type { RandomSource } from "./random-source.ts";
import type { RouterIndexer } from "./router-indexer.ts";
import type { PolicyName, RoutingContext, RoutingPolicy } from "./routing-policy.ts";
import { WorkerState } from "./worker-state.ts";
import type { WorkerCapacity } from "./worker-state.ts";

export interface RouterOptions {
  /** Tokens per KV block (the model card's kvBlockSize). */
  blockSize: number;
  /**
   * Which worker caches what: a RadixIndexer fed with the workers' KV events, or an
   * ApproxIndexer (the router then records each decision into it through `recordRouted`).
   */
  indexer: RouterIndexer;
  /** A policy name (default "kv") or a ready policy. */
  policy?: PolicyName | RoutingPolicy;
  /** Options of the named policy. */
  policyOptions?: PolicyOptions;
  /** Randomness for ties and sampling; seed it (createSeededRandom) for reproducible runs. */
  random?: RandomSource;
  /** High-resolution clock in ms, used only to time the router's own work. Default performance.now. */
  clock?: () => number;
  /**
   * A worker whose active decode blocks exceed this fraction of its blocks is busy. Default 1:
   * busy once what it holds and what is booked on it fill its KV capacity. Infinity: never.
   */
  maxActiveDecodeBlocks?: number;
  /** A worker whose active prefill tokens exceed this is busy. Default Infinity. */
  maxActivePrefillTokens?: number;
  /**
   * A worker with this many times its `maxNumSeqs` (model card) requests running or waiting is
   * busy: what waits on a worker is bounded by its own batch. Default 2 (a batch running, one
   * waiting); Infinity: never. No effect on workers whose card does not say maxNumSeqs.
   */
  maxActiveRequestsPerSeq?: number;
  /** Retry-After of ROUTER_ALL_BUSY, seconds. Default 1. */
  retryAfterSeconds?: number;
  /** A metrics snapshot older than this (relative to a route's `now`) stops correcting. Default 10000. */
  metricsMaxAgeMs?: number;
  /**
   * A booking (own or a replica's) whose end never arrived is released this long after it was
   * made (ms). Default 600000 (10 min): longer than nearly every request; the workers' metrics
   * correct a legitimate long request that expires early.
   */
  bookingTtlMs?: number;
  /**
   * A booking younger than this at a metrics snapshot (ms, by the snapshot's timestamp) may not
   * have reached the worker yet, so reconciliation leaves it alone. Default 1000.
   */
  bookingGraceMs?: number;
}

/** A booking shared by another router replica (see applyRemoteRouted). */
export interface RemoteBooking {
  requestId: RequestId;
  workerId: WorkerId;
  /** Uncached prompt tokens. */
  prefillTokens: number;
  /** KV blocks the request holds. */
  blocks: number;
  /** The replica that placed it: its bookings go when it leaves (dropReplica). */
  replicaId?: string;
}

/** What `route` needs of a request (a PreprocessedRequest fits). */
export interface RouteRequest {
  requestId: RequestId;
  tokenIds: ArrayLike<number>;
  routing?: RoutingHints;
}

/** Where the router's time went for one request, in microseconds. */
export interface RoutingTimings {
  hashUs: number;
  matchUs: number;
  scheduleUs: number;
}

export interface RoutingDecision {
  workerId: WorkerId;
  /** Leading prompt blocks the chosen worker caches (any tier), per the indexer. */
  overlapBlocks: number;
  /** overlapBlocks · blockSize, capped at the prompt length. */
  cachedTokens: number;
  /** Blocks the prompt occupies: ceil(promptTokens / blockSize). */
  promptBlocks: number;
  timings: RoutingTimings;
  /** With `explain`: the candidates the policy weighed, cheapest first. */
  candidates?: CandidateScore[];
}

export interface RouteOptions {
  /** Also return up to this many candidates with their overlap and cost (default 0: none). */
  explain?: number;
}

/** Cumulative counters since construction. */
export interface RouterStats {
  numRequests: number;
  /** Blocks of the routed prompts (ceil per prompt). */
  numPromptBlocks: number;
  /** Of those, blocks the chosen worker already cached (indexer's estimate). */
  numHitBlocks: number;
  /** Bookings released by TTL (their end never arrived). */
  numExpiredBookings: number;
  /** Bookings released because the worker's metrics showed no trace of them. */
  numReconciledBookings: number;
  /** numHitBlocks / numPromptBlocks (0 before any request). */
  kvHitRate: number;
  /** Of the hit blocks, how many the chosen worker held in each tier. */
  numHitBlocksByTier: Record<StorageTier, number>;
}

/** One candidate of an explained decision (`route`'s `explain`): what the policy weighed. */
export interface CandidateScore {
  workerId: WorkerId;
  /** Leading prompt blocks the worker caches (any tier). */
  overlapBlocks: number;
  /** The policy's cost for this worker (lower wins); null for a policy without costs. */
  cost: number | null;
}

/** A worker's load as the router sees it (own decisions corrected by metrics). */
export interface WorkerLoad {
  workerId: WorkerId;
  totalBlocks: number;
  activePrefillTokens: number;
  activeDecodeBlocks: number;
  numActiveRequests: number;
  kvUsage: number;
  /** Blocks cached on the worker, per the indexer (0 when it cannot count). */
  cachedBlocks: number;
}

/** The reused per-route context (see RoutingContext). */
class RouteScratch implements RoutingContext {
  candidates: WorkerState[] = [];
  numCandidates = 0;
  hashes: readonly SequenceHash[] = [];
  promptTokens = 0;
  promptBlocks = 0;
  hints: RoutingHints | undefined = undefined;
  now = 0;
  stamp = 0;
  constructor(
    readonly blockSize: number,
    readonly rng: RandomSource,
    readonly cachedBlocks: (worker: WorkerState) => number,
  ) {}
}

const DEVICE = TIER_INDEX.device;
const HOST = TIER_INDEX.host;
const DISK = TIER_INDEX.disk;
const REMOTE = TIER_INDEX.remote;

export class Router {
  readonly blockSize: number;
  readonly policy: RoutingPolicy;
  readonly indexer: RouterIndexer;
  private readonly clock: () => number;
  private readonly maxDecodeFraction: number;
  private readonly maxPrefillTokens: number;
  private readonly maxRequestsPerSeq: number;
  private readonly bookingTtlMs: number;
  private readonly bookingGraceMs: number;
  private numExpiredBookings = 0;
  private numReconciledBookings = 0;
  private readonly retryAfterSeconds: number;
  private readonly metricsMaxAgeMs: number;
  private readonly records: boolean;
  /** Reused result of findMatchesInto; null when the indexer only has findMatches. */
  private readonly matchBuffer: MatchBuffer | null;

  /** Dense, in the order workers were added (round-robin follows it). */
  private readonly workers: WorkerState[] = [];
  private readonly byId = new Map<WorkerId, WorkerState>();
  private readonly active = new ActiveSequences();
  private readonly ctx: RouteScratch;
  private numRequests = 0;
  private numPromptBlocks = 0;
  private numHitBlocks = 0;
  /** Hit blocks by tier, indexed by TIER_INDEX. */
  private readonly hitByTier = new Float64Array(4);

  constructor(options: RouterOptions) {
    if (!(options.blockSize > 0)) throw new RangeError(`blockSize must be positive, got ${options.blockSize}`);
    this.blockSize = options.blockSize;
    this.indexer = options.indexer;
    const policy = options.policy ?? "kv";
    this.policy = typeof policy === "string" ? createPolicy(policy, options.policyOptions) : policy;
    this.clock = options.clock ?? (() => performance.now());
    this.maxDecodeFraction = options.maxActiveDecodeBlocks ?? 1;
    this.maxPrefillTokens = options.maxActivePrefillTokens ?? Infinity;
    this.maxRequestsPerSeq = options.maxActiveRequestsPerSeq ?? 2;
    this.bookingTtlMs = options.bookingTtlMs ?? 600_000;
    this.bookingGraceMs = options.bookingGraceMs ?? 1000;
    this.retryAfterSeconds = options.retryAfterSeconds ?? 1;
    this.metricsMaxAgeMs = options.metricsMaxAgeMs ?? 10_000;
    this.records = typeof this.indexer.recordRouted === "function";
    this.matchBuffer = typeof this.indexer.findMatchesInto === "function" ? new MatchBuffer() : null;
    const indexer = this.indexer;
    // The indexer's per-worker count where it keeps one (the KV index has one writer: the
    // event ingestor, in kv; the router only reads it).
    const cachedBlocks =
      typeof indexer.numBlocks === "function" ? (w: WorkerState): number => indexer.numBlocks!(w.workerId) : (): number => 0;
    this.ctx = new RouteScratch(this.blockSize, options.random ?? mathRandom, cachedBlocks);
  }

  get numWorkers(): number {
    return this.workers.length;
  }

  /** Number of requests routed and not yet finished. */
  get numActiveRequests(): number {
    return this.active.size;
  }

  /** Adds a worker, or updates its capacity if known. */
  addWorker(workerId: WorkerId, capacity: WorkerCapacity): void {
    const known = this.byId.get(workerId);
    if (known !== undefined) {
      known.totalBlocks = capacity.totalBlocks;
      known.maxNumSeqs = capacity.maxNumSeqs;
      return;
    }
    const w = new WorkerState(workerId, capacity);
    w.slot = this.workers.length;
    this.workers.push(w);
    this.byId.set(workerId, w);
  }

  /** Removes a worker: its blocks leave the index, its active requests are forgotten. */
  removeWorker(workerId: WorkerId): boolean {
    const w = this.byId.get(workerId);
    if (w === undefined) return false;
    this.byId.delete(workerId);
    this.workers.splice(w.slot, 1);
    for (let i = w.slot; i < this.workers.length; i++) this.workers[i]!.slot = i;
    this.active.dropWorker(w);
    this.indexer.removeWorker(workerId);
    this.policy.onWorkerRemoved?.(workerId);
    return true;
  }

  hasWorker(workerId: WorkerId): boolean {
    return this.byId.has(workerId);
  }

  workerIds(): WorkerId[] {
    return this.workers.map((w) => w.workerId);
  }

  workerLoad(workerId: WorkerId): WorkerLoad | undefined {
    const w = this.byId.get(workerId);
    if (w === undefined) return undefined;
    return {
      workerId,
      totalBlocks: w.totalBlocks,
      activePrefillTokens: w.activePrefillTokens,
      activeDecodeBlocks: w.activeDecodeBlocks,
      numActiveRequests: w.numActiveRequests,
      kvUsage: w.kvUsage,
      cachedBlocks: this.ctx.cachedBlocks(w),
    };
  }

  /**
   * Picks a worker for a request and books its load there. Throws TurbineError
   * ROUTER_NO_WORKERS (no worker, or the pinned one is unknown) or ROUTER_ALL_BUSY (every
   * worker over a busy threshold; carries retryAfterSeconds). A pinned worker
   * (`routing.workerId`) is taken even when busy: the pin is an explicit instruction.
   */
  route(request: RouteRequest, now: number, options?: RouteOptions): RoutingDecision {
    const clock = this.clock;
    const t0 = clock();
    if (this.workers.length === 0) throw new TurbineError("ROUTER_NO_WORKERS", "no worker serves this model");
    this.numExpiredBookings += this.active.expire(now, this.bookingTtlMs);

    const tokens = request.tokenIds;
    const hashes = computeSequenceHashes(tokens, this.blockSize);
    const t1 = clock();
    const ctx = this.ctx;
    const stamp = ++ctx.stamp;
    if (hashes.length > 0) this.stampMatches(hashes, now, stamp);
    const t2 = clock();

    const promptTokens = tokens.length;
    const promptBlocks = Math.ceil(promptTokens / this.blockSize);
    ctx.hashes = hashes;
    ctx.promptTokens = promptTokens;
    ctx.promptBlocks = promptBlocks;
    ctx.hints = request.routing;
    ctx.now = now;

    let chosen: WorkerState;
    const pin = request.routing?.workerId;
    if (pin !== undefined) {
      const w = this.byId.get(pin);
      if (w === undefined) throw new TurbineError("ROUTER_NO_WORKERS", `pinned worker ${pin} is not known`);
      chosen = w;
      ctx.numCandidates = 0;
    } else {
      this.collectCandidates(now, stamp);
      chosen = this.policy.select(ctx);
    }

    // Before booking: the costs the policy saw. Only when asked (the fleet page samples a few).
    const explain = options?.explain ?? 0;
    const te = explain > 0 ? clock() : 0;
    const candidates = explain > 0 ? this.explain(chosen, explain) : undefined;
    const explainMs = explain > 0 ? clock() - te : 0; // not the router's overhead: left out of its timings
    const overlapBlocks = chosen.overlapBlocks(stamp);
    const cachedTokens = Math.min(overlapBlocks * this.blockSize, promptTokens);
    this.active.add({ requestId: request.requestId, worker: chosen, prefillTokens: promptTokens - cachedTokens, blocks: promptBlocks, hashes, now });
    if (this.records) this.indexer.recordRouted!(chosen.workerId, hashes, now);
    this.policy.onRouted?.(chosen, ctx);
    this.numRequests++;
    this.numPromptBlocks += promptBlocks;
    this.numHitBlocks += Math.min(overlapBlocks, promptBlocks);
    if (chosen.matchStamp === stamp) {
      const tiers = this.hitByTier;
      tiers[DEVICE] += chosen.matchDevice;
      tiers[HOST] += chosen.matchHost;
      tiers[DISK] += chosen.matchDisk;
      tiers[REMOTE] += chosen.matchRemote;
    }
    const t3 = clock();
    return {
      workerId: chosen.workerId,
      overlapBlocks,
      cachedTokens,
      promptBlocks,
      timings: { hashUs: (t1 - t0) * 1000, matchUs: (t2 - t1) * 1000, scheduleUs: (t3 - t2 - explainMs) * 1000 },
      ...(candidates ? { candidates } : {}),
    };
  }

  /** Asks the indexer and writes each matching worker's overlap onto its WorkerState. */
  private stampMatches(hashes: readonly SequenceHash[], now: number, stamp: number): void {
    const buf = this.matchBuffer;
    if (buf !== null) {
      const n = this.indexer.findMatchesInto!(hashes, buf, now);
      const ids = buf.workerIds;
      const blocks = buf.numBlocks;
      const tiers = buf.byTier;
      for (let i = 0; i < n; i++) {
        const w = this.byId.get(ids[i]!);
        if (w === undefined) continue;
        w.matchStamp = stamp;
        w.matchBlocks = blocks[i]!;
        w.matchDevice = tiers[i * 4 + DEVICE]!;
        w.matchHost = tiers[i * 4 + HOST]!;
        w.matchDisk = tiers[i * 4 + DISK]!;
        w.matchRemote = tiers[i * 4 + REMOTE]!;
      }
      return;
    }
    for (const [id, m] of this.indexer.findMatches(hashes, now)) {
      const w = this.byId.get(id);
      if (w === undefined) continue;
      w.matchStamp = stamp;
      w.matchBlocks = m.numBlocks;
      w.matchDevice = m.byTier.device;
      w.matchHost = m.byTier.host;
      w.matchDisk = m.byTier.disk;
      w.matchRemote = m.byTier.remote;
    }
  }

  /** Fills ctx.candidates with the workers under both busy thresholds; throws when none is. */
  private collectCandidates(now: number, stamp: number): void {
    const ctx = this.ctx;
    const out = ctx.candidates;
    const maxAge = this.metricsMaxAgeMs;
    const maxFraction = this.maxDecodeFraction;
    const maxPrefill = this.maxPrefillTokens;
    const maxPerSeq = this.maxRequestsPerSeq;
    let k = 0;
    for (let i = 0; i < this.workers.length; i++) {
      const w = this.workers[i]!;
      if (w.metrics !== null) w.expireMetrics(now, maxAge);
      if (w.activeDecodeBlocks > maxFraction * w.totalBlocks || w.activePrefillTokens > maxPrefill) continue;
      if (w.maxNumSeqs !== undefined && w.numActiveRequests >= maxPerSeq * w.maxNumSeqs) continue;
      w.candidateStamp = stamp;
      out[k++] = w;
    }
    ctx.numCandidates = k;
    if (k === 0) {
      throw new TurbineError("ROUTER_ALL_BUSY", `all ${this.workers.length} workers are over their busy thresholds`, {
        retryAfterSeconds: this.retryAfterSeconds,
      });
    }
  }

  /**
   * Another router replica placed a request: count its load here too, so that replicas under
   * the same traffic do not all pick the same worker. Its prefill-done and finished
   * notifications arrive as markPrefillDone / markFinished with the same (unique) request id;
   * if they never do, the booking goes with its replica (dropReplica), by TTL, or by
   * reconciliation with the worker's metrics. Its blocks count on their own (the message
   * carries no hashes). Returns false for a worker this replica does not know (yet).
   */
  applyRemoteRouted(booking: RemoteBooking, now: number): boolean {
    const w = this.byId.get(booking.workerId);
    if (w === undefined) return false;
    this.active.add({
      requestId: booking.requestId,
      worker: w,
      prefillTokens: booking.prefillTokens,
      blocks: booking.blocks,
      now,
      replicaId: booking.replicaId ?? null,
    });
    return true;
  }

  /** A router replica left (its heartbeats stopped): its bookings are released. Returns how many. */
  dropReplica(replicaId: string): number {
    return this.active.dropReplica(replicaId);
  }

  /**
   * The request reaches its worker only now (a remote prefill came first): its booking's age
   * restarts, so that reconciliation does not take it for one the worker forgot.
   */
  markDispatched(requestId: RequestId, now: number): boolean {
    return this.active.touch(requestId, now);
  }

  /** The request produced its first token: its prefill tokens leave the worker's load. */
  markPrefillDone(requestId: RequestId): boolean {
    return this.active.markPrefillDone(requestId);
  }

  /** The request finished or was cancelled: the rest of its load leaves the worker. */
  markFinished(requestId: RequestId): boolean {
    return this.active.markFinished(requestId);
  }

  /** The worker a still-active request was placed on. */
  workerOf(requestId: RequestId): WorkerId | undefined {
    return this.active.workerOf(requestId)?.workerId;
  }

  /** Takes a worker's load snapshot. False if the worker is unknown or the snapshot is older. */
  updateMetrics(metrics: WorkerLoadMetrics): boolean {
    const w = this.byId.get(metrics.workerId);
    if (w === undefined || (w.metrics !== null && metrics.timestamp < w.metrics.timestamp)) return false;
    // Bookings the worker has no trace of go first, then the correction is computed on the rest.
    const numRequests = metrics.numRunningSeqs + metrics.numWaitingSeqs;
    this.numReconciledBookings += this.active.reconcile(w, numRequests, metrics.timestamp - this.bookingGraceMs);
    return w.applyMetrics(metrics);
  }

  /** Mean of the workers' active prefill tokens (Infinity without workers): the prefill pool's queue. */
  meanActivePrefillTokens(): number {
    const n = this.workers.length;
    if (n === 0) return Infinity;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += this.workers[i]!.activePrefillTokens;
    return sum / n;
  }

  /** Cumulative counters; KV hit rate = hit blocks / prompt blocks. */
  stats(): RouterStats {
    return {
      numRequests: this.numRequests,
      numPromptBlocks: this.numPromptBlocks,
      numHitBlocks: this.numHitBlocks,
      numExpiredBookings: this.numExpiredBookings,
      numReconciledBookings: this.numReconciledBookings,
      kvHitRate: this.numPromptBlocks > 0 ? this.numHitBlocks / this.numPromptBlocks : 0,
      numHitBlocksByTier: { device: this.hitByTier[DEVICE]!, host: this.hitByTier[HOST]!, disk: this.hitByTier[DISK]!, remote: this.hitByTier[REMOTE]! },
    };
  }

  /** The candidates of the route in progress, cheapest first: at most `max`, always with `chosen`. */
  private explain(chosen: WorkerState, max: number): CandidateScore[] {
    const ctx = this.ctx;
    const policy = this.policy;
    const score = (w: WorkerState): CandidateScore => ({
      workerId: w.workerId,
      overlapBlocks: w.overlapBlocks(ctx.stamp),
      cost: policy.cost ? policy.cost(w, ctx) : null,
    });
    const out: CandidateScore[] = [];
    for (let i = 0; i < ctx.numCandidates; i++) out.push(score(ctx.candidates[i]!));
    if (ctx.numCandidates === 0) out.push(score(chosen)); // a pinned route
    out.sort((a, b) => (a.cost ?? 0) - (b.cost ?? 0) || b.overlapBlocks - a.overlapBlocks);
    if (out.length <= max) return out;
    const top = out.slice(0, max);
    if (!top.some((c) => c.workerId === chosen.workerId)) top[max - 1] = out.find((c) => c.workerId === chosen.workerId)!;
    return top;
  }
}
