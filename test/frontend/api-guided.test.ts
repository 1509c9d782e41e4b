// Guided decoding through HTTP with the official openai client, on the llama.cpp engine with
// the random tiny model (test/support/gguf.ts; its free output is noise, so every structure
// below comes from the grammar): forced tool calls, JSON-schema response formats (validated
// with ajv), logprobs, penalties; and the same fields refused on the mocker, naming the param.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { Ajv } from "ajv";
import { generateObject } from "ai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { ChatOpenAI } from "@langchain/openai";
import { z } from "zod";
import type { EmbeddedServer } from "../../src/cli/index.ts";
import { randomGguf } from "../support/gguf.ts";
import { postRaw, startServer } from "../support/http.ts";

const TOOLS = [
  {
    type: "function" as const,
    function: {
      name: "get_weather",
      description: "Weather of a city",
      parameters: { type: "object", properties: { city: { type: "string", maxLength: 10 }, days: { type: "integer" } }, required: ["city", "days"], additionalProperties: false },
    },
  },
  {
    type: "function" as const,
    function: { name: "get_time", parameters: { type: "object", properties: { zone: { enum: ["utc", "cet"] } }, required: ["zone"], additionalProperties: false } },
  },
];
const MESSAGES = [{ role: "user" as const, content: "What is the weather in Paris?" }];

