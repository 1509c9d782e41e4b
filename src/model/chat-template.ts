import { Template } from "@huggingface/jinja";
import { TurbineError } from "../protocols/index.ts";

/** One part of an OpenAI message's content array; only text parts can be rendered. */
export interface ChatContentPart {
  type: string;
  text?: string;
}

/**
 * An OpenAI chat message. Fields other than content (and others than those listed, at run
 * time) reach the template unchanged.
 */
export interface ChatMessage {
  role: string;
  content?: string | readonly ChatContentPart[] | null;
  name?: string;
  tool_calls?: unknown;
  tool_call_id?: string;
}

export interface ChatTemplateRenderOptions {
  /** End with the header of an assistant turn, so that the model answers. Default true. */
  addGenerationPrompt?: boolean;
  /** OpenAI `tools` (function definitions), for templates that render them. */
  tools?: readonly unknown[];
  /** More template variables (e.g. `date_string`); they cannot override the standard ones. */
  variables?: Record<string, unknown>;
}

/** The strings a template sees as `bos_token` and `eos_token`. */
export interface ChatTemplateTokens {
  bosToken?: string;
  eosToken?: string;
}

/**
 * The built-in byte model's template: `<|bos|>`, then per message `<|role|>content<|eos|>`,
 * then `<|assistant|>` to prompt an answer. OpenAI's "developer" role is the system role;
 * other roles are a request error.
 */
export const BYTE_CHAT_TEMPLATE =
  "{{ bos_token }}" +
  "{% for message in messages %}" +
  "{% set role = 'system' if message.role == 'developer' else message.role %}" +
  "{% if role not in ['system', 'user', 'assistant', 'tool'] %}" +
  "{{ raise_exception('unknown role: ' + role) }}" +
  "{% endif %}" +
  "<|{{ role }}|>{% if message.content %}{{ message.content }}{% endif %}{{ eos_token }}" +
  "{% endfor %}" +
  "{% if add_generation_prompt %}<|assistant|>{% endif %}";

/** For a model card without a template: one "role: content" line per message. */
export const PLAIN_CHAT_TEMPLATE =
  "{% for message in messages %}" +
  // An expression, not a literal newline: templates run with trim_blocks, as in transformers.
  "{{ message.role }}: {% if message.content %}{{ message.content }}{% endif %}{{ '\\n' }}" +
  "{% endfor %}" +
  "{% if add_generation_prompt %}assistant: {% endif %}";

/**
 * The globals of `@huggingface/jinja` whose value is not a function of the template's inputs
 * (`strftime_now` reads the clock). Every other global is a constant or a pure function.
 */
const NONDETERMINISTIC_GLOBALS = ["strftime_now"];

/** A compiled Jinja chat template (Hugging Face conventions, via `@huggingface/jinja`). */
export class ChatTemplate {
  readonly source: string;
  /**
   * Whether `render` is a pure function of its arguments: the template reads no clock (its
   * source names no non-deterministic global; any mention counts). Only then may a rendering
   * be cached.
   */
  readonly deterministic: boolean;
  private readonly template: Template;
  private readonly tokens: ChatTemplateTokens;
  private readonly mentions: ReturnType<typeof mentionsOf>;

  /** Throws TurbineError MODEL_LOAD_FAILED when the source does not parse. */
  constructor(source: string, tokens: ChatTemplateTokens = {}) {
    this.source = source;
    this.tokens = tokens;
    this.mentions = mentionsOf(source);
    this.deterministic = !NONDETERMINISTIC_GLOBALS.some((name) => this.reads(name));
    try {
      this.template = new Template(source);
    } catch (cause) {
      throw new TurbineError("MODEL_LOAD_FAILED", `invalid chat template: ${(cause as Error).message}`, { cause });
    }
  }

  /** Whether the template's source reads a variable of this name (`tools`, `reasoning_effort`, ...). */
  reads(variable: string): boolean {
    return new RegExp(`\\b${variable}\\b`).test(this.source);
  }

  /**
   * The prompt text of `messages`. Content arrays are joined into one string (text parts,
   * newline-separated). Throws TurbineError REQUEST_UNSUPPORTED for non-text parts and
   * REQUEST_INVALID when the template fails on these messages (e.g. `raise_exception`).
   */
  render(messages: readonly ChatMessage[], options: ChatTemplateRenderOptions = {}): string {
    let list = messages.map(flattenContent);
    // What the template cannot show itself is written into the messages, so that the model
    // still sees it: tool definitions, and the calls of assistant turns.
    if (options.tools !== undefined && options.tools.length > 0 && !this.mentions.tools) list = withToolsInSystem(list, options.tools);
    if (!this.mentions.toolCalls) list = list.map(withCallsInContent);
    const variables: Record<string, unknown> = {
      ...options.variables,
      add_generation_prompt: options.addGenerationPrompt ?? true,
      bos_token: this.tokens.bosToken ?? "",
      eos_token: this.tokens.eosToken ?? "",
    };
    // Templates test `tools is defined` / `if tools`: leave it out rather than null.
    if (options.tools !== undefined && this.mentions.tools) variables.tools = options.tools;
    // Templates differ in what they accept; an OpenAI conversation is retried, adapted, before
    // it is refused: call arguments as objects (what Hugging Face templates expect) or as the
    // JSON strings OpenAI sends (templates that concatenate them); null content kept (templates
    // that test `content is none`) or as ""; tool results as user turns (templates without a
    // tool role). The first error is the one reported.
    const withObjects = list.map(argumentsAsObjects);
    const [a, b] = this.mentions.concatenatesArguments ? [list, withObjects] : [withObjects, list];
    const variants = [a, b, a.map(nullAsEmpty), b.map(nullAsEmpty)];
    if (!this.mentions.toolRole) variants.push(...variants.slice(2).map((v) => v.map(toolAsUser)));
    let first: unknown;
    for (const v of variants) {
      try {
        return this.template.render({ ...variables, messages: v });
      } catch (cause) {
        first ??= cause;
      }
    }
    throw new TurbineError("REQUEST_INVALID", `chat template rejected the messages: ${(first as Error).message}`, {
      cause: first,
      param: "messages",
    });
  }
}

