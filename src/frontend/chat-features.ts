// What a chat request asks beyond plain text, resolved before the prompt is rendered: tools
// and tool_choice (a parser for the model's format, or a JSON-schema grammar of the call when a
// call is forced), response_format, penalties, logit bias, logprobs, reasoning. The result is
// the template's options, the request's extra fields, and the plan its output is parsed by.
import { TurbineError } from "../protocols/index.ts";
import type { GuidedDecoding, ModelCard, PreprocessedRequest, SamplingOptions } from "../protocols/index.ts";
import { detectReasoningParser, detectToolCallParser } from "./parsers/index.ts";
import type { ReasoningParserName, ToolCallParserName, ToolDefinition } from "./parsers/index.ts";

/** Parsers the operator chose (`--tool-call-parser`, `--reasoning-parser`); absent: detected from the template. */
export interface ParserChoice {
  toolCallParser?: ToolCallParserName | "none";
  reasoningParser?: ReasoningParserName | "none";
}

/** How a chat output is turned into the answer. */
export interface ChatOutputPlan {
  /** Parse tool calls in this format (null: none, the request has no tools or tool_choice "none"). */
  toolCallParser: ToolCallParserName | null;
  reasoningParser: ReasoningParserName | null;
  tools: ToolDefinition[];
  /** The output is a JSON call made under a grammar (tool_choice "required" or a named tool). */
  forcedToolCall: boolean;
  /** false: only the first call is kept. */
  parallelToolCalls: boolean;
  /** The prompt ended inside `<think>`. */
  promptEndsInReasoning: boolean;
  /** Chat logprobs were asked for. */
  logprobs: boolean;
  /** Parsers that need the special tokens their formats use (harmony, mistral) see them. */
  keepSpecialTokens: boolean;
}

export interface ChatFeatureFields {
  tools?: ToolDefinition[] | null;
  tool_choice?: "none" | "auto" | "required" | { type: "function"; function: { name: string } } | null;
  parallel_tool_calls?: boolean | null;
  response_format?: { type: "text" } | { type: "json_object" } | { type: "json_schema"; json_schema: { name?: string; schema?: Record<string, unknown>; strict?: boolean | null } } | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  repetition_penalty?: number | null;
  logit_bias?: Record<string, number> | null;
  logprobs?: boolean | number | null;
  top_logprobs?: number | null;
  reasoning_effort?: string | null;
}

/** Sampling extras shared by chat and completions: penalties and logit bias (validated against the vocabulary). */
export function samplingExtras(body: ChatFeatureFields, vocabSize: number): Partial<SamplingOptions> {
  const s: Partial<SamplingOptions> = {};
  if (body.presence_penalty != null && body.presence_penalty !== 0) s.presencePenalty = body.presence_penalty;
  if (body.frequency_penalty != null && body.frequency_penalty !== 0) s.frequencyPenalty = body.frequency_penalty;
  if (body.repetition_penalty != null && body.repetition_penalty !== 1) s.repetitionPenalty = body.repetition_penalty;
  if (body.logit_bias != null && Object.keys(body.logit_bias).length > 0) {
    for (const id of Object.keys(body.logit_bias)) {
      if (!/^\d+$/.test(id) || Number(id) >= vocabSize) {
        throw new TurbineError("REQUEST_INVALID", `logit_bias key ${JSON.stringify(id)} is not a token id of this model (vocabulary ${vocabSize})`, { param: "logit_bias" });
      }
    }
    s.logitBias = { ...body.logit_bias };
  }
  return s;
}

