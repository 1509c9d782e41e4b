// The OpenAI-compatible HTTP API on fastify. Per-request work: validate (schema, prepared at
// start-up), preprocess, route, stream. Everything else is resolved before listening.
import { randomUUID, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import Fastify, { LogController } from "fastify";
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { TurbineError } from "../protocols/index.ts";
import type { EngineOutput, TokenLogprob, Usage } from "../protocols/index.ts";
import type { Tokenizer } from "../model/index.ts";
import { ChatOutput, chatStreamChoices } from "./chat-output.ts";
import type { ParsedEvent } from "./parsers/index.ts";
import type { HttpAdmission } from "./admission-http.ts";
import { checkJsonBody } from "./json-body.ts";
import type { FrontendMetrics } from "./metrics.ts";
import type { ModelManager } from "./model-manager.ts";
import type { ModelPipeline } from "./model-pipeline.ts";
import { registerFleetPage } from "./fleet-page.ts";
import { registerRequestTracing, requestContext, traced } from "./request-tracing.ts";
import { isExpectedRefusal, normalizeError, toHttpError } from "./openai-errors.ts";
import { chatCompletionSchemaWith, completionSchema } from "./openai-schemas.ts";
import type { ChatCompletionBody, CompletionBody } from "./openai-schemas.ts";
import { TextPostprocessor, postprocess, streamEndedEarly } from "./postprocessor.ts";
import type { PostprocessOptions, TextDelta } from "./postprocessor.ts";
import { DEFAULT_PROMPT_BOUNDS, checkPromptBounds } from "./preprocessor.ts";
import type { Preprocessed, PromptBounds } from "./preprocessor.ts";
import { RefusalLog } from "./refusal-log.ts";
import type { ApiContext } from "./api-context.ts";
import { registerAnthropicApi } from "./anthropic-api.ts";
import { isCompletionBatch, serveCompletionBatch } from "./completions-batch.ts";
import { isChatSamples, serveChatSamples } from "./chat-samples.ts";
import { registerEmbeddingsApi } from "./embeddings-api.ts";
import { registerResponsesApi } from "./responses-api.ts";

declare module "fastify" {
  interface FastifyContextConfig {
    /** Served without an API key (probes). Every other route, and unknown paths, need one when keys are set. */
    public?: boolean;
    /** The `endpoint` label of turbine_requests_total. */
    endpoint?: string;
  }
}

/** Timeouts, connection bounds and prompt bounds of the HTTP server; each has a default. */
export interface HttpServerLimits {
  /** The whole request (headers and body) must arrive within this (ms; 0: no limit). Default 30 s. */
  requestTimeoutMs?: number;
  /** A socket with no traffic either way for this long is closed (ms; 0: never). Default 10 min. */
  idleTimeoutMs?: number;
  /** An idle keep-alive connection is closed after this (ms). Default 72 s. */
  keepAliveTimeoutMs?: number;
  /** Requests served on one connection before it is closed (0: no limit). Default 0. */
  maxRequestsPerSocket?: number;
  /** Open connections accepted at once; more are dropped on arrival. Default 8192. */
  maxConnections?: number;
  /** Most messages of a chat request. Default 2048. */
  maxMessages?: number;
  /** Most characters of prompt content in one request. Default 1 Mi. */
  maxPromptChars?: number;
  /** Serve /metrics without the API key (it names worker ids). Default false. */
  metricsPublic?: boolean;
}

export const DEFAULT_HTTP_LIMITS: Required<HttpServerLimits> = {
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 600_000,
  keepAliveTimeoutMs: 72_000,
  maxRequestsPerSocket: 0,
  maxConnections: 8192,
  maxMessages: DEFAULT_PROMPT_BOUNDS.maxMessages,
  maxPromptChars: DEFAULT_PROMPT_BOUNDS.maxPromptChars,
  metricsPublic: false,
};

export interface HttpServerOptions {
  models: ModelManager;
  metrics: FrontendMetrics;
  /** Bearer keys required on every route but /health and /live (and /metrics if public); empty or absent: no authentication. */
  apiKeys?: string[];
  /** Largest request body accepted, in bytes (default 8 MiB). */
  bodyLimitBytes?: number;
  limits?: HttpServerLimits;
  /** A pino logger to log with; default: no logs. */
  logger?: FastifyBaseLogger;
  /** Tenants, rate limits and the admission queue (absent: 503 at once when every worker is busy). */
  admission?: HttpAdmission;
  /** How often the fleet page's event stream sends deltas (ms, default 1000). */
  fleetTickMs?: number;
}

type Kind = "chat" | "completion";

/** What the request counter needs to know of one request; filled in as the request goes. */
interface RequestRecord {
  endpoint: string;
  model: string;
  /** The final status when it is not the HTTP one (an error inside a stream, a cancel). */
  status?: number;
  /** Aborted when the client goes away before the response is finished. */
  abort?: AbortController;
}

/** Requests over this many messages yield to the event loop before rendering. */
const YIELD_BEFORE_RENDER_MESSAGES = 64;
const CLIENT_REQUEST_ID_MAX = 200;
/** Objects and arrays a body may hold per allowed message (content parts, ...), plus a base for the rest. */
const JSON_CONTAINERS_PER_MESSAGE = 8;
const JSON_CONTAINERS_BASE = 1024;

export function buildHttpServer(options: HttpServerOptions): FastifyInstance {
  const { models, metrics } = options;
  const limits = { ...DEFAULT_HTTP_LIMITS, ...options.limits };
  const bounds: PromptBounds = { maxMessages: limits.maxMessages, maxPromptChars: limits.maxPromptChars };
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    bodyLimit: options.bodyLimitBytes ?? 8 * 1024 * 1024,
    // The internal id is always ours: a client's x-request-id is echoed and logged, never trusted.
    requestIdHeader: false,
    genReqId: () => randomUUID(),
    childLoggerFactory: (logger, bindings, opts, raw) => {
      const client = clientRequestId(raw as IncomingMessage);
      return logger.child(client === undefined ? bindings : { ...bindings, clientRequestId: client }, opts);
    },
    logController: new LogController({ disableRequestLogging: true }),
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    maxRequestsPerSocket: limits.maxRequestsPerSocket,
    // Node checks request timeouts on this period (default 30 s: a 1 s timeout would take 30).
    http: {
      connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor((limits.requestTimeoutMs || 60_000) / 4))),
      headersTimeout: Math.min(60_000, limits.requestTimeoutMs || 60_000),
    },
    clientErrorHandler: (err, socket) => onClientError(err, socket),
    // A URL fastify cannot decode never reaches the hooks or the error handler: answer here.
    frameworkErrors: (err, req, reply) => {
      const e = report(err, req);
      void (reply as FastifyReply).code(e.status).headers(e.headers).send(e.body);
    },
  });
  app.server.maxConnections = limits.maxConnections;
  const refusals = new RefusalLog(() => app.log);
  app.addHook("onClose", async () => refusals.flush());

  // Every request is counted once, with its final status, whatever way it ends: the response's
  // `close` fires exactly once, after it finished or when the client went away.
  const records = new WeakMap<ServerResponse, RequestRecord>();
  // The request a socket is on, for Node-level errors that end it (a request timeout).
  const current = new WeakMap<Socket, RequestRecord>();
  const newRecord = (res: ServerResponse): RequestRecord => {
    const record: RequestRecord = { endpoint: "none", model: "" };
    records.set(res, record);
    const socket = res.socket;
    if (socket) current.set(socket, record);
    res.once("close", () => {
      if (socket && current.get(socket) === record) current.delete(socket);
      const finished = res.writableFinished;
      if (!finished) record.abort?.abort();
      const status = record.status ?? (finished ? res.statusCode : 499);
      metrics.requests.inc({ model: record.model, endpoint: record.endpoint, status: String(status) });
    });
    return record;
  };
  // Fastify's own "request" listener runs first (its hooks start synchronously in it), so the
  // record is usually made by the first hook; this listener covers requests fastify never hooks.
  app.server.on("request", (_req: IncomingMessage, res: ServerResponse) => {
    if (!records.has(res)) newRecord(res);
  });
  const recordOf = (reply: FastifyReply): RequestRecord => records.get(reply.raw) ?? newRecord(reply.raw);

  function onClientError(err: Error & { code?: string }, socket: Socket): void {
    if (err.code === "ECONNRESET" || socket.destroyed) return;
    const code = err.code === "HPE_HEADER_OVERFLOW" ? "REQUEST_HEADERS_TOO_LARGE" : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? "REQUEST_TIMEOUT" : "REQUEST_INVALID";
    const message =
      code === "REQUEST_HEADERS_TOO_LARGE"
        ? "The request's headers are larger than the server accepts"
        : code === "REQUEST_TIMEOUT"
          ? "The request did not arrive in time"
          : "Malformed HTTP request";
    const e = toHttpError(new TurbineError(code, message));
    // A request already under way (its body too slow) is counted by its own record, with this status.
    const underWay = current.get(socket);
    if (underWay) underWay.status = e.status;
    else metrics.requests.inc({ model: "", endpoint: "none", status: String(e.status) });
    refusals.record(e.body.error.code);
    if (socket.writable) {
      const body = JSON.stringify(e.body);
      socket.write(`HTTP/1.1 ${e.status} ${e.status === 431 ? "Request Header Fields Too Large" : e.status === 408 ? "Request Timeout" : "Bad Request"}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    }
    socket.destroy();
  }

  // Bodies are checked before they are parsed (json-body.ts): UTF-8, and a bound on objects
  // and arrays derived from --max-messages; then fastify's parser (prototype-poisoning safe).
  const maxContainers = JSON_CONTAINERS_PER_MESSAGE * limits.maxMessages + JSON_CONTAINERS_BASE;
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (req, body: Buffer, done) => {
    let text: string;
    try {
      const endpoint = req.routeOptions.config.endpoint;
      text = checkJsonBody(body, maxContainers, endpoint === "chat" ? "messages" : endpoint === "completions" ? "prompt" : undefined);
    } catch (err) {
      done(err as Error, undefined);
      return;
    }
    parseJson(req, text, done);
  });

  const keys = (options.apiKeys ?? []).filter((k) => k.length > 0).map((k) => Buffer.from(k));
  const keyValid = (header: string | undefined): boolean => {
    const m = header === undefined ? null : /^bearer[ \t]+(.*)$/is.exec(header);
    if (!m) return false;
    const given = Buffer.from(m[1]!.trim());
    return keys.some((k) => k.length === given.length && timingSafeEqual(k, given));
  };

  registerRequestTracing(app);
  // Hooks on the request path are callback-style: an async hook costs a promise and a
  // microtask per request.
  app.addHook("onRequest", (req, reply, done) => {
    const config = req.routeOptions.config;
    recordOf(reply).endpoint = config.endpoint ?? "none";
    reply.header("x-request-id", clientRequestId(req.raw) ?? req.id);
    // Deny by default: the matched route decides, never the raw URL (which may be percent-
    // encoded, absolute-form, or otherwise spelled differently from what the router matched).
    // Anthropic's clients send their key as x-api-key.
    const anthropicKey = config.endpoint === "messages" ? req.headers["x-api-key"] : undefined;
    if (keys.length > 0 && config.public !== true && !keyValid(req.headers.authorization) && !(typeof anthropicKey === "string" && keyValid(`Bearer ${anthropicKey}`))) {
      done(new TurbineError("AUTH_INVALID_API_KEY", "Missing or invalid API key: send 'Authorization: Bearer <key>'"));
      return;
    }
    done();
  });
  // With a keys file: the tenant of every non-public route (401 for unknown or revoked keys).
  options.admission?.install(app);

  // Before the schema runs, so that a request refused by it is still counted under its model
  // (a known name only: the label's values stay bounded).
  app.addHook("preValidation", (req, reply, done) => {
    const name = (req.body as { model?: unknown } | undefined)?.model;
    if (typeof name === "string" && models.get(name) !== undefined) recordOf(reply).model = name;
    done();
  });

  const report = (err: unknown, req: FastifyRequest): ReturnType<typeof toHttpError> => {
    const t = normalizeError(err);
    const e = toHttpError(t);
    if (isExpectedRefusal(t)) refusals.record(e.body.error.code);
    else req.log.error({ err }, "request failed");
    return e;
  };

  app.setErrorHandler((err, req, reply) => {
    const e = report(err, req);
    void reply.code(e.status).headers(e.headers).send(e.body);
  });

  app.setNotFoundHandler((req, reply) => {
    const e = report(new TurbineError("ROUTE_NOT_FOUND", `No route ${req.method} ${req.url}`), req);
    void reply.code(e.status).send(e.body);
  });

  app.get("/health", { config: { public: true, endpoint: "health" } }, async (_req, reply) => {
    const list = models.models().map((m) => ({
      model: m.card.name,
      workers: m.numWorkers,
      prefillWorkers: m.numPrefillWorkers,
      routableWorkers: m.routableWorkers(),
      indexedBlocks: m.numIndexedBlocks,
    }));
    const ready = list.some((m) => m.workers > 0);
    return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "no workers", models: list });
  });
  app.get("/live", { config: { public: true, endpoint: "live" } }, async () => ({ status: "live" }));
  app.get("/metrics", { config: { public: limits.metricsPublic, endpoint: "metrics" } }, async (_req, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });

  registerFleetPage(app, metrics.fleetState, { tickMs: options.fleetTickMs });

  app.get("/v1/models", { config: { endpoint: "models" } }, async () => ({
    object: "list",
    data: models
      .models()
      .filter((m) => m.numWorkers > 0 || m.coldStartWaitMs > 0)
      .map((m) => ({ id: m.card.name, object: "model", created: m.created, owned_by: "turbine", max_model_len: m.card.contextLength })),
  }));

  const modelOf = (name: string, reply: FastifyReply): ModelPipeline => {
    const pipeline = models.get(name);
    if (!pipeline) throw new TurbineError("MODEL_NOT_FOUND", `The model '${name}' does not exist`, { param: "model" });
    recordOf(reply).model = pipeline.card.name; // only known names: the label's values stay bounded
    return pipeline;
  };

  app.get<{ Params: { id: string } }>("/v1/models/:id", { config: { endpoint: "models" } }, async (req) => {
    const m = models.get(req.params.id);
    if (!m || m.numWorkers === 0) throw new TurbineError("MODEL_NOT_FOUND", `The model '${req.params.id}' does not exist`, { param: "model" });
    return { id: m.card.name, object: "model", created: m.created, owned_by: "turbine", max_model_len: m.card.contextLength };
  });

  // The other API surfaces, each in its own file.
  const api: ApiContext = {
    modelOf,
    abortSignal: (reply) => {
      const record = recordOf(reply);
      record.abort ??= new AbortController();
      return record.abort.signal;
    },
    setStatus: (reply, status) => {
      recordOf(reply).status = status;
    },
    report,
    checkBounds: (body) => checkPromptBounds(body, bounds),
    route: async (req, reply, pipeline, request, signal) => {
      await pipeline.waitForWorkers(signal);
      const context = requestContext(req);
      const admitted = options.admission
        ? await options.admission.start(req, reply, pipeline.card.name, { generate: (r, sig) => pipeline.generate(r, sig, context) }, request, undefined, signal)
        : null;
      const routed = admitted?.routed ?? pipeline.generate(request, signal, context);
      return { routed, done: (n, status) => admitted?.finish(n, status) };
    },
  };
  registerEmbeddingsApi(app, api);
  registerResponsesApi(app, api, { maxMessages: limits.maxMessages });
  registerAnthropicApi(app, api, { maxMessages: limits.maxMessages });

  const chatSchema = chatCompletionSchemaWith(limits.maxMessages);
  app.post<{ Body: ChatCompletionBody }>("/v1/chat/completions", { schema: { body: chatSchema }, config: { endpoint: "chat" } }, async (req, reply) => {
    const pipeline = modelOf(req.body.model, reply);
    checkPromptBounds(req.body, bounds);
    // Rendering is synchronous: let the requests already waiting go first.
    if (req.body.messages.length > YIELD_BEFORE_RENDER_MESSAGES) await new Promise<void>((r) => setImmediate(r));
    const samples = isChatSamples(req.body);
    // n > 1: rendered and tokenized once, the samples cloned from it (chat-samples.ts).
    const pre = await traced(requestContext(req), "preprocess", () => pipeline.preprocessor.chat(samples ? { ...req.body, n: 1 } : req.body, req.id));
    if (samples) return serveChatSamples(req, reply, pipeline, req.body, pre, api);
    return serve(req, reply, pipeline, "chat", pre, req.body);
  });

  app.post<{ Body: CompletionBody }>("/v1/completions", { schema: { body: completionSchema }, config: { endpoint: "completions" } }, async (req, reply) => {
    const pipeline = modelOf(req.body.model, reply);
    checkPromptBounds(req.body, bounds);
    if (isCompletionBatch(req.body)) return serveCompletionBatch(req, reply, pipeline, req.body, api);
    const pre = await traced(requestContext(req), "preprocess", () => pipeline.preprocessor.completion(req.body, req.id));
    return serve(req, reply, pipeline, "completion", pre, req.body);
  });

  async function serve(
    req: FastifyRequest,
    reply: FastifyReply,
    pipeline: ModelPipeline,
    kind: Kind,
    pre: Preprocessed,
    body: ChatCompletionBody | CompletionBody,
  ): Promise<void> {
    const model = pipeline.card.name;
    const start = performance.now();
    // The client going away (the response's one `close` listener) cancels the request in the
    // engine, which frees its blocks.
    const record = recordOf(reply);
    const abort = new AbortController();
    record.abort = abort;
    if (pipeline.coldStartWaitMs > 0) await pipeline.waitForWorkers(abort.signal); // scale to zero: a worker may be starting
    // Tenant, limits and the admission queue (it waits there while every worker is busy).
    const context = requestContext(req);
    const admitted = options.admission ? await options.admission.start(req, reply, model, { generate: (r, sig) => pipeline.generate(r, sig, context) }, pre.request, body.turbine?.priority, abort.signal) : null;
    const routed = admitted?.routed ?? pipeline.generate(pre.request, abort.signal, context);
    let outputTokens = 0;
    let failedStatus: number | undefined;
    reply.header("x-turbine-worker", routed.decision.workerId);
    const m = metrics.forModel(model);
    m.inFlight.inc();
    m.inputTokens.inc(pre.request.tokenIds.length);
    m.inputSequence.observe(pre.request.tokenIds.length);
    m.queued.inc();
    let queued = true;
    let lastTokenAt = 0;
    const observe = (d: TextDelta): void => {
      const now = performance.now();
      if (d.numTokens > 0) {
        if (queued) {
          queued = false;
          m.queued.dec();
        }
        if (lastTokenAt === 0) m.ttft.observe((now - start) / 1000);
        else for (let i = 0; i < d.numTokens; i++) m.itl.observe((now - lastTokenAt) / 1000 / d.numTokens);
        lastTokenAt = now;
      }
      if (d.usage) {
        outputTokens = d.usage.completionTokens;
        m.outputTokens.inc(d.usage.completionTokens);
        m.outputSequence.observe(d.usage.completionTokens);
        m.cachedTokens.inc(d.usage.cachedTokens);
      }
    };
    const postOptions: PostprocessOptions = {
      tokenizer: pipeline.tokenizer,
      stopStrings: pre.stopStrings,
      promptTokens: pre.request.tokenIds.length,
      estimatedCachedTokens: routed.decision.cachedTokens,
      promptParam: kind === "chat" ? "messages" : "prompt",
      keepSpecialTokens: pre.output?.keepSpecialTokens ?? false,
      stopTokenIds: pre.request.stop.stopTokenIds,
    };
    const chatOutput = kind === "chat" ? new ChatOutput(pre.output, pipeline.tokenizer) : null;
    const id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${req.id}`;
    const created = Math.floor(Date.now() / 1000);
    try {
      if (body.stream) {
        const status = await streamResponse(reply, routed.outputs, new TextPostprocessor(postOptions), { id, created, model, kind, chatOutput, tokenizer: pipeline.tokenizer, includeUsage: body.stream_options?.include_usage ?? false, observe, report: (err) => {
          // Set before the stream's end is written: the counter reads it on `close`.
          const e = report(err, req);
          record.status = e.status;
          return e;
        } });
        if (status !== 200) record.status = status;
      } else {
        let text = "";
        let reasoning: string | null = null;
        let last: TextDelta | undefined;
        const lps: TokenLogprob[] = [];
        const take = (events: ParsedEvent[]): void => {
          for (const e of events) {
            if (e.type === "content") text += e.text;
            else if (e.type === "reasoning") reasoning = (reasoning ?? "") + e.text;
          }
        };
        for await (const d of postprocess(routed.outputs, postOptions)) {
          observe(d);
          if (chatOutput) take(chatOutput.push(d));
          else text += d.text;
          if (d.logprobs) lps.push(...d.logprobs);
          last = d;
        }
        if (chatOutput) take(chatOutput.finish());
        const engineFinish = last?.finishReason ?? "stop";
        const usage = usageJson(last?.usage);
        const wantLogprobs = pre.request.logprobs !== undefined;
        let choice: Record<string, unknown>;
        if (chatOutput) {
          const calls = chatOutput.toolCalls;
          const message: Record<string, unknown> = { role: "assistant", content: calls.length > 0 && text.length === 0 ? null : text };
          if (reasoning !== null) message["reasoning_content"] = reasoning;
          if (calls.length > 0) message["tool_calls"] = calls;
          const logprobs = wantLogprobs ? { content: chatOutput.logprobsJson(lps) } : null;
          choice = { index: 0, message, logprobs, finish_reason: chatOutput.finishReason(engineFinish) };
        } else {
          choice = { index: 0, text, logprobs: wantLogprobs ? completionLogprobs(lps, pipeline.tokenizer) : null, finish_reason: engineFinish };
        }
        await reply.send({ id, object: kind === "chat" ? "chat.completion" : "text_completion", created, model, choices: [choice], usage });
      }
    } catch (err) {
      failedStatus = toHttpError(err).status;
      throw err;
    } finally {
      if (abort.signal.aborted) record.status = 499;
      if (queued) m.queued.dec();
      m.inFlight.dec();
      m.requestDuration.observe((performance.now() - start) / 1000);
      admitted?.finish(outputTokens, abort.signal.aborted ? 499 : (record.status ?? failedStatus ?? 200));
    }
  }

  return app;
}

/** The client's own x-request-id, when it is a sane token: echoed back and logged, never used as our id. */
function clientRequestId(req: IncomingMessage): string | undefined {
  const v = req.headers["x-request-id"];
  if (typeof v !== "string" || v.length === 0 || v.length > CLIENT_REQUEST_ID_MAX || !/^[\x21-\x7e]+$/.test(v)) return undefined;
  return v;
}

/** Completions' logprobs: parallel lists of tokens, their logprobs, top alternatives and text offsets. */
function completionLogprobs(lps: readonly TokenLogprob[], tokenizer: Tokenizer): Record<string, unknown> {
  const tokens: string[] = [];
  const offsets: number[] = [];
  let offset = 0;
  for (const lp of lps) {
    const t = lp.token ?? tokenizer.decode([lp.tokenId]);
    tokens.push(t);
    offsets.push(offset);
    offset += t.length;
  }
  return {
    tokens,
    token_logprobs: lps.map((lp) => lp.logprob),
    top_logprobs: lps.map((lp) => Object.fromEntries(lp.top.map((t) => [t.token ?? tokenizer.decode([t.tokenId]), t.logprob]))),
    text_offset: offsets,
  };
}

function usageJson(u: Usage | undefined): Record<string, unknown> {
  const prompt = u?.promptTokens ?? 0;
  const completion = u?.completionTokens ?? 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: u?.cachedTokens ?? 0 },
  };
}

