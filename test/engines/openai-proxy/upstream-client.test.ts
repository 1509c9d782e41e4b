// The upstream client on its own, against a raw node:http server the test controls: text
// decoding across chunk boundaries, backpressure, early end, error answers, connection reuse.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { UpstreamClient } from "../../../src/engines/openai-proxy/index.ts";
import { isTurbineError } from "../../../src/protocols/index.ts";
import { waitFor } from "../../support/http.ts";

async function serve(handler: http.RequestListener): Promise<{ url: string; server: http.Server; sockets: Set<unknown>; close(): Promise<void> }> {
  const server = http.createServer(handler);
  const sockets = new Set<unknown>();
  server.on("connection", (s) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    sockets,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

test("upstream client - text is decoded whole across chunk boundaries, a split character included", async () => {
  const text = "data: héllo wörld ✓ 🚀\n\n".repeat(50);
  const bytes = Buffer.from(text);
  const up = await serve((req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "text/event-stream" });
    // 7-byte pieces cut through the multi-byte characters.
    let i = 0;
    const next = (): void => {
      if (i >= bytes.length) return void res.end();
      res.write(bytes.subarray(i, i + 7));
      i += 7;
      setImmediate(next);
    };
    next();
  });
  const client = new UpstreamClient({ baseUrl: up.url });
  try {
    const stream = client.post("/completions", "{}");
    await stream.ready;
    let got = "";
    for (let t = await stream.read(); t !== null; t = await stream.read()) got += t;
    assert.equal(got, text);
    assert.equal(stream.complete, true);
  } finally {
    client.close();
    await up.close();
  }
});

test("upstream client - a reader that does not read pauses the upstream; reading resumes it", async () => {
  const total = 8 << 20;
  let written = 0;
  let blocked = false;
  const up = await serve((req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "text/event-stream" });
    const piece = Buffer.alloc(64 << 10, 120);
    const pump = (): void => {
      while (written < total) {
        written += piece.length;
        if (!res.write(piece)) {
          blocked = true;
          res.once("drain", pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  const client = new UpstreamClient({ baseUrl: up.url });
  try {
    const stream = client.post("/completions", "{}");
    await stream.ready;
    await waitFor(() => blocked, 5000, "the upstream to be blocked by backpressure");
    await new Promise((r) => setTimeout(r, 200));
    // Paused at ~1 MiB unread, plus what the kernel's socket buffers hold: far from all 8 MiB.
    assert.ok(written < total, `the upstream kept writing: ${written} of ${total} bytes`);
    let got = 0;
    for (let t = await stream.read(); t !== null; t = await stream.read()) got += t.length;
    assert.equal(got, total);
  } finally {
    client.close();
    await up.close();
  }
});

test("upstream client - destroy ends the request at the upstream, before and after its answer", async () => {
  let closed = 0;
  const up = await serve((req, res) => {
    req.resume();
    res.on("close", () => closed++);
    if (req.url?.endsWith("/slow")) return; // never answers
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write("data: {}\n\n"); // and never ends
  });
  const client = new UpstreamClient({ baseUrl: up.url });
  try {
    const before = client.post("/slow", "{}");
    await waitFor(() => up.sockets.size === 1, 5000, "the request to reach the upstream");
    before.destroy();
    await assert.rejects(before.ready, (e: unknown) => isTurbineError(e) && e.code === "RUNTIME_CANCELLED");
    await waitFor(() => closed === 1, 5000, "the upstream to see the first request end");

    const after = client.post("/fast", "{}");
    await after.ready;
    assert.equal(await after.read(), "data: {}\n\n");
    after.destroy();
    await assert.rejects(after.read(), (e: unknown) => isTurbineError(e) && e.code === "RUNTIME_CANCELLED");
    await waitFor(() => closed === 2, 5000, "the upstream to see the second request end");
  } finally {
    client.close();
    await up.close();
  }
});

test("upstream client - error answers are mapped before any token; a refused connection is a lost worker", async () => {
  const up = await serve((req, res) => {
    req.resume();
    res.writeHead(429, { "content-type": "application/json", "retry-after": "7" });
    res.end(JSON.stringify({ error: { message: "slow down" } }));
  });
  const client = new UpstreamClient({ baseUrl: `${up.url}/v1` });
  try {
    const stream = client.post("/completions", "{}");
    await assert.rejects(stream.ready, (e: unknown) => {
      assert.ok(isTurbineError(e));
      assert.equal(e.code, "ENGINE_OVERLOADED");
      assert.equal(e.retryAfterSeconds, 7);
      assert.match(e.message, /slow down/);
      return true;
    });
  } finally {
    client.close();
    await up.close();
  }
  const dead = new UpstreamClient({ baseUrl: up.url });
  try {
    await assert.rejects(dead.post("/completions", "{}").ready, (e: unknown) => isTurbineError(e) && e.code === "RUNTIME_CONNECTION_LOST");
  } finally {
    dead.close();
  }
});

test("upstream client - a detached answer is drained, not paused on, and its connection is reused", async () => {
  const up = await serve((req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write("data: [DONE]\n\n");
    // More than the pause threshold after [DONE], a little later.
    setTimeout(() => res.end(Buffer.alloc(3 << 20, 32)), 20);
  });
  const client = new UpstreamClient({ baseUrl: up.url, maxSockets: 4 });
  try {
    for (let i = 0; i < 3; i++) {
      const stream = client.post("/completions", "{}");
      await stream.ready;
      assert.equal(await stream.read(), "data: [DONE]\n\n");
      stream.detach();
      await waitFor(() => stream.complete, 5000, "the rest of the answer to be drained");
    }
    assert.equal(up.sockets.size, 1, "one connection served the three requests");
  } finally {
    client.close();
    await up.close();
  }
});
