// The surfaces beside Chat Completions, through HTTP: the Responses API (official openai
// client and the AI SDK's @ai-sdk/openai default model, which calls /v1/responses), Anthropic
// Messages (its wire format with fetch: no Anthropic SDK is installed), count_tokens,
// GET /v1/models/{id}; on the fake Qwen3 upstream of api-support.ts.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { generateText, tool, stepCountIs } from "ai";
import { createOpenAI } from "@ai-sdk/openai";
import { z } from "zod";
import { MODEL, startFakeQwen } from "./api-support.ts";
import type { FakeQwen } from "./api-support.ts";
import { postRaw } from "../support/http.ts";

const RESPONSE_TOOLS = [{ type: "function" as const, name: "get_weather", description: "Weather of a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }, strict: false }];

function sseEvents(raw: string): { event: string; data: Record<string, unknown> }[] {
  return raw
    .split("\n\n")
    .filter((b) => b.includes("data: "))
    .map((b) => ({ event: /^event: (.*)$/m.exec(b)?.[1] ?? "", data: JSON.parse(/^data: (.*)$/m.exec(b)![1]!) as Record<string, unknown> }));
}

describe("api - Responses, Anthropic Messages, models", () => {
  let fake: FakeQwen;
  let url: string;
  before(async () => {
    fake = await startFakeQwen();
    url = fake.server.url;
  });
  after(() => fake.close());

  test("api - GET /v1/models/{id} and a 404 for an unknown id", async () => {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "x", maxRetries: 0 });
    const m = await client.models.retrieve(MODEL);
    assert.equal(m.id, MODEL);
    assert.equal(m.object, "model");
    await assert.rejects(client.models.retrieve("nope"), (e: unknown) => e instanceof OpenAI.NotFoundError);
  });

  test("api - responses: function_call items, then previous_response_id with the output; store false is not kept", async () => {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "x", maxRetries: 0 });
    const r1 = await client.responses.create({ model: MODEL, input: "Weather in Paris?", tools: RESPONSE_TOOLS, instructions: "Be brief." });
    assert.equal(r1.status, "completed");
    const kinds = r1.output.map((o) => o.type);
    assert.deepEqual(kinds, ["reasoning", "message", "function_call"]);
    const fc = r1.output.find((o) => o.type === "function_call")!;
    assert.ok(fc.type === "function_call");
    assert.equal(fc.name, "get_weather");
    assert.deepEqual(JSON.parse(fc.arguments), { city: "Paris" });
    assert.equal(r1.output_text, "Let me check.");
    // The result goes back with previous_response_id: the stored conversation carries the call.
    const r2 = await client.responses.create({
      model: MODEL,
      previous_response_id: r1.id,
      input: [{ type: "function_call_output", call_id: fc.call_id, output: '{"temperature": 21}' }],
      tools: RESPONSE_TOOLS,
    });
    assert.equal(r2.output_text, "It is 21 degrees in Paris.");
    const prompt = fake.prompts.at(-1)!;
    assert.match(prompt, /<tool_call>\n\{"name": "get_weather"/);
    assert.match(prompt, /<tool_response>\n\{"temperature": 21\}/);
    assert.doesNotMatch(prompt, /Be brief/, "instructions are not carried over");
    const r3 = await client.responses.create({ model: MODEL, input: "Hello", store: false });
    const missing = await postRaw(`${url}/v1/responses`, JSON.stringify({ model: MODEL, previous_response_id: r3.id, input: "again" }));
    assert.equal(missing.status, 400);
    assert.equal((missing.json as { error: { param: string } }).error.param, "previous_response_id");
    const refused = await postRaw(`${url}/v1/responses`, JSON.stringify({ model: MODEL, input: "x", background: true }));
    assert.deepEqual([refused.status, (refused.json as { error: { param: string } }).error.param], [400, "background"]);
  });

  test("api - responses streaming: the Responses event types in order", async () => {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "x", maxRetries: 0 });
    const stream = await client.responses.create({ model: MODEL, input: "Weather?", tools: RESPONSE_TOOLS, stream: true });
    const types: string[] = [];
    let text = "";
    let args = "";
    let last: OpenAI.Responses.Response | undefined;
    for await (const e of stream) {
      types.push(e.type);
      if (e.type === "response.output_text.delta") text += e.delta;
      if (e.type === "response.function_call_arguments.delta") args += e.delta;
      if (e.type === "response.completed") last = e.response;
    }
    assert.equal(types[0], "response.created");
    assert.equal(types.at(-1), "response.completed");
    for (const t of ["response.output_item.added", "response.output_text.delta", "response.output_item.done", "response.function_call_arguments.delta", "response.reasoning_text.delta"]) {
      assert.ok(types.includes(t), `${t} in ${types.join(",")}`);
    }
    assert.equal(text, "Let me check.");
    assert.deepEqual(JSON.parse(args), { city: "Paris" });
    assert.equal(last!.output.at(-1)!.type, "function_call");
  });

  test("api - the AI SDK's @ai-sdk/openai default (Responses) model runs a tool loop", async () => {
    const openai = createOpenAI({ baseURL: `${url}/v1`, apiKey: "x" });
    let executed = 0;
    const result = await generateText({
      model: openai(MODEL),
      prompt: "What is the weather in Paris?",
      tools: { get_weather: tool({ description: "Weather of a city", inputSchema: z.object({ city: z.string() }), execute: async () => (executed++, { temperature: 21 }) }) },
      stopWhen: stepCountIs(3),
      maxRetries: 0,
    });
    assert.equal(executed, 1);
    assert.equal(result.text, "It is 21 degrees in Paris.");
  });

  test("api - anthropic messages: text, thinking and tool_use blocks; tool_result; streaming events; count_tokens", async () => {
    const headers = { "content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "x" };
    const tools = [{ name: "get_weather", description: "Weather of a city", input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }];
    const r = await postRaw(`${url}/v1/messages`, JSON.stringify({ model: MODEL, max_tokens: 200, system: "Be brief.", messages: [{ role: "user", content: "Weather in Paris?" }], tools }), headers);
    assert.equal(r.status, 200);
    const msg = r.json as { type: string; role: string; content: { type: string; text?: string; thinking?: string; name?: string; input?: unknown; id?: string }[]; stop_reason: string; usage: { input_tokens: number; output_tokens: number } };
    assert.equal(msg.type, "message");
    assert.deepEqual(msg.content.map((b) => b.type), ["thinking", "text", "tool_use"]);
    assert.equal(msg.content[1]!.text, "Let me check.");
    assert.deepEqual([msg.content[2]!.name, msg.content[2]!.input], ["get_weather", { city: "Paris" }]);
    assert.equal(msg.stop_reason, "tool_use");
    assert.ok(msg.usage.input_tokens > 0);
    const use = msg.content[2]!;
    const r2 = await postRaw(
      `${url}/v1/messages`,
      JSON.stringify({
        model: MODEL,
        max_tokens: 200,
        messages: [
          { role: "user", content: "Weather in Paris?" },
          { role: "assistant", content: [{ type: "tool_use", id: use.id, name: use.name, input: use.input }] },
          { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: '{"temperature": 21}' }] },
        ],
        tools,
      }),
      headers,
    );
    const m2 = r2.json as { content: { type: string; text?: string }[]; stop_reason: string };
    assert.equal(m2.content.find((b) => b.type === "text")!.text, "It is 21 degrees in Paris.");
    assert.equal(m2.stop_reason, "end_turn");
    const res = await fetch(`${url}/v1/messages`, { method: "POST", headers, body: JSON.stringify({ model: MODEL, max_tokens: 200, messages: [{ role: "user", content: "Weather?" }], tools, stream: true }) });
    const events = sseEvents(await res.text());
    const names = events.map((e) => e.event);
    assert.equal(names[0], "message_start");
    assert.equal(names.at(-1), "message_stop");
    assert.ok(names.includes("content_block_start") && names.includes("content_block_delta") && names.includes("content_block_stop") && names.includes("message_delta"));
    const json = events.filter((e) => (e.data["delta"] as { type?: string } | undefined)?.type === "input_json_delta").map((e) => (e.data["delta"] as { partial_json: string }).partial_json).join("");
    assert.deepEqual(JSON.parse(json), { city: "Paris" });
    assert.equal((events.find((e) => e.event === "message_delta")!.data["delta"] as { stop_reason: string }).stop_reason, "tool_use");
    const count = await postRaw(`${url}/v1/messages/count_tokens`, JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Weather?" }] }), headers);
    assert.ok((count.json as { input_tokens: number }).input_tokens > 0);
    // Errors in Anthropic's shape.
    const bad = await postRaw(`${url}/v1/messages`, JSON.stringify({ model: "nope", max_tokens: 5, messages: [{ role: "user", content: "x" }] }), headers);
    assert.equal(bad.status, 404);
    assert.deepEqual((bad.json as { type: string; error: { type: string } }).type, "error");
    assert.equal((bad.json as { error: { type: string } }).error.type, "not_found_error");
  });
});
