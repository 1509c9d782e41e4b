// Overload with default flags: the busy thresholds derived from the workers' capacity (their
// model cards) shed load. 10x more clients than the fleet's batch slots, for a bounded time:
// only 200 and 503 + Retry-After, a bounded number of requests waiting on the workers, and a
// fleet that serves again within seconds once the burst ends.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { MockerEngine } from "../../src/engines/index.ts";
import { startServer } from "../support/http.ts";

const NUM_WORKERS = 2;
const MAX_NUM_SEQS = 4;
const CLIENTS = 10 * NUM_WORKERS * MAX_NUM_SEQS;
const BURST_MS = 2500;

test("frontend - with default flags a 10x overload is shed: only 200/503 with Retry-After, bounded waiting, quick recovery", async () => {
  // No router options at all: the defaults must shed.
  // Without the admission queue (it would turn these 503s into waits): the router's shedding alone.
  const server = await startServer({ numWorkers: NUM_WORKERS, mocker: { speedup: 1, maxNumSeqs: MAX_NUM_SEQS }, admission: { queue: { size: 0 } } });
  try {
    const engines = server.workers.map((w) => w.engine as MockerEngine);
    const body = JSON.stringify({ model: "turbine-byte", prompt: "overload ".repeat(8), max_tokens: 24, ignore_eos: true });
    const statuses = new Map<number, number>();
    let missingRetryAfter = 0;
    let maxWaitingOnWorker = 0;
    const end = Date.now() + BURST_MS;
    const sampler = setInterval(() => {
      for (const e of engines) {
        const l = e.load();
        maxWaitingOnWorker = Math.max(maxWaitingOnWorker, l.numRunningSeqs + l.numWaitingSeqs);
      }
    }, 10);
    const client = async (): Promise<void> => {
      // Bounded: the burst's duration, and at most 200 requests per client.
      for (let i = 0; i < 200 && Date.now() < end; i++) {
        const res = await fetch(`${server.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 503) {
          if (!(Number(res.headers.get("retry-after")) > 0)) missingRetryAfter++;
          await new Promise((r) => setTimeout(r, 20)); // a client that backs off a little
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: CLIENTS }, client));
    } finally {
      clearInterval(sampler);
    }
    const summary = JSON.stringify(Object.fromEntries(statuses));
    assert.deepEqual([...statuses.keys()].filter((s) => s !== 200 && s !== 503), [], `statuses ${summary}`);
    assert.ok((statuses.get(503) ?? 0) > 0, `the overload was shed: ${summary}`);
    assert.ok((statuses.get(200) ?? 0) > 0, `the fleet kept serving: ${summary}`);
    assert.equal(missingRetryAfter, 0, "every 503 says when to retry");
    // Default bound: 2 · maxNumSeqs per worker (a batch running, one waiting), not all clients.
    assert.ok(maxWaitingOnWorker <= 2 * MAX_NUM_SEQS, `at most ${2 * MAX_NUM_SEQS} on a worker, saw ${maxWaitingOnWorker}`);
    // Recovery: once the burst is over, a request is served within a few seconds.
    const recoverBy = Date.now() + 5000;
    let recovered = false;
    while (!recovered && Date.now() < recoverBy) {
      const res = await fetch(`${server.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body });
      await res.arrayBuffer();
      if (res.status === 200) recovered = true;
      else await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(recovered, "served again within 5 s of the burst");
  } finally {
    await server.close();
  }
});
