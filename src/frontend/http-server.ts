// The OpenAI-compatible HTTP API on fastify. Per-request work: validate (schema, prepared at
// start-up), preprocess, route, stream. Everything else is resolved before listening.
import { randomUUID, timingSafeEqual } from "node:crypto";
import type { ServerResponse } from "node:http";
import Fastify, { LogController } from "fastify";
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { TurbineError } from "../protocols/index.ts";
import type { Usage } from "../protocols/index.ts";
import type { FrontendMetrics } from "./metrics.ts";
import type { ModelManager } from "./model-manager.ts";
import type { ModelPipeline } from "./model-pipeline.ts";
import { toHttpError } from "./openai-errors.ts";
import { chatCompletionSchema, completionSchema } from "./openai-schemas.ts";
import type { ChatCompletionBody, CompletionBody } from "./openai-schemas.ts";
import { postprocess } from "./postprocessor.ts";
import type { TextDelta } from "./postprocessor.ts";
import type { Preprocessed } from "./preprocessor.ts";

export interface HttpServerOptions {
  models: ModelManager;
  metrics: FrontendMetrics;
  /** Bearer keys accepted on /v1/*; empty or absent: no authentication. */
  apiKeys?: string[];
  /** Largest request body accepted, in bytes (default 8 MiB). */
  bodyLimitBytes?: number;
  /** A pino logger to log with; default: no logs. */
  logger?: FastifyBaseLogger;
}

type Kind = "chat" | "completion";

