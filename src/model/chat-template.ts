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

/** A compiled Jinja chat template (Hugging Face conventions, via `@huggingface/jinja`). */
export class ChatTemplate {
  readonly source: string;
  private readonly template: Template;
  private readonly tokens: ChatTemplateTokens;

  /** Throws TurbineError MODEL_LOAD_FAILED when the source does not parse. */
  constructor(source: string, tokens: ChatTemplateTokens = {}) {
    this.source = source;
    this.tokens = tokens;
    try {
      this.template = new Template(source);
    } catch (cause) {
      throw new TurbineError("MODEL_LOAD_FAILED", `invalid chat template: ${(cause as Error).message}`, { cause });
    }
  }

  /**
   * The prompt text of `messages`. Content arrays are joined into one string (text parts,
   * newline-separated). Throws TurbineError REQUEST_UNSUPPORTED for non-text parts and
   * REQUEST_INVALID when the template fails on these messages (e.g. `raise_exception`).
   */
  render(messages: readonly ChatMessage[], options: ChatTemplateRenderOptions = {}): string {
    const variables: Record<string, unknown> = {
      ...options.variables,
      messages: messages.map(flattenContent),
      add_generation_prompt: options.addGenerationPrompt ?? true,
      bos_token: this.tokens.bosToken ?? "",
      eos_token: this.tokens.eosToken ?? "",
    };
    // Templates test `tools is defined` / `if tools`: leave it out rather than null.
    if (options.tools !== undefined) variables.tools = options.tools;
    try {
      return this.template.render(variables);
    } catch (cause) {
      throw new TurbineError("REQUEST_INVALID", `chat template rejected the messages: ${(cause as Error).message}`, {
        cause,
        param: "messages",
      });
    }
  }
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
