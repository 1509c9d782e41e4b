// Admission on the HTTP path: who the caller is (API key → tenant), whether it may use the
// model, whether its limits allow the request now (429 otherwise), and, when every worker is
// busy, a place in the model's admission queue instead of an immediate 503. The policy is
// src/admission's (pure); this file holds the waiting requests, the timers and the headers.
import { AdmissionQueue, MemoryBucketStore, RateLimiter, effectivePriority, isThrottle, tenantMayUse } from "../admission/index.ts";
import type { BucketStore, PriorityClass, QueueTicket, RateLease, RateLimitStatus, Tenant, TenantDirectory } from "../admission/index.ts";
import { TurbineError, isTurbineError } from "../protocols/index.ts";
import type { AdmissionMetrics } from "./admission-metrics.ts";

export interface AdmissionQueueConfig {
  /** Requests that may wait per model (default 256; 0: no queue, 503 at once). */
  size?: number;
  /** Longest wait in the queue (ms, default 30 000). */
  timeoutMs?: number;
  /** Deficit round robin quantum in tokens (default 512). */
  quantumTokens?: number;
  /** How often a non-empty queue retries the router when nothing else woke it (ms, default 20). */
  pollMs?: number;
  /** Fair queueing across tenants within a class (default true; false: FIFO within a class, for comparison). */
  fair?: boolean;
}

export interface AdmissionControllerOptions {
  /** The tenants (the keys file's current version); null: no keys file, everyone is the default tenant. */
  tenants: (() => TenantDirectory) | null;
  /** Where rate-limit buckets live (default: this process only). */
  store?: BucketStore;
  queue?: AdmissionQueueConfig;
  metrics?: AdmissionMetrics;
  now?: () => number;
}

/** The tenant of requests when there is no keys file: no limits, every model. */
export const DEFAULT_TENANT: Tenant = { name: "default", priority: "normal", weight: 1, limits: {}, models: null };

/** A request's place in line while it waits. */
interface Waiter<T> {
  tryStart: () => T;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

/** What one request holds from admission until it ends. */
export interface AdmissionTicket {
  readonly tenant: Tenant;
  readonly priority: PriorityClass;
  /** Seconds the request waited in the queue (0 when it started at once). */
  readonly waitedSeconds: number;
}

export class AdmissionController {
  readonly limiter: RateLimiter;
  private readonly queues = new Map<string, AdmissionQueue<Waiter<unknown>>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly now: () => number;
  private readonly size: number;
  private readonly timeoutMs: number;
  private readonly pollMs: number;

  constructor(private readonly options: AdmissionControllerOptions) {
    this.limiter = new RateLimiter(options.store ?? new MemoryBucketStore());
    this.now = options.now ?? (() => performance.now());
    this.size = options.queue?.size ?? 256;
    this.timeoutMs = options.queue?.timeoutMs ?? 30_000;
    this.pollMs = options.queue?.pollMs ?? 20;
  }

  /** Are API keys required? (a keys file is set) */
  get authenticates(): boolean {
    return this.options.tenants !== null;
  }

  /** The tenant of a bearer key; 401 for an unknown or revoked one. */
  authenticate(key: string | undefined): Tenant {
    const dir = this.options.tenants?.();
    if (!dir) return DEFAULT_TENANT;
    const hit = key === undefined ? ({ kind: "unknown" } as const) : dir.lookup(key);
    if (hit.kind === "revoked") throw new TurbineError("AUTH_INVALID_API_KEY", "This API key has been revoked");
    if (hit.kind === "unknown") throw new TurbineError("AUTH_INVALID_API_KEY", "Missing or invalid API key: send 'Authorization: Bearer <key>'");
    return hit.tenant;
  }

  /** 404 for a model the tenant may not use, as OpenAI answers (no hint that it exists). */
  checkModel(tenant: Tenant, model: string): void {
    if (!tenantMayUse(tenant, model)) throw new TurbineError("MODEL_NOT_FOUND", `The model '${model}' does not exist or you do not have access to it`, { param: "model" });
  }

  priorityOf(tenant: Tenant, asked: PriorityClass | undefined): PriorityClass {
    return effectivePriority(tenant, asked);
  }

