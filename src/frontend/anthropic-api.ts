// POST /v1/messages (Anthropic's Messages API) and /v1/messages/count_tokens over the chat
// path: system, text / tool_use / tool_result blocks and tools become chat messages and tools;
// the answer's thinking, text and calls become content blocks; streaming sends Anthropic's
// event types. Errors are in Anthropic's shape. Clients authenticate with `x-api-key` or a
// bearer token (the HTTP server checks both on these routes).
import { randomBytes } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { TurbineError } from "../protocols/index.ts";
import type { Usage } from "../protocols/index.ts";
import type { ApiContext } from "./api-context.ts";
import { runChat } from "./generation.ts";
import { toHttpError } from "./openai-errors.ts";
import type { ChatCompletionBody, ChatMessage } from "./openai-schemas.ts";
import type { ParsedEvent } from "./parsers/index.ts";

type Block =
  | { type: "text"; text: string }
  | { type: "tool_use"; id: string; name: string; input: unknown }
  | { type: "tool_result"; tool_use_id: string; content?: string | { type: string; text?: string }[]; is_error?: boolean }
  | { type: "thinking"; thinking: string; signature?: string }
  | { type: string; [k: string]: unknown };

interface MessagesBody {
  model: string;
  max_tokens?: number;
  messages: { role: "user" | "assistant"; content: string | Block[] }[];
  system?: string | { type: string; text?: string }[] | null;
  stop_sequences?: string[] | null;
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  stream?: boolean | null;
  tools?: { name: string; description?: string; input_schema?: Record<string, unknown>; type?: string }[] | null;
  tool_choice?: { type: "auto" | "any" | "tool" | "none"; name?: string; disable_parallel_tool_use?: boolean } | null;
  metadata?: { user_id?: string } | null;
  [field: string]: unknown;
}

/** Anthropic fields Turbine does not support: refused unless absent or inert. */
const REFUSED: Record<string, (v: unknown) => boolean> = {
  thinking: (v) => (v as { type?: unknown } | null)?.type === "disabled",
  service_tier: (v) => v === "auto" || v === "standard_only",
  container: () => false,
  mcp_servers: (v) => Array.isArray(v) && v.length === 0,
  context_management: () => false,
};

const messagesSchema = {
  type: "object",
  required: ["model", "messages"],
  properties: {
    model: { type: "string", minLength: 1 },
    max_tokens: { type: "integer", minimum: 1 },
    messages: { type: "array", minItems: 1, items: { type: "object", required: ["role", "content"], properties: { role: { enum: ["user", "assistant"] } } } },
    stop_sequences: { type: ["array", "null"], items: { type: "string", minLength: 1 } },
    temperature: { type: ["number", "null"], minimum: 0, maximum: 1 },
    top_p: { type: ["number", "null"], exclusiveMinimum: 0, maximum: 1 },
    top_k: { type: ["integer", "null"], minimum: 0 },
    stream: { type: ["boolean", "null"] },
    tools: { type: ["array", "null"], items: { type: "object", required: ["name"] } },
  },
} as const;

/** Anthropic's error types by HTTP status. */
function anthropicError(err: unknown): { status: number; headers: Record<string, string>; body: Record<string, unknown> } {
  const e = toHttpError(err);
  const type =
    e.status === 401 ? "authentication_error"
    : e.status === 403 ? "permission_error"
    : e.status === 404 ? "not_found_error"
    : e.status === 413 ? "request_too_large"
    : e.status === 429 ? "rate_limit_error"
    : e.status === 503 || e.status === 529 ? "overloaded_error"
    : e.status >= 500 ? "api_error"
    : "invalid_request_error";
  return { status: e.status, headers: e.headers, body: { type: "error", error: { type, message: e.body.error.message } } };
}

