// An external OpenAI-compatible server (vLLM, SGLang, llama.cpp server, another Turbine) as
// an Engine. Each request goes to the upstream's /v1/completions with the prompt as the
// token ids the frontend computed (so the prefix cache the upstream builds is the one the
// router hashes), streamed with usage; the stream's text comes back as it is, with a token
// count for the router's accounting (ids, re-tokenized or vLLM's own, only where logprobs or
// `vllm-logprobs` need them; a migration tokenizes the text it carries over).
import { DEFAULT_KV_BLOCK_SIZE, TurbineError, isTurbineError } from "../../protocols/index.ts";
import type { EngineFeature, EngineOutput, FinishReason, ModelCard, PreprocessedRequest, TokenLogprob, Usage } from "../../protocols/index.ts";
import type { Tokenizer } from "../../model/index.ts";
import type { Engine, EngineKvEvent, EngineLoad, GenerateOptions } from "../engine.ts";
import { ZmqKvEventSource } from "../kv-events-zmq/index.ts";
import type { ZmqKvEventSourceOptions, ZmqKvEventSourceStats } from "../kv-events-zmq/index.ts";
import { SseParser } from "./sse-parser.ts";
import { UpstreamClient } from "./upstream-client.ts";
import type { UpstreamStream } from "./upstream-client.ts";
import { errorOfSocket, errorOfStreamEvent } from "./upstream-errors.ts";

/**
 * How the prompt is sent: "tokens" as `prompt: number[]` (vLLM, SGLang, Turbine), "text" as
 * the tokenizer's decoding of the ids (servers that take only strings), "auto" tokens first,
 * text from then on if the upstream rejects token prompts.
 */
export type PromptFormat = "tokens" | "text" | "auto";

/**
 * Where output token ids come from: "retokenize" sends a count and the text, encoding text
 * deltas with the card's tokenizer only where ids are read (logprobs; a migration encodes the
 * text it carries over); "vllm-logprobs" asks vLLM for `return_tokens_as_token_ids` with
 * `logprobs: 1` and reads the exact ids.
 */
export type OutputTokens = "retokenize" | "vllm-logprobs";

export interface OpenAIProxyEngineOptions {
  /** Upstream base URL ("http://host:8000" or ".../v1"). */
  upstream: string;
  /** The model name the upstream serves (default: the card's name). */
  upstreamModel?: string;
  apiKey?: string;
  /**
   * The card the worker registers: the model's tokenizer and template, so the frontend tokenizes
   * and routes exactly. Defaults: role "aggregated", kvBlockSize 16, numKvBlocks 65536.
   */
  card: Omit<ModelCard, "role" | "numKvBlocks" | "kvBlockSize" | "publishesKvEvents"> & Partial<Pick<ModelCard, "role" | "numKvBlocks" | "kvBlockSize">>;
  /** The card's tokenizer (text prompts, and re-tokenizing the output). */
  tokenizer: Tokenizer;
  promptFormat?: PromptFormat;
  outputTokens?: OutputTokens;
  /** Send vLLM/SGLang sampling extensions (stop_token_ids, ignore_eos, top_k). Default true. */
  vendorParams?: boolean;
  /** The upstream's ZMQ KV event publisher; absent: no events (the router approximates). */
  kvEvents?: Omit<ZmqKvEventSourceOptions, "blockSize">;
  /** Connections kept to the upstream (default 1024). */
  maxSockets?: number;
  /**
   * An upstream silent this long, before its answer or between two chunks, counts as dead: the
   * request fails as a lost worker and the frontend migrates it (ms, default 300 000).
   */
  stallTimeoutMs?: number;
}

interface InFlight {
  /** The upstream request, once sent. */
  body: UpstreamStream | null;
  promptTokens: number;
  outputTokens: number;
  started: boolean;
  /** Set when we abort it ourselves (client gone, engine closing). */
  aborted: boolean;
  /** The upstream finished it: its connection stays open for reuse. */
  complete: boolean;
}

const DEFAULT_PROXY_KV_BLOCKS = 65536;