  /** Takes the request's cost from its tenant's limits, or throws 429 (headers in `rateLimitHeaders`). */
  rateLimit(tenant: Tenant, inputTokens: number, maxOutputTokens: number): RateLease {
    const r = this.limiter.admit(tenant, { inputTokens, maxOutputTokens }, this.now());
    if (!isThrottle(r)) return r;
    this.options.metrics?.throttled.inc({ tenant: tenant.name, limit: r.limit });
    const what = { requests: "requests per minute", input_tokens: "input tokens per minute", output_tokens: "output tokens per minute", concurrency: "concurrent requests" }[r.limit];
    if (r.retryAfterMs === Infinity) {
      throw new TurbineError("RATE_LIMIT_EXCEEDED", `Request too large for tenant '${tenant.name}': it needs more ${what} than its whole limit`, {
        retryAfterSeconds: 60,
      });
    }
    throw new TurbineError("RATE_LIMIT_EXCEEDED", `Rate limit reached for tenant '${tenant.name}' on ${what}; retry after ${Math.ceil(r.retryAfterMs / 1000)} s`, {
      retryAfterSeconds: r.retryAfterMs / 1000,
    });
  }

  /** OpenAI's x-ratelimit-* headers for the tenant now (none for limits it does not have). */
  rateLimitHeaders(tenant: Tenant): Record<string, string> {
    return rateLimitHeaders(this.limiter.status(tenant, this.now()));
  }