/** The template options, request extras and output plan of a chat request. */
export function planChat(
  body: ChatFeatureFields,
  card: ModelCard,
  parsers: ParserChoice,
  templateReads: (name: string) => boolean,
): { tools: ToolDefinition[] | undefined; variables: Record<string, unknown>; guided?: GuidedDecoding; logprobs?: PreprocessedRequest["logprobs"]; plan: ChatOutputPlan } {
  const features = card.features ?? [];
  const tools = body.tools ?? [];
  const choice = body.tool_choice ?? (tools.length > 0 ? "auto" : "none");
  if (tools.length === 0 && choice !== "none" && choice !== "auto") {
    throw new TurbineError("REQUEST_INVALID", "tool_choice requires tools", { param: "tool_choice" });
  }
  const names = new Set(tools.map((t) => t.function.name));
  let guided: GuidedDecoding | undefined;
  let forced = false;
  let forcedTools = tools;
  if (choice === "required" || typeof choice === "object") {
    if (typeof choice === "object") {
      if (!names.has(choice.function.name)) {
        throw new TurbineError("REQUEST_INVALID", `tool_choice names ${JSON.stringify(choice.function.name)}, which is not in tools`, { param: "tool_choice" });
      }
      forcedTools = tools.filter((t) => t.function.name === choice.function.name);
    }
    if (!features.includes("guided_decoding")) {
      throw new TurbineError("REQUEST_UNSUPPORTED", "tool_choice 'required' or a named function needs guided decoding, which the engine serving this model lacks", { param: "tool_choice" });
    }
    guided = { kind: "json_schema", schema: callSchema(forcedTools), strict: forcedTools.every((t) => t.function.strict === true) };
    forced = true;
  }
  const rf = body.response_format;
  if (rf != null && rf.type !== "text") {
    if (guided !== undefined) throw new TurbineError("REQUEST_UNSUPPORTED", "response_format cannot be combined with a forced tool call", { param: "response_format" });
    if (rf.type === "json_object") guided = { kind: "json_object" };
    else {
      const js = rf.json_schema;
      guided = { kind: "json_schema", schema: js.schema ?? {}, ...(js.strict != null ? { strict: js.strict } : {}), ...(js.name !== undefined ? { name: js.name } : {}) };
    }
  }
  const variables: Record<string, unknown> = {};
  if (body.reasoning_effort != null) {
    if (!templateReads("reasoning_effort")) {
      throw new TurbineError("REQUEST_UNSUPPORTED", "reasoning_effort is not supported by this model's chat template", { param: "reasoning_effort" });
    }
    variables["reasoning_effort"] = body.reasoning_effort;
  }
  let toolCallParser: ToolCallParserName | null = null;
  if (tools.length > 0 && choice === "auto") {
    const chosen = parsers.toolCallParser === "none" ? null : (parsers.toolCallParser ?? detectToolCallParser(card.chatTemplate));
    // A template that does not render tools gets Turbine's Hermes-style instructions (chat-template.ts).
    toolCallParser = chosen ?? (templateReads("tools") ? null : "hermes");
    if (toolCallParser === null) {
      throw new TurbineError("REQUEST_UNSUPPORTED", "No tool-call parser is known for this model's chat template: start Turbine with --tool-call-parser", { param: "tools" });
    }
  }
  const reasoningParser = parsers.reasoningParser === "none" ? null : (parsers.reasoningParser ?? detectReasoningParser(card.chatTemplate));
  let logprobs: PreprocessedRequest["logprobs"];
  if (body.logprobs === true) logprobs = { topLogprobs: body.top_logprobs ?? 0 };
  else if (body.top_logprobs != null && body.top_logprobs > 0) {
    throw new TurbineError("REQUEST_INVALID", "top_logprobs requires logprobs: true", { param: "top_logprobs" });
  }
  const harmony = toolCallParser === "harmony" || reasoningParser === "gpt_oss";
  return {
    tools: tools.length > 0 ? tools : undefined,
    variables,
    ...(guided !== undefined ? { guided } : {}),
    ...(logprobs !== undefined ? { logprobs } : {}),
    plan: {
      toolCallParser,
      reasoningParser: forced || guided !== undefined ? null : reasoningParser,
      tools,
      forcedToolCall: forced,
      parallelToolCalls: body.parallel_tool_calls ?? true,
      promptEndsInReasoning: false,
      logprobs: logprobs !== undefined,
      keepSpecialTokens: harmony || toolCallParser === "mistral",
    },
  };
}

/** The JSON schema of one call of one of `tools`: `{"name": ..., "arguments": {...}}`. */
function callSchema(tools: readonly ToolDefinition[]): Record<string, unknown> {
  const one = (t: ToolDefinition): Record<string, unknown> => ({
    type: "object",
    properties: { name: { const: t.function.name }, arguments: t.function.parameters ?? { type: "object" } },
    required: ["name", "arguments"],
    additionalProperties: false,
  });
  return tools.length === 1 ? one(tools[0]!) : { oneOf: tools.map(one) };
}
