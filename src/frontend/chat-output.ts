// A chat output as the client sees it: the text deltas of the postprocessor through the
// request's parsers (reasoning, tool calls), or, for a forced call, the grammar-made JSON read as
// one call; logprobs in OpenAI's shape. The same object serves the JSON answer and the stream,
// so the two cannot disagree.
import type { TokenLogprob } from "../protocols/index.ts";
import type { Tokenizer } from "../model/index.ts";
import type { ChatOutputPlan } from "./chat-features.ts";
import { createOutputParser, newToolCallId } from "./parsers/index.ts";
import type { ParsedEvent, StreamingParser } from "./parsers/index.ts";
import type { TextDelta } from "./postprocessor.ts";

/** OpenAI's logprob entry of one token. */
export interface LogprobJson {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

export interface ChatToolCallJson {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export class ChatOutput {
  private readonly parser: StreamingParser | null;
  private forcedText = "";
  private numCalls = 0;
  /** Calls parsed (and kept) so far. */
  readonly toolCalls: ChatToolCallJson[] = [];

  constructor(
    private readonly plan: ChatOutputPlan | undefined,
    private readonly tokenizer: Tokenizer,
  ) {
    this.parser =
      plan === undefined || plan.forcedToolCall
        ? null
        : createOutputParser({
            toolCallParser: plan.toolCallParser,
            reasoningParser: plan.reasoningParser,
            tools: plan.tools,
            promptEndsInReasoning: plan.promptEndsInReasoning,
          });
  }

  /** No parser and no forced call: every delta's text is content as it is (the SSE writer's fast path). */
  get plain(): boolean {
    return this.parser === null && this.plan?.forcedToolCall !== true;
  }

  /** The events of one delta (held-back text comes out later). */
  push(d: TextDelta): ParsedEvent[] {
    if (this.plan?.forcedToolCall === true) {
      this.forcedText += d.text;
      return [];
    }
    if (this.parser === null) return d.text.length > 0 ? [{ type: "content", text: d.text }] : [];
    return this.keep(this.parser.push(d.text));
  }

  /** The events held back until the end. */
  finish(): ParsedEvent[] {
    if (this.plan?.forcedToolCall === true) {
      const call = forcedCall(this.forcedText);
      if (call === null) return this.forcedText.length > 0 ? [{ type: "content", text: this.forcedText }] : [];
      return this.keep([{ type: "tool_call", index: 0, id: newToolCallId(), ...call }]);
    }
    return this.parser === null ? [] : this.keep(this.parser.finish());
  }

  /** OpenAI's finish reason: "tool_calls" when the model stopped after calling. */
  finishReason(engine: string): string {
    return this.toolCalls.length > 0 && engine === "stop" ? "tool_calls" : engine;
  }

  /** OpenAI's chat logprobs entries of `lps`. */
  logprobsJson(lps: readonly TokenLogprob[]): LogprobJson[] {
    return lps.map((lp) => {
      const token = lp.token ?? this.tokenizer.decode([lp.tokenId]);
      return {
        token,
        logprob: lp.logprob,
        bytes: [...Buffer.from(token, "utf8")],
        top_logprobs: lp.top.map((t) => {
          const tt = t.token ?? this.tokenizer.decode([t.tokenId]);
          return { token: tt, logprob: t.logprob, bytes: [...Buffer.from(tt, "utf8")] };
        }),
      };
    });
  }

  private keep(events: ParsedEvent[]): ParsedEvent[] {
    const out: ParsedEvent[] = [];
    for (const e of events) {
      if (e.type === "tool_call") {
        if (this.plan?.parallelToolCalls === false && this.numCalls > 0) continue;
        const index = this.numCalls++;
        this.toolCalls.push({ id: e.id, type: "function", function: { name: e.name, arguments: e.arguments } });
        out.push({ ...e, index });
      } else out.push(e);
    }
    return out;
  }
}

/** The call a forced-call grammar made: `{"name": ..., "arguments": {...}}`, or null (cut short). */
function forcedCall(text: string): { name: string; arguments: string } | null {
  try {
    const v = JSON.parse(text) as { name?: unknown; arguments?: unknown };
    if (typeof v.name !== "string" || typeof v.arguments !== "object" || v.arguments === null || Array.isArray(v.arguments)) return null;
    return { name: v.name, arguments: JSON.stringify(v.arguments) };
  } catch {
    return null;
  }
}

/** The choice objects (as JSON text) of one chat stream step: one per event, OpenAI's tool-call fragments; `index` is the choice's (n > 1). */
export function chatStreamChoices(events: readonly ParsedEvent[], logprobs: LogprobJson[] | null, role: boolean, index = 0): string[] {
  const out: string[] = [];
  let lp = logprobs === null ? "null" : JSON.stringify({ content: logprobs });
  const roleField = (): string => {
    const r = role ? '"role":"assistant",' : "";
    role = false;
    return r;
  };
  const choice = (delta: string): string => {
    const s = `{"index":${index},"delta":{${roleField()}${delta}},"logprobs":${lp},"finish_reason":null}`;
    lp = "null"; // logprobs travel once, with the first chunk of their step
    return s;
  };
  for (const e of events) {
    if (e.type === "content") out.push(choice(`"content":${JSON.stringify(e.text)}`));
    else if (e.type === "reasoning") out.push(choice(`"reasoning_content":${JSON.stringify(e.text)}`));
    else {
      // As OpenAI streams a call: its id, type and name with empty arguments, then the arguments.
      out.push(choice(`"tool_calls":[{"index":${e.index},"id":${JSON.stringify(e.id)},"type":"function","function":{"name":${JSON.stringify(e.name)},"arguments":""}}]`));
      out.push(choice(`"tool_calls":[{"index":${e.index},"function":{"arguments":${JSON.stringify(e.arguments)}}}]`));
    }
  }
  if (out.length === 0 && (role || lp !== "null")) out.push(choice('"content":""'));
  return out;
}
