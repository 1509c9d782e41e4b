// One model output through the request's parsers: reasoning first (its content goes on to the
// tool-call parser, so reasoning never reaches the tool parser's input), then tool calls.
// gpt-oss's harmony parser does both at once.
import { HarmonyParser } from "./harmony.ts";
import { TOOL_CALL_FORMATS } from "./registry.ts";
import type { ReasoningParserName, ToolCallParserName } from "./registry.ts";
import { ThinkReasoningParser } from "./think.ts";
import { ToolCallStreamParser } from "./tool-call-parser.ts";
import { coalesceEvents } from "./types.ts";
import type { ParsedEvent, StreamingParser, ToolDefinition } from "./types.ts";

export interface OutputParserOptions {
  /** Parse tool calls in this format (null/absent: none; the request had no tools). */
  toolCallParser?: ToolCallParserName | null;
  reasoningParser?: ReasoningParserName | null;
  /** The request's tools (Qwen3-Coder converts parameter text by their schemas). */
  tools?: readonly ToolDefinition[];
  /** The rendered prompt ended inside `<think>` (the template opened it). */
  promptEndsInReasoning?: boolean;
}

/** A finished output, split up. */
export interface ParsedOutput {
  content: string | null;
  reasoning: string | null;
  toolCalls: { index: number; id: string; name: string; arguments: string }[];
}

/** A streaming parser for the options, or null when they parse nothing (text passes as is). */
export function createOutputParser(options: OutputParserOptions): StreamingParser | null {
  const tool = options.toolCallParser ?? null;
  const reasoning = options.reasoningParser ?? null;
  if (tool === "harmony" || reasoning === "gpt_oss") return new HarmonyParser({ toolCalls: tool === "harmony" });
  const first =
    reasoning === null
      ? null
      : new ThinkReasoningParser({ startsInReasoning: reasoning === "deepseek_r1" || options.promptEndsInReasoning === true });
  const second = tool === null ? null : new ToolCallStreamParser(TOOL_CALL_FORMATS[tool], options.tools ?? []);
  if (first === null) return second;
  if (second === null) return first;
  return new ChainedParser(first, second);
}

/** Parses a whole output (the non-streaming answer). */
export function parseOutput(text: string, options: OutputParserOptions): ParsedOutput {
  const parser = createOutputParser(options);
  const events = parser === null ? [{ type: "content" as const, text }] : [...parser.push(text), ...parser.finish()];
  return collectEvents(events);
}

export function collectEvents(events: readonly ParsedEvent[]): ParsedOutput {
  const out: ParsedOutput = { content: null, reasoning: null, toolCalls: [] };
  for (const e of coalesceEvents(events)) {
    if (e.type === "content") out.content = (out.content ?? "") + e.text;
    else if (e.type === "reasoning") out.reasoning = (out.reasoning ?? "") + e.text;
    else out.toolCalls.push({ index: e.index, id: e.id, name: e.name, arguments: e.arguments });
  }
  return out;
}

/** Reasoning parser, then the tool-call parser over its content. */
class ChainedParser implements StreamingParser {
  constructor(
    private readonly first: StreamingParser,
    private readonly second: StreamingParser,
  ) {}

  push(text: string): ParsedEvent[] {
    return this.route(this.first.push(text), false);
  }

  finish(): ParsedEvent[] {
    return this.route(this.first.finish(), true);
  }

  private route(events: readonly ParsedEvent[], final: boolean): ParsedEvent[] {
    const out: ParsedEvent[] = [];
    for (const e of events) {
      if (e.type === "content") out.push(...this.second.push(e.text));
      else out.push(e);
    }
    if (final) out.push(...this.second.finish());
    return out;
  }
}
