import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryBucketStore, RateLimiter, TenantDirectory, isThrottle } from "../../src/admission/index.ts";
import type { Tenant, TenantLimits } from "../../src/admission/index.ts";

function tenant(limits: TenantLimits): Tenant {
  return TenantDirectory.parse(JSON.stringify({ tenants: [{ name: "t", keys: [], limits }] })).tenants[0]!;
}

test("admission - under a burst, requests per minute hold to within one bucket refill", () => {
  const limiter = new RateLimiter(new MemoryBucketStore());
  const t = tenant({ requestsPerMinute: 60 }); // 1 per second refill
  let admitted = 0;
  let lastThrottle = null as null | { limit: string; retryAfterMs: number };
  // 1000 requests over 2 s: the bucket's 60 plus at most the 2 s of refill (2 requests).
  for (let i = 0; i < 1000; i++) {
    const r = limiter.admit(t, { inputTokens: 1, maxOutputTokens: 1 }, i * 2);
    if (isThrottle(r)) lastThrottle = r;
    else {
      admitted++;
      r.end(1, i * 2);
    }
  }
  assert.ok(admitted >= 60 && admitted <= 62, `admitted ${admitted}`);
  assert.equal(lastThrottle?.limit, "requests");
  assert.ok(lastThrottle!.retryAfterMs > 0 && lastThrottle!.retryAfterMs <= 1000);
});

test("admission - input tokens are taken at admission and output tokens reconciled at the end", () => {
  const limiter = new RateLimiter(new MemoryBucketStore());
  const t = tenant({ inputTokensPerMinute: 1000, outputTokensPerMinute: 600 });
  const a = limiter.admit(t, { inputTokens: 700, maxOutputTokens: 500 }, 0);
  assert.ok(!isThrottle(a));
  // 300 input tokens left: a 400-token prompt waits for the refill (100 tokens at 1000/60 per s = 6 s).
  const b = limiter.admit(t, { inputTokens: 400, maxOutputTokens: 10 }, 0);
  assert.ok(isThrottle(b));
  assert.equal(b.limit, "input_tokens");
  assert.equal(b.retryAfterMs, 6000);
  // 500 output tokens reserved: 100 left, so a request that may generate 200 waits...
  const c = limiter.admit(t, { inputTokens: 10, maxOutputTokens: 200 }, 0);
  assert.ok(isThrottle(c) && c.limit === "output_tokens");
  // ...until the first one ends having generated 20: 480 come back.
  a.end(20, 0);
  assert.equal(limiter.status(t, 0).outputTokens?.remaining, 580);
  const d = limiter.admit(t, { inputTokens: 10, maxOutputTokens: 200 }, 0);
  assert.ok(!isThrottle(d));
  const s = limiter.status(t, 0);
  assert.deepEqual(s.tokens, { limit: 1000, remaining: 290, resetMs: Math.ceil((710 / (1000 / 60)) * 1000) });
  assert.equal(s.requests, undefined);
});

test("admission - concurrent requests are capped, counting other replicas' reports, and a lease ends once", () => {
  const store = new MemoryBucketStore(1000);
  const limiter = new RateLimiter(store);
  const t = tenant({ concurrentRequests: 2 });
  const a = limiter.admit(t, { inputTokens: 1, maxOutputTokens: 1 }, 0);
  assert.ok(!isThrottle(a));
  store.setRemoteInFlight("replica-2", "t", 1, 0);
  const b = limiter.admit(t, { inputTokens: 1, maxOutputTokens: 1 }, 0);
  assert.ok(isThrottle(b) && b.limit === "concurrency");
  // The peer's report expires (it went away without saying so): the slot is ours again.
  const c = limiter.admit(t, { inputTokens: 1, maxOutputTokens: 1 }, 1500);
  assert.ok(!isThrottle(c));
  a.end(1, 1500);
  a.end(1, 1500);
  assert.equal(limiter.numInFlight("t"), 1);
});

test("admission - a request larger than a whole bucket can never pass and says so", () => {
  const limiter = new RateLimiter(new MemoryBucketStore());
  const r = limiter.admit(tenant({ inputTokensPerMinute: 100 }), { inputTokens: 101, maxOutputTokens: 1 }, 0);
  assert.ok(isThrottle(r));
  assert.equal(r.retryAfterMs, Infinity);
});
