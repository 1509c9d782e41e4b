// JSON schemas of the OpenAI requests Turbine accepts. Fastify validates bodies against them
// before a handler runs (ajv, no type coercion), so a wrong type is a 400 with `param` set.
// Unknown fields are accepted and ignored, as vLLM does: clients send vendor extensions.

import type { ToolDefinition } from "./parsers/index.ts";

const samplingProperties = {
  model: { type: "string", minLength: 1 },
  max_tokens: { type: ["integer", "null"], minimum: 1 },
  temperature: { type: ["number", "null"], minimum: 0, maximum: 2 },
  top_p: { type: ["number", "null"], exclusiveMinimum: 0, maximum: 1 },
  top_k: { type: ["integer", "null"], minimum: -1 },
  n: { type: ["integer", "null"], minimum: 1, maximum: 128 },
  seed: { type: ["integer", "null"] },
  stream: { type: ["boolean", "null"] },
  stream_options: {
    type: ["object", "null"],
    properties: { include_usage: { type: ["boolean", "null"] } },
  },
  stop: {
    anyOf: [
      { type: "string" },
      { type: "array", items: { type: "string", minLength: 1 }, maxItems: 4 },
      { type: "null" },
    ],
  },
  stop_token_ids: { type: ["array", "null"], items: { type: "integer", minimum: 0 } },
  ignore_eos: { type: ["boolean", "null"] },
  user: { type: ["string", "null"] },
  presence_penalty: { type: ["number", "null"], minimum: -2, maximum: 2 },
  frequency_penalty: { type: ["number", "null"], minimum: -2, maximum: 2 },
  repetition_penalty: { type: ["number", "null"], exclusiveMinimum: 0 },
  logit_bias: { type: ["object", "null"], additionalProperties: { type: "number", minimum: -100, maximum: 100 } },
  turbine: {
    type: ["object", "null"],
    properties: {
      worker_id: { type: "string" },
      prefill_load_scale: { type: "number", minimum: 0 },
      temperature: { type: "number", minimum: 0 },
      priority: { type: "string", enum: ["high", "normal", "low"] },
    },
  },
} as const;

const toolSchema = {
  type: "object",
  required: ["type", "function"],
  properties: {
    type: { enum: ["function"] },
    function: {
      type: "object",
      required: ["name"],
      properties: {
        name: { type: "string", minLength: 1, maxLength: 64 },
        description: { type: "string" },
        parameters: { type: "object" },
        strict: { type: ["boolean", "null"] },
      },
    },
  },
} as const;

const toolCallSchema = {
  type: "object",
  required: ["function"],
  properties: {
    id: { type: "string" },
    type: { enum: ["function"] },
    function: { type: "object", required: ["name"], properties: { name: { type: "string" }, arguments: { type: "string" } } },
  },
} as const;

const contentPart = {
  type: "object",
  required: ["type"],
  properties: { type: { type: "string" }, text: { type: "string" } },
} as const;

/** The chat schema with a bound on the number of messages (checked before the items are). */
export function chatCompletionSchemaWith(maxMessages: number): typeof chatCompletionSchema & { properties: { messages: { maxItems: number } } } {
  return {
    ...chatCompletionSchema,
    properties: { ...chatCompletionSchema.properties, messages: { ...chatCompletionSchema.properties.messages, maxItems: maxMessages } },
  };
}

export const chatCompletionSchema = {
  type: "object",
  required: ["model", "messages"],
  properties: {
    ...samplingProperties,
    max_completion_tokens: { type: ["integer", "null"], minimum: 1 },
    messages: {
      type: "array",
      minItems: 1,
      items: {
        type: "object",
        required: ["role"],
        properties: {
          role: { type: "string", enum: ["system", "developer", "user", "assistant", "tool"] },
          content: { anyOf: [{ type: "string" }, { type: "array", items: contentPart }, { type: "null" }] },
          name: { type: "string" },
          tool_calls: { type: ["array", "null"], items: toolCallSchema },
          tool_call_id: { type: "string" },
          reasoning_content: { type: ["string", "null"] },
        },
      },
    },
    tools: { type: ["array", "null"], items: toolSchema, maxItems: 128 },
    tool_choice: {
      anyOf: [
        { enum: ["none", "auto", "required", null] },
        { type: "object", required: ["type", "function"], properties: { type: { enum: ["function"] }, function: { type: "object", required: ["name"], properties: { name: { type: "string" } } } } },
      ],
    },
    parallel_tool_calls: { type: ["boolean", "null"] },
    response_format: {
      anyOf: [
        { type: "null" },
        { type: "object", required: ["type"], properties: { type: { enum: ["text", "json_object"] } } },
        {
          type: "object",
          required: ["type", "json_schema"],
          properties: {
            type: { enum: ["json_schema"] },
            json_schema: { type: "object", required: ["name"], properties: { name: { type: "string" }, schema: { type: "object" }, strict: { type: ["boolean", "null"] } } },
          },
        },
      ],
    },
    logprobs: { type: ["boolean", "null"] },
    top_logprobs: { type: ["integer", "null"], minimum: 0, maximum: 20 },
    reasoning_effort: { type: ["string", "null"] },
  },
} as const;

export const completionSchema = {
  type: "object",
  required: ["model", "prompt"],
  properties: {
    ...samplingProperties,
    prompt: {
      anyOf: [
        { type: "string" },
        { type: "array", items: { type: "string" }, minItems: 1 },
        { type: "array", items: { type: "integer", minimum: 0 }, minItems: 1 },
        { type: "array", items: { type: "array", items: { type: "integer", minimum: 0 } }, minItems: 1 },
      ],
    },
    echo: { type: ["boolean", "null"] },
    logprobs: { type: ["integer", "null"], minimum: 0, maximum: 20 },
  },
} as const;

export interface ChatMessage {
  role: "system" | "developer" | "user" | "assistant" | "tool";
  content?: string | { type: string; text?: string }[] | null;
  name?: string;
  tool_calls?: { id?: string; type?: "function"; function: { name: string; arguments?: string } }[] | null;
  tool_call_id?: string;
  reasoning_content?: string | null;
}

interface SamplingFields {
  model: string;
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  n?: number | null;
  seed?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null } | null;
  stop?: string | string[] | null;
  stop_token_ids?: number[] | null;
  ignore_eos?: boolean | null;
  user?: string | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  repetition_penalty?: number | null;
  logit_bias?: Record<string, number> | null;
  turbine?: { worker_id?: string; prefill_load_scale?: number; temperature?: number; priority?: "high" | "normal" | "low" } | null;
}

export interface ChatCompletionBody extends SamplingFields {
  messages: ChatMessage[];
  max_completion_tokens?: number | null;
  tools?: ToolDefinition[] | null;
  tool_choice?: "none" | "auto" | "required" | { type: "function"; function: { name: string } } | null;
  parallel_tool_calls?: boolean | null;
  response_format?: { type: "text" } | { type: "json_object" } | { type: "json_schema"; json_schema: { name: string; schema?: Record<string, unknown>; strict?: boolean | null } } | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  reasoning_effort?: string | null;
}

export interface CompletionBody extends SamplingFields {
  prompt: string | string[] | number[] | number[][];
  echo?: boolean | null;
  logprobs?: number | null;
}
