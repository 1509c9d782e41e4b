// Per-tenant limits over a bucket store: requests, input tokens and output tokens per minute
// (token buckets), and concurrent requests (a count, shared as each replica's report).
// Input tokens are known after tokenization and taken at admission; output tokens are
// reserved at admission (the request's max_tokens, capped at the bucket) and reconciled with
// what was generated when the request ends. Pure: the caller passes the time.
import type { BucketStore } from "./bucket-store.ts";
import type { Tenant } from "./tenant.ts";
import { msUntil, msUntilFull, perMinute } from "./token-bucket.ts";
import type { BucketLimit } from "./token-bucket.ts";

export type LimitName = "requests" | "input_tokens" | "output_tokens" | "concurrency";

export interface AdmissionCost {
  inputTokens: number;
  /** The most output tokens the request may generate (its max_tokens). */
  maxOutputTokens: number;
}

/** A refusal: which limit, and when a retry could pass (Infinity: never, the request is larger than the limit). */
export interface Throttle {
  readonly limit: LimitName;
  readonly retryAfterMs: number;
}

/** An admitted request's hold on its tenant's limits; `end` exactly once. */
export interface RateLease {
  /** Returns the concurrency slot and reconciles output tokens with those generated. */
  end(outputTokens: number, nowMs: number): void;
}

/** What OpenAI's x-ratelimit-* headers report (absent parts: no such limit). */
export interface RateLimitStatus {
  requests?: { limit: number; remaining: number; resetMs: number };
  tokens?: { limit: number; remaining: number; resetMs: number };
  outputTokens?: { limit: number; remaining: number; resetMs: number };
}

interface Buckets {
  requests: BucketLimit | null;
  input: BucketLimit | null;
  output: BucketLimit | null;
}

export class RateLimiter {
  private readonly inFlight = new Map<string, number>();
  private readonly limitsOf = new WeakMap<Tenant, Buckets>();

  constructor(readonly store: BucketStore) {}

  /** Admits the request and takes what it costs from every bucket, or none and says which limit. */
  admit(tenant: Tenant, cost: AdmissionCost, nowMs: number): RateLease | Throttle {
    const b = this.buckets(tenant);
    const k = tenant.name;
    const reserve = b.output ? Math.min(cost.maxOutputTokens, b.output.capacity) : 0;
    let wait: Throttle | null = null;
    const check = (limit: LimitName, bucket: BucketLimit | null, key: string, amount: number): void => {
      if (!bucket) return;
      const ms = msUntil(this.store.level(key, bucket, nowMs), amount, bucket);
      if (ms > 0 && (!wait || ms > wait.retryAfterMs)) wait = { limit, retryAfterMs: ms };
    };
    const conc = tenant.limits.concurrentRequests;
    if (conc !== undefined && this.numInFlight(k) + this.store.remoteInFlight(k, nowMs) >= conc) {
      // No bucket says when a slot frees; a second is the usual wait for a request to end.
      return { limit: "concurrency", retryAfterMs: 1000 };
    }
    check("requests", b.requests, `${k}/requests`, 1);
    check("input_tokens", b.input, `${k}/input`, cost.inputTokens);
    check("output_tokens", b.output, `${k}/output`, Math.max(1, reserve));
    if (wait) return wait;
    if (b.requests) this.store.debit(`${k}/requests`, b.requests, 1, nowMs);
    if (b.input) this.store.debit(`${k}/input`, b.input, cost.inputTokens, nowMs);
    if (b.output) this.store.debit(`${k}/output`, b.output, reserve, nowMs);
    this.changeInFlight(k, +1, nowMs);
    let ended = false;
    return {
      end: (outputTokens, at) => {
        if (ended) return;
        ended = true;
        this.changeInFlight(k, -1, at);
        if (b.output) this.store.debit(`${k}/output`, b.output, outputTokens - reserve, at);
      },
    };
  }

  /** The tenant's limits and what is left of them now. */
  status(tenant: Tenant, nowMs: number): RateLimitStatus {
    const b = this.buckets(tenant);
    const k = tenant.name;
    const part = (bucket: BucketLimit | null, key: string): RateLimitStatus["requests"] => {
      if (!bucket) return undefined;
      const level = this.store.level(key, bucket, nowMs);
      return { limit: bucket.capacity, remaining: Math.max(0, Math.floor(level)), resetMs: msUntilFull(Math.max(0, level), bucket) };
    };
    const out: RateLimitStatus = {};
    const r = part(b.requests, `${k}/requests`);
    const t = part(b.input, `${k}/input`);
    const o = part(b.output, `${k}/output`);
    if (r) out.requests = r;
    if (t) out.tokens = t;
    if (o) out.outputTokens = o;
    return out;
  }

  numInFlight(tenant: string): number {
    return this.inFlight.get(tenant) ?? 0;
  }

  /** Every tenant with requests in flight here, with its count (shared stores re-report these). */
  inFlightCounts(): ReadonlyMap<string, number> {
    return this.inFlight;
  }

  private changeInFlight(tenant: string, delta: number, nowMs: number): void {
    const n = this.numInFlight(tenant) + delta;
    if (n > 0) this.inFlight.set(tenant, n);
    else this.inFlight.delete(tenant);
    this.store.reportInFlight(tenant, n, nowMs);
  }

  private buckets(tenant: Tenant): Buckets {
    let b = this.limitsOf.get(tenant);
    if (!b) {
      const l = tenant.limits;
      b = {
        requests: l.requestsPerMinute ? perMinute(l.requestsPerMinute) : null,
        input: l.inputTokensPerMinute ? perMinute(l.inputTokensPerMinute) : null,
        output: l.outputTokensPerMinute ? perMinute(l.outputTokensPerMinute) : null,
      };
      this.limitsOf.set(tenant, b);
    }
    return b;
  }
}

export function isThrottle(r: RateLease | Throttle): r is Throttle {
  return "limit" in r;
}
