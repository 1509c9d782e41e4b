// Turns a validated OpenAI request body into a PreprocessedRequest: chat template, tokens,
// stop conditions, sampling options and routing hints.
import { TurbineError, asRequestId, asWorkerId } from "../protocols/index.ts";
import type { ModelCard, PreprocessedRequest, RoutingHints, SamplingOptions } from "../protocols/index.ts";
import type { ChatTemplate, Tokenizer, TokenizerThreads } from "../model/index.ts";
import type { ChatCompletionBody, CompletionBody } from "./openai-schemas.ts";
import { planChat, samplingExtras } from "./chat-features.ts";
import type { ChatOutputPlan, ParserChoice } from "./chat-features.ts";
import { CHAT_FIELDS, COMPLETION_FIELDS, checkRequestFields } from "./request-fields.ts";
import { PromptCache, renderPrompt } from "./prompt-cache.ts";
import type { PromptCacheCounters, PromptCacheOptions, RenderedPrompt } from "./prompt-cache.ts";

export interface Preprocessed {
  request: PreprocessedRequest;
  stopStrings: string[];
  /** Chat: how the output is parsed (tool calls, reasoning, logprobs). */
  output?: ChatOutputPlan;
}

export interface PreprocessorOptions {
  card: ModelCard;
  tokenizer: Tokenizer;
  chatTemplate: ChatTemplate;
  /** Tool-call and reasoning parsers (absent: detected from the chat template). */
  parsers?: ParserChoice;
  /** The cache of rendered prompts and their tokens (prompt-cache.ts); false: none. Default on, 64 MiB. */
  promptCache?: PromptCacheOptions | false;
  /** The tokenizer's threads, for long prompts (absent: every prompt is encoded on the loop). */
  threads?: TokenizerThreads;
}

/** Bounds on a prompt's size, checked before any template rendering or tokenization. */
export interface PromptBounds {
  /** Most messages in a chat request (the schema enforces it: `maxItems`). */
  maxMessages: number;
  /** Most characters of content in one request, all messages (or prompts) together. */
  maxPromptChars: number;
}

export const DEFAULT_PROMPT_BOUNDS: PromptBounds = { maxMessages: 2048, maxPromptChars: 1024 * 1024 };

/**
 * Refuses a prompt too big to render and tokenize without starving other requests: a cheap,
 * linear count of characters that runs before the template does.
 */
export function checkPromptBounds(body: ChatCompletionBody | CompletionBody, bounds: PromptBounds): void {
  let chars = 0;
  let param: string;
  if ("messages" in body) {
    param = "messages";
    if (body.messages.length > bounds.maxMessages) {
      throw new TurbineError("REQUEST_INVALID", `Too many messages: ${body.messages.length}, at most ${bounds.maxMessages} are accepted`, { param });
    }
    for (const m of body.messages) {
      const c = m.content;
      if (typeof c === "string") chars += c.length;
      else if (Array.isArray(c)) for (const part of c) chars += part.text?.length ?? 0;
      chars += m.name?.length ?? 0;
    }
  } else {
    param = "prompt";
    const p = body.prompt;
    if (typeof p === "string") chars = p.length;
    else for (const x of p) if (typeof x === "string") chars += x.length;
  }
  if (chars > bounds.maxPromptChars) {
    throw new TurbineError("REQUEST_INVALID", `The ${param} hold ${chars} characters; at most ${bounds.maxPromptChars} are accepted`, { param });
  }
}

export class Preprocessor {
  /** The model's cache of rendered prompts and their tokens; null when off. */
  readonly promptCache: PromptCache | null;

  /** Where long prompts are encoded, off the event loop (absent: all on the loop). */
  private readonly threads: TokenizerThreads | undefined;

  constructor(private readonly options: PreprocessorOptions) {
    this.threads = options.threads;
    this.promptCache = options.promptCache === false ? null : new PromptCache(options.chatTemplate, options.tokenizer, options.promptCache, options.threads);
  }

  /** Adds the prompt cache's hits and misses to the model's metrics (turbine_prompt_cache_*). */
  countPromptCacheIn(counters: PromptCacheCounters): void {
    this.promptCache?.countIn(counters);
  }

  /**
   * The request of a chat body. A promise only when its prompt is long enough to be encoded on
   * the tokenizer's threads; a short one is preprocessed at once, with no await.
   */
  chat(body: ChatCompletionBody, requestId: string): Preprocessed | Promise<Preprocessed> {
    const { card, chatTemplate, tokenizer } = this.options;
    checkRequestFields(body, CHAT_FIELDS, card);
    const features = planChat(body, card, this.options.parsers ?? {}, (name) => chatTemplate.reads(name));
    const renderOptions = {
      addGenerationPrompt: true,
      ...(features.tools !== undefined ? { tools: features.tools } : {}),
      variables: features.variables,
    };
    const rendered = this.promptCache
      ? this.promptCache.chat(body.messages, renderOptions)
      : renderPrompt(chatTemplate, tokenizer, body.messages, renderOptions, this.threads);
    const finish = ({ prompt, tokenIds }: RenderedPrompt): Preprocessed => {
      const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? null;
      const pre = this.finish(body, requestId, tokenIds, maxTokens, "messages");
      Object.assign(pre.request.sampling, samplingExtras(body, tokenizer.vocabSize));
      if (features.guided !== undefined) pre.request.guided = features.guided;
      if (features.logprobs !== undefined) pre.request.logprobs = features.logprobs;
      pre.output = { ...features.plan, promptEndsInReasoning: /<think>\s*$/.test(prompt) };
      return pre;
    };
    return rendered instanceof Promise ? rendered.then(finish) : finish(rendered);
  }

