// POST /v1/responses (OpenAI's Responses API) over the chat path: the input items (messages,
// function calls and their outputs), `instructions` and the conversation of
// `previous_response_id` become chat messages; the answer's reasoning, text and calls become
// output items. Responses are kept in a bounded in-memory store (LRU) unless `store: false`.
// Streaming sends the Responses event types with sequence numbers.
import { randomBytes } from "node:crypto";
import type { FastifyInstance, FastifyReply } from "fastify";
import { TurbineError } from "../protocols/index.ts";
import type { Usage } from "../protocols/index.ts";
import type { ApiContext } from "./api-context.ts";
import { runChat } from "./generation.ts";
import type { ChatRun } from "./generation.ts";
import type { ChatCompletionBody, ChatMessage } from "./openai-schemas.ts";
import type { ToolDefinition } from "./parsers/index.ts";

/** Responses kept for `previous_response_id` (oldest dropped first). */
export const RESPONSE_STORE_SIZE = 1024;

type InputItem =
  | { type?: "message"; role: "user" | "assistant" | "system" | "developer"; content: string | { type: string; text?: string }[] }
  | { type: "function_call"; call_id: string; name: string; arguments: string; id?: string }
  | { type: "function_call_output"; call_id: string; output: string | { type: string; text?: string }[] }
  | { type: "reasoning"; id?: string; summary?: unknown[] }
  | { type: "item_reference"; id: string };

interface ResponsesBody {
  model: string;
  input?: string | InputItem[];
  instructions?: string | null;
  tools?: { type: "function"; name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean | null }[] | null;
  tool_choice?: "none" | "auto" | "required" | { type: "function"; name: string } | null;
  parallel_tool_calls?: boolean | null;
  max_output_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  stream?: boolean | null;
  store?: boolean | null;
  previous_response_id?: string | null;
  text?: { format?: { type: "text" } | { type: "json_object" } | { type: "json_schema"; name?: string; schema?: Record<string, unknown>; strict?: boolean | null } } | null;
  reasoning?: { effort?: string | null; summary?: string | null } | null;
  metadata?: Record<string, string> | null;
  user?: string | null;
  [field: string]: unknown;
}

/** OpenAI Responses fields Turbine does not support: refused when set to anything but their default. */
const REFUSED: Record<string, (v: unknown) => boolean> = {
  background: (v) => v === false,
  include: (v) => Array.isArray(v) && v.length === 0,
  prompt: () => false,
  conversation: () => false,
  service_tier: (v) => v === "auto" || v === "default",
  truncation: (v) => v === "disabled",
  top_logprobs: (v) => v === 0,
  max_tool_calls: () => false,
  stream_options: () => false,
  prompt_cache_key: () => true,
  safety_identifier: () => true,
};

const responsesSchema = {
  type: "object",
  required: ["model"],
  properties: {
    model: { type: "string", minLength: 1 },
    input: { anyOf: [{ type: "string" }, { type: "array", items: { type: "object" } }] },
    instructions: { type: ["string", "null"] },
    tools: { type: ["array", "null"], items: { type: "object", required: ["type"] } },
    max_output_tokens: { type: ["integer", "null"], minimum: 1 },
    temperature: { type: ["number", "null"], minimum: 0, maximum: 2 },
    top_p: { type: ["number", "null"], exclusiveMinimum: 0, maximum: 1 },
    stream: { type: ["boolean", "null"] },
    store: { type: ["boolean", "null"] },
    previous_response_id: { type: ["string", "null"] },
    parallel_tool_calls: { type: ["boolean", "null"] },
  },
} as const;

interface Stored {
  /** The whole conversation, the answer included, as chat messages. */
  messages: ChatMessage[];
}

