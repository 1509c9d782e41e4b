// Every error code Turbine can raise, in one place, each with the HTTP status it maps to
// when it reaches a client and the OpenAI error `type` it is reported as.
// docs/errors.md lists the same codes; a test keeps the two in sync.

export const ERROR_CODES = {
  REQUEST_INVALID_JSON: { status: 400, type: "invalid_request_error" },
  REQUEST_INVALID: { status: 400, type: "invalid_request_error" },
  REQUEST_TOO_LARGE: { status: 413, type: "invalid_request_error" },
  REQUEST_HEADERS_TOO_LARGE: { status: 431, type: "invalid_request_error" },
  REQUEST_TIMEOUT: { status: 408, type: "invalid_request_error" },
  REQUEST_CONTEXT_LENGTH_EXCEEDED: { status: 400, type: "invalid_request_error" },
  REQUEST_UNSUPPORTED: { status: 400, type: "invalid_request_error" },
  MODEL_NOT_FOUND: { status: 404, type: "invalid_request_error" },
  AUTH_INVALID_API_KEY: { status: 401, type: "authentication_error" },
  ROUTE_NOT_FOUND: { status: 404, type: "invalid_request_error" },
  ROUTER_NO_WORKERS: { status: 503, type: "service_unavailable" },
  ROUTER_ALL_BUSY: { status: 503, type: "service_unavailable" },
  RUNTIME_NO_INSTANCE: { status: 503, type: "service_unavailable" },
  RUNTIME_CONNECTION_LOST: { status: 502, type: "server_error" },
  RUNTIME_CANCELLED: { status: 499, type: "server_error" },
  RUNTIME_AUTH_FAILED: { status: 502, type: "server_error" },
  ENGINE_FAILED: { status: 500, type: "server_error" },
  ENGINE_OVERLOADED: { status: 503, type: "service_unavailable" },
  MODEL_LOAD_FAILED: { status: 500, type: "server_error" },
  RATE_LIMIT_EXCEEDED: { status: 429, type: "rate_limit_error" },
  ADMISSION_QUEUE_FULL: { status: 503, type: "service_unavailable" },
  ADMISSION_QUEUE_TIMEOUT: { status: 503, type: "service_unavailable" },
  INPUT_INVALID: { status: 400, type: "invalid_request_error" },
  INTERNAL: { status: 500, type: "server_error" },
} as const satisfies Record<string, { status: number; type: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Whether `code` (read off the wire, say) is one of Turbine's error codes. */
export const isErrorCode = (code: unknown): code is ErrorCode => typeof code === "string" && Object.hasOwn(ERROR_CODES, code);

export interface TurbineErrorOptions {
  cause?: unknown;
  /** The request field at fault (OpenAI's `param`). */
  param?: string;
  /** Seconds a client should wait before retrying (503s). */
  retryAfterSeconds?: number;
}

/** Base of every error Turbine raises on purpose: a stable code, an HTTP status, a cause. */
export class TurbineError extends Error {
  override readonly name = "TurbineError";
  readonly code: ErrorCode;
  readonly param: string | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: TurbineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.param = options.param;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  get type(): string {
    return ERROR_CODES[this.code].type;
  }
}

export const isTurbineError = (e: unknown): e is TurbineError => e instanceof TurbineError;