describe("api - guided decoding on llama.cpp", () => {
  let server: EmbeddedServer;
  let client: OpenAI;
  let model: string;

  before(async () => {
    server = await startServer({ engine: "llamacpp", modelPath: await randomGguf(), numWorkers: 1, llamacpp: { numSequences: 2, contextSize: 1024 } });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
    model = (await client.models.list()).data[0]!.id;
  });
  after(() => server.close());

  test("api - tool_choice required gives a valid call to one of the tools, finish_reason tool_calls", async () => {
    const ajv = new Ajv();
    for (const seed of [1, 2, 3]) {
      const r = await client.chat.completions.create({ model, messages: MESSAGES, tools: TOOLS, tool_choice: "required", max_tokens: 200, seed });
      const choice = r.choices[0]!;
      assert.equal(choice.finish_reason, "tool_calls");
      assert.equal(choice.message.content, null);
      const calls = choice.message.tool_calls!;
      assert.equal(calls.length, 1);
      const call = calls[0]!;
      assert.equal(call.type, "function");
      assert.match(call.id, /^call_[A-Za-z0-9]{24}$/);
      if (call.type !== "function") continue;
      const tool = TOOLS.find((t) => t.function.name === call.function.name);
      assert.ok(tool, `a call to one of the tools, not ${call.function.name}`);
      assert.ok(ajv.validate(tool.function.parameters, JSON.parse(call.function.arguments)), call.function.arguments);
    }
    const serving = server.workers[0]!.engine as unknown as { counters: { numGuidedRequests: number } };
    assert.ok(serving.counters.numGuidedRequests >= 3, "the grammar path ran");
  });

  test("api - a named tool_choice calls that tool; streamed as OpenAI's tool-call fragments", async () => {
    const stream = await client.chat.completions.create({
      model,
      messages: MESSAGES,
      tools: TOOLS,
      tool_choice: { type: "function", function: { name: "get_time" } },
      max_tokens: 100,
      stream: true,
    });
    const fragments: { index: number; id?: string; type?: string; function?: { name?: string; arguments?: string } }[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      const c = chunk.choices[0];
      if (!c) continue;
      for (const tc of c.delta.tool_calls ?? []) fragments.push(tc);
      if (c.finish_reason) finish = c.finish_reason;
    }
    assert.equal(finish, "tool_calls");
    assert.equal(fragments[0]!.index, 0);
    assert.match(fragments[0]!.id!, /^call_/);
    assert.equal(fragments[0]!.type, "function");
    assert.equal(fragments[0]!.function!.name, "get_time");
    assert.equal(fragments[0]!.function!.arguments, "");
    const args = fragments.map((f) => f.function?.arguments ?? "").join("");
    assert.ok(["utc", "cet"].includes((JSON.parse(args) as { zone: string }).zone));
    assert.ok(fragments.slice(1).every((f) => f.id === undefined && f.function?.name === undefined), "later fragments carry arguments only");
  });

  test("api - a JSON-schema response_format gives JSON that validates; a strict schema it cannot enforce is refused", async () => {
    const schema = {
      type: "object",
      properties: { answer: { type: "string", maxLength: 12 }, score: { type: "number" }, tags: { type: "array", items: { enum: ["a", "b"] }, maxItems: 3 }, ok: { type: "boolean" } },
      required: ["answer", "score", "tags", "ok"],
      additionalProperties: false,
    };
    for (const seed of [1, 2]) {
      const r = await client.chat.completions.create({
        model,
        messages: MESSAGES,
        max_tokens: 200,
        seed,
        response_format: { type: "json_schema", json_schema: { name: "answer", schema, strict: true } },
      });
      const text = r.choices[0]!.message.content!;
      assert.equal(r.choices[0]!.finish_reason, "stop");
      assert.ok(new Ajv().validate(schema, JSON.parse(text)), text);
    }
    const strictBad = await postRaw(
      `${server.url}/v1/chat/completions`,
      JSON.stringify({ model, messages: MESSAGES, response_format: { type: "json_schema", json_schema: { name: "x", strict: true, schema: { type: "string", pattern: "^a+$" } } } }),
    );
    assert.equal(strictBad.status, 400);
    assert.deepEqual([(strictBad.json as { error: { code: string; param: string } }).error.code, (strictBad.json as { error: { param: string } }).error.param], ["request_unsupported", "response_format"]);
  });

  test("api - chat logprobs and completions logprobs in OpenAI's shapes", async () => {
    const r = await client.chat.completions.create({ model, messages: MESSAGES, max_tokens: 5, logprobs: true, top_logprobs: 2, temperature: 0 });
    const content = r.choices[0]!.logprobs!.content!;
    assert.equal(content.length, r.usage!.completion_tokens);
    for (const e of content) {
      assert.ok(e.logprob <= 0);
      assert.equal(e.top_logprobs.length, 2);
      assert.deepEqual(e.bytes, [...Buffer.from(e.token, "utf8")]);
    }
    const c = await client.completions.create({ model, prompt: "Hello", max_tokens: 4, logprobs: 3, temperature: 0 });
    const lp = c.choices[0]!.logprobs!;
    assert.equal(lp.tokens!.length, 4);
    assert.equal(lp.token_logprobs!.length, 4);
    assert.ok(lp.top_logprobs!.every((t) => Object.keys(t).length >= 1));
  });

  test("api - penalties and logit_bias are honoured (the output changes)", async () => {
    const base = { model, messages: MESSAGES, max_tokens: 12, temperature: 0 } as const;
    const plain = await client.chat.completions.create(base);
    const biased = await client.chat.completions.create({ ...base, logit_bias: { "400": 100 } });
    assert.notEqual(biased.choices[0]!.message.content, plain.choices[0]!.message.content);
    const penalised = await client.chat.completions.create({ ...base, logit_bias: { "400": 10 }, frequency_penalty: 2 });
    const unpenalised = await client.chat.completions.create({ ...base, logit_bias: { "400": 10 } });
    assert.notEqual(penalised.choices[0]!.message.content, unpenalised.choices[0]!.message.content);
  });

  test("api - AI SDK generateObject gets a schema-valid object (json_schema response_format)", async () => {
    const provider = createOpenAICompatible({ name: "turbine", baseURL: `${server.url}/v1`, apiKey: "x", supportsStructuredOutputs: true });
    const schema = z.object({ city: z.enum(["paris", "rome"]), days: z.number().int(), sunny: z.boolean(), tags: z.array(z.enum(["a", "b"])).max(3) });
    const { object } = await generateObject({ model: provider(model), schema, prompt: "Weather?", maxRetries: 0, maxOutputTokens: 200, seed: 3 });
    assert.ok(schema.safeParse(object).success, JSON.stringify(object));
  });

  test("api - LangChain withStructuredOutput gets a schema-valid object", async () => {
    const llm = new ChatOpenAI({ model, apiKey: "x", configuration: { baseURL: `${server.url}/v1` }, maxRetries: 0, maxTokens: 200 });
    const schema = z.object({ answer: z.enum(["yes", "no"]), confidence: z.number() });
    for (const method of ["jsonSchema", "functionCalling"] as const) {
      const structured = llm.withStructuredOutput(schema, { method });
      const out = await structured.invoke("Is it sunny?");
      assert.ok(schema.safeParse(out).success, `${method}: ${JSON.stringify(out)}`);
    }
  });

  test("api - embeddings from an embedding context of the same model; base64; the mocker refuses", async () => {
    const r = await client.embeddings.create({ model, input: ["hello world", "another text"] });
    assert.equal(r.data.length, 2);
    assert.equal(r.data[0]!.embedding.length, r.data[1]!.embedding.length);
    assert.notDeepEqual(r.data[0]!.embedding, r.data[1]!.embedding);
    assert.ok(r.usage.prompt_tokens > 2);
    const b = await postRaw(`${server.url}/v1/embeddings`, JSON.stringify({ model, input: "hello world", encoding_format: "base64" }));
    const bytes = Buffer.from((b.json as { data: { embedding: string }[] }).data[0]!.embedding, "base64");
    const floats = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    assert.ok(Math.abs(floats[0]! - r.data[0]!.embedding[0]!) < 1e-5);
    const engine = server.workers[0]!.engine as unknown as { counters: { numEmbeddings: number } };
    assert.ok(engine.counters.numEmbeddings >= 3);
    const mocker = await startServer({ numWorkers: 1 });
    try {
      const name = mocker.workers[0]!.engine.card.name;
      const refused = await postRaw(`${mocker.url}/v1/embeddings`, JSON.stringify({ model: name, input: "x" }));
      assert.equal(refused.status, 400);
      assert.deepEqual((refused.json as { error: { code: string; param: string } }).error, { ...(refused.json as { error: object }).error, code: "request_unsupported", param: "model" });
      const tc = await postRaw(`${mocker.url}/v1/chat/completions`, JSON.stringify({ model: name, messages: MESSAGES, tools: TOOLS, tool_choice: "required" }));
      assert.equal(tc.status, 400);
      assert.equal((tc.json as { error: { param: string } }).error.param, "tool_choice");
    } finally {
      await mocker.close();
    }
  });
});
