// A worker's /metrics carries its KVBM per tier (a mocker with simulated G2).
import { test } from "node:test";
import assert from "node:assert/strict";
import { MockerEngine } from "../../src/engines/index.ts";
import type { Worker } from "../../src/engines/index.ts";
import { asRequestId } from "../../src/protocols/index.ts";
import { startWorkerStatusServer } from "../../src/cli/index.ts";

test("kvbm metrics - the worker's /metrics reports bytes, blocks, offloads and onboards per tier", async (t) => {
  const engine = new MockerEngine({ speedup: 1000, card: { numKvBlocks: 40, kvBlockSize: 16 }, kvbm: { hostBytes: 1 << 30 } });
  t.after(() => engine.close());
  const run = async (id: string, salt: number): Promise<void> => {
    const tokenIds = Array.from({ length: 480 }, (_, i) => 1 + ((i * 31 + salt * 1009) % 5000));
    const request = { requestId: asRequestId(id), model: "m", tokenIds, sampling: {}, stop: { maxTokens: 2, stopTokenIds: [], ignoreEos: true } };
    for await (const _ of engine.generate(request, { signal: new AbortController().signal })) void _;
  };
  await run("a", 1);
  await run("b", 2); // evicts a from G1
  await run("a2", 1); // a comes back from G2
  const worker = { workerId: "w-1", engine, numInFlight: 0, kvTransferCounters: { imports: 0, failures: 0, exports: 0 }, kvImportCounts: () => new Map(), kvImportFallbackCounts: () => new Map() } as unknown as Worker;
  const server = await startWorkerStatusServer(worker, "127.0.0.1", 0);
  t.after(() => server.close());
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const value = (name: string, tier: string): number => {
    const m = new RegExp(`^${name}\\{[^}]*tier="${tier}"[^}]*\\} (\\S+)$`, "m").exec(text);
    assert.ok(m !== null, `${name}{tier="${tier}"} in /metrics`);
    return Number(m[1]);
  };
  assert.ok(value("turbine_worker_kvbm_bytes", "host") > 0);
  assert.ok(value("turbine_worker_kvbm_blocks", "host") >= 60);
  assert.ok(value("turbine_worker_kvbm_offloads_total", "host") >= 60);
  assert.ok(value("turbine_worker_kvbm_onboards_total", "host") > 0);
  assert.equal(value("turbine_worker_kvbm_hits_total", "host"), 1);
  assert.match(text, /turbine_worker_kvbm_onboard_seconds_count\{[^}]*\} 1/);
});
