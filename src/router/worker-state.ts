// One worker as the router sees it: its capacity, the load the router itself put on it,
// the correction that the worker's published metrics add, and per-route scratch fields.
import type { SequenceHash, WorkerId, WorkerLoadMetrics } from "../protocols/index.ts";
import type { Booking } from "./active-sequences.ts";

/** What the router must know about a worker when it is added. */
export interface WorkerCapacity {
  /** KV blocks of the engine (the model card's numKvBlocks). */
  totalBlocks: number;
  /** Sequences the engine runs at once (the model card's maxNumSeqs), when known. */
  maxNumSeqs?: number;
}

/**
 * Load accounting. The router's own counters (`own*`, written only by ActiveSequences) are
 * exact for the requests this router placed but blind to other router replicas, to queued
 * and preempted sequences and to output growth. The worker's metrics see all of that, but
 * late. The rule:
 *
 *   effective = own + correction,   correction = max(0, metric − own) at the snapshot's arrival
 *
 * The correction is recomputed at each snapshot newer than the previous one and held fixed
 * in between, so the router's own routes and finishes keep moving the load at once. It is
 * never negative: a metric below our own count means the engine has not yet seen requests we
 * sent, which we must keep counting. It lapses when the snapshot is older than the router's
 * `metricsMaxAgeMs` (a worker that stopped publishing does not pin a stale load).
 *
 * Bookings themselves are reconciled against the metrics the other way (ActiveSequences.reconcile):
 * old bookings beyond the number of requests the worker says it has are released, so a lost
 * `finished` costs a moment of imbalance, not a worker that looks busy forever.
 */
export class WorkerState {
  readonly workerId: WorkerId;
  /** Position in the router's dense worker array (changes on removal of another worker). */
  slot = -1;
  totalBlocks: number;
  maxNumSeqs: number | undefined;

  // Written only by ActiveSequences.
  ownPrefillTokens = 0;
  ownDecodeBlocks = 0;
  ownRequests = 0;
  /** This worker's bookings, oldest first. */
  readonly bookings = new Set<Booking>();
  /** Per sequence hash, how many bookings hold the block: a shared prefix block counts once. */
  readonly blockRefs = new Map<SequenceHash, number>();
  /** Stale bookings seen at the previous snapshot (reconciliation acts on two in a row). */
  lastBookingExcess = 0;

  prefillCorrection = 0;
  decodeCorrection = 0;
  requestCorrection = 0;
  metrics: WorkerLoadMetrics | null = null;

  // Per-route scratch, valid only when the stamp equals the route's stamp (no clearing pass).
  candidateStamp = -1;
  matchStamp = -1;
  /** Leading prompt blocks held, in any tier, then per fastest tier. */
  matchBlocks = 0;
  matchDevice = 0;
  matchHost = 0;
  matchDisk = 0;
  matchRemote = 0;

  constructor(workerId: WorkerId, capacity: WorkerCapacity) {
    this.workerId = workerId;
    this.totalBlocks = capacity.totalBlocks;
    this.maxNumSeqs = capacity.maxNumSeqs;
  }

  /** Prompt tokens routed here and not yet prefilled. */
  get activePrefillTokens(): number {
    return this.ownPrefillTokens + this.prefillCorrection;
  }
  /** KV blocks held by the sequences this worker runs. */
  get activeDecodeBlocks(): number {
    return this.ownDecodeBlocks + this.decodeCorrection;
  }
  /** Requests running or waiting on this worker. */
  get numActiveRequests(): number {
    return this.ownRequests + this.requestCorrection;
  }
  /** Fraction of the worker's KV blocks in use, 0..1. */
  get kvUsage(): number {
    return this.totalBlocks > 0 ? Math.min(1, this.activeDecodeBlocks / this.totalBlocks) : 1;
  }

  /** Leading blocks of the current route's prompt this worker caches (0 if none). */
  overlapBlocks(stamp: number): number {
    return this.matchStamp === stamp ? this.matchBlocks : 0;
  }

  /** Takes a metrics snapshot; returns false when it is not newer than the last one. */
  applyMetrics(m: WorkerLoadMetrics): boolean {
    if (this.metrics !== null && m.timestamp < this.metrics.timestamp) return false;
    this.metrics = m;
    if (m.totalBlocks > 0) this.totalBlocks = m.totalBlocks;
    this.prefillCorrection = Math.max(0, m.pendingPrefillTokens - this.ownPrefillTokens);
    this.decodeCorrection = Math.max(0, m.activeBlocks - this.ownDecodeBlocks);
    this.requestCorrection = Math.max(0, m.numRunningSeqs + m.numWaitingSeqs - this.ownRequests);
    return true;
  }

  /** Drops the metrics correction when the last snapshot is older than `maxAgeMs` at `now`. */
  expireMetrics(now: number, maxAgeMs: number): void {
    if (this.metrics !== null && now - this.metrics.timestamp > maxAgeMs) {
      this.metrics = null;
      this.prefillCorrection = 0;
      this.decodeCorrection = 0;
      this.requestCorrection = 0;
    }
  }
}

/** Load order of least-loaded and power-of-two: fewer active requests, then fewer active blocks. */
export function compareLoad(a: WorkerState, b: WorkerState): number {
  return a.numActiveRequests - b.numActiveRequests || a.activeDecodeBlocks - b.activeDecodeBlocks;
}
