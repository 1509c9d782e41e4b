// The frontend's spans: one server span per HTTP request (every route, refused requests too,
// ended when the response closes, with its final status), `preprocess`, `route` (chosen worker,
// overlap, cost) and one `request_plane.call` client span per hop to a worker, whose context
// goes to the worker in the request-plane envelope. With tracing off (no SDK) spans are
// non-recording and nothing else is done.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type { Attributes, Context, Span } from "@opentelemetry/api";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { injectTrace, tracingActive, turbineTracer } from "../runtime/index.ts";
import type { TraceCarrier } from "../runtime/index.ts";
import type { RoutingDecision } from "../router/index.ts";

const requestContexts = new WeakMap<FastifyRequest, Context>();

/** Adds the HTTP server span to every request of the app. */
export function registerRequestTracing(app: FastifyInstance): void {
  app.addHook("onRequest", (req, reply, done) => {
    if (!tracingActive()) {
      done();
      return;
    }
    const path = req.url.split("?")[0]!;
    const span = turbineTracer().startSpan(`${req.method} ${path}`, {
      kind: SpanKind.SERVER,
      attributes: { "http.request.method": req.method, "url.path": path, "turbine.request_id": req.id },
    });
    if (!span.isRecording()) {
      done();
      return;
    }
    requestContexts.set(req, trace.setSpan(ROOT_CONTEXT, span));
    reply.raw.once("close", () => {
      const status = reply.raw.statusCode;
      span.setAttribute("http.response.status_code", status);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    done();
  });
}

/** The context of a request's server span (the root context when tracing is off). */
export function requestContext(req: FastifyRequest): Context {
  return requestContexts.get(req) ?? ROOT_CONTEXT;
}

/** Runs `fn` under a child span of `parent` named `name`. */
export function traced<T>(parent: Context, name: string, fn: () => T, attributes?: Attributes): T {
  if (!trace.getSpan(parent)?.isRecording()) return fn();
  const span = turbineTracer().startSpan(name, { attributes }, parent);
  const failed = (err: unknown): void => {
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
  };
  let out: T;
  try {
    out = fn();
  } catch (err) {
    failed(err);
    span.end();
    throw err;
  }
  // A promise (a prompt encoded on a tokenizer thread): the span lasts until it settles.
  if (out instanceof Promise) {
    out.then(() => span.end(), (err: unknown) => {
      failed(err);
      span.end();
    });
  } else span.end();
  return out;
}

/** Whether spans under `parent` are recorded (then the router explains its decision). */
export function isTracing(parent: Context): boolean {
  return trace.getSpan(parent)?.isRecording() ?? false;
}

/** Routes under a `route` span (chosen worker, overlap, cost); explained only when traced. */
export function tracedRoute(parent: Context, role: string, route: (explain: number) => RoutingDecision): RoutingDecision {
  if (!isTracing(parent)) return route(0);
  const span = turbineTracer().startSpan("route", { attributes: { "turbine.role": role } }, parent);
  try {
    const d = route(8);
    const chosen = d.candidates?.find((c) => c.workerId === d.workerId);
    span.setAttributes({
      "turbine.worker_id": d.workerId,
      "turbine.overlap_blocks": d.overlapBlocks,
      "turbine.prompt_blocks": d.promptBlocks,
      "turbine.cached_tokens": d.cachedTokens,
      ...(chosen && chosen.cost !== null ? { "turbine.cost": chosen.cost } : {}),
      ...(d.candidates ? { "turbine.num_candidates": d.candidates.length } : {}),
    });
    return d;
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    throw err;
  } finally {
    span.end();
  }
}

/** A hop to a worker: the client span and the carrier to send with the request. */
export interface Hop {
  trace: TraceCarrier | undefined;
  end(err?: unknown): void;
}

export function startHop(parent: Context, workerId: string, attributes?: Attributes): Hop {
  if (!isTracing(parent)) return { trace: undefined, end: () => undefined };
  const span: Span = turbineTracer().startSpan("request_plane.call", { kind: SpanKind.CLIENT, attributes: { "turbine.worker_id": workerId, ...attributes } }, parent);
  let ended = false;
  return {
    trace: injectTrace(trace.setSpan(parent, span)),
    end: (err?: unknown) => {
      if (ended) return;
      ended = true;
      if (err !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      span.end();
    },
  };
}
