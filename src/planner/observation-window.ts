// Accumulates what one pool did over an adjustment interval and turns it into the
// PoolObservation a planner reads. Fed either request by request (the replay) or by deltas of
// the frontends' counters (the live path): both add sums and counts.
import type { PoolName, PoolObservation } from "./planner-types.ts";

/**
 * Sums over some requests (a frontend's counter deltas, or the replay's requests). Prompt
 * lengths are known when a request arrives, output lengths when it finishes.
 */
export interface RequestTotals {
  /** Requests that arrived, and their prompt tokens. */
  numRequests: number;
  inputTokens: number;
  /** Requests that finished (default numRequests), and their output tokens. */
  numCompleted?: number;
  outputTokens: number;
  /** Prompt tokens of the finished requests that hit a prefix cache, and all their prompt tokens. */
  cachedTokens?: number;
  completedInputTokens?: number;
  ttftSumMs?: number;
  ttftCount?: number;
  itlSumMs?: number;
  itlCount?: number;
}

/** One worker's load at one moment (what it publishes on the event plane). */
export interface LoadSample {
  kvUsage: number;
  numWaitingSeqs: number;
  pendingPrefillTokens: number;
}

export class ObservationWindow {
  private requests = 0;
  private completed = 0;
  private input = 0;
  private output = 0;
  private cached = 0;
  private completedInput = 0;
  private ttftSum = 0;
  private ttftCount = 0;
  private itlSum = 0;
  private itlCount = 0;
  /** Latest sample per worker: queue and KV are levels, not flows. */
  private readonly loads = new Map<string, LoadSample>();

  constructor(readonly pool: PoolName) {}

  addRequests(t: RequestTotals): void {
    this.requests += t.numRequests;
    this.completed += t.numCompleted ?? t.numRequests;
    this.input += t.inputTokens;
    this.output += t.outputTokens;
    this.cached += t.cachedTokens ?? 0;
    this.completedInput += t.completedInputTokens ?? 0;
    this.ttftSum += t.ttftSumMs ?? 0;
    this.ttftCount += t.ttftCount ?? 0;
    this.itlSum += t.itlSumMs ?? 0;
    this.itlCount += t.itlCount ?? 0;
  }

  /** The worker's latest load; a worker that left is dropped with `removeWorker`. */
  setLoad(workerId: string, sample: LoadSample): void {
    this.loads.set(workerId, sample);
  }

  removeWorker(workerId: string): void {
    this.loads.delete(workerId);
  }

  /**
   * The interval's observation; resets the flows (the levels stay until replaced). Requests
   * queued at the frontends (admission queue, every worker busy) add to the workers' own queues.
   */
  close(intervalMs: number, numWorkers: number, numWaitingForWorkers = 0, numQueuedAtFrontends = 0): PoolObservation {
    let kv = 0;
    let queue = 0;
    let pending = 0;
    for (const l of this.loads.values()) {
      kv += l.kvUsage;
      queue += l.numWaitingSeqs;
      pending += l.pendingPrefillTokens;
    }
    const o: PoolObservation = {
      pool: this.pool,
      numWorkers,
      requestRate: intervalMs > 0 ? this.requests / (intervalMs / 1000) : 0,
      meanInputTokens: this.requests > 0 ? this.input / this.requests : 0,
      meanOutputTokens: this.completed > 0 ? this.output / this.completed : 0,
      prefixHitRate: this.completedInput > 0 ? Math.min(1, this.cached / this.completedInput) : 0,
      ttftMs: this.ttftCount > 0 ? this.ttftSum / this.ttftCount : Number.NaN,
      itlMs: this.itlCount > 0 ? this.itlSum / this.itlCount : Number.NaN,
      queueDepth: queue + numQueuedAtFrontends,
      kvUsage: this.loads.size > 0 ? kv / this.loads.size : 0,
      pendingPrefillTokens: pending,
      numWaitingForWorkers,
    };
    this.requests = this.completed = this.input = this.output = 0;
    this.ttftSum = this.ttftCount = this.itlSum = this.itlCount = this.cached = this.completedInput = 0;
    return o;
  }
}
