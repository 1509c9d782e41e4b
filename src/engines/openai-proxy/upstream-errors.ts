// Maps what an upstream OpenAI-compatible server answers (HTTP status, error body, socket
// errors) to TurbineErrors, so clients get clear OpenAI errors and the frontend knows what
// to migrate: a dead or unreachable upstream is RUNTIME_CONNECTION_LOST, like a dead worker.
import { TurbineError } from "../../protocols/index.ts";

/** The message of an OpenAI-style error body ({"error": {"message"}}, {"detail"}, or text). */
export function upstreamMessage(body: string): string {
  try {
    const j = JSON.parse(body) as { error?: { message?: unknown } | string; message?: unknown; detail?: unknown };
    if (typeof j.error === "string") return j.error;
    if (typeof j.error?.message === "string") return j.error.message;
    if (typeof j.message === "string") return j.message;
    if (typeof j.detail === "string") return j.detail;
  } catch {
    // not JSON
  }
  return body.trim().slice(0, 500) || "(no message)";
}

/** Retry-After in seconds (delta-seconds or an HTTP date), or undefined. */
export function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === "") return undefined;
  const n = Number(v);
  if (Number.isFinite(n)) return Math.max(0, n);
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, (t - Date.now()) / 1000);
}

/** An error answer of the upstream, before any token. */
export function errorOfStatus(upstream: string, status: number, body: string, retryAfter?: string | string[]): TurbineError {
  const msg = upstreamMessage(body);
  const where = `upstream ${upstream}`;
  if (status === 404) {
    return /model/i.test(msg)
      ? new TurbineError("MODEL_NOT_FOUND", `${where}: ${msg}`)
      : new TurbineError("ENGINE_FAILED", `${where} answered 404 (is it an OpenAI-compatible server?): ${msg}`);
  }
  if (status === 429 || status === 503) {
    const retryAfterSeconds = parseRetryAfter(retryAfter);
    return new TurbineError("ENGINE_OVERLOADED", `${where} is overloaded (${status}): ${msg}`, retryAfterSeconds === undefined ? {} : { retryAfterSeconds });
  }
  // The proxy's own key is wrong: a server fault, not the client's.
  if (status === 401 || status === 403) return new TurbineError("ENGINE_FAILED", `${where} rejected the upstream API key (${status}): ${msg}`);
  if (status === 413) return new TurbineError("REQUEST_TOO_LARGE", `${where}: ${msg}`);
  if (status >= 400 && status < 500) return new TurbineError("REQUEST_INVALID", `${where}: ${msg}`);
  // A gateway in front of the upstream could not reach it: as good as dead, migrate.
  if (status === 502 || status === 504) return new TurbineError("RUNTIME_CONNECTION_LOST", `${where} is unreachable (${status}): ${msg}`);
  return new TurbineError("ENGINE_FAILED", `${where} failed (${status}): ${msg}`);
}

/** An error event inside a stream that had started ({"error": {...}} as a data payload). */
export function errorOfStreamEvent(upstream: string, error: { message?: unknown; type?: unknown; code?: unknown }): TurbineError {
  const msg = typeof error.message === "string" ? error.message : "error";
  const type = typeof error.type === "string" ? error.type : "";
  if (type === "invalid_request_error" || type === "BadRequestError") return new TurbineError("REQUEST_INVALID", `upstream ${upstream}: ${msg}`);
  // The upstream failed the request mid-way (its engine died, it shut down): resend elsewhere.
  return new TurbineError("RUNTIME_CONNECTION_LOST", `upstream ${upstream} failed mid-stream: ${msg}`);
}

/** A socket error (refused, reset, timed out): the upstream is gone for this request. */
export function errorOfSocket(upstream: string, err: unknown): TurbineError {
  const code = (err as { code?: string } | null)?.code;
  const msg = err instanceof Error ? err.message : String(err);
  return new TurbineError("RUNTIME_CONNECTION_LOST", `upstream ${upstream}: ${code ?? "connection error"}: ${msg}`, { cause: err });
}
