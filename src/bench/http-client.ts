// The load generator's HTTP side: one streaming /v1/completions request per workload request,
// over node's http module with a keep-alive agent (fetch costs several times more CPU per
// request, and on 2 cores the load generator must never be the bottleneck).
//
// Timing: every time is performance.now() minus the run's epoch, in ms. A "token chunk" is an
// SSE event whose choice carries text (or is still open: finish_reason null). Its arrival time
// goes to chunkTimesMs; the token count comes from usage.completion_tokens at the end, since one
// chunk may carry several tokens (a server holds back an incomplete UTF-8 sequence, or batches).
import http from "node:http";
import https from "node:https";
import type { RequestRecord } from "./metrics.ts";
import type { WorkloadRequest } from "./workload.ts";

export type PromptFormat = "tokens" | "text";
export type PromptFormatOption = PromptFormat | "auto";

export interface HttpClientOptions {
  /** Server base URL, e.g. http://127.0.0.1:8000 (a trailing /v1 is accepted). */
  baseUrl: string;
  model: string;
  apiKey?: string;
  /** Per-request timeout in ms (whole request, first byte to [DONE]). Default 600 s. */
  timeoutMs?: number;
  /** Most concurrent sockets; default unlimited. */
  maxSockets?: number;
}

/** What the probe settled on: how prompts are sent and which length-forcing fields are sent. */
export interface ServerDialect {
  promptFormat: PromptFormat;
  /** ignore_eos and min_tokens are sent (vLLM, SGLang, Turbine accept them; OpenAI does not). */
  forceLength: boolean;
}

/** One request's outcome. HTTP errors, broken streams and timeouts become `ok: false` records. */
export interface BenchRecord extends RequestRecord {
  /** The output length asked for (max_tokens). */
  requestedOutputTokens: number;
  /** HTTP status (0 when no response arrived). */
  status: number;
  /**
   * Arrival time of each SSE chunk that carried output, ms. `tokenTimesMs` equals it when
   * every chunk carried one token; otherwise see `spreadTokenTimes`.
   */
  chunkTimesMs: number[];
}

/**
 * Fills `tokenTimesMs` (one entry per output token) from the chunk arrivals. When a server
 * packs k > 1 tokens into a chunk there are fewer chunks than tokens (usage.completion_tokens)
 * and which chunk carried which token is unknown: the tokens are then spread evenly between
 * the first and the last chunk, so the request's mean ITL is (last chunk − first chunk) /
 * (tokens − 1), the genai-perf definition. With one token per chunk the times are the
 * arrivals themselves.
 */
export function spreadTokenTimes(record: BenchRecord): void {
  const chunks = record.chunkTimesMs;
  const n = record.outputTokens;
  if (chunks.length === n || chunks.length < 2 || n < 2) {
    record.tokenTimesMs = chunks.slice();
    return;
  }
  const first = chunks[0]!;
  const step = (chunks[chunks.length - 1]! - first) / (n - 1);
  const times = new Array<number>(n);
  for (let i = 0; i < n; i++) times[i] = first + i * step;
  record.tokenTimesMs = times;
}

export interface SendOptions {
  signal?: AbortSignal;
  /** performance.now() at the start of the run; all record times are relative to it. */
  epochMs: number;
}

// Very common English words: with a leading space each is one token in GPT-2, Llama and most
// BPE vocabularies, so a text prompt is about as many tokens as the ids it renders.
const WORDS = (
  "the of and to in is was for on are as with his they at be this from have or by one had not but what all were " +
  "when we there can an your which their said if do will each about how up out them then she many some so these " +
  "would other into has more her two like him see time could no make than first been its who now people my made " +
  "over did down only way find use may water long little very after words called just where most know get through " +
  "back much go good new write our me man too any day same right look think also around another came come work " +
  "three word must because does part even place well such here take why things help put years different away again " +
  "off went old number great tell men say small every found still between name should home big give air line set " +
  "own under read last never us left end along while might next sound below saw something thought both few those " +
  "always looked show large often together asked house world going want school important until form food keep children " +
  "feet land side without boy once animals life enough took sometimes four head above kind began almost live page got " +
  "earth need far hand high year mother light parts country father let night following picture being study second eyes " +
  "soon times story boys since white days ever paper hard near sentence better best across during today others sure " +
  "means knew try told young miles sun ways thing whole hear example heard several change answer room sea against top"
).split(" ");

