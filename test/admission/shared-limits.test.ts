// Limits shared by frontend replicas through a real nats-server: a tenant gets through at
// its limit, not once per replica; a replica that loses NATS keeps limiting on its own.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { RateLimiter, TenantDirectory, isThrottle } from "../../src/admission/index.ts";
import type { Tenant } from "../../src/admission/index.ts";
import { SharedBucketStore } from "../../src/frontend/index.ts";
import { NatsEventPlane, connectNats } from "../../src/runtime/index.ts";
import { eventually, startNats } from "../support/services.ts";

const tenantWith = (name: string, limits: Record<string, number>): Tenant =>
  TenantDirectory.parse(JSON.stringify({ tenants: [{ name, keys: [], limits }] })).tenants[0]!;

test("admission - two replicas sharing buckets through NATS let a tenant through at its limit, not twice it; without NATS each keeps limiting", async () => {
  const nats = await startNats();
  const [ncA, ncB] = await Promise.all([connectNats(nats.url), connectNats(nats.url)]);
  const storeA = new SharedBucketStore(new NatsEventPlane(ncA), { heartbeatMs: 100 });
  const storeB = new SharedBucketStore(new NatsEventPlane(ncB), { heartbeatMs: 100 });
  try {
    await eventually(() => storeA.mode === "shared" && storeB.mode === "shared", 5000, "both stores to hear their heartbeats");
    const a = new RateLimiter(storeA);
    const b = new RateLimiter(storeB);
    // 60 requests per minute (one per second refill); 300 requests alternate between the
    // replicas over about 1.5 s: at most the bucket plus the refill of that time, plus what
    // crosses on the wire in one round trip, may pass.
    const t = tenantWith("shared", { requestsPerMinute: 60 });
    let admitted = 0;
    const start = performance.now();
    for (let i = 0; i < 300; i++) {
      const limiter = i % 2 === 0 ? a : b;
      const r = limiter.admit(t, { inputTokens: 10, maxOutputTokens: 10 }, performance.now());
      if (!isThrottle(r)) {
        admitted++;
        r.end(10, performance.now());
      }
      await sleep(5);
    }
    const seconds = (performance.now() - start) / 1000;
    assert.ok(storeA.numRemoteDebits > 0 && storeB.numRemoteDebits > 0, "debits crossed between the replicas");
    assert.ok(admitted >= 60, `admitted ${admitted}`);
    assert.ok(admitted <= 60 + Math.ceil(seconds) + 4, `admitted ${admitted} in ${seconds.toFixed(1)} s: more than the shared limit`);

    // Concurrency is shared too: a slot held on A counts on B.
    const c = tenantWith("conc", { concurrentRequests: 1 });
    const held = a.admit(c, { inputTokens: 1, maxOutputTokens: 1 }, performance.now());
    assert.ok(!isThrottle(held));
    await eventually(() => storeB.remoteInFlight("conc", performance.now()) === 1, 5000, "B to hear A's in-flight count");
    const refused = b.admit(c, { inputTokens: 1, maxOutputTokens: 1 }, performance.now());
    assert.ok(isThrottle(refused) && refused.limit === "concurrency");
    held.end(1, performance.now());
    await eventually(() => storeB.remoteInFlight("conc", performance.now()) === 0, 5000, "B to hear the slot freed");

    // NATS goes away: each replica notices and keeps limiting with its own copy.
    await nats.stop();
    await eventually(() => storeA.mode === "local" && storeB.mode === "local", 5000, "the stores to notice NATS is gone");
    const fresh = tenantWith("partitioned", { requestsPerMinute: 30 });
    let localAdmitted = 0;
    for (let i = 0; i < 100; i++) {
      const r = a.admit(fresh, { inputTokens: 1, maxOutputTokens: 1 }, performance.now());
      if (!isThrottle(r)) {
        localAdmitted++;
        r.end(1, performance.now());
      }
    }
    assert.ok(localAdmitted >= 30 && localAdmitted <= 31, `a replica without NATS admitted ${localAdmitted} of a 30/min limit`);
  } finally {
    storeA.close();
    storeB.close();
    await Promise.all([ncA.close(), ncB.close()]).catch(() => undefined);
    await nats.stop();
  }
});
