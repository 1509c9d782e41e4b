// The openai-proxy engine against a real OpenAI-compatible server: another Turbine (mocker
// workers) started by the test. Relay, cancellation and error mapping.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { startServer, postRaw, waitFor } from "../../support/http.ts";
import { builtinByteModel } from "../../../src/model/index.ts";
import type { MockerEngine } from "../../../src/engines/index.ts";
import { readSse, startProxyFleet, textOf } from "./fixtures.ts";

const tokenizer = builtinByteModel().tokenizer;

test("openai-proxy - streaming and non-streaming relay give the upstream's own text for the same token ids", async () => {
  const upstream = await startServer({ numWorkers: 1 });
  const fleet = await startProxyFleet([{ upstream: upstream.url }]);
  try {
    const prompt = "The quick brown fox jumps over the lazy dog, again and again.";
    const ids = tokenizer.encode(prompt, { addSpecialTokens: true });
    const direct = await postRaw(`${upstream.url}/v1/completions`, JSON.stringify({ model: "turbine-byte", prompt: ids, max_tokens: 40, seed: 7 }));
    assert.equal(direct.status, 200);
    const expected = (direct.json as { choices: { text: string }[] }).choices[0]!.text;
    assert.ok(expected.length > 0);

    const body = { model: "turbine-byte", prompt, max_tokens: 40, seed: 7 };
    const plain = await postRaw(`${fleet.url}/v1/completions`, JSON.stringify(body));
    assert.equal(plain.status, 200);
    const pj = plain.json as { choices: { text: string; finish_reason: string }[]; usage: { prompt_tokens: number; completion_tokens: number } };
    assert.equal(pj.choices[0]!.text, expected);
    assert.equal(pj.choices[0]!.finish_reason, "length");
    assert.deepEqual([pj.usage.prompt_tokens, pj.usage.completion_tokens], [ids.length, 40]);
    assert.equal(fleet.engines[0]!.currentPromptFormat, "tokens", "Turbine takes token-id prompts");

    const res = await fetch(`${fleet.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-turbine-worker"), fleet.workers[0]!.workerId);
    const { events, raw } = await readSse(res);
    assert.equal(textOf(events), expected);
    assert.ok(events.length > 3, "streamed in pieces");
    const usage = events.at(-1)!["usage"] as { completion_tokens: number };
    assert.equal(usage.completion_tokens, 40);
    assert.ok(raw.endsWith("data: [DONE]\n\n"));

    // Chat: the proxy's frontend applies the template; the upstream sees the same ids.
    const chat = await postRaw(`${fleet.url}/v1/chat/completions`, JSON.stringify({ model: "turbine-byte", messages: [{ role: "user", content: "hi" }], max_tokens: 16, seed: 3 }));
    assert.equal(chat.status, 200);
    assert.equal((chat.json as { usage: { completion_tokens: number } }).usage.completion_tokens, 16);
  } finally {
    await fleet.close();
    await upstream.close();
  }
});

test("openai-proxy - a client that disconnects ends the request in the upstream's engine", async () => {
  const upstream = await startServer({ numWorkers: 1, mocker: { speedup: 5 } });
  const fleet = await startProxyFleet([{ upstream: upstream.url }]);
  try {
    const engine = upstream.workers[0]!.engine as MockerEngine;
    const abort = new AbortController();
    const res = await fetch(`${fleet.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "turbine-byte", prompt: "a long story", max_tokens: 5000, stream: true }),
      signal: abort.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    await reader.read();
    assert.equal(engine.load().numRunningSeqs + engine.load().numWaitingSeqs, 1, "the upstream is generating");
    assert.equal(fleet.engines[0]!.load().numRunningSeqs, 1);
    abort.abort();
    await waitFor(() => engine.load().numRunningSeqs + engine.load().numWaitingSeqs === 0, 3000, "the upstream to drop the request");
    await waitFor(() => fleet.engines[0]!.load().numRunningSeqs === 0, 3000, "the proxy to forget it");
  } finally {
    await fleet.close();
    await upstream.close();
  }
});

