// /v1/chat/completions with n > 1 through the official `openai` client (mocker, two workers):
// n choices, all samples on one worker (the prompt's KV), usage counting the prompt once,
// seeded samples distinct yet reproducible, streams reassembled per choice index; and tool
// calls parsed per choice (fake Qwen3 behind openai-proxy); seeds and logprobs per choice on
// llama.cpp (a random-weight GGUF).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import type { EmbeddedServer } from "../../src/cli/index.ts";
import { randomGguf } from "../support/gguf.ts";
import { startServer } from "../support/http.ts";
import { MODEL, startFakeQwen } from "./api-support.ts";
import type { FakeQwen } from "./api-support.ts";

const MESSAGES: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "Tell me something about the sea, please." }];

describe("api - chat completions with n > 1", () => {
  let server: EmbeddedServer;
  let client: OpenAI;
  let model: string;
  before(async () => {
    server = await startServer({ numWorkers: 2 });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
    model = server.workers[0]!.engine.card.name;
  });
  after(() => server.close());

  const outputTokens = (): number[] => server.workers.map((w) => (w.engine as unknown as { core: { counters: { numOutputTokens: number } } }).core.counters.numOutputTokens);

  test("api - chat n=3: three choices, one worker, the prompt counted once", async () => {
    const before = outputTokens();
    const { data: r, response } = await client.chat.completions.create({ model, messages: MESSAGES, max_tokens: 6, n: 3, seed: 11 }).withResponse();
    const delta = outputTokens().map((a, i) => a - before[i]!);
    // All three samples ran on the worker the header names: 18 output tokens there, none on the other.
    const worker = response.headers.get("x-turbine-worker");
    assert.ok(worker !== null);
    const index = server.workers.findIndex((w) => w.workerId === worker);
    assert.ok(index >= 0, `x-turbine-worker ${worker} is one of the workers`);
    assert.equal(delta[index], 18);
    assert.equal(delta[1 - index], 0);
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2]);
    for (const c of r.choices) {
      assert.equal(c.message.role, "assistant");
      assert.equal(c.finish_reason, "length");
      assert.ok((c.message.content ?? "").length > 0);
    }
    // Seeded samples differ from each other (seed + j per sample) ...
    assert.equal(new Set(r.choices.map((c) => c.message.content)).size, 3);
    // ... and the request is reproducible; sample 0 is what the lone seeded request gives.
    const again = await client.chat.completions.create({ model, messages: MESSAGES, max_tokens: 6, n: 3, seed: 11 });
    assert.deepEqual(again.choices.map((c) => c.message.content), r.choices.map((c) => c.message.content));
    const alone = await client.chat.completions.create({ model, messages: MESSAGES, max_tokens: 6, seed: 11 });
    assert.equal(r.choices[0]!.message.content, alone.choices[0]!.message.content);
    assert.equal(r.usage!.prompt_tokens, alone.usage!.prompt_tokens);
    assert.equal(r.usage!.completion_tokens, 18);
    assert.equal(r.usage!.total_tokens, alone.usage!.prompt_tokens + 18);
  });

  test("api - chat n=2 streamed: chunks per index, one finish each, usage once at the end", async () => {
    const stream = await client.chat.completions.create({ model, messages: MESSAGES, max_tokens: 5, n: 2, seed: 3, stream: true, stream_options: { include_usage: true } });
    const texts = ["", ""];
    const roles = [0, 0];
    const finishes: string[][] = [[], []];
    const usages: OpenAI.CompletionUsage[] = [];
    let usageLast = false;
    for await (const chunk of stream) {
      assert.equal(chunk.object, "chat.completion.chunk");
      for (const c of chunk.choices) {
        assert.ok(c.index === 0 || c.index === 1, `index ${c.index}`);
        if (c.delta.role === "assistant") roles[c.index]!++;
        texts[c.index] += c.delta.content ?? "";
        if (c.finish_reason) finishes[c.index]!.push(c.finish_reason);
      }
      usageLast = false;
      if (chunk.usage) {
        usages.push(chunk.usage);
        usageLast = chunk.choices.length === 0;
      }
    }
    assert.deepEqual(roles, [1, 1]);
    assert.deepEqual(finishes, [["length"], ["length"]]);
    assert.equal(usages.length, 1);
    assert.ok(usageLast, "usage comes in the last chunk, with no choices");
    // Reassembled per index, the stream says what the JSON answer says.
    const whole = await client.chat.completions.create({ model, messages: MESSAGES, max_tokens: 5, n: 2, seed: 3 });
    assert.deepEqual(texts, whole.choices.map((c) => c.message.content));
    assert.equal(usages[0]!.prompt_tokens, whole.usage!.prompt_tokens);
    assert.equal(usages[0]!.completion_tokens, 10);
  });

  test("api - chat n=2 without a seed on the mocker: as completions, samples of one prompt are equal", async () => {
    const r = await client.chat.completions.create({ model, messages: MESSAGES, max_tokens: 4, n: 2 });
    const c = await client.completions.create({ model, prompt: "Tell me", max_tokens: 4, n: 2 });
    assert.equal(r.choices.length, 2);
    assert.equal(r.choices[0]!.message.content, r.choices[1]!.message.content);
    assert.equal(c.choices[0]!.text, c.choices[1]!.text);
  });
});

