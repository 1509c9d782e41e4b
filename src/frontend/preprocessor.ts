// Turns a validated OpenAI request body into a PreprocessedRequest: chat template, tokens,
// stop conditions, sampling options and routing hints.
import { TurbineError, asRequestId, asWorkerId } from "../protocols/index.ts";
import type { ModelCard, PreprocessedRequest, RoutingHints, SamplingOptions } from "../protocols/index.ts";
import type { ChatTemplate, Tokenizer } from "../model/index.ts";
import type { ChatCompletionBody, CompletionBody } from "./openai-schemas.ts";

export interface Preprocessed {
  request: PreprocessedRequest;
  stopStrings: string[];
}

export interface PreprocessorOptions {
  card: ModelCard;
  tokenizer: Tokenizer;
  chatTemplate: ChatTemplate;
}

export class Preprocessor {
  constructor(private readonly options: PreprocessorOptions) {}

  chat(body: ChatCompletionBody, requestId: string): Preprocessed {
    const prompt = this.options.chatTemplate.render(body.messages, { addGenerationPrompt: true });
    // The rendered template holds the model's special tokens as text: parse them as specials.
    const tokenIds = this.options.tokenizer.encode(prompt, { addSpecialTokens: false, parseSpecialTokens: true });
    const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? null;
    return this.finish(body, requestId, tokenIds, maxTokens, "messages");
  }

  completion(body: CompletionBody, requestId: string): Preprocessed {
    const p = body.prompt;
    let tokenIds: number[];
    if (typeof p === "string") tokenIds = this.options.tokenizer.encode(p, { addSpecialTokens: true });
    else if (p.length === 1 && typeof p[0] === "string") tokenIds = this.options.tokenizer.encode(p[0], { addSpecialTokens: true });
    else if (p.length === 1 && Array.isArray(p[0])) tokenIds = p[0];
    else if (typeof p[0] === "number") tokenIds = p as number[];
    else {
      throw new TurbineError("REQUEST_UNSUPPORTED", "Only one prompt per request is supported; send several requests", {
        param: "prompt",
      });
    }
    if (body.echo) throw new TurbineError("REQUEST_UNSUPPORTED", "echo is not supported", { param: "echo" });
    if (body.logprobs !== undefined && body.logprobs !== null) {
      throw new TurbineError("REQUEST_UNSUPPORTED", "logprobs are not supported", { param: "logprobs" });
    }
    const vocab = this.options.tokenizer.vocabSize;
    for (const id of tokenIds) {
      if (id >= vocab) throw new TurbineError("REQUEST_INVALID", `token id ${id} is outside the vocabulary (size ${vocab})`, { param: "prompt" });
    }
    return this.finish(body, requestId, tokenIds, body.max_tokens ?? null, "prompt");
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
    if (tokenIds.length >= card.contextLength) {
      throw new TurbineError(
        "REQUEST_CONTEXT_LENGTH_EXCEEDED",
        `This model's maximum context length is ${card.contextLength} tokens, but the prompt has ${tokenIds.length} tokens`,
        { param: promptParam },
      );
    }
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
