// Active-sequence tracking: the load this router put on each worker, request by request.
// It owns the per-request records and is the only writer of WorkerState's `own*` counters.
import type { RequestId } from "../protocols/index.ts";
import type { WorkerState } from "./worker-state.ts";

interface ActiveRequest {
  worker: WorkerState;
  /** Uncached prompt tokens still to prefill (0 once the first token came). */
  prefillTokens: number;
  /** KV blocks the sequence holds (its prompt's blocks, cached ones included). */
  blocks: number;
  prefillDone: boolean;
}

/**
 * Lifecycle: `add` when routed (prefill tokens + blocks + one request), `markPrefillDone` at the
 * first token (releases the prefill tokens), `markFinished` at the end or on cancellation
 * (releases the rest). Each call is O(1); unknown or repeated ids are ignored (returns false),
 * so a late or duplicate notification cannot drive a counter negative.
 */
export class ActiveSequences {
  private readonly requests = new Map<RequestId, ActiveRequest>();

  get size(): number {
    return this.requests.size;
  }

  add(requestId: RequestId, worker: WorkerState, prefillTokens: number, blocks: number): void {
    // A reused id (a retry) replaces the earlier placement rather than leaking it.
    this.markFinished(requestId);
    this.requests.set(requestId, { worker, prefillTokens, blocks, prefillDone: false });
    worker.ownPrefillTokens += prefillTokens;
    worker.ownDecodeBlocks += blocks;
    worker.ownRequests += 1;
  }

  markPrefillDone(requestId: RequestId): boolean {
    const r = this.requests.get(requestId);
    if (r === undefined || r.prefillDone) return false;
    r.worker.ownPrefillTokens -= r.prefillTokens;
    r.prefillTokens = 0;
    r.prefillDone = true;
    return true;
  }

  markFinished(requestId: RequestId): boolean {
    const r = this.requests.get(requestId);
    if (r === undefined) return false;
    this.requests.delete(requestId);
    r.worker.ownPrefillTokens -= r.prefillTokens;
    r.worker.ownDecodeBlocks -= r.blocks;
    r.worker.ownRequests -= 1;
    return true;
  }

  /** The worker a request was placed on, if it is still active. */
  workerOf(requestId: RequestId): WorkerState | undefined {
    return this.requests.get(requestId)?.worker;
  }

  /** Forgets every request of a removed worker (O(active requests); removal is rare). */
  dropWorker(worker: WorkerState): number {
    let n = 0;
    for (const [id, r] of this.requests) {
      if (r.worker === worker) {
        this.requests.delete(id);
        n++;
      }
    }
    worker.ownPrefillTokens = 0;
    worker.ownDecodeBlocks = 0;
    worker.ownRequests = 0;
    return n;
  }
}
