// HTTP to one upstream OpenAI-compatible server, on undici's connection pool: keep-alive
// connections (one per concurrent request, reused: no handshake per request), JSON posts whose
// answer is streamed as text, and error answers read and mapped before any token.
//
// Why undici's low-level `dispatch` rather than node:http's client or undici's `request`: a
// proxy spends most of its per-request CPU on the upstream leg, and `dispatch` hands over the
// response bytes from callbacks, with no ClientRequest/agent machinery and no Readable
// stream. Only the Pool class is loaded (its own file): undici's front door would install its
// Agent as the process's global fetch dispatcher, which a library must not do.
import { createRequire } from "node:module";
import { StringDecoder } from "node:string_decoder";
import type { IncomingHttpHeaders } from "node:http";
import type { Dispatcher, Pool } from "undici";
import { TurbineError } from "../../protocols/index.ts";
import { errorOfSocket, errorOfStatus } from "./upstream-errors.ts";

const PoolClass = createRequire(import.meta.url)("undici/lib/dispatcher/pool.js") as new (origin: string, options: Pool.Options) => Pool;

export interface UpstreamClientOptions {
  /** Base URL, with or without the trailing "/v1": "http://10.0.0.5:8000" or ".../v1". */
  baseUrl: string;
  /** Sent as "Authorization: Bearer <key>". */
  apiKey?: string;
  /** Connections kept per upstream (default 1024). */
  maxSockets?: number;
  /** Silence, before the answer's headers or between its chunks, that fails a request (ms, default 300 000). */
  stallTimeoutMs?: number;
}

/** Bytes received and not yet read past which the upstream connection is paused. */
const HIGH_WATER_BYTES = 1 << 20;
/** Most of an error answer kept for its message. */
const MAX_ERROR_BODY = 65536;

function ignore(): void {}

/**
 * One upstream request's answer, read as text. `ready` settles when the status is known (a
 * 2xx, or the mapped error); `read` returns everything that arrived since the last read, or
 * null at the end; `destroy` ends the request at any point (the upstream sees its client go).
 */
export class UpstreamStream {
  /** Resolves on a 2xx status; rejects with a mapped TurbineError otherwise. */
  readonly ready: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (err: TurbineError) => void;
  private controller: Dispatcher.DispatchController | null = null;
  private readonly decoder = new StringDecoder("utf8");
  private chunks: string[] = [];
  private numBytes = 0;
  private ended = false;
  private failure: TurbineError | null = null;
  private wake: (() => void) | null = null;
  private destroyed = false;
  /** The reader is done: what still arrives is dropped. */
  private detached = false;
  private completed = false;

  constructor() {
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // A rejection nobody awaits (the reader gave up first) must not become unhandled.
    this.ready.catch(ignore);
  }

  /** The upstream sent the whole answer: its connection goes back to the pool. */
  get complete(): boolean {
    return this.completed;
  }

  /** The next text received (all of it since the last call), or null once the answer ended. */
  async read(): Promise<string | null> {
    while (this.chunks.length === 0 && !this.ended) await new Promise<void>((r) => (this.wake = r));
    if (this.chunks.length > 0) {
      const text = this.chunks.length === 1 ? this.chunks[0]! : this.chunks.join("");
      this.chunks = [];
      this.numBytes = 0;
      if (this.controller?.paused) this.controller.resume();
      return text;
    }
    if (this.failure) throw this.failure;
    return null;
  }

  /**
   * The reader has all it needs (it saw [DONE]): the rest of the answer is dropped as it
   * arrives, never paused on, and the connection goes back to the pool when the answer ends.
   */
  detach(): void {
    this.detached = true;
    this.chunks = [];
    this.numBytes = 0;
    if (this.controller?.paused) this.controller.resume();
  }

  /** Ends the request now (not one the upstream already finished); reads then throw RUNTIME_CANCELLED. */
  destroy(): void {
    if (this.destroyed || this.completed) return;
    this.destroyed = true;
    // Settled first: the abort reports back synchronously, as a socket error.
    this.finish(new TurbineError("RUNTIME_CANCELLED", "the upstream request was cancelled"));
    this.controller?.abort(new Error("cancelled by Turbine"));
  }

  // ---- called by the dispatch handler ----