export function buildHttpServer(options: HttpServerOptions): FastifyInstance {
  const { models, metrics } = options;
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    bodyLimit: options.bodyLimitBytes ?? 8 * 1024 * 1024,
    requestIdHeader: "x-request-id",
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });

  const keys = (options.apiKeys ?? []).filter((k) => k.length > 0).map((k) => Buffer.from(k));
  const keyValid = (header: string | undefined): boolean => {
    if (!header?.startsWith("Bearer ")) return false;
    const given = Buffer.from(header.slice(7).trim());
    return keys.some((k) => k.length === given.length && timingSafeEqual(k, given));
  };

  app.addHook("onRequest", async (req, reply) => {
    reply.header("x-request-id", req.id);
    if (keys.length > 0 && req.url.startsWith("/v1/") && !keyValid(req.headers.authorization)) {
      throw new TurbineError("AUTH_INVALID_API_KEY", "Missing or invalid API key: send 'Authorization: Bearer <key>'");
    }
  });

  app.setErrorHandler((err, req, reply) => {
    const e = toHttpError(err);
    if (e.status >= 500) req.log.error({ err }, "request failed");
    void reply.code(e.status).headers(e.headers).send(e.body);
  });

  app.setNotFoundHandler((req, reply) => {
    const e = toHttpError(new TurbineError("ROUTE_NOT_FOUND", `No route ${req.method} ${req.url}`));
    void reply.code(e.status).send(e.body);
  });

  app.get("/health", async (_req, reply) => {
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
  app.get("/live", async () => ({ status: "live" }));
  app.get("/metrics", async (_req, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });

  app.get("/v1/models", async () => ({
    object: "list",
    data: models
      .models()
      .filter((m) => m.numWorkers > 0 || m.coldStartWaitMs > 0)
      .map((m) => ({ id: m.card.name, object: "model", created: m.created, owned_by: "turbine", max_model_len: m.card.contextLength })),
  }));

  const modelOf = (name: string): ModelPipeline => {
    const pipeline = models.get(name);
    if (!pipeline) throw new TurbineError("MODEL_NOT_FOUND", `The model '${name}' does not exist`, { param: "model" });
    return pipeline;
  };

  app.post<{ Body: ChatCompletionBody }>("/v1/chat/completions", { schema: { body: chatCompletionSchema } }, (req, reply) => {
    const pipeline = modelOf(req.body.model);
    return serve(req, reply, pipeline, "chat", pipeline.preprocessor.chat(req.body, req.id), req.body);
  });

  app.post<{ Body: CompletionBody }>("/v1/completions", { schema: { body: completionSchema } }, (req, reply) => {
    const pipeline = modelOf(req.body.model);
    return serve(req, reply, pipeline, "completion", pipeline.preprocessor.completion(req.body, req.id), req.body);
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
    const endpoint = kind === "chat" ? "chat" : "completions";
    const start = performance.now();
    // The client going away cancels the request in the engine, which frees its blocks.
    const abort = new AbortController();
    const onClose = (): void => {
      if (!reply.raw.writableFinished) abort.abort();
    };
    reply.raw.on("close", onClose);
    await pipeline.waitForWorkers(abort.signal); // scale to zero: a worker may be starting
    const routed = pipeline.generate(pre.request, abort.signal);
    reply.header("x-turbine-worker", routed.decision.workerId);
    const m = metrics.forModel(model);
    m.inFlight.inc();
    m.inputTokens.inc(pre.request.tokenIds.length);
    let lastTokenAt = 0;
    let status = 200;
    const observe = (d: TextDelta): void => {
      const now = performance.now();
      if (d.numTokens > 0) {
        if (lastTokenAt === 0) m.ttft.observe((now - start) / 1000);
        else for (let i = 0; i < d.numTokens; i++) m.itl.observe((now - lastTokenAt) / 1000 / d.numTokens);
        lastTokenAt = now;
      }
      if (d.usage) {
        m.outputTokens.inc(d.usage.completionTokens);
        m.cachedTokens.inc(d.usage.cachedTokens);
      }
    };
    const deltas = postprocess(routed.outputs, {
      tokenizer: pipeline.tokenizer,
      stopStrings: pre.stopStrings,
      promptTokens: pre.request.tokenIds.length,
      estimatedCachedTokens: routed.decision.cachedTokens,
    });
    const id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${req.id}`;
    const created = Math.floor(Date.now() / 1000);
    try {
      if (body.stream) {
        status = await streamResponse(reply, deltas, { id, created, model, kind, includeUsage: body.stream_options?.include_usage ?? false, observe });
      } else {
        let text = "";
        let last: TextDelta | undefined;
        for await (const d of deltas) {
          observe(d);
          text += d.text;
          last = d;
        }
        const finish = last?.finishReason ?? "stop";
        const usage = usageJson(last?.usage);
        const choice =
          kind === "chat"
            ? { index: 0, message: { role: "assistant", content: text }, logprobs: null, finish_reason: finish }
            : { index: 0, text, logprobs: null, finish_reason: finish };
        await reply.send({ id, object: kind === "chat" ? "chat.completion" : "text_completion", created, model, choices: [choice], usage });
      }
    } catch (err) {
      status = toHttpError(err).status;
      throw err;
    } finally {
      reply.raw.off("close", onClose);
      m.inFlight.dec();
      m.requestDuration.observe((performance.now() - start) / 1000);
      metrics.requests.inc({ model, endpoint, status: String(abort.signal.aborted ? 499 : status) });
    }
  }

  return app;
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
  includeUsage: boolean;
  observe: (d: TextDelta) => void;
}

/**
 * Writes server-sent events, honouring the socket's backpressure. Returns the status sent.
 * The events are built as strings around a per-request prefix (one JSON.stringify per text,
 * not per event object), and the last delta, the finish event, usage and [DONE] go out in
 * one write: a short answer is one write after the headers.
 */
async function streamResponse(reply: FastifyReply, deltas: AsyncGenerator<TextDelta>, ctx: StreamContext): Promise<number> {
  // Take the first delta before committing to 200: an error before any token is a proper
  // HTTP error, not a broken stream.
  const first = await deltas.next();
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
    let d: IteratorResult<TextDelta> = first;
    let role = true;
    let pending = "";
    while (!d.done) {
      ctx.observe(d.value);
      if (d.value.text.length > 0 || role) {
        pending += textEvent(d.value.text, role);
        role = false;
      }
      if (d.value.finishReason) {
        finish = d.value.finishReason;
        usage = d.value.usage;
      } else if (pending.length > 0) {
        await write(raw, pending);
        pending = "";
      }
      d = await deltas.next();
    }
    const end = chat ? `{"index":0,"delta":{},"logprobs":null,"finish_reason":"${finish}"}` : `{"index":0,"text":"","logprobs":null,"finish_reason":"${finish}"}`;
    pending += prefix + end + suffix;
    if (ctx.includeUsage) pending += `${prefix}],"usage":${JSON.stringify(usageJson(usage))}}\n\n`;
    if (raw.destroyed) throw new TurbineError("RUNTIME_CANCELLED", "client disconnected");
    raw.end(pending + "data: [DONE]\n\n");
    return 200;
  } catch (err) {
    // Headers are gone: report the error in the stream, as OpenAI-compatible servers do.
    const e = toHttpError(err);
    if (!raw.destroyed) raw.end(`data: ${JSON.stringify(e.body)}\n\ndata: [DONE]\n\n`);
    return e.status;
  } finally {
    await deltas.return(undefined);
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
