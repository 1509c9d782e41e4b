// Admission on the HTTP API: 401 for unknown and revoked keys, 404 for a model the tenant may
// not use, 429 with Retry-After and x-ratelimit-* headers, the queue instead of an immediate
// 503 (priority order, timeout, full, a client that leaves), and the keys file reloaded.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { hashApiKey } from "../../src/admission/index.ts";
import type { EmbeddedServer } from "../../src/cli/index.ts";
import { postRaw, startServer, waitFor } from "../support/http.ts";

const dir = mkdtempSync(join(tmpdir(), "turbine-keys-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function keysFile(name: string, tenants: unknown[]): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ tenants }));
  return path;
}

const auth = (key: string): Record<string, string> => ({ "content-type": "application/json", authorization: `Bearer ${key}` });
const completion = (extra: Record<string, unknown> = {}): string => JSON.stringify({ model: "turbine-byte", prompt: "hi", max_tokens: 2, ...extra });
type ErrorJson = { error: { message: string; type: string; param: string | null; code: string } };

describe("admission over HTTP: keys, models and limits", () => {
  let server: EmbeddedServer;
  let path: string;
  before(async () => {
    path = keysFile("keys.json", [
      { name: "chat", priority: "high", keys: [`sha256:${hashApiKey("sk-chat")}`, { sha256: hashApiKey("sk-revoked"), revoked: true }] },
      { name: "metered", keys: [`sha256:${hashApiKey("sk-metered")}`], limits: { requestsPerMinute: 3 } },
      { name: "other-model", keys: [`sha256:${hashApiKey("sk-other")}`], models: ["some-other-model"] },
    ]);
    server = await startServer({ numWorkers: 1, admission: { apiKeysFile: path } });
  });
  after(() => server?.close());

  test("admission - an unknown, missing or revoked key gets 401 in OpenAI's shape", async () => {
    for (const headers of [auth("sk-nope"), auth("sk-revoked"), { "content-type": "application/json" }]) {
      const r = await postRaw(`${server.url}/v1/completions`, completion(), headers);
      assert.equal(r.status, 401);
      const e = (r.json as ErrorJson).error;
      assert.equal(e.type, "authentication_error");
      assert.equal(e.code, "auth_invalid_api_key");
    }
    const revoked = await postRaw(`${server.url}/v1/completions`, completion(), auth("sk-revoked"));
    assert.match((revoked.json as ErrorJson).error.message, /revoked/);
    assert.equal((await postRaw(`${server.url}/v1/completions`, completion(), auth("sk-chat"))).status, 200);
  });

  test("admission - a model the tenant may not use is a 404, as if it did not exist", async () => {
    const r = await postRaw(`${server.url}/v1/completions`, completion(), auth("sk-other"));
    assert.equal(r.status, 404);
    const e = (r.json as ErrorJson).error;
    assert.equal(e.code, "model_not_found");
    assert.equal(e.param, "model");
    assert.equal(e.type, "invalid_request_error");
  });

  test("admission - over its limit a tenant gets 429 with Retry-After and x-ratelimit headers", async () => {
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof postRaw>> | undefined;
    for (let i = 0; i < 5; i++) {
      last = await postRaw(`${server.url}/v1/completions`, completion(), auth("sk-metered"));
      statuses.push(last.status);
      if (i === 0) {
        assert.equal(last.headers.get("x-ratelimit-limit-requests"), "3");
        assert.equal(last.headers.get("x-ratelimit-remaining-requests"), "2");
        assert.match(last.headers.get("x-ratelimit-reset-requests") ?? "", /^\d+(\.\d+)?(ms|s)$/);
      }
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    assert.equal(last!.headers.get("retry-after"), "20"); // one request refills in 60/3 s
    assert.equal(last!.headers.get("x-ratelimit-remaining-requests"), "0");
    const e = (last!.json as ErrorJson).error;
    assert.equal(e.type, "rate_limit_error");
    assert.equal(e.code, "rate_limit_exceeded");
    const text = await (await fetch(`${server.url}/metrics`, { headers: auth("sk-chat") })).text();
    assert.match(text, /turbine_tenant_throttled_total\{tenant="metered",limit="requests"\} 2/);
    assert.match(text, /turbine_tenant_requests_total\{tenant="metered",class="normal",status="429"\} 2/);
  });

  test("admission - a priority outside the schema is a 400 naming the field or header", async () => {
    const body = await postRaw(`${server.url}/v1/completions`, completion({ turbine: { priority: "urgent" } }), auth("sk-chat"));
    assert.equal(body.status, 400);
    assert.equal((body.json as ErrorJson).error.param, "turbine.priority");
    const header = await postRaw(`${server.url}/v1/completions`, completion(), { ...auth("sk-chat"), "x-turbine-priority": "urgent" });
    assert.equal(header.status, 400);
    assert.equal((header.json as ErrorJson).error.param, "x-turbine-priority");
  });

  test("admission - the keys file is reloaded when it changes: a new key works, a removed one stops", async () => {
    writeFileSync(path, JSON.stringify({ tenants: [{ name: "chat", keys: [`sha256:${hashApiKey("sk-new")}`] }] }));
    const end = Date.now() + 8000;
    let status = 0;
    while (Date.now() < end && status !== 200) {
      status = (await postRaw(`${server.url}/v1/completions`, completion(), auth("sk-new"))).status;
      if (status !== 200) await sleep(100);
    }
    assert.equal(status, 200);
    assert.equal((await postRaw(`${server.url}/v1/completions`, completion(), auth("sk-chat"))).status, 401);
    // A broken version is ignored: the last good one stays in force.
    writeFileSync(path, "{ not json");
    await sleep(2500);
    assert.equal((await postRaw(`${server.url}/v1/completions`, completion(), auth("sk-new"))).status, 200);
  });
});

/** A prompt that alone puts the one worker over its busy threshold (13 blocks of 16 tokens > 10% of 64). */
const saturating = "y".repeat(200);

async function startSaturable(queue: { size?: number; timeoutMs?: number; quantumTokens?: number }, keys: string): Promise<EmbeddedServer> {
  return startServer({
    numWorkers: 1,
    router: { policy: "kv", maxActiveDecodeBlocks: 0.1 },
    mocker: { speedup: 1, numKvBlocks: 64 },
    admission: { apiKeysFile: keys, queue },
  });
}

/** Starts a long streaming request that holds the worker until `ctrl` aborts it; resolves once it streams. */
async function holdWorker(url: string, key: string, ctrl: AbortController): Promise<void> {
  const res = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: auth(key),
    body: JSON.stringify({ model: "turbine-byte", prompt: saturating, max_tokens: 2000, ignore_eos: true, stream: true }),
    signal: ctrl.signal,
  });
  assert.equal(res.status, 200);
  await res.body!.getReader().read();
}