describe("api - chat n > 1 with the parsers", () => {
  let fake: FakeQwen;
  before(async () => {
    fake = await startFakeQwen();
  });
  after(() => fake.close());

  test("api - chat n=2 with tools: each choice has its own reasoning and tool call, streamed per index", async () => {
    const client = new OpenAI({ baseURL: `${fake.server.url}/v1`, apiKey: "x", maxRetries: 0 });
    const tools: OpenAI.ChatCompletionTool[] = [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }];
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "Weather in Paris?" }];
    const r = await client.chat.completions.create({ model: MODEL, messages, tools, n: 2 });
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1]);
    const ids = new Set<string>();
    for (const c of r.choices) {
      assert.equal(c.finish_reason, "tool_calls");
      assert.equal(c.message.content, "Let me check.");
      assert.equal((c.message as unknown as { reasoning_content?: string }).reasoning_content?.trim(), "The user wants the weather.");
      assert.equal(c.message.tool_calls!.length, 1);
      const call = c.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
      assert.equal(call.function.name, "get_weather");
      assert.deepEqual(JSON.parse(call.function.arguments), { city: "Paris" });
      ids.add(call.id);
    }
    assert.equal(ids.size, 2, "each choice's call has its own id");
    const stream = await client.chat.completions.create({ model: MODEL, messages, tools, n: 2, stream: true });
    const names = ["", ""];
    const args = ["", ""];
    const finishes: string[][] = [[], []];
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        for (const t of c.delta.tool_calls ?? []) {
          names[c.index] += t.function?.name ?? "";
          args[c.index] += t.function?.arguments ?? "";
        }
        if (c.finish_reason) finishes[c.index]!.push(c.finish_reason);
      }
    }
    assert.deepEqual(names, ["get_weather", "get_weather"]);
    assert.deepEqual(args.map((a) => JSON.parse(a) as unknown), [{ city: "Paris" }, { city: "Paris" }]);
    assert.deepEqual(finishes, [["tool_calls"], ["tool_calls"]]);
  });
});

describe("api - chat n > 1 on llama.cpp", () => {
  let server: EmbeddedServer;
  before(async () => {
    server = await startServer({ engine: "llamacpp", modelPath: await randomGguf(), numWorkers: 1, llamacpp: { numSequences: 2, contextSize: 512 } });
  });
  after(() => server.close());

  test("api - chat n=2 on llama.cpp: seeded samples differ and reproduce, logprobs per choice", async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
    const model = server.workers[0]!.engine.card.name;
    const ask = (): Promise<OpenAI.ChatCompletion> =>
      client.chat.completions.create({ model, messages: MESSAGES, max_tokens: 8, n: 2, seed: 21, temperature: 1, logprobs: true, top_logprobs: 2, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const r = await ask();
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1]);
    assert.notEqual(r.choices[0]!.message.content, r.choices[1]!.message.content);
    assert.deepEqual((await ask()).choices.map((c) => c.message.content), r.choices.map((c) => c.message.content));
    for (const c of r.choices) {
      assert.equal(c.logprobs!.content!.length, 8);
      for (const t of c.logprobs!.content!) {
        // At most top_logprobs alternatives (fewer where the engine's candidates are fewer).
        assert.ok(t.top_logprobs.length >= 1 && t.top_logprobs.length <= 2, `${t.top_logprobs.length} alternatives`);
        assert.ok(t.logprob <= 0, `logprob ${t.logprob}`);
      }
    }
    assert.equal(r.usage!.completion_tokens, 16);
  });
});