export function registerAnthropicApi(app: FastifyInstance, api: ApiContext, options: { maxMessages: number }): void {
  const errorHandler = (err: unknown, req: FastifyRequest, reply: FastifyReply): void => {
    api.report(err, req);
    const e = anthropicError(err);
    void reply.code(e.status).headers(e.headers).send(e.body);
  };
  const toChat = (body: MessagesBody, reply: FastifyReply): { chat: ChatCompletionBody; pipeline: ReturnType<ApiContext["modelOf"]> } => {
    for (const [name, inert] of Object.entries(REFUSED)) {
      if (body[name] !== undefined && body[name] !== null && !inert(body[name])) throw new TurbineError("REQUEST_UNSUPPORTED", `${name} is not supported`, { param: name });
    }
    const pipeline = api.modelOf(body.model, reply);
    const messages: ChatMessage[] = [];
    if (body.system != null) messages.push({ role: "system", content: typeof body.system === "string" ? body.system : body.system.map((b) => b.text ?? "").join("\n") });
    for (const m of body.messages) messages.push(...toMessages(m.role, m.content));
    if (messages.length > options.maxMessages) throw new TurbineError("REQUEST_INVALID", `Too many messages: ${messages.length}`, { param: "messages" });
    const chat: ChatCompletionBody = { model: body.model, messages };
    if (body.max_tokens !== undefined) chat.max_tokens = body.max_tokens;
    if (body.stop_sequences != null) chat.stop = body.stop_sequences;
    if (body.temperature != null) chat.temperature = body.temperature;
    if (body.top_p != null) chat.top_p = body.top_p;
    if (body.top_k != null) chat.top_k = body.top_k;
    if (body.tools != null && body.tools.length > 0) {
      for (const t of body.tools) {
        if (t.type !== undefined && t.type !== "custom") throw new TurbineError("REQUEST_UNSUPPORTED", `Server tools (${t.type}) are not supported`, { param: "tools" });
      }
      chat.tools = body.tools.map((t) => ({ type: "function", function: { name: t.name, ...(t.description !== undefined ? { description: t.description } : {}), parameters: t.input_schema ?? { type: "object" } } }));
    }
    const tc = body.tool_choice;
    if (tc != null) {
      chat.tool_choice = tc.type === "any" ? "required" : tc.type === "tool" ? { type: "function", function: { name: tc.name ?? "" } } : tc.type;
      if (tc.disable_parallel_tool_use === true) chat.parallel_tool_calls = false;
    }
    api.checkBounds(chat);
    return { chat, pipeline };
  };

  app.post<{ Body: MessagesBody }>("/v1/messages/count_tokens", { schema: { body: { ...messagesSchema } }, config: { endpoint: "messages" }, errorHandler }, async (req, reply) => {
    const { chat, pipeline } = toChat(req.body, reply);
    const pre = await pipeline.preprocessor.chat(chat, req.id);
    return { input_tokens: pre.request.tokenIds.length };
  });

  app.post<{ Body: MessagesBody }>(
    "/v1/messages",
    { schema: { body: { ...messagesSchema, required: ["model", "messages", "max_tokens"] } }, config: { endpoint: "messages" }, errorHandler },
    async (req, reply) => {
      const body = req.body;
      const { chat, pipeline } = toChat(body, reply);
      const pre = await pipeline.preprocessor.chat(chat, req.id);
      const run = await runChat(api, req, reply, pipeline, pre);
      reply.header("x-turbine-worker", run.workerId);
      const id = `msg_${randomBytes(12).toString("hex")}`;
      const head = { id, type: "message", role: "assistant", model: pipeline.card.name };
      if (!body.stream) {
        const blocks = new BlockBuilder();
        let finish = "stop";
        let usage: Usage | undefined;
        let stopString: string | undefined;
        for await (const s of run.steps) {
          blocks.add(s.events, null);
          if (s.finishReason) finish = s.finishReason;
          if (s.stopString !== undefined) stopString = s.stopString;
          if (s.usage) usage = s.usage;
        }
        const stop = stopOf(finish, stopString);
        return { ...head, content: blocks.blocks, stop_reason: stop.reason, stop_sequence: stop.sequence, usage: usageOf(usage) };
      }
      const first = await run.steps.next();
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, { ...(reply.getHeaders() as Record<string, string>), "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" });
      let buf = "";
      const emit = (e: Record<string, unknown>): void => {
        buf += `event: ${String(e["type"])}\ndata: ${JSON.stringify(e)}\n\n`;
      };
      emit({ type: "message_start", message: { ...head, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: pre.request.tokenIds.length, output_tokens: 0 } } });
      emit({ type: "ping" });
      const blocks = new BlockBuilder();
      try {
        let finish = "stop";
        let usage: Usage | undefined;
        let stopString: string | undefined;
        for (let s = first; !s.done; s = await run.steps.next()) {
          blocks.add(s.value.events, emit);
          if (s.value.finishReason) finish = s.value.finishReason;
          if (s.value.stopString !== undefined) stopString = s.value.stopString;
          if (s.value.usage) usage = s.value.usage;
          if (raw.destroyed) return reply;
          if (buf.length > 0) raw.write(buf);
          buf = "";
        }
        blocks.close(emit);
        const stop = stopOf(finish, stopString);
        emit({ type: "message_delta", delta: { stop_reason: stop.reason, stop_sequence: stop.sequence }, usage: { output_tokens: usage?.completionTokens ?? 0 } });
        emit({ type: "message_stop" });
        raw.end(buf);
      } catch (err) {
        api.report(err, req);
        const e = anthropicError(err);
        api.setStatus(reply, e.status);
        buf += `event: error\ndata: ${JSON.stringify(e.body)}\n\n`;
        if (!raw.destroyed) raw.end(buf);
      } finally {
        await run.steps.return(undefined);
      }
      return reply;
    },
  );
}

