import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { pino } from "pino";
import { startServer, waitFor } from "../support/http.ts";

const MODEL = "turbine-byte";

/** Collects a pino logger's JSON lines. */
function captureLogs(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString("utf8").split("\n")) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: "info" }, sink), lines };
}

test("frontend - two concurrent requests with the same x-request-id both succeed, and the router's load accounting stays right", async () => {
  // Real time (speedup 1): both requests are generating at once on the one worker.
  const server = await startServer({ numWorkers: 1, mocker: { speedup: 1 } });
  try {
    const pipeline = server.frontend.models.get(MODEL)!;
    const router = pipeline.router;
    const workerId = router.workerIds()[0]!;
    const send = (): Promise<Response> =>
      fetch(`${server.url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-request-id": "client-chosen-id" },
        body: JSON.stringify({ model: MODEL, prompt: "x".repeat(64), max_tokens: 40, stream: true, ignore_eos: true }),
      });
    const [a, b] = await Promise.all([send(), send()]);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.equal(a.headers.get("x-request-id"), "client-chosen-id", "the client's id is echoed");
    assert.equal(b.headers.get("x-request-id"), "client-chosen-id");
    const readers = [a.body!.getReader(), b.body!.getReader()];
    const texts = ["", ""];
    const decoder = new TextDecoder();
    for (let i = 0; i < 2; i++) texts[i] += decoder.decode((await readers[i]!.read()).value);
    // Both are booked on the worker, separately.
    assert.equal(router.numActiveRequests, 2, "two requests in flight in the router");
    assert.equal(router.workerLoad(workerId)!.numActiveRequests, 2);
    for (let i = 0; i < 2; i++) {
      for (;;) {
        const r = await readers[i]!.read();
        if (r.done) break;
        texts[i] += decoder.decode(r.value);
      }
    }
    const ids = texts.map((t) => {
      assert.ok(t.includes("data: [DONE]"), "the stream completed");
      assert.ok(!t.includes('"error"'), `no error in the stream: ${t.slice(0, 300)}`);
      const m = /"id":"(cmpl-[^"]+)"/.exec(t);
      assert.ok(m);
      return m[1];
    });
    assert.notEqual(ids[0], ids[1], "each response has its own server-side id");
    assert.ok(!ids[0]!.includes("client-chosen-id"), "the internal id is never the client's");
    await waitFor(() => router.numActiveRequests === 0, 5000, "the router to release both requests");
    // The worker's metrics correction is held until its next snapshot: wait for that one.
    const idle = (): boolean => {
      const l = router.workerLoad(workerId)!;
      return l.numActiveRequests === 0 && l.activeDecodeBlocks === 0 && l.activePrefillTokens === 0;
    };
    await waitFor(idle, 5000, "the worker's next load snapshot");
    const load = router.workerLoad(workerId)!;
    assert.equal(load.numActiveRequests, 0);
    assert.equal(load.activeDecodeBlocks, 0);
    assert.equal(load.activePrefillTokens, 0);
  } finally {
    await server.close();
  }
});

test("frontend - the client's x-request-id is echoed and logged beside the server's own id, never used as it", async () => {
  const { logger, lines } = captureLogs();
  const server = await startServer({ numWorkers: 1, logger });
  try {
    const plain = await fetch(`${server.url}/v1/models`);
    assert.match(plain.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/, "without one, the server's id is sent");
    const junk = await fetch(`${server.url}/v1/models`, { headers: { "x-request-id": "bad id with spaces" } });
    assert.match(junk.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/, "an id that is not a token is not echoed");
    // An engine failure is logged per request (an unexpected 500): the line names both ids.
    await server.workers[0]!.engine.close();
    const r = await fetch(`${server.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "trace-me-42" },
      body: JSON.stringify({ model: MODEL, prompt: "hi", max_tokens: 2 }),
    });
    assert.equal(r.status, 500);
    assert.equal(r.headers.get("x-request-id"), "trace-me-42");
    const failed = lines.find((l) => l["msg"] === "request failed");
    assert.ok(failed, `an error line was logged: ${JSON.stringify(lines)}`);
    assert.equal(failed["clientRequestId"], "trace-me-42");
    assert.match(String(failed["reqId"]), /^[0-9a-f-]{36}$/);
  } finally {
    await server.close();
  }
});
