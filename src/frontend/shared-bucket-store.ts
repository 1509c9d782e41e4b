// Rate-limit buckets shared by every frontend replica over the event plane (NATS in a
// distributed fleet, in-process embedded). Each replica keeps a full local copy
// (MemoryBucketStore), applies its own debits at once and publishes them; peers apply them
// as they arrive. Each replica also publishes its in-flight counts per tenant, on change and
// with every heartbeat; a replica that stops reporting is forgotten. A replica that stops
// hearing its own heartbeats back has lost the shared store: it says so (`mode: "local"`)
// and keeps limiting with its local copy, never without limits.
import { randomBytes } from "node:crypto";
import { MemoryBucketStore } from "../admission/index.ts";
import type { BucketLimit, BucketStore } from "../admission/index.ts";
import type { EventPlane, Subscription } from "../runtime/index.ts";

export interface SharedBucketStoreOptions {
  /** Replicas of one fleet share this subject (default "admission.buckets"). */
  subject?: string;
  /** Heartbeat period (ms, default 500); silence for 3 periods means the store is lost. */
  heartbeatMs?: number;
  /** The clock the limiter uses (default performance.now). */
  now?: () => number;
}

type BucketMessage =
  | { kind: "debit"; replica: string; key: string; capacity: number; refillPerSecond: number; amount: number }
  | { kind: "state"; replica: string; inFlight: Record<string, number> }
  | { kind: "leave"; replica: string };

export class SharedBucketStore implements BucketStore {
  readonly replica = randomBytes(6).toString("hex");
  private readonly local: MemoryBucketStore;
  private readonly subject: string;
  private readonly heartbeatMs: number;
  private readonly now: () => number;
  private readonly inFlight: Record<string, number> = {};
  private readonly timer: NodeJS.Timeout;
  private readonly subscription: Subscription<BucketMessage>;
  private lastEchoMs: number;
  private closed = false;
  /** Debits received from peers and applied here (tests and metrics). */
  numRemoteDebits = 0;

  constructor(
    private readonly events: EventPlane,
    options: SharedBucketStoreOptions = {},
  ) {
    this.subject = options.subject ?? "admission.buckets";
    this.heartbeatMs = options.heartbeatMs ?? 500;
    this.now = options.now ?? (() => performance.now());
    this.local = new MemoryBucketStore(3 * this.heartbeatMs);
    this.lastEchoMs = this.now();
    this.subscription = events.subscribe<BucketMessage>(this.subject, { maxPending: 100_000 });
    void this.receive();
    this.timer = setInterval(() => this.publishState(), this.heartbeatMs);
    this.timer.unref();
    this.publishState();
  }

  /** "local" once this replica has not heard its own heartbeat for three periods. */
  get mode(): "shared" | "local" {
    return this.now() - this.lastEchoMs > 3 * this.heartbeatMs ? "local" : "shared";
  }

  level(key: string, limit: BucketLimit, nowMs: number): number {
    return this.local.level(key, limit, nowMs);
  }

  debit(key: string, limit: BucketLimit, amount: number, nowMs: number): void {
    this.local.debit(key, limit, amount, nowMs);
    if (amount !== 0) this.publish({ kind: "debit", replica: this.replica, key, capacity: limit.capacity, refillPerSecond: limit.refillPerSecond, amount });
  }

  remoteInFlight(tenant: string, nowMs: number): number {
    return this.local.remoteInFlight(tenant, nowMs);
  }

  reportInFlight(tenant: string, count: number): void {
    if (count > 0) this.inFlight[tenant] = count;
    else delete this.inFlight[tenant];
    this.publishState();
  }

  close(): void {
    if (this.closed) return;
    this.publish({ kind: "leave", replica: this.replica });
    this.closed = true;
    clearInterval(this.timer);
    this.subscription.unsubscribe();
  }

  private publish(m: BucketMessage): void {
    if (this.closed) return;
    try {
      this.events.publish(this.subject, m);
    } catch {
      // The event plane is gone: the local copy limits on its own.
    }
  }

  private publishState(): void {
    this.publish({ kind: "state", replica: this.replica, inFlight: { ...this.inFlight } });
  }

  private async receive(): Promise<void> {
    try {
      for await (const m of this.subscription) {
        const now = this.now();
        if (m.replica === this.replica) {
          if (m.kind === "state") this.lastEchoMs = now;
          continue;
        }
        if (m.kind === "debit") {
          this.local.debit(m.key, { capacity: m.capacity, refillPerSecond: m.refillPerSecond }, m.amount, now);
          this.numRemoteDebits++;
        } else if (m.kind === "state") this.local.setRemoteSnapshot(m.replica, m.inFlight, now);
        else this.local.dropReplica(m.replica);
      }
    } catch {
      // subscription ended with the plane
    }
  }
}