export function registerResponsesApi(app: FastifyInstance, api: ApiContext, options: { maxMessages: number }): void {
  const store = new Map<string, Stored>();
  // Output items of stored responses, for `item_reference` inputs (the AI SDK sends them).
  const items = new Map<string, InputItem>();
  const remember = (id: string, s: Stored, output: readonly OutputItem[]): void => {
    store.set(id, s);
    if (store.size > RESPONSE_STORE_SIZE) store.delete(store.keys().next().value!);
    for (const o of output) {
      if (o.type === "function_call") items.set(o.id, { type: "function_call", call_id: o["call_id"] as string, name: o["name"] as string, arguments: o["arguments"] as string });
      else if (o.type === "message") items.set(o.id, { type: "message", role: "assistant", content: (o["content"] as { text: string }[]).map((c) => c.text).join("") });
      else if (o.type === "reasoning") items.set(o.id, { type: "reasoning", id: o.id });
      while (items.size > RESPONSE_STORE_SIZE * 8) items.delete(items.keys().next().value!);
    }
  };

  app.post<{ Body: ResponsesBody }>("/v1/responses", { schema: { body: responsesSchema }, config: { endpoint: "responses" } }, async (req, reply) => {
    const body = req.body;
    for (const [name, inert] of Object.entries(REFUSED)) {
      if (body[name] !== undefined && body[name] !== null && !inert(body[name])) {
        throw new TurbineError("REQUEST_UNSUPPORTED", `${name} is not supported`, { param: name });
      }
    }
    for (const t of body.tools ?? []) {
      if (t.type !== "function") throw new TurbineError("REQUEST_UNSUPPORTED", `Only function tools are supported, not ${t.type}`, { param: "tools" });
    }
    const pipeline = api.modelOf(body.model, reply);
    let history: ChatMessage[] = [];
    if (body.previous_response_id != null) {
      const prev = store.get(body.previous_response_id);
      if (prev === undefined) throw new TurbineError("REQUEST_INVALID", `Previous response with id '${body.previous_response_id}' not found`, { param: "previous_response_id" });
      history = prev.messages.filter((m) => m.role !== "system" && m.role !== "developer");
    }
    const resolved = typeof body.input === "string" || body.input === undefined ? (body.input ?? []) : body.input.flatMap((item): InputItem[] => {
      if (item.type !== "item_reference") return [item];
      const found = items.get(item.id);
      if (found === undefined) throw new TurbineError("REQUEST_INVALID", `Item with id '${item.id}' not found`, { param: "input" });
      return [found];
    });
    const input = toMessages(resolved);
    const messages: ChatMessage[] = [...(body.instructions != null ? [{ role: "system" as const, content: body.instructions }] : []), ...history, ...input];
    if (messages.length === 0) throw new TurbineError("REQUEST_INVALID", "The input is empty", { param: "input" });
    if (messages.length > options.maxMessages) throw new TurbineError("REQUEST_INVALID", `Too many messages: ${messages.length}`, { param: "input" });
    const chat: ChatCompletionBody = { model: body.model, messages };
    if (body.max_output_tokens != null) chat.max_tokens = body.max_output_tokens;
    if (body.temperature != null) chat.temperature = body.temperature;
    if (body.top_p != null) chat.top_p = body.top_p;
    if (body.parallel_tool_calls != null) chat.parallel_tool_calls = body.parallel_tool_calls;
    if (body.tools != null && body.tools.length > 0) {
      chat.tools = body.tools.map((t): ToolDefinition => ({
        type: "function",
        function: { name: t.name, ...(t.description !== undefined ? { description: t.description } : {}), ...(t.parameters !== undefined ? { parameters: t.parameters } : {}), strict: t.strict ?? null },
      }));
    }
    const tc = body.tool_choice;
    if (tc != null) chat.tool_choice = typeof tc === "string" ? tc : { type: "function", function: { name: tc.name } };
    const f = body.text?.format;
    if (f != null && f.type !== "text") {
      chat.response_format =
        f.type === "json_object" ? { type: "json_object" } : { type: "json_schema", json_schema: { name: f.name ?? "response", ...(f.schema ? { schema: f.schema } : {}), strict: f.strict ?? null } };
    }
    if (body.reasoning?.effort != null) chat.reasoning_effort = body.reasoning.effort;
    api.checkBounds(chat);
    const pre = await pipeline.preprocessor.chat(chat, req.id);
    const id = `resp_${randomBytes(12).toString("hex")}`;
    const run = await runChat(api, req, reply, pipeline, pre);
    reply.header("x-turbine-worker", run.workerId);
    const base = {
      id,
      object: "response",
      created_at: Math.floor(Date.now() / 1000),
      model: pipeline.card.name,
      instructions: body.instructions ?? null,
      max_output_tokens: body.max_output_tokens ?? null,
      parallel_tool_calls: body.parallel_tool_calls ?? true,
      previous_response_id: body.previous_response_id ?? null,
      temperature: body.temperature ?? 1,
      top_p: body.top_p ?? 1,
      tool_choice: body.tool_choice ?? "auto",
      tools: body.tools ?? [],
      text: body.text ?? { format: { type: "text" } },
      store: body.store ?? true,
      metadata: body.metadata ?? {},
      error: null,
    };
    const builder = new OutputBuilder();
    const finishWith = (finish: string, usage: Usage | undefined): Record<string, unknown> => {
      const incomplete = finish === "length";
      const response = {
        ...base,
        status: incomplete ? "incomplete" : "completed",
        incomplete_details: incomplete ? { reason: "max_output_tokens" } : null,
        output: builder.items,
        output_text: builder.text,
        usage: {
          input_tokens: usage?.promptTokens ?? 0,
          input_tokens_details: { cached_tokens: usage?.cachedTokens ?? 0 },
          output_tokens: usage?.completionTokens ?? 0,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: (usage?.promptTokens ?? 0) + (usage?.completionTokens ?? 0),
        },
      };
      if (base.store) remember(id, { messages: [...messages, ...builder.asMessages()] }, builder.items);
      return response;
    };
    if (!body.stream) {
      let finish = "stop";
      let usage: Usage | undefined;
      for await (const step of run.steps) {
        builder.add(step.events, null);
        if (step.finishReason) finish = step.finishReason;
        if (step.usage) usage = step.usage;
      }
      builder.close(null);
      return finishWith(finish, usage);
    }
    await streamResponses(reply, api, req, run, builder, { ...base, status: "in_progress", output: [], usage: null, incomplete_details: null }, finishWith);
    return reply;
  });
}

