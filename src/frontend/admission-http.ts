// Admission wired into the HTTP API: the tenant of each request from its bearer key (on every
// route that is not public), and, for a generation, the model check, the rate limits, the
// priority it asked for and its place in the queue. http-server.ts calls `install` once and
// `start` per generation; everything else is here.
import type { IncomingMessage } from "node:http";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { isPriorityClass } from "../admission/index.ts";
import type { PriorityClass, Tenant } from "../admission/index.ts";
import { TurbineError } from "../protocols/index.ts";
import type { PreprocessedRequest } from "../protocols/index.ts";
import type { AdmissionController } from "./admission-controller.ts";
import type { AdmissionMetrics } from "./admission-metrics.ts";
import type { RoutedStream } from "./model-pipeline.ts";
import { toHttpError } from "./openai-errors.ts";

/** What a generation holds from admission; `finish` exactly once, when it ends. */
export interface AdmittedRequest {
  readonly routed: RoutedStream;
  readonly tenant: Tenant;
  readonly priority: PriorityClass;
  finish(outputTokens: number, status: number): void;
}

interface Generator {
  generate(request: PreprocessedRequest, signal: AbortSignal): RoutedStream;
}

export class HttpAdmission {
  private readonly tenants = new WeakMap<IncomingMessage, Tenant>();

  constructor(
    readonly controller: AdmissionController,
    private readonly metrics: AdmissionMetrics | null,
  ) {}

  /** With a keys file: every non-public route needs a key of a known tenant (401 otherwise). */
  install(app: FastifyInstance): void {
    if (!this.controller.authenticates) return;
    app.addHook("onRequest", (req, _reply, done) => {
      if (req.routeOptions.config.public !== true) {
        try {
          this.tenants.set(req.raw, this.controller.authenticate(bearer(req.headers.authorization)));
        } catch (err) {
          done(err as Error);
          return;
        }
      }
      done();
    });
  }

  /**
   * Admits one generation: 404 for a model the tenant may not use, 429 over a limit (with
   * x-ratelimit-* headers), then a worker now or a place in the queue (503 when full or
   * timed out). The x-ratelimit-* headers go on every answer.
   */
  async start(req: FastifyRequest, reply: FastifyReply, model: string, generator: Generator, request: PreprocessedRequest, asked: unknown, signal: AbortSignal): Promise<AdmittedRequest> {
    const c = this.controller;
    const tenant = this.tenants.get(req.raw) ?? c.authenticate(undefined);
    const priority = c.priorityOf(tenant, parsePriority(asked, req.headers["x-turbine-priority"]));
    const labels = { tenant: tenant.name, class: priority };
    let lease;
    try {
      c.checkModel(tenant, model);
      lease = c.rateLimit(tenant, request.tokenIds.length, request.stop.maxTokens);
    } catch (err) {
      void reply.headers(c.rateLimitHeaders(tenant));
      this.metrics?.requests.inc({ ...labels, status: String(toHttpError(err).status) });
      throw err;
    }
    void reply.headers(c.rateLimitHeaders(tenant));
    let routed: RoutedStream;
    try {
      const cost = request.tokenIds.length + request.stop.maxTokens;
      routed = (await c.admit(model, tenant, priority, cost, () => generator.generate(request, signal), signal)).value;
    } catch (err) {
      lease.end(0, performance.now());
      this.metrics?.requests.inc({ ...labels, status: String(signal.aborted ? 499 : toHttpError(err).status) });
      throw err;
    }
    this.metrics?.inputTokens.inc(labels, request.tokenIds.length);
    let finished = false;
    return {
      routed,
      tenant,
      priority,
      finish: (outputTokens, status) => {
        if (finished) return;
        finished = true;
        lease.end(outputTokens, performance.now());
        this.metrics?.outputTokens.inc(labels, outputTokens);
        this.metrics?.requests.inc({ ...labels, status: String(status) });
        c.notifyCapacity(model);
      },
    };
  }
}

function bearer(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^bearer[ \t]+(.*)$/is.exec(header);
  return m ? m[1]!.trim() : undefined;
}

/** `turbine.priority` in the body, else the `x-turbine-priority` header; 400 naming the one at fault. */
function parsePriority(fromBody: unknown, fromHeader: string | string[] | undefined): PriorityClass | undefined {
  if (fromBody !== undefined && fromBody !== null) {
    if (!isPriorityClass(fromBody)) throw new TurbineError("REQUEST_INVALID", "turbine.priority must be one of high, normal, low", { param: "turbine.priority" });
    return fromBody;
  }
  if (fromHeader === undefined) return undefined;
  const v = Array.isArray(fromHeader) ? fromHeader[0] : fromHeader;
  if (!isPriorityClass(v)) throw new TurbineError("REQUEST_INVALID", "the x-turbine-priority header must be one of high, normal, low", { param: "x-turbine-priority" });
  return v;
}
