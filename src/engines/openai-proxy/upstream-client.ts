// HTTP to one upstream OpenAI-compatible server: a keep-alive agent (one TCP connection per
// concurrent request, reused: no handshake per request), JSON posts whose response is handed
// over as soon as its status is known, and error answers read and mapped before any token.
import http from "node:http";
import https from "node:https";
import type { ClientRequest, IncomingMessage, RequestOptions } from "node:http";
import { TurbineError } from "../../protocols/index.ts";
import { errorOfSocket, errorOfStatus } from "./upstream-errors.ts";

export interface UpstreamClientOptions {
  /** Base URL, with or without the trailing "/v1": "http://10.0.0.5:8000" or ".../v1". */
  baseUrl: string;
  /** Sent as "Authorization: Bearer <key>". */
  apiKey?: string;
  /** Connections kept per upstream (default 1024). */
  maxSockets?: number;
}

export interface UpstreamResponse {
  req: ClientRequest;
  res: IncomingMessage;
}

function ignore(): void {}

export class UpstreamClient {
  /** The normalized base, ending in "/v1". */
  readonly baseUrl: string;
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;
  private readonly headers: Record<string, string>;

  constructor(options: UpstreamClientOptions) {
    const base = options.baseUrl.replace(/\/+$/, "");
    this.baseUrl = base.endsWith("/v1") ? base : `${base}/v1`;
    this.url = new URL(this.baseUrl);
    const secure = this.url.protocol === "https:";
    if (!secure && this.url.protocol !== "http:") throw new TurbineError("REQUEST_INVALID", `upstream URL must be http(s): ${options.baseUrl}`);
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 1024, maxFreeSockets: 256, scheduling: "lifo" as const };
    this.agent = secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    this.request = secure ? https.request : http.request;
    this.headers = { "content-type": "application/json", accept: "text/event-stream, application/json" };
    if (options.apiKey) this.headers["authorization"] = `Bearer ${options.apiKey}`;
  }

  /** Request options for `path` under the upstream's base path, on the keep-alive agent. */
  private options(method: string, path: string, headers: Record<string, string | number>): RequestOptions {
    return {
      protocol: this.url.protocol,
      hostname: this.url.hostname,
      port: this.url.port,
      path: this.url.pathname + path,
      method,
      agent: this.agent,
      headers,
    };
  }

  /**
   * POSTs JSON to `path` (under /v1). Resolves with the response once a 2xx status arrives;
   * rejects with a mapped TurbineError otherwise. `onRequest` receives the request at once,
   * so the caller can destroy it (cancellation) before the response comes.
   */
  post(path: string, body: string, onRequest?: (req: ClientRequest) => void): Promise<UpstreamResponse> {
    return new Promise((resolve, reject) => {
      const req = this.request(this.options("POST", path, { ...this.headers, "content-length": Buffer.byteLength(body) }));
      req.on("response", (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          // Errors reach the reader through its iterator; between reads (or after the reader
          // stopped) an abort must not become an uncaught 'error' event.
          res.on("error", ignore);
          resolve({ req, res });
          return;
        }
        res.setEncoding("utf8");
        let text = "";
        res.on("data", (c: string) => {
          if (text.length < 65536) text += c;
        });
        res.on("end", () => reject(errorOfStatus(this.baseUrl, status, text, res.headers["retry-after"])));
        res.on("error", (err) => reject(errorOfSocket(this.baseUrl, err)));
      });
      req.on("error", (err) => reject(errorOfSocket(this.baseUrl, err)));
      onRequest?.(req);
      req.end(body);
    });
  }

  /** GETs JSON from `path` (under /v1). */
  async getJson(path: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const req = this.request(this.options("GET", path, this.headers));
      req.on("response", (res) => {
        res.setEncoding("utf8");
        let text = "";
        res.on("data", (c: string) => (text += c));
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) return reject(errorOfStatus(this.baseUrl, status, text, res.headers["retry-after"]));
          try {
            resolve(JSON.parse(text));
          } catch (err) {
            reject(new TurbineError("ENGINE_FAILED", `upstream ${this.baseUrl}${path} did not answer JSON`, { cause: err }));
          }
        });
      });
      req.on("error", (err) => reject(errorOfSocket(this.baseUrl, err)));
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
