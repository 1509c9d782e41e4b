// Two frontends in front of one fleet, sharing rate limits through a real nats-server: a
// tenant gets through at its limit over both, not twice it; and with NATS gone each frontend
// keeps limiting on its own, never without limits.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashApiKey } from "../../src/admission/index.ts";
import { MockerEngine, Worker } from "../../src/engines/index.ts";
import { Frontend } from "../../src/frontend/index.ts";
import { LocalRequestPlane, MemoryDiscovery, NatsEventPlane, Runtime, connectNats } from "../../src/runtime/index.ts";
import { postRaw } from "../support/http.ts";
import { eventually, startNats } from "../support/services.ts";

test("admission - two frontends sharing limits through NATS let a tenant through at its limit; without NATS each still limits", async () => {
  const dir = mkdtempSync(join(tmpdir(), "turbine-shared-"));
  const keys = join(dir, "keys.json");
  writeFileSync(keys, JSON.stringify({ tenants: [{ name: "t", keys: [`sha256:${hashApiKey("sk-t")}`], limits: { requestsPerMinute: 10 } }] }));
  const nats = await startNats();
  const nc = await connectNats(nats.url);
  // One fleet (in-process discovery and requests), events on NATS: the frontends' bucket
  // stores talk through the real server.
  const runtime = new Runtime({ discovery: new MemoryDiscovery(), requests: new LocalRequestPlane(), events: new NatsEventPlane(nc) });
  const worker = await Worker.start({ runtime, namespace: "t", engine: new MockerEngine({ speedup: 1000, card: { name: "m" } }) });
  const start = () => Frontend.start({ runtime, namespace: "t", host: "127.0.0.1", port: 0, processMetrics: false, admission: { apiKeysFile: keys, sharedLimits: true, sharedLimitsHeartbeatMs: 100 } });
  const [a, b] = [await start(), await start()];
  const headers = { "content-type": "application/json", authorization: "Bearer sk-t" };
  const body = JSON.stringify({ model: "m", prompt: "hi", max_tokens: 1 });
  const metric = async (fe: Frontend, name: string): Promise<number> => {
    const text = await (await fetch(`${fe.url}/metrics`, { headers })).text();
    return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
  };
  try {
    await eventually(async () => (await metric(a, "turbine_admission_shared_limits")) === 1 && (await metric(b, "turbine_admission_shared_limits")) === 1, 5000, "limits to be shared");
    await eventually(() => a.models.models().length > 0 && b.models.models().length > 0, 5000, "both frontends to see the model");
    let ok = 0;
    for (let i = 0; i < 30; i++) {
      const r = await postRaw(`${(i % 2 === 0 ? a : b).url}/v1/completions`, body, headers);
      if (r.status === 200) ok++;
      else assert.equal(r.status, 429);
    }
    // The bucket holds 10 and refills one every 6 s: 10 (11 if the run crosses a refill).
    assert.ok(ok >= 10 && ok <= 11, `${ok} requests passed over two frontends with a limit of 10 per minute`);

    await nats.stop();
    await eventually(async () => (await metric(a, "turbine_admission_shared_limits")) === 0, 5000, "frontend A to notice NATS is gone");
    const refused = await postRaw(`${a.url}/v1/completions`, body, headers);
    assert.equal(refused.status, 429, "a frontend without NATS still limits");
  } finally {
    await a.close();
    await b.close();
    await worker.stop();
    await runtime.close().catch(() => undefined);
    await nc.close().catch(() => undefined);
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