/** Renders token ids as text, one common word per id: the same ids always give the same text. */
export function renderText(tokenIds: readonly number[]): string {
  let s = "";
  for (let i = 0; i < tokenIds.length; i++) s += (i === 0 ? "" : " ") + WORDS[tokenIds[i]! % WORDS.length];
  return s;
}

export class BenchHttpClient {
  private readonly agent: http.Agent;
  private readonly requestFn: typeof http.request;
  private readonly url: URL;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  dialect: ServerDialect = { promptFormat: "tokens", forceLength: true };

  constructor(private readonly options: HttpClientOptions) {
    const base = options.baseUrl.replace(/\/+$/, "").replace(/\/v1$/, "");
    this.url = new URL(`${base}/v1/completions`);
    const secure = this.url.protocol === "https:";
    this.requestFn = secure ? https.request : http.request;
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? Infinity, scheduling: "fifo" as const };
    this.agent = secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    this.headers = { "content-type": "application/json", accept: "text/event-stream" };
    if (options.apiKey) this.headers["authorization"] = `Bearer ${options.apiKey}`;
    this.timeoutMs = options.timeoutMs ?? 600_000;
  }

  get endpoint(): string {
    return this.url.href;
  }

  /**
   * Finds how to talk to the server with a few 1-token requests (non-streaming, max_tokens 1):
   * token-id prompts if accepted (the probe uses `probeTokenId`, the workload vocabulary's
   * largest id, so a server whose vocabulary is too small gets text), and ignore_eos/min_tokens if
   * accepted. An answer other than 400/422 (401, 404, a closed port) ends the probe: the real
   * requests will fail with that same error and be recorded.
   */
  async probe(format: PromptFormat | "auto", probeTokenId: number, signal?: AbortSignal): Promise<ServerDialect> {
    const formats: PromptFormat[] = format === "auto" ? ["tokens", "text"] : [format];
    for (const promptFormat of formats) {
      for (const forceLength of [true, false]) {
        const dialect = { promptFormat, forceLength };
        const body = this.body([probeTokenId], 1, dialect, false);
        const status = await this.post(body, signal).catch(() => 0);
        if (status >= 200 && status < 300) return (this.dialect = dialect);
        if (status !== 400 && status !== 422) return (this.dialect = { promptFormat: formats[0]!, forceLength: true });
      }
    }
    return (this.dialect = { promptFormat: formats[formats.length - 1]!, forceLength: false });
  }

  /** Sends one request and waits for the whole stream. Never throws: failures are records. */
  send(req: WorkloadRequest, options: SendOptions): Promise<BenchRecord> {
    const { epochMs, signal } = options;
    // Read tokenIds once: a trace request builds the array on each read.
    const tokenIds = req.tokenIds;
    const body = this.body(tokenIds, req.outputTokens, this.dialect, true);
    const startMs = performance.now() - epochMs;
    const record: BenchRecord = {
      index: req.index,
      startMs,
      endMs: startMs,
      outputTokens: 0,
      promptTokens: tokenIds.length,
      ok: false,
      requestedOutputTokens: req.outputTokens,
      status: 0,
      chunkTimesMs: [],
    };
    return new Promise<BenchRecord>((resolve) => {
      let settled = false;
      let usageSeen = false;
      let chunks = 0;
      let done = false;
      const finish = (error?: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        record.endMs = performance.now() - epochMs;
        if (!usageSeen) record.outputTokens = chunks;
        spreadTokenTimes(record);
        if (error === undefined && !done) error = "stream ended without [DONE]";
        if (error !== undefined) record.error = error;
        else record.ok = true;
        resolve(record);
      };
      const onAbort = (): void => {
        const reason: unknown = signal?.reason;
        const msg = reason instanceof Error ? reason.message : typeof reason === "string" ? reason : "aborted";
        finish(`cancelled: ${msg}`);
        httpReq.destroy();
      };
      const timer = setTimeout(() => {
        finish(`timeout after ${this.timeoutMs / 1000} s`);
        httpReq.destroy();
      }, this.timeoutMs);

      const httpReq = this.requestFn(this.url, { method: "POST", agent: this.agent, headers: { ...this.headers, "content-length": Buffer.byteLength(body) } }, (res) => {
        record.status = res.statusCode ?? 0;
        res.setEncoding("utf8");
        if (record.status !== 200) {
          let text = "";
          res.on("data", (d: string) => {
            if (text.length < 2000) text += d;
          });
          res.on("end", () => finish(`HTTP ${record.status}: ${errorMessage(text)}`));
          res.on("error", (e) => finish(`HTTP ${record.status}: ${e.message}`));
          return;
        }
        let buf = "";
        let streamError: string | undefined;
        const onEvent = (data: string): void => {
          if (data === "[DONE]") {
            done = true;
            return;
          }
          let msg: StreamChunk;
          try {
            msg = JSON.parse(data) as StreamChunk;
          } catch {
            streamError ??= `bad SSE data: ${data.slice(0, 200)}`;
            return;
          }
          if (msg.error) {
            streamError ??= `stream error: ${msg.error.message ?? JSON.stringify(msg.error)}`;
            return;
          }
          const choice = msg.choices?.[0];
          if (choice) {
            const text = choice.text ?? choice.delta?.content ?? "";
            if (text.length > 0 || choice.finish_reason == null) {
              const t = performance.now() - epochMs;
              if (chunks === 0) record.firstTokenMs = t;
              record.chunkTimesMs.push(t);
              chunks++;
            }
          }
          const u = msg.usage;
          if (u) {
            usageSeen = true;
            record.outputTokens = u.completion_tokens ?? 0;
            if (u.prompt_tokens !== undefined) record.promptTokens = u.prompt_tokens;
            const cached = u.prompt_tokens_details?.cached_tokens;
            if (typeof cached === "number") record.cachedTokens = cached;
          }
        };
        res.on("data", (d: string) => {
          buf += d;
          let sep: number;
          // Events end with a blank line; the data of one event may span several `data:` lines.
          while ((sep = eventEnd(buf)) >= 0) {
            const event = buf.slice(0, sep);
            buf = buf.slice(sep).replace(/^(\r?\n){2}/, "");
            let data = "";
            for (const line of event.split(/\r?\n/)) {
              if (line.startsWith("data:")) data += line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
            }
            if (data.length > 0) onEvent(data);
          }
        });
        res.on("end", () => finish(streamError));
        res.on("error", (e) => finish(streamError ?? `broken stream: ${e.message}`));
        res.on("close", () => {
          if (!res.complete) finish(streamError ?? "broken stream: connection closed");
        });
      });
      httpReq.on("error", (e: NodeJS.ErrnoException) => finish(`connection error: ${e.code ?? e.message}`));
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      httpReq.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }

  private body(tokenIds: readonly number[], outputTokens: number, dialect: ServerDialect, stream: boolean): string {
    const prompt = dialect.promptFormat === "tokens" ? tokenIds : renderText(tokenIds);
    const b: Record<string, unknown> = { model: this.options.model, prompt, max_tokens: outputTokens, temperature: 0 };
    if (dialect.forceLength) {
      b["ignore_eos"] = true;
      b["min_tokens"] = outputTokens;
    }
    if (stream) {
      b["stream"] = true;
      b["stream_options"] = { include_usage: true };
    }
    return JSON.stringify(b);
  }

  /** A small non-streaming POST; resolves with the status. */
  private post(body: string, signal?: AbortSignal): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = this.requestFn(
        this.url,
        { method: "POST", agent: this.agent, signal, headers: { ...this.headers, accept: "application/json", "content-length": Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
          res.on("error", reject);
        },
      );
      req.setTimeout(this.timeoutMs, () => req.destroy(new Error("timeout")));
      req.on("error", reject);
      req.end(body);
    });
  }
}

interface StreamChunk {
  choices?: { text?: string; delta?: { content?: string | null }; finish_reason?: string | null }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } | null } | null;
  error?: { message?: string };
}

function eventEnd(buf: string): number {
  const a = buf.indexOf("\n\n");
  const b = buf.indexOf("\r\n\r\n");
  if (a < 0) return b;
  if (b < 0) return a;
  return Math.min(a, b);
}

function errorMessage(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: { message?: string } | string; message?: string };
    const e = j.error;
    const m = typeof e === "string" ? e : (e?.message ?? j.message);
    if (m) return m.slice(0, 300);
  } catch {
    // not JSON: fall through to the raw text
  }
  return text.slice(0, 300).trim() || "(empty body)";
}
