// Active-sequence tracking: the load this router put on each worker, booking by booking (its
// own decisions and those its replicas shared). It owns the bookings and is the only writer of
// WorkerState's `own*` counters and block reference counts.
import type { RequestId, SequenceHash } from "../protocols/index.ts";
import type { WorkerState } from "./worker-state.ts";

/** One request booked on a worker. */
export interface Booking {
  readonly requestId: RequestId;
  readonly worker: WorkerState;
  /** Uncached prompt tokens still to prefill (0 once the first token came). */
  prefillTokens: number;
  /** The prompt's full-block sequence hashes, reference-counted per worker (shared blocks count once). */
  readonly hashes: readonly SequenceHash[];
  /** Blocks counted on their own, not shared: the partial last block, or all of a replica's booking (it has no hashes). */
  readonly extraBlocks: number;
  prefillDone: boolean;
  /** When it was booked, or last dispatched (ms, the router's `now`). */
  bookedAt: number;
  /** The router replica that placed it; null for this router's own decisions. */
  readonly replicaId: string | null;
}

/** What `add` books. */
export interface BookingInput {
  requestId: RequestId;
  worker: WorkerState;
  prefillTokens: number;
  /** KV blocks the sequence holds: its prompt's blocks, cached ones included. */
  blocks: number;
  /** The prompt's sequence hashes; with them, blocks shared with other bookings count once. */
  hashes?: readonly SequenceHash[];
  now: number;
  replicaId?: string | null;
}

const NO_HASHES: readonly SequenceHash[] = [];

/**
 * Lifecycle: `add` when routed (prefill tokens + blocks + one request), `markPrefillDone` at the
 * first token (releases the prefill tokens), `markFinished` at the end or on cancellation
 * (releases the rest). Unknown or repeated ids are ignored (returns false), so a late or
 * duplicate notification cannot drive a counter negative. A booking whose end was never heard
 * of (a lost message, a replica that died) goes by `expire` (TTL), `dropReplica`, or the
 * worker's own metrics (`reconcile`): booked state never outlives its evidence for long.
 *
 * Bookings sit in one Map in the order of `bookedAt` (re-stamping moves a booking to the end),
 * so expiry walks only the expired head. Each worker keeps its own bookings in a Set in the same
 * order, for reconciliation.
 */
export class ActiveSequences {
  private readonly bookings = new Map<RequestId, Booking>();

  get size(): number {
    return this.bookings.size;
  }

  add(input: BookingInput): void {
    // A reused id (a retry) replaces the earlier placement rather than leaking it.
    this.markFinished(input.requestId);
    const worker = input.worker;
    const hashes = input.hashes ?? NO_HASHES;
    const numHashed = Math.min(hashes.length, input.blocks);
    const booking: Booking = {
      requestId: input.requestId,
      worker,
      prefillTokens: input.prefillTokens,
      hashes: numHashed === hashes.length ? hashes : hashes.slice(0, numHashed),
      extraBlocks: input.blocks - numHashed,
      prefillDone: false,
      bookedAt: input.now,
      replicaId: input.replicaId ?? null,
    };
    this.bookings.set(input.requestId, booking);
    worker.bookings.add(booking);
    const refs = worker.blockRefs;
    let added = booking.extraBlocks;
    for (let i = 0; i < booking.hashes.length; i++) {
      const h = booking.hashes[i]!;
      const n = refs.get(h);
      if (n === undefined) {
        refs.set(h, 1);
        added++;
      } else refs.set(h, n + 1);
    }
    worker.ownPrefillTokens += booking.prefillTokens;
    worker.ownDecodeBlocks += added;
    worker.ownRequests += 1;
  }

  markPrefillDone(requestId: RequestId): boolean {
    const r = this.bookings.get(requestId);
    if (r === undefined || r.prefillDone) return false;
    r.worker.ownPrefillTokens -= r.prefillTokens;
    r.prefillTokens = 0;
    r.prefillDone = true;
    return true;
  }

  markFinished(requestId: RequestId): boolean {
    const r = this.bookings.get(requestId);
    if (r === undefined) return false;
    this.release(r);
    return true;
  }

  /**
   * The request reached its worker now (after a remote prefill, say): its age restarts, so
   * that reconciliation does not take it for a booking the worker has forgotten.
   */
  touch(requestId: RequestId, now: number): boolean {
    const r = this.bookings.get(requestId);
    if (r === undefined) return false;
    r.bookedAt = now;
    this.bookings.delete(requestId);
    this.bookings.set(requestId, r);
    r.worker.bookings.delete(r);
    r.worker.bookings.add(r);
    return true;
  }

  /** The worker a request was placed on, if it is still active. */
  workerOf(requestId: RequestId): WorkerState | undefined {
    return this.bookings.get(requestId)?.worker;
  }

  /** Releases every booking made at or before `now − ttlMs`. Returns how many. O(expired). */
  expire(now: number, ttlMs: number): number {
    const cutoff = now - ttlMs;
    let n = 0;
    for (const r of this.bookings.values()) {
      if (r.bookedAt > cutoff) break;
      this.release(r);
      n++;
    }
    return n;
  }

  /** Releases every booking a replica shared (it left). O(active bookings); rare. */
  dropReplica(replicaId: string): number {
    let n = 0;
    for (const r of this.bookings.values()) {
      if (r.replicaId === replicaId) {
        this.release(r);
        n++;
      }
    }
    return n;
  }

  /**
   * The worker says it runs or queues `numRequests` requests in all. Bookings on it made at or
   * before `cutoff` (old enough for the worker to have seen them) beyond that number are stale:
   * their end was lost. The oldest `excess` of them are released. Returns how many.
   */
  reconcile(worker: WorkerState, numRequests: number, cutoff: number): number {
    let numOld = 0;
    for (const r of worker.bookings) {
      if (r.bookedAt > cutoff) break;
      numOld++;
    }
    const excess = numOld - numRequests;
    // Only an excess seen in two snapshots in a row: one request that has just finished on the
    // worker, with its end still on the way here, is not stale.
    const drop = Math.min(excess, worker.lastBookingExcess);
    worker.lastBookingExcess = Math.max(0, excess);
    let n = 0;
    for (const r of worker.bookings) {
      if (n >= drop) break;
      this.release(r);
      n++;
    }
    return n;
  }

  /** Forgets every booking of a removed worker (O(its bookings)). */
  dropWorker(worker: WorkerState): number {
    let n = 0;
    for (const r of worker.bookings) {
      this.bookings.delete(r.requestId);
      n++;
    }
    worker.bookings.clear();
    worker.blockRefs.clear();
    worker.ownPrefillTokens = 0;
    worker.ownDecodeBlocks = 0;
    worker.ownRequests = 0;
    return n;
  }

  private release(r: Booking): void {
    this.bookings.delete(r.requestId);
    const worker = r.worker;
    worker.bookings.delete(r);
    const refs = worker.blockRefs;
    let removed = r.extraBlocks;
    for (let i = 0; i < r.hashes.length; i++) {
      const h = r.hashes[i]!;
      const n = refs.get(h)!;
      if (n <= 1) {
        refs.delete(h);
        removed++;
      } else refs.set(h, n - 1);
    }
    worker.ownPrefillTokens -= r.prefillTokens;
    worker.ownDecodeBlocks -= removed;
    worker.ownRequests -= 1;
  }
}