/** Request features passed on to the upstream in its own fields (vLLM and SGLang honour them). */
const PROXY_FEATURES: readonly EngineFeature[] = ["guided_decoding", "logprobs", "penalties", "logit_bias", "embeddings"];

export class OpenAIProxyEngine implements Engine {
  readonly card: ModelCard;
  readonly upstreamModel: string;
  private readonly client: UpstreamClient;
  private readonly tokenizer: Tokenizer;
  private readonly outputTokens: OutputTokens;
  private readonly vendorParams: boolean;
  /** "auto" until the first answer decides it. */
  private promptFormat: PromptFormat;
  private readonly inFlight = new Set<InFlight>();
  private readonly listeners = new Set<(e: EngineKvEvent) => void>();
  private readonly kvSource: ZmqKvEventSource | null;
  private numPromptTokensSeen = 0;
  private numCachedTokensSeen = 0;
  private closed = false;

  constructor(options: OpenAIProxyEngineOptions) {
    const { role, numKvBlocks, kvBlockSize, ...rest } = options.card;
    this.card = {
      ...rest,
      role: role ?? "aggregated",
      numKvBlocks: numKvBlocks ?? DEFAULT_PROXY_KV_BLOCKS,
      kvBlockSize: kvBlockSize ?? DEFAULT_KV_BLOCK_SIZE,
      publishesKvEvents: options.kvEvents !== undefined,
      features: [...PROXY_FEATURES],
    };
    this.upstreamModel = options.upstreamModel ?? options.card.name;
    this.client = new UpstreamClient({ baseUrl: options.upstream, apiKey: options.apiKey, maxSockets: options.maxSockets, stallTimeoutMs: options.stallTimeoutMs });
    this.tokenizer = options.tokenizer;
    this.promptFormat = options.promptFormat ?? "auto";
    this.outputTokens = options.outputTokens ?? "retokenize";
    this.vendorParams = options.vendorParams ?? true;
    this.kvSource = options.kvEvents
      ? new ZmqKvEventSource({ ...options.kvEvents, blockSize: this.card.kvBlockSize }, (e) => {
          for (const l of this.listeners) l(e);
        })
      : null;
  }

  /** The upstream base URL (normalized, ending in /v1). */
  get upstream(): string {
    return this.client.baseUrl;
  }

  /** How prompts are sent now ("auto" until the first request decided). */
  get currentPromptFormat(): PromptFormat {
    return this.promptFormat;
  }

  /** The KV event source's counters, or null without one. */
  kvEventStats(): ZmqKvEventSourceStats | null {
    return this.kvSource?.stats() ?? null;
  }

