// A worker that goes away mid-stream: its requests are migrated to another worker and the
// client sees one stream, no error, no token repeated or lost.
import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startServer } from "../support/http.ts";
import { Frontend } from "../../src/frontend/index.ts";
import { MockerEngine, Worker } from "../../src/engines/index.ts";
import type { Engine } from "../../src/engines/index.ts";
import { builtinByteModel } from "../../src/model/index.ts";
import { Runtime } from "../../src/runtime/index.ts";

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

/** A mocker that stops sending after `after` outputs, as a partitioned or frozen worker does. */
function hangingEngine(after: number): Engine {
  const inner = new MockerEngine({ speedup: 20, card: { ...builtinByteModel().card, role: "aggregated" } });
  return {
    card: inner.card,
    load: () => inner.load(),
    onKvEvent: (l) => inner.onKvEvent(l),
    close: () => inner.close(),
    async *generate(request, options) {
      let n = 0;
      for await (const out of inner.generate(request, options)) {
        if (n++ === after) {
          await new Promise((r) => options.signal.addEventListener("abort", r, { once: true }));
          return;
        }
        yield out;
      }
    },
  };
}

test("frontend - a stream whose worker left the fleet and went silent is migrated (a draining one is not: see distributed failures)", async () => {
  const runtime = Runtime.embedded();
  const card = builtinByteModel().card;
  const frozen = await Worker.start({ runtime, namespace: "t", engine: hangingEngine(10) });
  const healthy = await Worker.start({ runtime, namespace: "t", engine: new MockerEngine({ speedup: 20, card: { ...card, role: "aggregated" } }) });
  const frontend = await Frontend.start({ runtime, namespace: "t", host: "127.0.0.1", port: 0, router: { policy: "round-robin" }, orphanStallMs: 200, processMetrics: false });
  try {
    await frontend.models.settled();
    const client = new OpenAI({ baseURL: `${frontend.url}/v1`, apiKey: "x", maxRetries: 0 });
    const body = { model: card.name, prompt: "left behind", max_tokens: 60, seed: 5 };
    const reference = (await client.completions.create({ ...body, turbine: { worker_id: healthy.workerId } } as never)).choices[0]!.text;
    const pipeline = frontend.models.get(card.name)!;
    const res = await fetch(`${frontend.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, stream: true, turbine: { worker_id: frozen.workerId } }),
    });
    assert.equal(res.headers.get("x-turbine-worker"), frozen.workerId);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let raw = "";
    let dropped = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      raw += value;
      if (!dropped && (raw.match(/"text":"[^"]/g) ?? []).length >= 5) {
        dropped = true;
        // What discovery reports when the worker's lease expires.
        pipeline.decode.removeWorker(frozen.workerId);
      }
    }
    const events = raw.split("\n\n").filter((e) => e.startsWith("data: {")).map((e) => JSON.parse(e.slice(6)) as Record<string, unknown>);
    assert.deepEqual(events.filter((e) => "error" in e), [], "no error reached the client");
    assert.equal(events.map((e) => ((e["choices"] as { text: string }[])[0]?.text ?? "")).join(""), reference, "one stream, nothing repeated or lost");
    const metrics = await (await fetch(`${frontend.url}/metrics`)).text();
    assert.match(metrics, /turbine_request_migrations_total\{model="turbine-byte"\} 1/);
  } finally {
    await frontend.close();
    await Promise.all([frozen.stop(), healthy.stop()]);
    await runtime.close();
  }
});
