// An upstream that dies mid-stream: the proxy worker reports the lost connection, and the
// frontend migrates the request to another upstream; the client sees one stream, no error.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { postRaw, startServer } from "../../support/http.ts";
import { startProxyFleet } from "./fixtures.ts";

test("openai-proxy - a request whose upstream dies mid-stream is migrated to another upstream", async () => {
  const upstreams = [await startServer({ numWorkers: 1, mocker: { speedup: 20 } }), await startServer({ numWorkers: 1, mocker: { speedup: 20 } })];
  const fleet = await startProxyFleet(upstreams.map((u) => ({ upstream: u.url })), { policy: "round-robin" });
  try {
    const body = { model: "turbine-byte", prompt: "migrate me through the proxy", max_tokens: 100, seed: 5 };
    const reference = ((await (await fetch(`${upstreams[0]!.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })).json()) as { choices: { text: string }[] }).choices[0]!.text;
    const res = await fetch(`${fleet.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
    });
    const served = fleet.workers.findIndex((w) => w.workerId === res.headers.get("x-turbine-worker"));
    assert.ok(served >= 0);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let raw = "";
    let killedAt = -1;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      raw += value;
      if (killedAt < 0 && (raw.match(/"text":"[^"]/g) ?? []).length >= 10) {
        killedAt = raw.length;
        void upstreams[served]!.close();
      }
    }
    assert.ok(killedAt > 0, "the upstream was closed mid-stream");
    const events = raw.split("\n\n").filter((e) => e.startsWith("data: {")).map((e) => JSON.parse(e.slice(6)) as Record<string, unknown>);
    assert.ok(!events.some((e) => "error" in e), "no error reached the client");
    const text = events.map((e) => ((e["choices"] as { text: string }[])[0]?.text ?? "")).join("");
    // Tokens before the failure are the upstream's own; the rest come from the other upstream
    // (which sees them as prompt: the OpenAI API cannot say they were output).
    assert.ok(text.startsWith(reference.slice(0, 10)), "the first tokens are the dead upstream's");
    const usage = events.at(-1)!["usage"] as { completion_tokens: number };
    assert.equal(usage.completion_tokens, 100, "one stream, max_tokens in all");
    assert.ok(raw.endsWith("data: [DONE]\n\n"));
    const metrics = await (await fetch(`${fleet.url}/metrics`)).text();
    assert.match(metrics, /turbine_request_migrations_total\{model="turbine-byte"\} 1/);
  } finally {
    await fleet.close();
    await Promise.all(upstreams.map((u) => u.close()));
  }
});

test("openai-proxy - a request to an upstream that hangs fails over after the stall timeout", async () => {
  // Accepts the request, sends the stream's headers and one token, then says nothing more.
  const hung = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write(`data: ${JSON.stringify({ choices: [{ index: 0, text: "x", finish_reason: null }] })}\n\n`);
  });
  await new Promise<void>((r) => hung.listen(0, "127.0.0.1", r));
  const healthy = await startServer({ numWorkers: 1, mocker: { speedup: 20 } });
  const fleet = await startProxyFleet([{ upstream: `http://127.0.0.1:${(hung.address() as AddressInfo).port}`, stallTimeoutMs: 300 }, { upstream: healthy.url }], { policy: "round-robin" });
  try {
    const started = performance.now();
    // Pinned to the hung upstream's worker; the pin cannot hold once that worker failed.
    const r = await postRaw(
      `${fleet.url}/v1/completions`,
      JSON.stringify({ model: "turbine-byte", prompt: "are you there?", max_tokens: 8, turbine: { worker_id: fleet.workers[0]!.workerId } }),
    );
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const body = r.json as { choices: { text: string }[]; usage: { completion_tokens: number } };
    assert.ok(body.choices[0]!.text.startsWith("x"), "the hung upstream's one token came first");
    assert.equal(body.usage.completion_tokens, 8);
    assert.ok(performance.now() - started >= 300, "it waited the stall timeout out");
    const metrics = await (await fetch(`${fleet.url}/metrics`)).text();
    assert.match(metrics, /turbine_request_migrations_total\{model="turbine-byte"\} 1/);
  } finally {
    await fleet.close();
    await healthy.close();
    hung.closeAllConnections();
    await new Promise((r) => hung.close(r));
  }
});