  onKvEvent(listener: (event: EngineKvEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  load(): EngineLoad {
    const bs = this.card.kvBlockSize;
    let activeBlocks = 0;
    let pending = 0;
    for (const r of this.inFlight) {
      activeBlocks += Math.ceil((r.promptTokens + r.outputTokens) / bs);
      if (!r.started) pending += r.promptTokens;
    }
    const total = this.card.numKvBlocks;
    return {
      activeBlocks,
      totalBlocks: total,
      kvUsage: Math.min(1, activeBlocks / total),
      numRunningSeqs: this.inFlight.size,
      numWaitingSeqs: 0,
      pendingPrefillTokens: pending,
      prefixCacheHitRate: this.numPromptTokensSeen > 0 ? this.numCachedTokensSeen / this.numPromptTokensSeen : 0,
    };
  }

  generate(request: PreprocessedRequest, options: GenerateOptions): AsyncIterable<EngineOutput> {
    return this.run(request, options.signal);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const r of this.inFlight) abortRequest(r);
    await this.kvSource?.close();
    this.client.close();
  }

  private body(request: PreprocessedRequest, maxTokens: number, asTokens: boolean): string {
    const s = request.sampling;
    const b: Record<string, unknown> = {
      model: this.upstreamModel,
      prompt: asTokens ? request.tokenIds : this.tokenizer.decode(request.tokenIds),
      max_tokens: maxTokens,
      stream: true,
      stream_options: { include_usage: true },
    };
    if (s.temperature !== undefined) b["temperature"] = s.temperature;
    if (s.topP !== undefined) b["top_p"] = s.topP;
    if (s.seed !== undefined) b["seed"] = s.seed;
    if (this.vendorParams) {
      if (s.topK !== undefined) b["top_k"] = s.topK;
      if (request.stop.stopTokenIds.length > 0) b["stop_token_ids"] = request.stop.stopTokenIds;
      if (request.stop.ignoreEos) b["ignore_eos"] = true;
    }
    if (s.presencePenalty !== undefined) b["presence_penalty"] = s.presencePenalty;
    if (s.frequencyPenalty !== undefined) b["frequency_penalty"] = s.frequencyPenalty;
    if (s.logitBias !== undefined) b["logit_bias"] = s.logitBias;
    if (s.repetitionPenalty !== undefined && this.vendorParams) b["repetition_penalty"] = s.repetitionPenalty;
    // vLLM's and SGLang's /v1/completions take OpenAI's response_format for guided decoding.
    const g = request.guided;
    if (g !== undefined) {
      b["response_format"] =
        g.kind === "json_object"
          ? { type: "json_object" }
          : { type: "json_schema", json_schema: { name: g.name ?? "response", schema: g.schema, ...(g.strict !== undefined ? { strict: g.strict } : {}) } };
    }
    if (request.logprobs !== undefined) b["logprobs"] = request.logprobs.topLogprobs;
    if (this.outputTokens === "vllm-logprobs") {
      b["logprobs"] = Math.max(1, request.logprobs?.topLogprobs ?? 1);
      b["return_tokens_as_token_ids"] = true;
    }
    return JSON.stringify(b);
  }

  private async *run(request: PreprocessedRequest, signal: AbortSignal): AsyncGenerator<EngineOutput> {
    const k = request.numPrefilledOutputTokens ?? 0;
    const promptTokens = request.tokenIds.length - k;
    const maxTokens = request.stop.maxTokens - k;
    if (maxTokens <= 0) {
      yield { tokenIds: [], text: "", finishReason: "length", usage: { promptTokens, completionTokens: k, cachedTokens: 0 } };
      return;
    }
    if (this.closed) throw new TurbineError("RUNTIME_CONNECTION_LOST", "the openai-proxy engine is closed");
    if (request.task === "embed") {
      yield await this.embed(request, signal);
      return;
    }
    const r: InFlight = { body: null, promptTokens: request.tokenIds.length, outputTokens: 0, started: false, aborted: false, complete: false };
    const onAbort = (): void => abortRequest(r);
    this.inFlight.add(r);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      if (signal.aborted) {
        yield cancelledOutput();
        return;
      }
      let stream: UpstreamStream;
      try {
        stream = await this.open(request, maxTokens, r);
      } catch (err) {
        if (r.aborted) {
          yield cancelledOutput();
          return;
        }
        throw err;
      }
      const parser = new SseParser();
      // Token ids only where something reads them: logprobs (their ids) and vLLM's exact ids.
      // Otherwise an output is the upstream's text and a count (one token per event with
      // text, the usage's exact total at the end); the frontend tokenizes the text only if it
      // migrates the request.
      const wantIds = this.outputTokens === "vllm-logprobs" || request.logprobs !== undefined;
      let finish: FinishReason | null = null;
      let usage: Usage | undefined;
      let tail: EngineOutput | null = null;
      try {
        // Each read returns all that arrived since the last: a fast upstream's many events
        // become one output. After [DONE] the rest of the answer is left to arrive by itself,
        // so the connection goes back to the pool.
        for (let text = await stream.read(); text !== null; text = await stream.read()) {
          const tokens: number[] = [];
          const logprobs: TokenLogprob[] = [];
          let numTokens = 0;
          let deltaText = "";
          let done = false;
          for (const data of parser.push(text)) {
            if (data === "[DONE]") {
              done = true;
              break;
            }
            const event = JSON.parse(data) as StreamEvent;
            if (event.error) throw errorOfStreamEvent(this.client.baseUrl, event.error);
            const choice = event.choices?.[0];
            if (choice) {
              if (choice.text) deltaText += choice.text;
              if (wantIds) {
                const ids = this.tokensOf(choice);
                for (const id of ids) tokens.push(id);
                numTokens += ids.length;
                if (request.logprobs !== undefined) for (const lp of this.logprobsOf(choice, ids, request.logprobs.topLogprobs)) logprobs.push(lp);
              } else if (choice.text) {
                numTokens++;
              }
              if (choice.finish_reason) finish = finishOf(choice.finish_reason);
            }
            if (event.usage) usage = this.usageOf(event.usage, promptTokens, k, r.outputTokens + numTokens);
          }
          if (numTokens > 0) {
            r.started = true;
            r.outputTokens += numTokens;
          }
          const out: EngineOutput = wantIds ? { tokenIds: tokens, text: deltaText } : { tokenIds: [], numTokens, text: deltaText };
          if (logprobs.length > 0) out.logprobs = logprobs;
          if (done) {
            r.complete = true;
            stream.detach();
            tail = out;
            break;
          }
          if (numTokens > 0 || deltaText.length > 0) yield out;
        }
      } catch (err) {
        if (r.aborted) {
          yield cancelledOutput();
          return;
        }
        throw isTurbineError(err) ? err : errorOfSocket(this.client.baseUrl, err);
      }
      if (r.aborted) {
        yield cancelledOutput();
        return;
      }
      if (finish === null) {
        throw new TurbineError("RUNTIME_CONNECTION_LOST", `upstream ${this.client.baseUrl} ended the stream before the request finished`);
      }
      r.complete = true;
      yield {
        ...(tail ?? (wantIds ? { tokenIds: [], text: "" } : { tokenIds: [], numTokens: 0, text: "" })),
        finishReason: finish,
        usage: usage ?? { promptTokens, completionTokens: k + r.outputTokens, cachedTokens: 0 },
      };
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.inFlight.delete(r);
      // Ends the upstream request if the consumer stopped early (client gone, stop string):
      // the upstream sees its client disconnect and stops generating.
      if (!r.complete) r.body?.destroy();
    }
  }

