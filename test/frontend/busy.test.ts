import { test } from "node:test";
import assert from "node:assert/strict";
import { postRaw, startServer, waitFor } from "../support/http.ts";
import type { MockerEngine } from "../../src/engines/index.ts";

test("frontend - when every worker is saturated the answer is 503 with Retry-After, and capacity returns", async () => {
  // One worker of 64 blocks, busy above 10% of them: one 200-token request saturates it.
  const server = await startServer({
    numWorkers: 1,
    router: { policy: "kv", maxActiveDecodeBlocks: 0.1, retryAfterSeconds: 2 },
    mocker: { speedup: 1, numKvBlocks: 64 },
    admission: { queue: { size: 0 } }, // no admission queue: shed at once
  });
  try {
    const engine = server.workers[0]!.engine as MockerEngine;
    const ctrl = new AbortController();
    const long = await fetch(`${server.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "turbine-byte", prompt: "y".repeat(200), max_tokens: 500, stream: true }),
      signal: ctrl.signal,
    });
    assert.equal(long.status, 200);
    const reader = long.body!.getReader();
    await reader.read();
    const busy = await postRaw(`${server.url}/v1/completions`, JSON.stringify({ model: "turbine-byte", prompt: "hi", max_tokens: 1 }));
    assert.equal(busy.status, 503);
    assert.equal(busy.headers.get("retry-after"), "2");
    const err = (busy.json as { error: { type: string; code: string } }).error;
    assert.equal(err.type, "service_unavailable");
    assert.equal(err.code, "router_all_busy");
    ctrl.abort();
    await waitFor(() => engine.load().numRunningSeqs === 0, 5000, "the long request to end");
    // The router releases the cancelled request's blocks: the worker takes requests again.
    let ok = 0;
    for (let i = 0; i < 50 && ok === 0; i++) {
      const r = await postRaw(`${server.url}/v1/completions`, JSON.stringify({ model: "turbine-byte", prompt: "hi", max_tokens: 1 }));
      if (r.status === 200) ok++;
      else await new Promise((res) => setTimeout(res, 20));
    }
    assert.equal(ok, 1);
  } finally {
    await server.close();
  }
});
