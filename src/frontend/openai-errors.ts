// Maps any error to OpenAI's error shape: {"error":{"message","type","param","code"}}.
import { TurbineError, isTurbineError } from "../protocols/index.ts";
import type { ErrorCode } from "../protocols/index.ts";

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

export interface HttpError {
  status: number;
  body: OpenAIErrorBody;
  headers: Record<string, string>;
}

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  message: string;
  validation?: { instancePath?: string; params?: Record<string, unknown>; message?: string }[];
  validationContext?: string;
}

/** Turns a fastify validation or parser error into a TurbineError; other errors pass through. */
export function normalizeError(err: unknown): TurbineError {
  if (isTurbineError(err)) return err;
  const e = err as FastifyLikeError;
  if (e && Array.isArray(e.validation)) {
    const first = e.validation[0];
    const path = (first?.instancePath ?? "").replace(/^\//, "").replace(/\//g, ".");
    const missing = first?.params?.["missingProperty"];
    const param = typeof missing === "string" ? (path ? `${path}.${missing}` : missing) : path || null;
    const message = `Invalid request: ${param ?? "body"} ${first?.message ?? "is invalid"}`;
    return new TurbineError("REQUEST_INVALID", message, { param: param ?? undefined, cause: err });
  }
  switch (e?.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new TurbineError("REQUEST_TOO_LARGE", "Request body is larger than the server accepts", { cause: err });
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return new TurbineError("REQUEST_INVALID_JSON", "Request body is not valid JSON", { cause: err });
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new TurbineError("REQUEST_INVALID", "Content-Type must be application/json", { cause: err });
  }
  // Any other refusal by fastify itself (a bad URL, a bad Content-Length, ...): a 4xx in our shape.
  if (typeof e?.code === "string" && e.code.startsWith("FST_") && typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
    if (e.statusCode === 413) return new TurbineError("REQUEST_TOO_LARGE", e.message, { cause: err });
    return new TurbineError("REQUEST_INVALID", e.message, { cause: err });
  }
  if (err instanceof SyntaxError || e?.statusCode === 400) {
    return new TurbineError("REQUEST_INVALID_JSON", `Request body is not valid JSON: ${e.message}`, { cause: err });
  }
  return new TurbineError("INTERNAL", "Internal server error", { cause: err });
}

/**
 * Refusals that are the system working as designed (a bad request, shedding under load, a
 * client that left): counted and summarized, never logged one by one with a stack.
 */
export function isExpectedRefusal(err: TurbineError): boolean {
  return err.status < 500 || EXPECTED_5XX.has(err.code);
}

const EXPECTED_5XX: ReadonlySet<ErrorCode> = new Set(["ROUTER_ALL_BUSY", "ROUTER_NO_WORKERS", "RUNTIME_NO_INSTANCE", "ENGINE_OVERLOADED", "ADMISSION_QUEUE_FULL", "ADMISSION_QUEUE_TIMEOUT"]);

export function toHttpError(err: unknown): HttpError {
  const t = normalizeError(err);
  const headers: Record<string, string> = {};
  if (t.retryAfterSeconds !== undefined) headers["retry-after"] = String(Math.max(1, Math.ceil(t.retryAfterSeconds)));
  return {
    status: t.status,
    headers,
    body: { error: { message: t.message, type: t.type, param: t.param ?? null, code: t.code.toLowerCase() } },
  };
}