  /** An embedding from the upstream's /v1/embeddings (the prompt as token ids, or text for text-only servers). */
  private async embed(request: PreprocessedRequest, signal: AbortSignal): Promise<EngineOutput> {
    const input = this.promptFormat === "text" ? this.tokenizer.decode(request.tokenIds) : request.tokenIds;
    const stream = this.client.post("/embeddings", JSON.stringify({ model: this.upstreamModel, input: [input] }));
    const onAbort = (): void => stream.destroy();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await stream.ready;
      let text = "";
      for (let t = await stream.read(); t !== null; t = await stream.read()) text += t;
      const body = JSON.parse(text) as { data?: { embedding?: unknown }[]; usage?: { prompt_tokens?: number } };
      const embedding = body.data?.[0]?.embedding;
      if (!Array.isArray(embedding) || !embedding.every((x) => typeof x === "number")) {
        throw new TurbineError("ENGINE_FAILED", `upstream ${this.client.baseUrl} answered /embeddings without an embedding`);
      }
      const promptTokens = body.usage?.prompt_tokens ?? request.tokenIds.length;
      return { tokenIds: [], embedding: embedding as number[], finishReason: "stop", usage: { promptTokens, completionTokens: 0, cachedTokens: 0 } };
    } catch (err) {
      if (signal.aborted) return cancelledOutput();
      throw isTurbineError(err) ? err : errorOfSocket(this.client.baseUrl, err);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Sends the request; in "auto", falls back to a text prompt once if tokens are refused. */
  private async open(request: PreprocessedRequest, maxTokens: number, r: InFlight): Promise<UpstreamStream> {
    const asTokens = this.promptFormat !== "text";
    // Held at once, so that an abort (client gone, engine closing) can end it at any point.
    r.body = this.client.post("/completions", this.body(request, maxTokens, asTokens));
    try {
      await r.body.ready;
      if (this.promptFormat === "auto") this.promptFormat = "tokens";
      return r.body;
    } catch (err) {
      if (this.promptFormat !== "auto" || !asTokens || !isTurbineError(err) || err.code !== "REQUEST_INVALID" || r.aborted) throw err;
      r.body = this.client.post("/completions", this.body(request, maxTokens, false));
      await r.body.ready;
      this.promptFormat = "text";
      return r.body;
    }
  }

  private tokensOf(choice: StreamChoice): number[] {
    if (this.outputTokens === "vllm-logprobs") {
      const toks = choice.logprobs?.tokens;
      if (Array.isArray(toks)) {
        const ids: number[] = [];
        for (const t of toks) {
          // vLLM writes "token_id:<id>" with return_tokens_as_token_ids.
          const m = typeof t === "string" ? /^token_id:(\d+)$/.exec(t) : null;
          if (m) ids.push(Number(m[1]));
        }
        if (ids.length > 0 || toks.length > 0) return ids;
      }
    }
    const text = choice.text ?? "";
    return text.length === 0 ? [] : this.tokenizer.encode(text, { addSpecialTokens: false });
  }

  /**
   * The upstream's completions logprobs (`tokens`, `token_logprobs`, `top_logprobs` as
   * {token: logprob}), one per token. Token ids come from vLLM's "token_id:N" strings when it
   * sends them, else from `ids` (the re-tokenized text) where the counts agree, else -1.
   */
  private logprobsOf(choice: StreamChoice, ids: readonly number[], numTop: number): TokenLogprob[] {
    const lp = choice.logprobs;
    const toks = lp?.tokens ?? [];
    const out: TokenLogprob[] = [];
    const idOf = (t: unknown, i: number): number => {
      const m = typeof t === "string" ? /^token_id:(\d+)$/.exec(t) : null;
      return m ? Number(m[1]) : toks.length === ids.length ? (ids[i] ?? -1) : -1;
    };
    for (let i = 0; i < toks.length; i++) {
      const top = Object.entries(lp?.top_logprobs?.[i] ?? {})
        .sort((a, b) => b[1] - a[1])
        .slice(0, numTop)
        .map(([t, l]) => ({ tokenId: idOf(t, -1), logprob: l, token: t }));
      const t = toks[i];
      out.push({ tokenId: idOf(t, i), logprob: lp?.token_logprobs?.[i] ?? 0, top, ...(typeof t === "string" ? { token: t } : {}) });
    }
    return out;
  }

  private usageOf(u: UpstreamUsage, promptTokens: number, k: number, counted: number): Usage {
    const cached = Math.min(u.prompt_tokens_details?.cached_tokens ?? 0, promptTokens);
    this.numPromptTokensSeen += promptTokens;
    this.numCachedTokensSeen += cached;
    return { promptTokens, completionTokens: k + (u.completion_tokens ?? counted), cachedTokens: cached };
  }
}

interface StreamChoice {
  text?: string;
  finish_reason?: string | null;
  logprobs?: { tokens?: unknown[]; token_logprobs?: (number | null)[]; top_logprobs?: (Record<string, number> | null)[] } | null;
}
interface UpstreamUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
}
interface StreamEvent {
  choices?: StreamChoice[];
  usage?: UpstreamUsage | null;
  error?: { message?: unknown; type?: unknown; code?: unknown };
}

function finishOf(reason: string): FinishReason {
  switch (reason) {
    case "length":
      return "length";
    case "abort":
    case "cancelled":
      return "cancelled";
    default:
      // "stop", "eos", tool calls: the sequence ended normally.
      return "stop";
  }
}

/** The last output of a request that ended because it was cancelled. */
function cancelledOutput(): EngineOutput {
  return { tokenIds: [], text: "", finishReason: "cancelled" };
}

function abortRequest(r: InFlight): void {
  // A finished request's connection is back in the pool, serving another: leave it.
  if (r.aborted || r.complete) return;
  r.aborted = true;
  r.body?.destroy();
}