function usageOf(u: Usage | undefined): Record<string, number> {
  return { input_tokens: u?.promptTokens ?? 0, output_tokens: u?.completionTokens ?? 0, cache_read_input_tokens: u?.cachedTokens ?? 0, cache_creation_input_tokens: 0 };
}

/** Anthropic's stop reason, and the stop sequence that ended the text. */
function stopOf(finish: string, stopString: string | undefined): { reason: string; sequence: string | null } {
  if (finish === "tool_calls") return { reason: "tool_use", sequence: null };
  if (finish === "length") return { reason: "max_tokens", sequence: null };
  if (stopString !== undefined) return { reason: "stop_sequence", sequence: stopString };
  return { reason: "end_turn", sequence: null };
}

function blockText(content: string | { type: string; text?: string }[] | undefined): string {
  if (content === undefined) return "";
  if (typeof content === "string") return content;
  return content.map((b) => {
    if (b.type !== "text") throw new TurbineError("REQUEST_UNSUPPORTED", `Only text blocks are supported in tool results, not ${b.type}`, { param: "messages" });
    return b.text ?? "";
  }).join("\n");
}

/** One Anthropic message as chat messages: tool results become tool messages, tool uses an assistant turn's calls. */
function toMessages(role: "user" | "assistant", content: string | Block[]): ChatMessage[] {
  if (typeof content === "string") return [{ role, content }];
  const out: ChatMessage[] = [];
  let text = "";
  const calls: NonNullable<ChatMessage["tool_calls"]> = [];
  for (const b of content) {
    if (b.type === "text") text += (text.length > 0 ? "\n" : "") + (b as { text: string }).text;
    else if (b.type === "tool_use") {
      const u = b as { id: string; name: string; input: unknown };
      calls.push({ id: u.id, type: "function", function: { name: u.name, arguments: JSON.stringify(u.input ?? {}) } });
    } else if (b.type === "tool_result") {
      const r = b as { tool_use_id: string; content?: string | { type: string; text?: string }[] };
      out.push({ role: "tool", tool_call_id: r.tool_use_id, content: blockText(r.content) });
    } else if (b.type === "thinking" || b.type === "redacted_thinking") continue;
    else throw new TurbineError("REQUEST_UNSUPPORTED", `Content blocks of type ${b.type} are not supported`, { param: "messages" });
  }
  if (text.length > 0 || calls.length > 0) {
    const m: ChatMessage = { role, content: text.length > 0 ? text : null };
    if (calls.length > 0) m.tool_calls = calls;
    out.push(m);
  }
  return out;
}

/** Builds content blocks as events arrive; `emit` gets the streaming events. */
class BlockBuilder {
  readonly blocks: Record<string, unknown>[] = [];
  text = "";
  private open: { type: "text" | "thinking"; index: number } | null = null;

  add(events: readonly ParsedEvent[], emit: ((e: Record<string, unknown>) => void) | null): void {
    for (const e of events) {
      if (e.type === "content" || e.type === "reasoning") {
        const kind = e.type === "content" ? "text" : "thinking";
        if (this.open?.type !== kind) {
          this.close(emit);
          const block = kind === "text" ? { type: "text", text: "" } : { type: "thinking", thinking: "", signature: "" };
          this.blocks.push(block);
          this.open = { type: kind, index: this.blocks.length - 1 };
          emit?.({ type: "content_block_start", index: this.open.index, content_block: { ...block } });
        }
        const block = this.blocks[this.open.index]!;
        if (kind === "text") {
          block["text"] = (block["text"] as string) + e.text;
          this.text += e.text;
          emit?.({ type: "content_block_delta", index: this.open.index, delta: { type: "text_delta", text: e.text } });
        } else {
          block["thinking"] = (block["thinking"] as string) + e.text;
          emit?.({ type: "content_block_delta", index: this.open.index, delta: { type: "thinking_delta", thinking: e.text } });
        }
      } else {
        this.close(emit);
        const id = `toolu_${randomBytes(12).toString("hex")}`;
        const input = JSON.parse(e.arguments) as unknown;
        this.blocks.push({ type: "tool_use", id, name: e.name, input });
        const index = this.blocks.length - 1;
        emit?.({ type: "content_block_start", index, content_block: { type: "tool_use", id, name: e.name, input: {} } });
        emit?.({ type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: e.arguments } });
        emit?.({ type: "content_block_stop", index });
      }
    }
  }

  close(emit: ((e: Record<string, unknown>) => void) | null): void {
    if (this.open === null) return;
    emit?.({ type: "content_block_stop", index: this.open.index });
    this.open = null;
  }
}