function textOf(content: string | { type: string; text?: string }[]): string {
  if (typeof content === "string") return content;
  return content.map((p) => {
    if (typeof p.text !== "string") throw new TurbineError("REQUEST_UNSUPPORTED", `Only text content is supported, not ${p.type}`, { param: "input" });
    return p.text;
  }).join("\n");
}

/** Input items as chat messages; consecutive function calls are one assistant turn. */
function toMessages(input: string | InputItem[]): ChatMessage[] {
  if (typeof input === "string") return [{ role: "user", content: input }];
  const out: ChatMessage[] = [];
  for (const item of input) {
    if (item.type === "function_call") {
      const call = { id: item.call_id, type: "function" as const, function: { name: item.name, arguments: item.arguments } };
      const last = out.at(-1);
      if (last?.role === "assistant" && Array.isArray(last.tool_calls)) last.tool_calls.push(call);
      else out.push({ role: "assistant", content: null, tool_calls: [call] });
    } else if (item.type === "function_call_output") {
      out.push({ role: "tool", tool_call_id: item.call_id, content: textOf(item.output) });
    } else if (item.type === "reasoning") {
      continue; // the model's earlier reasoning is not sent back to it, as OpenAI does not
    } else if (item.type === undefined || item.type === "message") {
      out.push({ role: item.role, content: textOf(item.content) });
    } else {
      throw new TurbineError("REQUEST_UNSUPPORTED", `Input items of type ${String((item as { type: unknown }).type)} are not supported`, { param: "input" });
    }
  }
  return out;
}

type OutputItem = Record<string, unknown> & { type: string; id: string };

/** Builds the output items as events arrive; `emit` gets the streaming events of each change. */
class OutputBuilder {
  readonly items: OutputItem[] = [];
  text = "";
  private open: OutputItem | null = null;

