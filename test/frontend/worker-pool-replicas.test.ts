// A frontend's worker pool and its router replicas: another replica's bookings count here, its
// heartbeats keep them, and when it falls silent (it crashed, its `finished` messages will never
// come) its bookings are released.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FrontendMetrics, WorkerPool } from "../../src/frontend/index.ts";
import { asRequestId, asWorkerId } from "../../src/protocols/index.ts";
import type { EngineOutput, KvBlockSetDump, ModelCard, PreprocessedRequest, RouterSyncMessage } from "../../src/protocols/index.ts";
import type { EndpointClient } from "../../src/runtime/index.ts";

const card: ModelCard = { name: "m", tokenizer: { kind: "byte" }, contextLength: 4096, kvBlockSize: 16, numKvBlocks: 100, role: "aggregated", eosTokenIds: [] };
const worker = asWorkerId("w1");

function makePool(published: Omit<RouterSyncMessage, "replicaId">[]): WorkerPool {
  // Only the dump client is used here (the resync of an added worker).
  const dump = { collect: (workerId: string) => Promise.resolve([{ workerId, lastEventId: -1, events: [] }]) } as unknown as EndpointClient<unknown, KvBlockSetDump>;
  const generate = {} as EndpointClient<PreprocessedRequest, EngineOutput>;
  return new WorkerPool({
    card,
    generate,
    dump,
    router: {},
    metrics: new FrontendMetrics(),
    publishSync: (m) => published.push(m),
    replicaHeartbeatMs: 20,
    replicaTimeoutMs: 10_000,
  });
}

test("frontend worker pool - a replica that falls silent loses its bookings; heartbeats keep a live one's", async () => {
  const published: Omit<RouterSyncMessage, "replicaId">[] = [];
  const pool = makePool(published);
  try {
    pool.addWorker(worker, card);
    const routed = (replicaId: string, id: string): RouterSyncMessage => ({ replicaId, model: "m", kind: "routed", requestId: asRequestId(id), workerId: worker, prefillTokens: 64, blocks: 4 });
    const t0 = Date.now();
    pool.applySync(routed("crashed", "a1"), t0);
    pool.applySync(routed("crashed", "a2"), t0);
    pool.applySync(routed("alive", "b1"), t0);
    assert.equal(pool.router.workerLoad(worker)!.numActiveRequests, 3);
    pool.applySync({ replicaId: "alive", model: "m", kind: "heartbeat", requestId: asRequestId("") }, t0 + 4_000);
    assert.equal(pool.dropSilentReplicas(t0 + 5_000), 0, "both heard from within the timeout");
    // 11 s on: "crashed" said nothing since; "alive" sent a heartbeat meanwhile.
    pool.applySync({ replicaId: "alive", model: "m", kind: "heartbeat", requestId: asRequestId("") }, t0 + 10_000);
    assert.equal(pool.dropSilentReplicas(t0 + 11_000), 2);
    assert.equal(pool.router.workerLoad(worker)!.numActiveRequests, 1, "the live replica's booking stays");
    // And this pool says it is alive too.
    await new Promise((r) => setTimeout(r, 60));
    assert.ok(published.some((m) => m.kind === "heartbeat" && m.model === "m"));
  } finally {
    pool.close();
  }
});

test("frontend worker pool - a lone replica publishes no request messages; once another is heard from, it does", () => {
  const published: Omit<RouterSyncMessage, "replicaId">[] = [];
  const pool = makePool(published);
  try {
    pool.addWorker(worker, card);
    assert.deepEqual(published.map((m) => m.kind), ["heartbeat"], "its first heartbeat goes out at once");
    const request = (id: string): PreprocessedRequest => ({ requestId: asRequestId(id), model: "m", tokenIds: Array.from({ length: 40 }, (_, i) => i), sampling: {}, stop: { maxTokens: 4, stopTokenIds: [], ignoreEos: false } });
    const alone = request("r1");
    pool.route(alone);
    pool.markFinished(alone);
    assert.deepEqual(published.map((m) => m.kind), ["heartbeat"], "nobody to tell");
    pool.applySync({ replicaId: "other", model: "m", kind: "heartbeat", requestId: asRequestId("") });
    // A new replica is answered at once: its own first heartbeat may have gone out before this
    // one listened, and it must not wait a heartbeat period to learn of this one.
    assert.deepEqual(published.map((m) => m.kind), ["heartbeat", "heartbeat"], "a new replica is answered at once");
    pool.applySync({ replicaId: "other", model: "m", kind: "heartbeat", requestId: asRequestId("") });
    assert.equal(published.length, 2, "a known replica is not answered");
    const shared = request("r2");
    pool.route(shared);
    pool.markFinished(shared);
    assert.deepEqual(published.map((m) => m.kind), ["heartbeat", "heartbeat", "routed", "finished"]);
    assert.equal(published[2]!.requestId, "r2");
    // The other replica falls silent: this one stops telling it.
    assert.equal(pool.dropSilentReplicas(Date.now() + 11_000), 0);
    pool.route(request("r3"));
    assert.equal(published.length, 4);
  } finally {
    pool.close();
  }
});
