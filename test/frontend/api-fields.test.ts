// Every OpenAI request field is honoured or refused, per engine: the test walks the frontend's
// field tables (src/frontend/request-fields.ts, which docs/api.md mirrors) and sends each field
// with a value that asks for something, to the mocker and to llama.cpp. Honoured fields give
// 200; a field the engine cannot honour gives 400 request_unsupported naming it.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { EmbeddedServer } from "../../src/cli/index.ts";
import { CHAT_FIELDS, COMPLETION_FIELDS } from "../../src/frontend/index.ts";
import type { FieldSupport } from "../../src/frontend/index.ts";
import { randomGguf } from "../support/gguf.ts";
import { postRaw, startServer } from "../support/http.ts";

const TOOL = { type: "function", function: { name: "f", parameters: { type: "object", properties: { a: { type: "integer" } }, required: ["a"] } } };

/** A value of each field that asks for something (not its default). */
const CHAT_VALUES: Record<string, Record<string, unknown>> = {
  model: {},
  messages: {},
  max_tokens: { max_tokens: 2 },
  max_completion_tokens: { max_completion_tokens: 2 },
  temperature: { temperature: 0.5 },
  top_p: { top_p: 0.5 },
  seed: { seed: 7 },
  stop: { stop: ["zz"] },
  stream: { stream: true },
  stream_options: { stream: true, stream_options: { include_usage: true } },
  tools: { tools: [TOOL] },
  tool_choice: { tools: [TOOL], tool_choice: { type: "function", function: { name: "f" } }, max_tokens: 40 },
  parallel_tool_calls: { tools: [TOOL], parallel_tool_calls: false },
  reasoning_effort: { reasoning_effort: "low" },
  response_format: { response_format: { type: "json_object" }, max_tokens: 4 },
  presence_penalty: { presence_penalty: 1 },
  frequency_penalty: { frequency_penalty: 1 },
  logit_bias: { logit_bias: { "300": 5 } },
  logprobs: { logprobs: true },
  top_logprobs: { top_logprobs: 2, logprobs: true },
  user: { user: "u1" },
  metadata: { metadata: { k: "v" } },
  safety_identifier: { safety_identifier: "s" },
  prompt_cache_key: { prompt_cache_key: "k" },
  n: { n: 2 },
  store: { store: true },
  service_tier: { service_tier: "flex" },
  audio: { audio: { voice: "alloy", format: "mp3" } },
  modalities: { modalities: ["text", "audio"] },
  prediction: { prediction: { type: "content", content: "x" } },
  web_search_options: { web_search_options: {} },
  functions: { functions: [{ name: "f" }] },
  function_call: { function_call: "auto" },
  verbosity: { verbosity: "low" },
  top_k: { top_k: 5 },
  stop_token_ids: { stop_token_ids: [5] },
  ignore_eos: { ignore_eos: true },
  repetition_penalty: { repetition_penalty: 1.3 },
  turbine: { turbine: {} },
};

const COMPLETION_VALUES: Record<string, Record<string, unknown>> = {
  model: {},
  prompt: {},
  max_tokens: { max_tokens: 2 },
  temperature: { temperature: 0.5 },
  top_p: { top_p: 0.5 },
  seed: { seed: 7 },
  stop: { stop: "zz" },
  stream: { stream: true },
  stream_options: { stream: true, stream_options: { include_usage: true } },
  presence_penalty: { presence_penalty: 1 },
  frequency_penalty: { frequency_penalty: 1 },
  logit_bias: { logit_bias: { "300": 5 } },
  logprobs: { logprobs: 2 },
  user: { user: "u1" },
  n: { n: 2 },
  best_of: { best_of: 2 },
  echo: { echo: true },
  suffix: { suffix: "x" },
  top_k: { top_k: 5 },
  stop_token_ids: { stop_token_ids: [5] },
  ignore_eos: { ignore_eos: true },
  repetition_penalty: { repetition_penalty: 1.3 },
  turbine: { turbine: {} },
};

/** What each field should give on an engine with `features`. */
function expected(name: string, f: FieldSupport, features: readonly string[]): "ok" | "refused" {
  // No template here reads reasoning_effort: refused as unsupported by the model.
  if (name === "reasoning_effort") return "refused";
  // A forced (named) tool call needs guided decoding.
  if (name === "tool_choice") return features.includes("guided_decoding") ? "ok" : "refused";
  if (f.kind === "honoured" || f.kind === "informational") return "ok";
  if (f.kind === "feature") return features.includes(f.feature) ? "ok" : "refused";
  return "refused";
}

async function walk(url: string, model: string, features: readonly string[]): Promise<string[]> {
  const problems: string[] = [];
  for (const [path, fields, values, base] of [
    ["/v1/chat/completions", CHAT_FIELDS, CHAT_VALUES, { model, messages: [{ role: "user", content: "hi" }], max_tokens: 2 }],
    ["/v1/completions", COMPLETION_FIELDS, COMPLETION_VALUES, { model, prompt: "hi", max_tokens: 2 }],
  ] as const) {
    assert.deepEqual(Object.keys(values).sort(), Object.keys(fields).sort(), `${path}: the test covers every field of the table`);
    for (const [name, f] of Object.entries(fields)) {
      const r = await postRaw(`${url}${path}`, JSON.stringify({ ...base, ...values[name] }));
      const want = expected(name, f, features);
      const err = (r.json as { error?: { code?: string; param?: string } }).error;
      if (want === "ok" && r.status !== 200) problems.push(`${path} ${name}: ${r.status} ${JSON.stringify(err)}`);
      if (want === "refused" && !(r.status === 400 && err?.code === "request_unsupported" && err.param === name)) {
        problems.push(`${path} ${name}: expected 400 request_unsupported param=${name}, got ${r.status} ${JSON.stringify(err)}`);
      }
    }
  }
  return problems;
}

describe("api - request fields per engine", () => {
  let mocker: EmbeddedServer;
  let llama: EmbeddedServer;
  before(async () => {
    mocker = await startServer({ numWorkers: 1 });
    llama = await startServer({ engine: "llamacpp", modelPath: await randomGguf(), numWorkers: 1, llamacpp: { numSequences: 2, contextSize: 512 } });
  });
  after(async () => {
    await mocker.close();
    await llama.close();
  });

  test("api - every OpenAI field on the mocker: honoured, or refused naming the param", async () => {
    const features = mocker.workers[0]!.engine.card.features ?? [];
    assert.deepEqual(features, []);
    assert.deepEqual(await walk(mocker.url, mocker.workers[0]!.engine.card.name, features), []);
  });

  test("api - every OpenAI field on llama.cpp: honoured, or refused naming the param", async () => {
    const card = llama.workers[0]!.engine.card;
    assert.ok(card.features!.includes("guided_decoding"));
    assert.deepEqual(await walk(llama.url, card.name, card.features!), []);
  });
});
