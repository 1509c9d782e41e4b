// A worker that goes away mid-stream: its requests are migrated to another worker and the
// client sees one stream, no error, no token repeated or lost.
import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startServer } from "../support/http.ts";

test("frontend - a request whose worker stops mid-stream is migrated without a visible error", async () => {
  const server = await startServer({ numWorkers: 2, router: { policy: "round-robin" }, mocker: { speedup: 20 } });
  try {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
    const body = { model: "turbine-byte", prompt: "migrate me, please", max_tokens: 120, seed: 11 };
    const reference = (await client.completions.create(body)).choices[0]!.text;
    assert.equal(reference.length, 120);

    const res = await fetch(`${server.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
    });
    const workerId = res.headers.get("x-turbine-worker")!;
    const victim = server.workers.find((w) => w.workerId === workerId)!;
    assert.ok(victim, "the serving worker is one of ours");
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let raw = "";
    let stopped = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      raw += value;
      // After a few tokens, the serving worker goes away (not drained).
      if (!stopped && (raw.match(/"text":"[^"]/g) ?? []).length >= 10) {
        stopped = true;
        void victim.stop();
      }
    }
    assert.ok(stopped, "the worker was stopped mid-stream");
    const events = raw.split("\n\n").filter((e) => e.startsWith("data: {")).map((e) => JSON.parse(e.slice(6)) as Record<string, unknown>);
    assert.ok(!events.some((e) => "error" in e), "no error reached the client");
    const text = events.map((e) => ((e["choices"] as { text: string }[])[0]?.text ?? "")).join("");
    assert.equal(text, reference, "one stream: no token repeated or lost");
    const usage = events.at(-1)!["usage"] as { completion_tokens: number };
    assert.equal(usage.completion_tokens, 120);
    assert.ok(raw.endsWith("data: [DONE]\n\n"));
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /turbine_request_migrations_total\{model="turbine-byte"\} 1/);
  } finally {
    await server.close();
  }
});

test("frontend - a worker that leaves the fleet while its stream hangs has its request migrated", async () => {
  const server = await startServer({ numWorkers: 2, router: { policy: "round-robin" }, mocker: { speedup: 20 } });
  try {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
    const body = { model: "turbine-byte", prompt: "left behind", max_tokens: 80, seed: 5 };
    const reference = (await client.completions.create(body)).choices[0]!.text;
    const pipeline = server.frontend.models.get("turbine-byte")!;
    const res = await fetch(`${server.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, stream: true }),
    });
    const workerId = res.headers.get("x-turbine-worker")!;
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let raw = "";
    let dropped = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      raw += value;
      if (!dropped && (raw.match(/"text":"[^"]/g) ?? []).length >= 10) {
        dropped = true;
        // What discovery does when the worker's lease expires (a partition: its stream
        // would never fail by itself). The worker keeps generating, unheard.
        pipeline.decode.removeWorker(workerId as never);
      }
    }
    const events = raw.split("\n\n").filter((e) => e.startsWith("data: {")).map((e) => JSON.parse(e.slice(6)) as Record<string, unknown>);
    assert.ok(!events.some((e) => "error" in e), "no error reached the client");
    assert.equal(events.map((e) => ((e["choices"] as { text: string }[])[0]?.text ?? "")).join(""), reference);
  } finally {
    await server.close();
  }
});
