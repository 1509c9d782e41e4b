// Fixtures of the parser tests: the real chat templates of @lenml/tokenizer-* 3.7.2 (each
// package's models/tokenizer_config.json), used to write assistant turns in exactly the format
// each model was trained to emit, and a helper that feeds a parser whole, one character at a
// time and in uneven chunks, and checks the three agree.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { loadHuggingFaceModel } from "../../../src/model/index.ts";
import type { ChatMessage, LoadedModel, Tokenizer } from "../../../src/model/index.ts";
import { collectEvents, createOutputParser } from "../../../src/frontend/parsers/index.ts";
import type { OutputParserOptions, ParsedEvent, ParsedOutput } from "../../../src/frontend/parsers/index.ts";

export const LENML_VERSION = "3.7.2";
export type LenmlModel = "qwen3" | "llama3_1" | "deepseek_v3" | "gptoss" | "gemma3" | "mistral_nemo" | "qwen2_5";

export function lenmlFolder(model: LenmlModel): string {
  return new URL(`../../../node_modules/@lenml/tokenizer-${model}/models`, import.meta.url).pathname;
}

const loaded = new Map<LenmlModel, Promise<LoadedModel<Tokenizer>>>();

/** The model's tokenizer and chat template, from @lenml/tokenizer-<model> (version checked). */
export function lenmlModel(model: LenmlModel): Promise<LoadedModel<Tokenizer>> {
  const pkg = JSON.parse(readFileSync(new URL(`../../../node_modules/@lenml/tokenizer-${model}/package.json`, import.meta.url), "utf8")) as { version: string };
  assert.equal(pkg.version, LENML_VERSION, `@lenml/tokenizer-${model} is ${pkg.version}`);
  let p = loaded.get(model);
  if (p === undefined) {
    p = loadHuggingFaceModel(lenmlFolder(model));
    loaded.set(model, p);
  }
  return p;
}

export const WEATHER_TOOLS = [
  {
    type: "function" as const,
    function: {
      name: "get_weather",
      description: "Current weather of a city",
      parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } }, required: ["city"] },
    },
  },
  {
    type: "function" as const,
    function: { name: "get_time", description: "Local time", parameters: { type: "object", properties: { zone: { type: "string" } } } },
  },
];

/**
 * What the model writes for an assistant turn: the template's rendering of the conversation
 * with that turn, less the rendering of the conversation before it (with its generation
 * prompt), less the end-of-turn marker `end`.
 */
export async function assistantTurn(model: LenmlModel, turn: ChatMessage, end: string): Promise<string> {
  const { chatTemplate } = await lenmlModel(model);
  const user: ChatMessage = { role: "user", content: "What is the weather in Paris?" };
  const before = chatTemplate.render([user], { tools: WEATHER_TOOLS, addGenerationPrompt: true });
  const after = chatTemplate.render([user, turn], { tools: WEATHER_TOOLS, addGenerationPrompt: false });
  assert.ok(after.startsWith(before), `${model}: the turn does not extend the prompt`);
  let out = after.slice(before.length).trimEnd();
  if (out.endsWith(end)) out = out.slice(0, -end.length);
  return out;
}

function withoutIds(o: ParsedOutput): ParsedOutput {
  return { ...o, toolCalls: o.toolCalls.map((c) => ({ ...c, id: "<id>" })) };
}

function feed(options: OutputParserOptions, pieces: readonly string[]): { out: ParsedOutput; events: ParsedEvent[] } {
  const parser = createOutputParser(options);
  assert.ok(parser !== null, "the options name a parser");
  const events: ParsedEvent[] = [];
  for (const p of pieces) events.push(...parser.push(p));
  events.push(...parser.finish());
  return { out: collectEvents(events), events };
}

/** Parses `text` whole, one character at a time and in chunks of 1..7; asserts they agree. */
export function parseEveryWay(options: OutputParserOptions, text: string): ParsedOutput & { streamedEvents: ParsedEvent[] } {
  const whole = feed(options, [text]);
  const chars = feed(options, [...text]);
  const chunks: string[] = [];
  for (let i = 0, n = 1; i < text.length; i += n, n = (n % 7) + 1) chunks.push(text.slice(i, i + n));
  const chunked = feed(options, chunks);
  assert.deepEqual(withoutIds(chars.out), withoutIds(whole.out), "one character at a time differs from whole");
  assert.deepEqual(withoutIds(chunked.out), withoutIds(whole.out), "chunked differs from whole");
  for (const c of whole.out.toolCalls) assert.match(c.id, /^(call_[A-Za-z0-9]{24}|[A-Za-z0-9]{9})$/);
  return { ...whole.out, streamedEvents: chars.events };
}

export function call(id: string, name: string, args: Record<string, unknown>): { id: string; type: "function"; function: { name: string; arguments: string } } {
  return { id, type: "function", function: { name, arguments: JSON.stringify(args) } };
}
