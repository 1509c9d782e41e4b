// Discovery on etcd. Every instance of this process is a key under one lease (TTL about
// 10 s) that etcd3 keeps alive; a process that dies stops the keep-alive and its keys vanish
// when the lease expires. When the lease is lost (etcd restarted without its data, or the
// keep-alive failed past the TTL) a new lease is granted and every instance of this process
// is written again. A watch lists first, then watches from the listed revision; when its
// stream breaks (etcd restarted) it lists again and reports the difference, so it misses
// neither a put nor a delete. An instance missing from a re-list (not from a delete event)
// is kept for a grace period (relistGraceMs) before it is reported gone: after etcd restarts
// with its data lost, every instance is missing until its process re-registers, and dropping
// them all would leave a frontend with no worker for that moment although their own
// connections prove them alive.
import { Etcd3 } from "etcd3";
import type { IOptions, Lease, Watcher } from "etcd3";
import { setTimeout as sleep } from "node:timers/promises";
import { AsyncQueue } from "./async-queue.ts";
import type { Subscription } from "./async-queue.ts";
import { instanceKey } from "./address.ts";
import type { Discovery, DiscoveryEvent, InstanceInfo, Registration } from "./discovery.ts";
import { decodeWire, encodeWire } from "./wire-codec.ts";

export interface EtcdDiscoveryOptions {
  /** etcd client URL(s), e.g. "http://127.0.0.1:2379". */
  url: string | string[];
  /** Lease TTL in seconds (default 10, at least 1). */
  ttlSeconds?: number;
  /** Prefix of every key Turbine writes (default "turbine/"). */
  root?: string;
  /** Deadline of each unary etcd call (default 5000 ms). */
  callTimeoutMs?: number;
  /** etcd user and password (etcd's password auth). */
  auth?: { username: string; password: string };
  /** TLS to etcd (https:// URLs): the CA to trust, and a client certificate for mutual TLS. */
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
  /**
   * How long an instance missing from a re-list of a broken watch is still reported (ms,
   * default: the lease TTL plus 2 s, time for a live process to re-register).
   */
  relistGraceMs?: number;
}

type FaultHandling = NonNullable<IOptions["faultHandling"]>;

// etcd3's default policies retry three times and open a circuit breaker for 5 s, which
// would delay recovery after an etcd restart; this class retries on its own instead.
const passThrough = { execute: async (fn: () => unknown) => fn() } as unknown as NonNullable<FaultHandling["global"]>;
const quickBackoff: { duration: number; next: () => unknown } = { duration: 250, next: () => quickBackoff };

export class EtcdDiscovery implements Discovery {
  readonly client: Etcd3;
  private readonly ttl: number;
  private readonly relistGraceMs: number;
  private readonly root: string;
  private readonly registered = new Map<string, InstanceInfo>();
  private readonly watches = new Set<() => void>();
  private lease: Lease | null = null;
  private leasePromise: Promise<Lease> | null = null;
  private recovering = false;
  private needRecovery = false;
  private closing = false;
  /** Leases granted again after a loss (for tests and metrics). */
  numLeaseRecoveries = 0;
  /** Instances kept through a re-list that did not show them (for tests and metrics). */
  numKeptThroughRelist = 0;

  constructor(options: EtcdDiscoveryOptions) {
    this.ttl = Math.max(1, Math.round(options.ttlSeconds ?? 10));
    this.root = options.root ?? "turbine/";
    this.relistGraceMs = options.relistGraceMs ?? this.ttl * 1000 + 2000;
    const callTimeoutMs = options.callTimeoutMs ?? 5000;
    this.client = new Etcd3({
      hosts: options.url,
      ...(options.auth ? { auth: options.auth } : {}),
      ...(options.tls ? { credentials: { rootCertificate: options.tls.ca, privateKey: options.tls.key, certChain: options.tls.cert } } : {}),
      dialTimeout: 2000,
      grpcOptions: { "grpc.initial_reconnect_backoff_ms": 100, "grpc.max_reconnect_backoff_ms": 1000 },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
      faultHandling: {
        host: () => passThrough,
        global: passThrough,
        watchBackoff: quickBackoff as FaultHandling["watchBackoff"],
      },
    });
  }

  async register(instance: InstanceInfo): Promise<Registration> {
    const key = instanceKey(instance.address, instance.instanceId);
    this.registered.set(key, instance);
    try {
      const lease = await this.ensureLease();
      await lease.put(this.root + key).value(encodeWire(instance)).exec();
    } catch (e) {
      this.registered.delete(key);
      throw e;
    }
    return {
      key,
      unregister: async () => {
        if (this.registered.get(key) !== instance) return;
        this.registered.delete(key);
        await this.client.delete().key(this.root + key).exec();
      },
    };
  }