test("openai-proxy - upstream errors reach the client as clear OpenAI errors", async () => {
  const upstream = await startServer({ numWorkers: 1 });
  // A server that is always overloaded, as vLLM's and SGLang's admission control answer.
  let hits = 0;
  const busy = http.createServer((req, res) => {
    hits++;
    req.resume();
    res.writeHead(503, { "content-type": "application/json", "retry-after": "7" });
    res.end(JSON.stringify({ error: { message: "server is at capacity", type: "service_unavailable", code: 503 } }));
  });
  await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
  const busyUrl = `http://127.0.0.1:${(busy.address() as AddressInfo).port}`;
  const unknown = await startProxyFleet([{ upstream: upstream.url, upstreamModel: "no-such-model" }]);
  const overloaded = await startProxyFleet([{ upstream: busyUrl, promptFormat: "tokens" }]);
  try {
    const body = JSON.stringify({ model: "turbine-byte", prompt: "hello", max_tokens: 4 });
    const a = await postRaw(`${unknown.url}/v1/completions`, body);
    assert.equal(a.status, 404);
    const ae = (a.json as { error: { message: string; code: string } }).error;
    assert.equal(ae.code, "model_not_found");
    assert.match(ae.message, /upstream http:\/\/127\.0\.0\.1:\d+\/v1: .*no-such-model/);

    for (const stream of [false, true]) {
      const b = await postRaw(`${overloaded.url}/v1/completions`, JSON.stringify({ model: "turbine-byte", prompt: "hello", max_tokens: 4, stream }));
      assert.equal(b.status, 503);
      assert.equal(b.headers.get("retry-after"), "7");
      const be = (b.json as { error: { message: string; code: string } }).error;
      assert.equal(be.code, "engine_overloaded");
      assert.match(be.message, /server is at capacity/);
    }
    assert.equal(hits, 2, "an overloaded answer is not retried behind the client's back");
  } finally {
    await unknown.close();
    await overloaded.close();
    await upstream.close();
    await new Promise((r) => busy.close(r));
  }
});

test("openai-proxy - auto prompt format falls back to text for a server that takes only strings", async () => {
  const seen: unknown[] = [];
  const textOnly = http.createServer((req, res) => {
    let data = "";
    req.on("data", (c: Buffer) => (data += c.toString()));
    req.on("end", () => {
      const body = JSON.parse(data) as { prompt: unknown };
      seen.push(body.prompt);
      if (typeof body.prompt !== "string") {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: "prompt must be a string", type: "invalid_request_error" } }));
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(`data: ${JSON.stringify({ choices: [{ index: 0, text: "ok!", finish_reason: null }] })}\n\n`);
      res.write(`data: ${JSON.stringify({ choices: [{ index: 0, text: "", finish_reason: "stop" }] })}\n\n`);
      res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 3 } })}\n\n`);
      res.end("data: [DONE]\n\n");
    });
  });
  await new Promise<void>((r) => textOnly.listen(0, "127.0.0.1", r));
  const fleet = await startProxyFleet([{ upstream: `http://127.0.0.1:${(textOnly.address() as AddressInfo).port}/v1` }]);
  try {
    for (let i = 0; i < 2; i++) {
      const r = await postRaw(`${fleet.url}/v1/completions`, JSON.stringify({ model: "turbine-byte", prompt: "hello", max_tokens: 8 }));
      assert.equal(r.status, 200);
      assert.equal((r.json as { choices: { text: string }[] }).choices[0]!.text, "ok!");
    }
    assert.equal(fleet.engines[0]!.currentPromptFormat, "text");
    assert.ok(Array.isArray(seen[0]), "tokens first");
    // BOS is a special token: its text is kept, so the upstream re-tokenizes it.
    assert.deepEqual(seen.slice(1), [tokenizer.decode(tokenizer.encode("hello", { addSpecialTokens: true })), tokenizer.decode(tokenizer.encode("hello", { addSpecialTokens: true }))]);
  } finally {
    await fleet.close();
    await new Promise((r) => textOnly.close(r));
  }
});

test("openai-proxy - loading the engine leaves the process's global fetch dispatcher alone", async () => {
  // undici's front door installs its Agent as the global dispatcher that Node's fetch uses;
  // the upstream client loads only undici's Pool, so an application's fetch is unaffected.
  const { execFileSync } = await import("node:child_process");
  const script = `
    const key = Symbol.for("undici.globalDispatcher.1");
    await import(${JSON.stringify(new URL("../../../src/engines/index.ts", import.meta.url).href)});
    process.stdout.write(String(globalThis[key] === undefined));`;
  const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8" });
  assert.equal(out, "true");
});
