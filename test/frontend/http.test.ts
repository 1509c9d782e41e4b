import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import type { EmbeddedServer } from "../../src/cli/index.ts";
import type { MockerEngine } from "../../src/engines/index.ts";
import { postRaw, startServer, waitFor } from "../support/http.ts";

const MODEL = "turbine-byte";

describe("frontend - OpenAI API end to end", () => {
  let server: EmbeddedServer;
  let client: OpenAI;

  before(async () => {
    server = await startServer({ numWorkers: 2, router: { policy: "round-robin" } });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(() => server.close());

  test("frontend - chat completion returns text, finish reason and usage", async () => {
    const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Hello!" }], max_tokens: 12 });
    assert.equal(r.object, "chat.completion");
    assert.equal(r.model, MODEL);
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0]!.message.role, "assistant");
    assert.equal(r.choices[0]!.message.content!.length, 12, "byte model: one character per token");
    assert.equal(r.choices[0]!.finish_reason, "length");
    assert.equal(r.usage!.completion_tokens, 12);
    assert.ok(r.usage!.prompt_tokens > 6);
    assert.equal(r.usage!.total_tokens, r.usage!.prompt_tokens + 12);
  });

  test("frontend - max_completion_tokens limits chat output", async () => {
    const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Hi" }], max_completion_tokens: 3 });
    assert.equal(r.usage!.completion_tokens, 3);
  });

  test("frontend - text completion, and streaming gives the same text with usage last", async () => {
    const plain = await client.completions.create({ model: MODEL, prompt: "Once upon a time", max_tokens: 20, seed: 7 });
    assert.equal(plain.object, "text_completion");
    const text = plain.choices[0]!.text;
    assert.equal(text.length, 20);
    const stream = await client.completions.create({
      model: MODEL,
      prompt: "Once upon a time",
      max_tokens: 20,
      seed: 7,
      stream: true,
      stream_options: { include_usage: true },
    });
    let streamed = "";
    let usage: OpenAI.CompletionUsage | null | undefined;
    let finish: string | null | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      if (chunk.choices[0]) {
        streamed += chunk.choices[0].text;
        finish = chunk.choices[0].finish_reason ?? finish;
        assert.equal(chunk.usage, null, "usage is null on every chunk but the last");
      } else usage = chunk.usage;
    }
    assert.ok(chunks > 3, "streamed in several chunks");
    assert.equal(streamed, text);
    assert.equal(finish, "length");
    assert.equal(usage?.completion_tokens, 20);
    assert.equal(usage?.prompt_tokens, plain.usage!.prompt_tokens);
  });

  test("frontend - chat streaming starts with the assistant role and ends with finish_reason", async () => {
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "stream please" }],
      max_tokens: 8,
      stream: true,
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(chunks[0]!.choices[0]!.delta.role, "assistant");
    assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, "length");
    assert.equal(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("").length, 8);
  });

  test("frontend - stop strings never reach the client, also when split across tokens", async () => {
    const prompt = "Tell me a story about stop strings";
    const full = (await client.completions.create({ model: MODEL, prompt, max_tokens: 40, seed: 3 })).choices[0]!.text;
    // A 4-character stop string spans four tokens of the byte model.
    const stop = full.slice(10, 14);
    const cut = full.indexOf(stop);
    const plain = await client.completions.create({ model: MODEL, prompt, max_tokens: 40, seed: 3, stop: [stop] });
    assert.equal(plain.choices[0]!.text, full.slice(0, cut));
    assert.equal(plain.choices[0]!.finish_reason, "stop");
    const stream = await client.completions.create({ model: MODEL, prompt, max_tokens: 40, seed: 3, stop: [stop, "\u0000never"], stream: true });
    let streamed = "";
    let finish: string | null = null;
    for await (const c of stream) {
      streamed += c.choices[0]?.text ?? "";
      finish = c.choices[0]?.finish_reason ?? finish;
      assert.ok(!streamed.includes(stop), "no stop string in what was streamed");
    }
    assert.equal(streamed, full.slice(0, cut));
    assert.equal(finish, "stop");
  });

  test("frontend - the models list names the served model", async () => {
    const models = await client.models.list();
    assert.deepEqual(
      models.data.map((m) => m.id),
      [MODEL],
    );
    assert.equal(models.data[0]!.object, "model");
  });

  test("frontend - every response carries x-request-id, and a given one is echoed", async () => {
    const ok = await fetch(`${server.url}/v1/models`);
    assert.match(ok.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
    const err = await postRaw(`${server.url}/v1/chat/completions`, "{", { "content-type": "application/json", "x-request-id": "mine-1" });
    assert.equal(err.headers.get("x-request-id"), "mine-1");
    const served = await postRaw(`${server.url}/v1/completions`, JSON.stringify({ model: MODEL, prompt: "x", max_tokens: 1 }));
    assert.ok(served.headers.get("x-request-id"));
    assert.ok(served.headers.get("x-turbine-worker"), "the serving worker is named");
  });

  const expectError = (
    r: { status: number; json: unknown },
    status: number,
    type: string,
    code: string,
    param?: string | null,
  ): void => {
    assert.equal(r.status, status, JSON.stringify(r.json));
    const e = (r.json as { error: { message: string; type: string; param: string | null; code: string } }).error;
    assert.equal(typeof e.message, "string");
    assert.ok(e.message.length > 0);
    assert.equal(e.type, type);
    assert.equal(e.code, code);
    if (param !== undefined) assert.equal(e.param, param);
  };

  test("frontend - malformed JSON is a 400 in OpenAI's shape", async () => {
    const r = await postRaw(`${server.url}/v1/chat/completions`, '{"model": "turbine-byte", "messages": [');
    expectError(r, 400, "invalid_request_error", "request_invalid_json", null);
  });

  test("frontend - a field of the wrong type is a 400 naming the field", async () => {
    const body = { model: MODEL, messages: [{ role: "user", content: "x" }], max_tokens: "ten" };
    expectError(await postRaw(`${server.url}/v1/chat/completions`, JSON.stringify(body)), 400, "invalid_request_error", "request_invalid", "max_tokens");
    const noMessages = { model: MODEL };
    expectError(await postRaw(`${server.url}/v1/chat/completions`, JSON.stringify(noMessages)), 400, "invalid_request_error", "request_invalid", "messages");
    // Through the official client too: it surfaces the status and message.
    await assert.rejects(
      client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "x" }], temperature: 5 }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && e.status === 400,
    );
  });

  test("frontend - an unknown model is a 404", async () => {
    await assert.rejects(
      client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] }),
      (e: unknown) => e instanceof OpenAI.NotFoundError && (e.error as { code?: string }).code === "model_not_found",
    );
  });

  test("frontend - a prompt longer than the context is a 400", async () => {
    const prompt = "a".repeat(32_768 + 10);
    const r = await postRaw(`${server.url}/v1/completions`, JSON.stringify({ model: MODEL, prompt, max_tokens: 1 }));
    expectError(r, 400, "invalid_request_error", "request_context_length_exceeded", "prompt");
    const tooMany = await postRaw(`${server.url}/v1/completions`, JSON.stringify({ model: MODEL, prompt: "hi", max_tokens: 40_000 }));
    expectError(tooMany, 400, "invalid_request_error", "request_context_length_exceeded", "max_tokens");
  });

  test("frontend - a body over the size limit is a 413", async () => {
    const big = JSON.stringify({ model: MODEL, prompt: "x".repeat(9 * 1024 * 1024) });
    const r = await postRaw(`${server.url}/v1/completions`, big);
    expectError(r, 413, "invalid_request_error", "request_too_large");
  });

  test("frontend - a field Turbine does not honour (best_of > 1) is refused with a clear 400", async () => {
    const r = await postRaw(`${server.url}/v1/completions`, JSON.stringify({ model: MODEL, prompt: "x", best_of: 2 }));
    expectError(r, 400, "invalid_request_error", "request_unsupported", "best_of");
  });

  test("frontend - health, liveness and Prometheus metrics", async () => {
    const health = await fetch(`${server.url}/health`);
    assert.equal(health.status, 200);
    const models = ((await health.json()) as { models: { model: string; workers: number; routableWorkers: string[] }[] }).models;
    assert.deepEqual(
      models.map((m) => [m.model, m.workers, m.routableWorkers.length]),
      [[MODEL, 2, 2]],
    );
    assert.equal((await fetch(`${server.url}/live`)).status, 200);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    for (const name of [
      "turbine_requests_total",
      "turbine_time_to_first_token_seconds_bucket",
      "turbine_inter_token_latency_seconds_bucket",
      "turbine_input_tokens_total",
      "turbine_output_tokens_total",
      "turbine_requests_in_flight",
    ]) {
      assert.ok(metrics.includes(name), `metrics include ${name}`);
    }
    assert.match(metrics, /turbine_requests_total\{model="turbine-byte",endpoint="chat",status="200"\} [1-9]/);
  });

  test("frontend - a client that disconnects cancels its request and frees its KV blocks", async () => {
    // A slow engine: real time, so the request is still generating when the client leaves.
    const slow = await startServer({ numWorkers: 1, mocker: { speedup: 1, numKvBlocks: 512 } });
    try {
      const engine = slow.workers[0]!.engine as MockerEngine;
      const free = engine.load().totalBlocks - engine.load().activeBlocks;
      const ctrl = new AbortController();
      const res = await fetch(`${slow.url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: MODEL, prompt: "x".repeat(200), max_tokens: 5000, stream: true }),
        signal: ctrl.signal,
      });
      const reader = res.body!.getReader();
      await reader.read();
      await reader.read();
      assert.equal(engine.load().numRunningSeqs, 1);
      assert.ok(engine.load().activeBlocks > 0);
      ctrl.abort();
      await waitFor(() => engine.load().numRunningSeqs === 0 && engine.load().numWaitingSeqs === 0, 5000, "the engine to drop the request");
      assert.equal(engine.load().totalBlocks - engine.load().activeBlocks, free, "every block is back in the free pool");
      assert.ok(engine.counters.numOutputTokens < 5000);
    } finally {
      await slow.close();
    }
  });
});

describe("frontend - API keys", () => {
  test("frontend - a request without a valid bearer key gets 401", async () => {
    const server = await startServer({ numWorkers: 1, apiKeys: ["sekret"] });
    try {
      const body = JSON.stringify({ model: MODEL, prompt: "x", max_tokens: 1 });
      const none = await postRaw(`${server.url}/v1/completions`, body);
      assert.equal(none.status, 401);
      assert.equal((none.json as { error: { type: string } }).error.type, "authentication_error");
      const wrong = await postRaw(`${server.url}/v1/completions`, body, { "content-type": "application/json", authorization: "Bearer nope" });
      assert.equal(wrong.status, 401);
      const good = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "sekret", maxRetries: 0 });
      const r = await good.completions.create({ model: MODEL, prompt: "x", max_tokens: 2 });
      assert.equal(r.usage!.completion_tokens, 2);
      // Health stays open for load balancers.
      assert.equal((await fetch(`${server.url}/live`)).status, 200);
    } finally {
      await server.close();
    }
  });
});