  async list(prefix: string): Promise<InstanceInfo[]> {
    const res = await this.client.getAll().prefix(this.root + prefix).exec();
    return res.kvs.map((kv) => decodeWire(kv.value.toString("utf8")) as InstanceInfo);
  }

  watch(prefix: string): Subscription<DiscoveryEvent> {
    // key → [raw value, instance]: what the consumer has been told exists.
    const known = new Map<string, [string, InstanceInfo]>();
    let watcher: Watcher | null = null;
    let stopped = false;
    let syncing = false;
    let listed = false;
    // Keys missing from a re-list, reported deleted when their grace ends.
    const missing = new Map<string, NodeJS.Timeout>();
    const clearMissing = (key: string): void => {
      clearTimeout(missing.get(key));
      missing.delete(key);
    };
    const stop = (): void => {
      stopped = true;
      for (const t of missing.values()) clearTimeout(t);
      missing.clear();
      this.watches.delete(stop);
      watcher?.cancel().catch(() => undefined);
      watcher = null;
    };
    const queue = new AsyncQueue<DiscoveryEvent>({ onReturn: stop });
    const full = this.root + prefix;
    const put = (key: string, raw: string): void => {
      clearMissing(key);
      if (known.get(key)?.[0] === raw) return;
      const instance = decodeWire(raw) as InstanceInfo;
      known.set(key, [raw, instance]);
      queue.push({ type: "put", key, instance });
    };
    const del = (key: string): void => {
      clearMissing(key);
      const had = known.get(key);
      if (!had) return;
      known.delete(key);
      queue.push({ type: "delete", key, instance: had[1] });
    };
    const sync = async (): Promise<void> => {
      if (syncing) return;
      syncing = true;
      let delay = 100;
      while (!stopped && !this.closing) {
        try {
          const res = await this.client.getAll().prefix(full).exec();
          if (stopped) break;
          const seen = new Set<string>();
          for (const kv of res.kvs) {
            const key = kv.key.toString("utf8").slice(this.root.length);
            seen.add(key);
            put(key, kv.value.toString("utf8"));
          }
          for (const key of [...known.keys()]) {
            if (seen.has(key) || missing.has(key)) continue;
            if (!listed) {
              del(key);
              continue;
            }
            this.numKeptThroughRelist++;
            const timer = setTimeout(() => del(key), this.relistGraceMs);
            timer.unref();
            missing.set(key, timer);
          }
          listed = true;
          const w = this.client
            .watch()
            .prefix(full)
            .startRevision((BigInt(res.header.revision) + 1n).toString())
            .watcher();
          const resync = (): void => {
            if (watcher !== w) return;
            watcher = null;
            w.cancel().catch(() => undefined);
            void sync();
          };
          w.on("put", (kv) => put(kv.key.toString("utf8").slice(this.root.length), kv.value.toString("utf8")));
          w.on("delete", (kv) => del(kv.key.toString("utf8").slice(this.root.length)));
          w.on("disconnected", resync);
          w.on("error", resync);
          watcher = w;
          break;
        } catch {
          await sleep(delay);
          delay = Math.min(delay * 2, 1000);
        }
      }
      syncing = false;
    };
    this.watches.add(stop);
    void sync();
    return queue;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const stop of [...this.watches]) stop();
    const lease = this.lease;
    this.lease = null;
    this.registered.clear();
    // Revoking deletes this process's keys at once instead of after the TTL.
    if (lease) await lease.revoke().catch(() => lease.release());
    this.client.close();
  }

  private ensureLease(): Promise<Lease> {
    if (!this.leasePromise) {
      const lease = this.client.lease(this.ttl);
      this.leasePromise = lease.grant().then(
        () => {
          lease.on("lost", () => this.onLeaseLost(lease));
          if (lease.revoked()) this.onLeaseLost(lease);
          this.lease = lease;
          return lease;
        },
        (e: unknown) => {
          this.leasePromise = null;
          throw e;
        },
      );
    }
    return this.leasePromise;
  }

  private onLeaseLost(lease: Lease): void {
    if (this.closing || this.lease !== lease) return;
    this.lease = null;
    this.leasePromise = null;
    this.needRecovery = true;
    void this.recover();
  }

  /** Grants a new lease and writes every instance of this process again, until it works. */
  private async recover(): Promise<void> {
    if (this.recovering) return;
    this.recovering = true;
    let delay = 100;
    while (this.needRecovery && !this.closing) {
      this.needRecovery = false;
      try {
        const lease = await this.ensureLease();
        for (const [key, instance] of this.registered) {
          await lease.put(this.root + key).value(encodeWire(instance)).exec();
        }
        this.numLeaseRecoveries++;
      } catch {
        if (this.lease) this.lease.release();
        this.lease = null;
        this.leasePromise = null;
        this.needRecovery = true;
        await sleep(delay);
        delay = Math.min(delay * 2, 1000);
      }
    }
    this.recovering = false;
  }
}