describe("admission over HTTP: the queue", () => {
  let keys: string;
  before(() => {
    keys = keysFile("queue-keys.json", [
      { name: "gold", priority: "high", keys: [`sha256:${hashApiKey("sk-gold")}`] },
      { name: "bronze", priority: "normal", keys: [`sha256:${hashApiKey("sk-bronze")}`] },
    ]);
  });

  test("admission - with every worker busy requests wait and are served by priority class, a request asking for less goes last", async () => {
    const server = await startSaturable({ size: 16, timeoutMs: 20_000 }, keys);
    const ctrl = new AbortController();
    try {
      await holdWorker(server.url, "sk-bronze", ctrl);
      const order: string[] = [];
      const send = (name: string, key: string, extra: Record<string, string> = {}, body: Record<string, unknown> = {}) =>
        postRaw(`${server.url}/v1/completions`, JSON.stringify({ model: "turbine-byte", prompt: saturating, max_tokens: 3, ...body }), { ...auth(key), ...extra }).then((r) => {
          assert.equal(r.status, 200, name);
          order.push(name);
        });
      const done: Promise<void>[] = [];
      done.push(send("bronze-1", "sk-bronze"));
      done.push(send("gold-low", "sk-gold", { "x-turbine-priority": "low" }));
      done.push(send("bronze-2", "sk-bronze", { "x-turbine-priority": "high" })); // above its allowance: stays normal
      done.push(send("gold", "sk-gold", {}, { turbine: { priority: "high" } }));
      await waitFor(() => server.frontend.admissionQueueLength("turbine-byte") === 4, 5000, "four requests to queue");
      ctrl.abort();
      await Promise.all(done);
      assert.deepEqual(order, ["gold", "bronze-1", "bronze-2", "gold-low"]);
      const text = await (await fetch(`${server.url}/metrics`, { headers: auth("sk-gold") })).text();
      assert.match(text, /turbine_tenant_queued_total\{tenant="gold",class="high"\} 1/);
      assert.match(text, /turbine_admission_queue_wait_seconds_count\{tenant="gold",class="low"\} 1/);
    } finally {
      ctrl.abort();
      await server.close();
    }
  });

  test("admission - under saturation a light tenant gets its weight's share of what is served while a heavy one sends 4x the requests", async () => {
    const fairKeys = keysFile("fair-keys.json", [
      { name: "heavy", weight: 1, keys: [`sha256:${hashApiKey("sk-heavy")}`] },
      { name: "light", weight: 1, keys: [`sha256:${hashApiKey("sk-light")}`] },
    ]);
    // A quantum below one request's tokens: turns alternate request by request.
    const server = await startSaturable({ size: 64, timeoutMs: 60_000, quantumTokens: 64 }, fairKeys);
    const ctrl = new AbortController();
    try {
      await holdWorker(server.url, "sk-heavy", ctrl);
      const served: string[] = [];
      const send = (tenant: string): Promise<void> =>
        postRaw(`${server.url}/v1/completions`, JSON.stringify({ model: "turbine-byte", prompt: saturating, max_tokens: 3 }), auth(`sk-${tenant}`)).then((r) => {
          assert.equal(r.status, 200);
          served.push(tenant);
        });
      // The heavy tenant queues first and 4x as much; the light one after it.
      const done: Promise<void>[] = [];
      for (let i = 0; i < 40; i++) done.push(send("heavy"));
      await waitFor(() => server.frontend.admissionQueueLength("turbine-byte") === 40, 5000, "the heavy backlog");
      for (let i = 0; i < 10; i++) done.push(send("light"));
      await waitFor(() => server.frontend.admissionQueueLength("turbine-byte") === 50, 5000, "the light requests");
      ctrl.abort();
      await Promise.all(done);
      // While both were backlogged (up to the light tenant's last request), the light tenant had
      // its weight's share of the served tokens (all requests cost the same), within 10%.
      const window = served.slice(0, served.lastIndexOf("light") + 1);
      const share = window.filter((t) => t === "light").length / window.length;
      assert.ok(Math.abs(share - 0.5) <= 0.05, `light's share while both waited: ${share.toFixed(3)} (${served.join(" ")})`);
    } finally {
      ctrl.abort();
      await server.close();
    }
  });

  test("admission - a request that waits too long gets 503 with Retry-After; a full queue answers 503 at once; a client that leaves goes at once", async () => {
    const server = await startSaturable({ size: 1, timeoutMs: 300 }, keys);
    const ctrl = new AbortController();
    try {
      await holdWorker(server.url, "sk-bronze", ctrl);
      const t0 = performance.now();
      const timedOut = await postRaw(`${server.url}/v1/completions`, completion(), auth("sk-bronze"));
      assert.equal(timedOut.status, 503);
      assert.ok(performance.now() - t0 >= 250, "it waited in the queue first");
      assert.equal(timedOut.headers.get("retry-after"), "1");
      assert.equal((timedOut.json as ErrorJson).error.code, "admission_queue_timeout");

      // One waits (and then leaves); the next finds the queue full.
      const leaving = new AbortController();
      const waiting = fetch(`${server.url}/v1/completions`, { method: "POST", headers: auth("sk-bronze"), body: completion(), signal: leaving.signal }).catch((e: Error) => e);
      await waitFor(() => server.frontend.admissionQueueLength("turbine-byte") === 1, 5000, "the first to queue");
      const full = await postRaw(`${server.url}/v1/completions`, completion(), auth("sk-bronze"));
      assert.equal(full.status, 503);
      assert.equal((full.json as ErrorJson).error.code, "admission_queue_full");
      assert.equal(full.headers.get("retry-after"), "1");
      leaving.abort();
      assert.ok((await waiting) instanceof Error);
      await waitFor(() => server.frontend.admissionQueueLength("turbine-byte") === 0, 1000, "the client that left to leave the queue");
      const text = await (await fetch(`${server.url}/metrics`, { headers: auth("sk-bronze") })).text();
      assert.match(text, /turbine_admission_queue_rejected_total\{model="turbine-byte",class="normal",reason="disconnected"\} 1/);
      assert.match(text, /turbine_admission_queue_rejected_total\{model="turbine-byte",class="normal",reason="timeout"\} 1/);
      assert.match(text, /turbine_admission_queue_rejected_total\{model="turbine-byte",class="normal",reason="full"\} 1/);
    } finally {
      ctrl.abort();
      await server.close();
    }
  });
});