  /** @internal */
  attach(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.destroyed) controller.abort(new Error("cancelled by Turbine"));
  }

  /** @internal */
  started(): void {
    this.resolveReady();
  }

  /** @internal */
  push(bytes: Buffer): void {
    if (this.ended || this.detached) return;
    const text = this.decoder.write(bytes);
    if (text.length > 0) this.chunks.push(text);
    this.numBytes += bytes.length;
    if (this.numBytes > HIGH_WATER_BYTES) this.controller?.pause();
    this.notify();
  }

  /** @internal */
  end(): void {
    if (this.ended) return;
    const rest = this.decoder.end();
    if (rest.length > 0) this.chunks.push(rest);
    this.completed = true;
    this.ended = true;
    this.notify();
  }

  /** @internal Fails the answer: before the status, `ready` rejects; after, `read` throws. */
  finish(err: TurbineError): void {
    this.rejectReady(err);
    if (this.ended) return;
    this.failure = err;
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}

export class UpstreamClient {
  /** The normalized base, ending in "/v1". */
  readonly baseUrl: string;
  private readonly basePath: string;
  private readonly pool: Pool;
  private readonly headers: Record<string, string>;

  constructor(options: UpstreamClientOptions) {
    const base = options.baseUrl.replace(/\/+$/, "");
    this.baseUrl = base.endsWith("/v1") ? base : `${base}/v1`;
    const url = new URL(this.baseUrl);
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new TurbineError("REQUEST_INVALID", `upstream URL must be http(s): ${options.baseUrl}`);
    this.basePath = url.pathname;
    // A hung upstream (accepts, then says nothing) fails its requests as a lost worker after
    // the stall timeout, so they migrate; generous by default, as a long queued prefill is
    // silent too (vLLM and SGLang send a stream's headers at once, then its first token).
    const stall = options.stallTimeoutMs ?? 300_000;
    this.pool = new PoolClass(url.origin, { connections: options.maxSockets ?? 1024, pipelining: 1, headersTimeout: stall, bodyTimeout: stall });
    this.headers = { "content-type": "application/json", accept: "text/event-stream, application/json" };
    if (options.apiKey) this.headers["authorization"] = `Bearer ${options.apiKey}`;
  }

  /**
   * POSTs JSON to `path` (under /v1) and returns the answer at once: await its `ready` for the
   * status (a non-2xx answer is read whole and mapped to a TurbineError), then `read` it.
   */
  post(path: string, body: string): UpstreamStream {
    const stream = new UpstreamStream();
    this.dispatch("POST", path, body, stream);
    return stream;
  }

  /** GETs JSON from `path` (under /v1). */
  async getJson(path: string): Promise<unknown> {
    const stream = new UpstreamStream();
    this.dispatch("GET", path, null, stream);
    await stream.ready;
    let text = "";
    for (let t = await stream.read(); t !== null; t = await stream.read()) text += t;
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new TurbineError("ENGINE_FAILED", `upstream ${this.baseUrl}${path} did not answer JSON`, { cause: err });
    }
  }

  /** Closes every connection; requests in flight fail. */
  close(): void {
    this.pool.destroy().catch(ignore);
  }

  private dispatch(method: "GET" | "POST", path: string, body: string | null, stream: UpstreamStream): void {
    const baseUrl = this.baseUrl;
    let status = 0;
    let retryAfter: string | string[] | undefined;
    let errorText = "";
    const ok = (): boolean => status >= 200 && status < 300;
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(controller) {
        stream.attach(controller);
      },
      onResponseStart(_controller, statusCode, headers: IncomingHttpHeaders) {
        status = statusCode;
        if (ok()) stream.started();
        else retryAfter = headers["retry-after"];
      },
      onResponseData(_controller, chunk) {
        if (ok()) stream.push(chunk);
        else if (errorText.length < MAX_ERROR_BODY) errorText += chunk.toString("utf8");
      },
      onResponseEnd() {
        if (ok()) stream.end();
        else stream.finish(errorOfStatus(baseUrl, status, errorText.slice(0, MAX_ERROR_BODY), retryAfter));
      },
      onResponseError(_controller, err) {
        stream.finish(errorOfSocket(baseUrl, err));
      },
    };
    try {
      this.pool.dispatch({ path: this.basePath + path, method, headers: this.headers, body }, handler);
    } catch (err) {
      // A closed pool throws at once.
      stream.finish(errorOfSocket(baseUrl, err));
    }
  }
}
