// Where token buckets live. The interface is synchronous: a shared store keeps a local copy
// of every bucket and exchanges debits with its peers in the background, so admission never
// waits on the network, and losing the network leaves the local copy limiting on its own.
import { fullBucket, refill } from "./token-bucket.ts";
import type { BucketLimit, BucketState } from "./token-bucket.ts";

export interface BucketStore {
  /** "shared": debits reach the other replicas; "local": this replica limits on its own. */
  readonly mode: "shared" | "local";
  /** The level of a bucket now (full when never debited). */
  level(key: string, limit: BucketLimit, nowMs: number): number;
  /** Debits `amount` (credits when negative); the level may go below zero. */
  debit(key: string, limit: BucketLimit, amount: number, nowMs: number): void;
  /** Requests a tenant has in flight on other replicas, as they last reported. */
  remoteInFlight(tenant: string, nowMs: number): number;
  /** This replica's in-flight count of a tenant changed (a shared store tells its peers). */
  reportInFlight(tenant: string, count: number, nowMs: number): void;
}

/** Buckets in this process: the embedded store, and the local copy inside shared ones. */
export class MemoryBucketStore implements BucketStore {
  readonly mode: "shared" | "local" = "local";
  private readonly buckets = new Map<string, BucketState>();
  /** Per tenant, per replica: last reported in-flight count and when. */
  private readonly remote = new Map<string, Map<string, { count: number; atMs: number }>>();

  /** `remoteTtlMs`: a replica's report older than this is dropped (it left, or its messages did). */
  constructor(private readonly remoteTtlMs = 5000) {}

  level(key: string, limit: BucketLimit, nowMs: number): number {
    const b = this.buckets.get(key);
    if (!b) return limit.capacity;
    refill(b, limit, nowMs);
    return b.level;
  }

  debit(key: string, limit: BucketLimit, amount: number, nowMs: number): void {
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = fullBucket(limit, nowMs)));
    refill(b, limit, nowMs);
    b.level = Math.min(limit.capacity, b.level - amount);
  }

  remoteInFlight(tenant: string, nowMs: number): number {
    const byReplica = this.remote.get(tenant);
    if (!byReplica) return 0;
    let n = 0;
    for (const [replica, r] of byReplica) {
      if (nowMs - r.atMs > this.remoteTtlMs) byReplica.delete(replica);
      else n += r.count;
    }
    return n;
  }

  reportInFlight(): void {
    // One process: nobody else to tell.
  }

  /** A peer's report of its in-flight count (shared stores feed their peers' messages here). */
  setRemoteInFlight(replica: string, tenant: string, count: number, nowMs: number): void {
    let byReplica = this.remote.get(tenant);
    if (!byReplica) this.remote.set(tenant, (byReplica = new Map()));
    if (count > 0) byReplica.set(replica, { count, atMs: nowMs });
    else byReplica.delete(replica);
  }

  /** A peer's whole set of in-flight counts (tenants it does not list have none). */
  setRemoteSnapshot(replica: string, counts: Readonly<Record<string, number>>, nowMs: number): void {
    this.dropReplica(replica);
    for (const [tenant, n] of Object.entries(counts)) this.setRemoteInFlight(replica, tenant, n, nowMs);
  }

  /** Forgets every report of one replica (it said it is leaving). */
  dropReplica(replica: string): void {
    for (const m of this.remote.values()) m.delete(replica);
  }
}