  add(events: readonly { type: string; text?: string; id?: string; name?: string; arguments?: string }[], emit: ((e: Record<string, unknown>) => void) | null): void {
    for (const e of events) {
      if (e.type === "content" || e.type === "reasoning") {
        const kind = e.type === "content" ? "message" : "reasoning";
        if (this.open?.type !== kind) {
          this.close(emit);
          this.open =
            kind === "message"
              ? { type: "message", id: `msg_${randomBytes(12).toString("hex")}`, status: "in_progress", role: "assistant", content: [] }
              : { type: "reasoning", id: `rs_${randomBytes(12).toString("hex")}`, summary: [], content: [] };
          this.items.push(this.open);
          emit?.({ type: "response.output_item.added", output_index: this.items.length - 1, item: { ...this.open } });
          const part = kind === "message" ? { type: "output_text", text: "", annotations: [] } : { type: "reasoning_text", text: "" };
          (this.open["content"] as Record<string, unknown>[]).push(part);
          emit?.({ type: "response.content_part.added", item_id: this.open.id, output_index: this.items.length - 1, content_index: 0, part: { ...part } });
        }
        const part = (this.open["content"] as { text: string }[])[0]!;
        part.text += e.text!;
        if (kind === "message") this.text += e.text!;
        emit?.({
          type: kind === "message" ? "response.output_text.delta" : "response.reasoning_text.delta",
          item_id: this.open.id,
          output_index: this.items.length - 1,
          content_index: 0,
          delta: e.text,
        });
      } else if (e.type === "tool_call") {
        this.close(emit);
        const item: OutputItem = { type: "function_call", id: `fc_${randomBytes(12).toString("hex")}`, call_id: e.id!, name: e.name!, arguments: "", status: "in_progress" };
        this.items.push(item);
        const index = this.items.length - 1;
        emit?.({ type: "response.output_item.added", output_index: index, item: { ...item } });
        item["arguments"] = e.arguments!;
        emit?.({ type: "response.function_call_arguments.delta", item_id: item.id, output_index: index, delta: e.arguments });
        emit?.({ type: "response.function_call_arguments.done", item_id: item.id, output_index: index, arguments: e.arguments });
        item["status"] = "completed";
        emit?.({ type: "response.output_item.done", output_index: index, item: { ...item } });
      }
    }
  }

  close(emit: ((e: Record<string, unknown>) => void) | null): void {
    const item = this.open;
    if (item === null) return;
    this.open = null;
    const index = this.items.indexOf(item);
    const part = (item["content"] as Record<string, unknown>[])[0]!;
    if (item.type === "message") {
      item["status"] = "completed";
      emit?.({ type: "response.output_text.done", item_id: item.id, output_index: index, content_index: 0, text: part["text"] });
    } else emit?.({ type: "response.reasoning_text.done", item_id: item.id, output_index: index, content_index: 0, text: part["text"] });
    emit?.({ type: "response.content_part.done", item_id: item.id, output_index: index, content_index: 0, part });
    emit?.({ type: "response.output_item.done", output_index: index, item });
  }

  /** The answer as chat messages, for the store. */
  asMessages(): ChatMessage[] {
    const calls = this.items.filter((i) => i.type === "function_call");
    const msg: ChatMessage = { role: "assistant", content: this.text.length > 0 ? this.text : null };
    if (calls.length > 0) msg.tool_calls = calls.map((c) => ({ id: c["call_id"] as string, type: "function", function: { name: c["name"] as string, arguments: c["arguments"] as string } }));
    return msg.content === null && calls.length === 0 ? [] : [msg];
  }
}

async function streamResponses(
  reply: FastifyReply,
  api: ApiContext,
  req: Parameters<ApiContext["report"]>[1],
  run: ChatRun,
  builder: OutputBuilder,
  initial: Record<string, unknown>,
  finishWith: (finish: string, usage: Usage | undefined) => Record<string, unknown>,
): Promise<void> {
  // The first step before the 200: an error before any output is a proper HTTP error.
  const first = await run.steps.next();
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, { ...(reply.getHeaders() as Record<string, string>), "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" });
  let seq = 0;
  let buf = "";
  const emit = (e: Record<string, unknown>): void => {
    buf += `event: ${String(e["type"])}\ndata: ${JSON.stringify({ ...e, sequence_number: seq++ })}\n\n`;
  };
  emit({ type: "response.created", response: initial });
  emit({ type: "response.in_progress", response: initial });
  try {
    let finish = "stop";
    let usage: Usage | undefined;
    for (let s = first; !s.done; s = await run.steps.next()) {
      builder.add(s.value.events, emit);
      if (s.value.finishReason) finish = s.value.finishReason;
      if (s.value.usage) usage = s.value.usage;
      if (raw.destroyed) return;
      if (buf.length > 0) raw.write(buf);
      buf = "";
    }
    builder.close(emit);
    const response = finishWith(finish, usage);
    emit({ type: response["status"] === "incomplete" ? "response.incomplete" : "response.completed", response });
    raw.end(buf);
  } catch (err) {
    const e = api.report(err, req);
    api.setStatus(reply, e.status);
    emit({ type: "error", code: e.body.error.code, message: e.body.error.message, param: e.body.error.param ?? null });
    if (!raw.destroyed) raw.end(buf);
  } finally {
    await run.steps.return(undefined);
  }
}