/** Where a template's source shows it renders tools and assistant tool calls itself. */
function mentionsOf(source: string): { tools: boolean; toolCalls: boolean; toolRole: boolean; concatenatesArguments: boolean } {
  return {
    tools: /\btools\b/.test(source),
    toolCalls: source.includes("tool_calls"),
    toolRole: /['"]tool['"]/.test(source),
    // `... + tool['function']['arguments'] + ...` (DeepSeek V3) needs the JSON string.
    concatenatesArguments: /arguments['"]?\]?\s*\+|\+\s*[\w.[\]'"]*arguments/.test(source),
  };
}

interface OpenAIToolCall {
  id?: string;
  function?: { name?: string; arguments?: unknown };
}

function callsOf(message: ChatMessage): OpenAIToolCall[] {
  return Array.isArray(message.tool_calls) ? (message.tool_calls as OpenAIToolCall[]) : [];
}

/** Tool definitions as a system message, in the Hermes wording, for templates without tools. */
function withToolsInSystem(messages: ChatMessage[], tools: readonly unknown[]): ChatMessage[] {
  const text =
    "You may call one or more functions. The functions are given as JSON in <tools></tools>:\n<tools>\n" +
    tools.map((t) => JSON.stringify(t)).join("\n") +
    '\n</tools>\nTo call a function, answer with <tool_call>{"name": <function-name>, "arguments": <args-json-object>}</tool_call>.';
  const first = messages[0];
  if (first !== undefined && (first.role === "system" || first.role === "developer")) {
    return [{ ...first, content: `${typeof first.content === "string" ? first.content : ""}\n\n${text}` }, ...messages.slice(1)];
  }
  return [{ role: "system", content: text }, ...messages];
}

/** An assistant turn's calls appended to its content as `<tool_call>` blocks. */
function withCallsInContent(message: ChatMessage): ChatMessage {
  const calls = callsOf(message);
  if (calls.length === 0) return message;
  let text = typeof message.content === "string" ? message.content : "";
  for (const c of calls) {
    const args = typeof c.function?.arguments === "string" ? c.function.arguments : JSON.stringify(c.function?.arguments ?? {});
    text += `${text.length > 0 ? "\n" : ""}<tool_call>{"name": ${JSON.stringify(c.function?.name ?? "")}, "arguments": ${args}}</tool_call>`;
  }
  const { tool_calls: _calls, ...rest } = message;
  return { ...rest, content: text };
}

function nullAsEmpty(m: ChatMessage): ChatMessage {
  return m.content === null || m.content === undefined ? { ...m, content: "" } : m;
}

function argumentsAsObjects(m: ChatMessage): ChatMessage {
  const calls = callsOf(m);
  if (calls.length === 0) return m;
  const parsed = calls.map((c) => {
    const a = c.function?.arguments;
    if (typeof a !== "string") return c;
    try {
      return { ...c, function: { ...c.function, arguments: JSON.parse(a) as unknown } };
    } catch {
      return c;
    }
  });
  return { ...m, tool_calls: parsed };
}

function toolAsUser(m: ChatMessage): ChatMessage {
  return m.role === "tool" ? { role: "user", content: `<tool_response>\n${typeof m.content === "string" ? m.content : ""}\n</tool_response>` } : m;
}

function flattenContent(message: ChatMessage, index: number): ChatMessage {
  const content = message.content;
  if (content === undefined || content === null || typeof content === "string") return message;
  if (!Array.isArray(content)) {
    throw new TurbineError("REQUEST_INVALID", `messages[${index}].content must be a string or an array of parts`, {
      param: "messages",
    });
  }
  let text = "";
  for (let i = 0; i < content.length; i++) {
    const part = content[i] as ChatContentPart;
    if (part?.type !== "text" || typeof part.text !== "string") {
      throw new TurbineError("REQUEST_UNSUPPORTED", `messages[${index}].content[${i}]: only text parts are supported`, {
        param: "messages",
      });
    }
    text += i === 0 ? part.text : "\n" + part.text;
  }
  return { ...message, content: text };
}