  /**
   * Starts the request now if the model has room and nobody waits before it; otherwise
   * queues it (bounded) until `tryStart` succeeds, its wait times out, or `signal` aborts.
   * `tryStart` throws ROUTER_ALL_BUSY while every worker is busy.
   */
  async admit<T>(model: string, tenant: Tenant, priority: PriorityClass, cost: number, tryStart: () => T, signal: AbortSignal): Promise<{ value: T; ticket: AdmissionTicket }> {
    const queue = this.queueOf(model);
    if (!queue || queue.length === 0) {
      try {
        return { value: tryStart(), ticket: { tenant, priority, waitedSeconds: 0 } };
      } catch (e) {
        if (!queue || !isBusy(e)) throw e;
      }
    }
    if (signal.aborted) throw new TurbineError("RUNTIME_CANCELLED", "client disconnected");
    const start = this.now();
    const metrics = this.options.metrics;
    const value = await new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = { tryStart, resolve, reject };
      const fair = this.options.queue?.fair ?? true;
      // Without fair queueing every tenant shares one lane: FIFO within the class.
      const pushed = queue.push({ value: waiter as Waiter<unknown>, tenant: fair ? tenant.name : "*", priority, weight: fair ? tenant.weight : 1, cost }, this.now());
      if (!pushed.ticket) {
        metrics?.queueRejected.inc({ model, class: priority, reason: "full" });
        reject(new TurbineError("ADMISSION_QUEUE_FULL", `Every worker of '${model}' is busy and ${queue.length} requests are waiting already`, { retryAfterSeconds: 1 }));
        return;
      }
      metrics?.queued.inc({ tenant: tenant.name, class: priority });
      if (pushed.evicted) {
        metrics?.queueRejected.inc({ model, class: pushed.evicted.priority, reason: "evicted" });
        (pushed.evicted.value as Waiter<unknown>).reject(new TurbineError("ADMISSION_QUEUE_FULL", `Every worker of '${model}' is busy and the queue is full of higher-priority requests`, { retryAfterSeconds: 1 }));
      }
      const ticket = pushed.ticket;
      // A client that leaves gives up its place at once.
      const onAbort = (): void => {
        if (queue.remove(ticket)) {
          metrics?.queueRejected.inc({ model, class: priority, reason: "disconnected" });
          this.updateGauge(model, queue);
          reject(new TurbineError("RUNTIME_CANCELLED", "client disconnected while queued"));
        }
      };
      signal.addEventListener("abort", onAbort, { once: true });
      const done = (): void => signal.removeEventListener("abort", onAbort);
      waiter.resolve = (v) => (done(), resolve(v));
      waiter.reject = (e) => (done(), reject(e));
      this.updateGauge(model, queue);
      this.pump(model);
    });
    const waited = (this.now() - start) / 1000;
    metrics?.queueWait.observe({ tenant: tenant.name, class: priority }, waited);
    return { value, ticket: { tenant, priority, waitedSeconds: waited } };
  }

  /** Capacity may have appeared for `model` (a request ended): let waiting requests try. */
  notifyCapacity(model: string): void {
    if ((this.queues.get(model)?.length ?? 0) > 0) this.pump(model);
  }

  /** Requests waiting for a model now. */
  queueLength(model: string): number {
    return this.queues.get(model)?.length ?? 0;
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const [model, q] of this.queues) {
      for (let t = q.peek(); t; t = q.peek()) {
        q.remove(t);
        (t.value as Waiter<unknown>).reject(new TurbineError("ADMISSION_QUEUE_TIMEOUT", "the frontend is shutting down", { retryAfterSeconds: 1 }));
      }
      this.updateGauge(model, q);
    }
  }

  private queueOf(model: string): AdmissionQueue<Waiter<unknown>> | null {
    if (this.size <= 0) return null;
    let q = this.queues.get(model);
    if (!q) {
      q = new AdmissionQueue({ maxLength: this.size, maxWaitMs: this.timeoutMs, quantumTokens: this.options.queue?.quantumTokens });
      this.queues.set(model, q);
    }
    return q;
  }

  /** Expires what waited too long, then starts waiting requests in order while the router finds room. */
  private pump(model: string): void {
    const q = this.queues.get(model);
    if (!q) return;
    const metrics = this.options.metrics;
    for (const t of q.expire(this.now())) {
      metrics?.queueRejected.inc({ model, class: t.priority, reason: "timeout" });
      (t.value as Waiter<unknown>).reject(
        new TurbineError("ADMISSION_QUEUE_TIMEOUT", `No worker of '${model}' had room within ${Math.round(this.timeoutMs / 1000)} s`, { retryAfterSeconds: 1 }),
      );
    }
    for (let t: QueueTicket<Waiter<unknown>> | undefined = q.peek(); t; t = q.peek()) {
      let started: unknown;
      try {
        started = t.value.tryStart();
      } catch (e) {
        if (isBusy(e)) break;
        q.take(t);
        t.value.reject(e);
        continue;
      }
      q.take(t);
      t.value.resolve(started);
    }
    this.updateGauge(model, q);
    const old = this.timers.get(model);
    if (old) clearTimeout(old);
    this.timers.delete(model);
    if (q.length > 0) {
      const deadline = q.nextDeadlineMs() ?? Infinity;
      const delay = Math.max(1, Math.min(this.pollMs, deadline - this.now()));
      this.timers.set(
        model,
        setTimeout(() => this.pump(model), delay),
      );
    }
  }

  private updateGauge(model: string, q: AdmissionQueue<unknown>): void {
    const g = this.options.metrics?.queueLength;
    if (!g) return;
    for (const c of ["high", "normal", "low"] as const) g.set({ model, class: c }, q.lengthOf(c));
  }
}

function isBusy(e: unknown): boolean {
  return isTurbineError(e) && e.code === "ROUTER_ALL_BUSY";
}

/** OpenAI's duration format for x-ratelimit-reset-*: "20ms", "1.5s", "6m0s". */
export function formatReset(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const s = ms / 1000;
  if (s < 60) return `${Number(s.toFixed(3))}s`;
  return `${Math.floor(s / 60)}m${Math.round(s % 60)}s`;
}

export function rateLimitHeaders(s: RateLimitStatus): Record<string, string> {
  const h: Record<string, string> = {};
  const put = (suffix: string, part: RateLimitStatus["requests"]): void => {
    if (!part) return;
    h[`x-ratelimit-limit-${suffix}`] = String(part.limit);
    h[`x-ratelimit-remaining-${suffix}`] = String(part.remaining);
    h[`x-ratelimit-reset-${suffix}`] = formatReset(part.resetMs);
  };
  put("requests", s.requests);
  put("tokens", s.tokens);
  put("output-tokens", s.outputTokens);
  return h;
}
