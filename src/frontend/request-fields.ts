// Every OpenAI request field, and what Turbine does with it: honoured always, honoured when the
// model's engine declares a feature (its card's `features`), or refused. A field is refused with
// a 400 `request_unsupported` naming it, never accepted and ignored. docs/api.md is the same
// table for people; a test enumerates it.
import { TurbineError } from "../protocols/index.ts";
import type { EngineFeature, ModelCard } from "../protocols/index.ts";

/** How one field is treated. */
export type FieldSupport =
  /** Honoured on every engine. */
  | { kind: "honoured" }
  /** Accepted, no effect on the output (identifiers, labels); documented as such. */
  | { kind: "informational" }
  /** Honoured where the engine has the feature; refused elsewhere. `inert` values need nothing. */
  | { kind: "feature"; feature: EngineFeature; inert?: (v: unknown) => boolean }
  /** Refused unless the value is one that asks for nothing (`inert`). */
  | { kind: "refused"; inert?: (v: unknown) => boolean; why: string };

const honoured: FieldSupport = { kind: "honoured" };
const informational: FieldSupport = { kind: "informational" };
const isZero = (v: unknown): boolean => v === 0;
const isOne = (v: unknown): boolean => v === 1;
const isFalse = (v: unknown): boolean => v === false;
const isEmptyObject = (v: unknown): boolean => typeof v === "object" && v !== null && Object.keys(v).length === 0;

/** Chat Completions: OpenAI's fields, then the vLLM extensions Turbine takes. */
export const CHAT_FIELDS: Readonly<Record<string, FieldSupport>> = {
  model: honoured,
  messages: honoured,
  max_tokens: honoured,
  max_completion_tokens: honoured,
  temperature: honoured,
  top_p: honoured,
  seed: honoured,
  stop: honoured,
  stream: honoured,
  stream_options: honoured,
  tools: honoured,
  // "auto" and "none" everywhere; "required" and a named function need guided decoding (checked in chat-features.ts).
  tool_choice: honoured,
  parallel_tool_calls: honoured,
  // The template's own variable; refused for templates that do not read it (chat-features.ts).
  reasoning_effort: honoured,
  response_format: { kind: "feature", feature: "guided_decoding", inert: (v) => (v as { type?: unknown } | null)?.type === "text" },
  presence_penalty: { kind: "feature", feature: "penalties", inert: isZero },
  frequency_penalty: { kind: "feature", feature: "penalties", inert: isZero },
  logit_bias: { kind: "feature", feature: "logit_bias", inert: isEmptyObject },
  logprobs: { kind: "feature", feature: "logprobs", inert: isFalse },
  top_logprobs: { kind: "feature", feature: "logprobs", inert: isZero },
  user: informational,
  metadata: informational,
  safety_identifier: informational,
  prompt_cache_key: informational,
  // n > 1: the samples share the prompt's worker and KV (chat-samples.ts).
  n: honoured,
  store: { kind: "refused", inert: isFalse, why: "Turbine does not store chat completions" },
  service_tier: { kind: "refused", inert: (v) => v === "auto" || v === "default", why: "service tiers are not supported" },
  audio: { kind: "refused", why: "audio output is not supported" },
  modalities: { kind: "refused", inert: (v) => Array.isArray(v) && v.every((m) => m === "text"), why: "only text output is supported" },
  prediction: { kind: "refused", why: "predicted outputs are not supported" },
  web_search_options: { kind: "refused", why: "web search is not supported" },
  functions: { kind: "refused", why: "the deprecated `functions` field is not supported: use `tools`" },
  function_call: { kind: "refused", why: "the deprecated `function_call` field is not supported: use `tool_choice`" },
  verbosity: { kind: "refused", why: "verbosity is not supported" },
  // vLLM extensions.
  top_k: honoured,
  stop_token_ids: honoured,
  ignore_eos: honoured,
  repetition_penalty: { kind: "feature", feature: "penalties", inert: isOne },
  turbine: honoured,
};

/** Completions (legacy): OpenAI's fields, then the vLLM extensions. */
export const COMPLETION_FIELDS: Readonly<Record<string, FieldSupport>> = {
  model: honoured,
  prompt: honoured,
  max_tokens: honoured,
  temperature: honoured,
  top_p: honoured,
  seed: honoured,
  stop: honoured,
  stream: honoured,
  stream_options: honoured,
  presence_penalty: { kind: "feature", feature: "penalties", inert: isZero },
  frequency_penalty: { kind: "feature", feature: "penalties", inert: isZero },
  logit_bias: { kind: "feature", feature: "logit_bias", inert: isEmptyObject },
  logprobs: { kind: "feature", feature: "logprobs" },
  user: informational,
  n: honoured,
  best_of: { kind: "refused", inert: isOne, why: "best_of > 1 is not supported" },
  echo: honoured,
  suffix: { kind: "refused", why: "suffix (insertion) is not supported" },
  top_k: honoured,
  stop_token_ids: honoured,
  ignore_eos: honoured,
  repetition_penalty: { kind: "feature", feature: "penalties", inert: isOne },
  turbine: honoured,
};

/** Refuses the first field of `body` the model's engine cannot honour (400 naming it). */
export function checkRequestFields(body: object, fields: Readonly<Record<string, FieldSupport>>, card: Pick<ModelCard, "features">): void {
  const features = card.features ?? [];
  for (const [name, value] of Object.entries(body)) {
    if (value === null || value === undefined) continue;
    const f = fields[name];
    if (f === undefined) continue; // not an OpenAI field: vendor extensions pass, as in vLLM
    if (f.kind === "refused" && !(f.inert?.(value) ?? false)) {
      throw new TurbineError("REQUEST_UNSUPPORTED", f.why, { param: name });
    }
    if (f.kind === "feature" && !(f.inert?.(value) ?? false) && !features.includes(f.feature)) {
      throw new TurbineError("REQUEST_UNSUPPORTED", `${name} is not supported by the engine serving this model (it lacks ${f.feature})`, { param: name });
    }
  }
}