  /** The request of a completions body (a promise as `chat`'s, for a long text prompt). */
  completion(body: CompletionBody, requestId: string): Preprocessed | Promise<Preprocessed> {
    const p = body.prompt;
    const text = typeof p === "string" ? p : p.length === 1 && typeof p[0] === "string" ? p[0] : undefined;
    if (text === undefined && !(p.length === 1 && Array.isArray(p[0])) && typeof p[0] !== "number") {
      throw new TurbineError("REQUEST_UNSUPPORTED", "Only one prompt per request is supported; send several requests", {
        param: "prompt",
      });
    }
    checkRequestFields(body, COMPLETION_FIELDS, this.options.card);
    const finish = (tokenIds: number[]): Preprocessed => {
      // The context check first: it is O(1), the vocabulary check is a pass over the ids.
      this.checkContext(tokenIds, "prompt");
      const vocab = this.options.tokenizer.vocabSize;
      for (const id of tokenIds) {
        if (id >= vocab) throw new TurbineError("REQUEST_INVALID", `token id ${id} is outside the vocabulary (size ${vocab})`, { param: "prompt" });
      }
      const pre = this.finish(body, requestId, tokenIds, body.max_tokens ?? null, "prompt");
      Object.assign(pre.request.sampling, samplingExtras(body, vocab));
      if (body.logprobs != null) pre.request.logprobs = { topLogprobs: body.logprobs };
      return pre;
    };
    if (text === undefined) return finish(Array.isArray(p[0]) ? (p[0] as number[]) : (p as number[]));
    if (this.threads?.takes(text.length)) return this.threads.encode(text, { addSpecialTokens: true }).then(finish);
    return finish(this.options.tokenizer.encode(text, { addSpecialTokens: true }));
  }

  private checkContext(tokenIds: readonly number[], promptParam: string): void {
    const { card } = this.options;
    if (tokenIds.length >= card.contextLength) {
      throw new TurbineError(
        "REQUEST_CONTEXT_LENGTH_EXCEEDED",
        `This model's maximum context length is ${card.contextLength} tokens, but the prompt has ${tokenIds.length} tokens`,
        { param: promptParam },
      );
    }
  }

  private finish(
    body: ChatCompletionBody | CompletionBody,
    requestId: string,
    tokenIds: number[],
    maxTokens: number | null,
    promptParam: string,
  ): Preprocessed {
    const { card } = this.options;
    if ((body.n ?? 1) > 1) {
      throw new TurbineError("REQUEST_UNSUPPORTED", "n > 1 is not supported: send n separate requests", { param: "n" });
    }
    if (tokenIds.length === 0) throw new TurbineError("REQUEST_INVALID", "The prompt is empty", { param: promptParam });
    this.checkContext(tokenIds, promptParam);
    const room = card.contextLength - tokenIds.length;
    if (maxTokens !== null && maxTokens > room) {
      throw new TurbineError(
        "REQUEST_CONTEXT_LENGTH_EXCEEDED",
        `This model's maximum context length is ${card.contextLength} tokens; the prompt has ${tokenIds.length} tokens and ${maxTokens} were requested`,
        { param: "max_tokens" },
      );
    }
    const stop = body.stop ?? [];
    const stopStrings = (typeof stop === "string" ? [stop] : stop).filter((s) => s.length > 0);
    const ignoreEos = body.ignore_eos ?? false;
    const custom = body.stop_token_ids ?? [];
    const sampling: SamplingOptions = {};
    if (body.temperature !== undefined && body.temperature !== null) sampling.temperature = body.temperature;
    if (body.top_p !== undefined && body.top_p !== null) sampling.topP = body.top_p;
    if (body.top_k !== undefined && body.top_k !== null) sampling.topK = body.top_k;
    if (body.seed !== undefined && body.seed !== null) sampling.seed = body.seed;
    const request: PreprocessedRequest = {
      requestId: asRequestId(requestId),
      model: card.name,
      tokenIds,
      sampling,
      stop: {
        maxTokens: maxTokens ?? room,
        stopTokenIds: ignoreEos ? [...custom] : [...new Set([...card.eosTokenIds, ...custom])],
        ignoreEos,
      },
    };
    const t = body.turbine;
    if (t) {
      const routing: RoutingHints = {};
      if (t.worker_id !== undefined) routing.workerId = asWorkerId(t.worker_id);
      if (t.prefill_load_scale !== undefined) routing.prefillLoadScale = t.prefill_load_scale;
      if (t.temperature !== undefined) routing.temperature = t.temperature;
      request.routing = routing;
    }
    return { request, stopStrings };
  }
}