interface StreamContext {
  id: string;
  created: number;
  model: string;
  kind: Kind;
  /** Chat: the parsers the deltas go through (tool calls, reasoning, logprobs). */
  chatOutput: ChatOutput | null;
  tokenizer: Tokenizer;
  includeUsage: boolean;
  observe: (d: TextDelta) => void;
  /** Logs or counts an error (by its kind) and gives its HTTP form. */
  report: (err: unknown) => ReturnType<typeof toHttpError>;
}

/**
 * Writes server-sent events, honouring the socket's backpressure. Returns the status sent.
 * The events are built as strings around a per-request prefix (one JSON.stringify per text,
 * not per event object), and the last delta, the finish event, usage and [DONE] go out in
 * one write: a short answer is one write after the headers.
 */
async function streamResponse(reply: FastifyReply, outputs: AsyncIterable<EngineOutput>, post: TextPostprocessor, ctx: StreamContext): Promise<number> {
  const it = outputs[Symbol.asyncIterator]();
  // The engine's outputs go through the postprocessor here, with no async layer between the
  // pipeline's stream and the socket.
  // Take the first delta before committing to 200: an error before any token is a proper
  // HTTP error, not a broken stream.
  let d: TextDelta | null = null;
  try {
    while (d === null) {
      const r = await it.next();
      if (r.done) throw streamEndedEarly();
      d = post.push(r.value);
    }
  } catch (err) {
    await it.return?.(undefined);
    throw err;
  }
  reply.hijack();
  const raw = reply.raw;
  const headers = reply.getHeaders();
  raw.writeHead(200, {
    ...(headers as Record<string, string>),
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  const chat = ctx.kind === "chat";
  const object = chat ? "chat.completion.chunk" : "text_completion";
  const prefix = `data: {"id":${JSON.stringify(ctx.id)},"object":"${object}","created":${ctx.created},"model":${JSON.stringify(ctx.model)},"choices":[`;
  const suffix = ctx.includeUsage ? '],"usage":null}\n\n' : "]}\n\n";
  const textEvent = (text: string, role: boolean): string =>
    chat
      ? `${prefix}{"index":0,"delta":{${role ? '"role":"assistant",' : ""}"content":${JSON.stringify(text)}},"logprobs":null,"finish_reason":null}${suffix}`
      : `${prefix}{"index":0,"text":${JSON.stringify(text)},"logprobs":null,"finish_reason":null}${suffix}`;
  let usage: Usage | undefined;
  let finish: string = "stop";
  try {
    let role = true;
    let pending = "";
    const co = ctx.chatOutput;
    for (;;) {
      ctx.observe(d);
      const lps = d.logprobs;
      if (co && co.plain && !lps) {
        // Plain content: the same bytes chatStreamChoices writes, without its events.
        if (d.text.length > 0 || role) pending += textEvent(d.text, role);
        role = false;
      } else if (co) {
        const events = co.push(d);
        if (d.finishReason) events.push(...co.finish());
        for (const c of chatStreamChoices(events, lps ? co.logprobsJson(lps) : null, role)) pending += prefix + c + suffix;
        role = false;
      } else if (d.text.length > 0 || role || lps) {
        pending += lps
          ? `${prefix}{"index":0,"text":${JSON.stringify(d.text)},"logprobs":${JSON.stringify(completionLogprobs(lps, ctx.tokenizer))},"finish_reason":null}${suffix}`
          : textEvent(d.text, role);
        role = false;
      }
      if (d.finishReason) {
        finish = co ? co.finishReason(d.finishReason) : d.finishReason;
        usage = d.usage;
        break;
      }
      if (pending.length > 0) {
        // Awaited only when the socket is full: `await` of nothing still costs a tick.
        const drained = write(raw, pending);
        if (drained) await drained;
        pending = "";
      }
      // The next delta, inline (no async function per output).
      d = null;
      while (d === null) {
        const r = await it.next();
        if (r.done) throw streamEndedEarly();
        d = post.push(r.value);
      }
    }
    const end = chat ? `{"index":0,"delta":{},"logprobs":null,"finish_reason":"${finish}"}` : `{"index":0,"text":"","logprobs":null,"finish_reason":"${finish}"}`;
    pending += prefix + end + suffix;
    if (ctx.includeUsage) pending += `${prefix}],"usage":${JSON.stringify(usageJson(usage))}}\n\n`;
    if (raw.destroyed) throw new TurbineError("RUNTIME_CANCELLED", "client disconnected");
    raw.end(pending + "data: [DONE]\n\n");
    return 200;
  } catch (err) {
    // Headers are gone: report the error in the stream, as OpenAI-compatible servers do.
    const e = ctx.report(err);
    if (!raw.destroyed) raw.end(`data: ${JSON.stringify(e.body)}\n\ndata: [DONE]\n\n`);
    return e.status;
  } finally {
    await it.return?.(undefined);
  }
}

/** Writes SSE text; resolves at once, or when the socket drains. */
function write(raw: ServerResponse, text: string): Promise<void> | void {
  if (raw.destroyed) throw new TurbineError("RUNTIME_CANCELLED", "client disconnected");
  if (raw.write(text)) return;
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      raw.off("close", onClose);
      resolve();
    };
    const onClose = (): void => {
      raw.off("drain", onDrain);
      reject(new TurbineError("RUNTIME_CANCELLED", "client disconnected"));
    };
    raw.once("drain", onDrain);
    raw.once("close", onClose);
  });
}
