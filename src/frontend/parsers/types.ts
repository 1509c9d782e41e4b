// The shapes every tool-call and reasoning parser shares: what a parser emits, and the
// incremental interface the streaming path feeds with text deltas.
import { randomBytes } from "node:crypto";

/** A piece of parsed model output, in output order. */
export type ParsedEvent =
  | { type: "content"; text: string }
  | { type: "reasoning"; text: string }
  /** One complete tool call; `arguments` is JSON text (an object), as OpenAI sends it. */
  | { type: "tool_call"; index: number; id: string; name: string; arguments: string };

/** An incremental parser: fed text deltas in order, then finished once. */
export interface StreamingParser {
  push(text: string): ParsedEvent[];
  /** The end of the output: whatever is held back comes out (unterminated calls as text). */
  finish(): ParsedEvent[];
}

/** An OpenAI function tool, as the request gives it. */
export interface ToolDefinition {
  type: "function";
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean | null };
}

/** A call found by a format reader, before it is numbered. */
export interface RawToolCall {
  name: string;
  /** JSON text of the arguments object. */
  arguments: string;
  /** An id the model itself wrote (Mistral), kept when present. */
  id?: string;
}

const ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/** `call_` and 24 random alphanumerics, like OpenAI's ids; `length` alone gives a bare id (Mistral needs 9). */
export function newToolCallId(length?: number): string {
  const n = length ?? 24;
  const bytes = randomBytes(n);
  let id = "";
  for (let i = 0; i < n; i++) id += ALNUM[bytes[i]! % ALNUM.length];
  return length === undefined ? `call_${id}` : id;
}

/** The length of the longest suffix of `text` that is a proper prefix of one of `markers`. */
export function partialMarkerLength(text: string, markers: readonly string[]): number {
  let best = 0;
  for (const m of markers) {
    const max = Math.min(m.length - 1, text.length);
    for (let k = max; k > best; k--) {
      if (text.endsWith(m.slice(0, k))) {
        best = k;
        break;
      }
    }
  }
  return best;
}

/** Merges adjacent events of the same text kind (for non-streaming answers and tests). */
export function coalesceEvents(events: readonly ParsedEvent[]): ParsedEvent[] {
  const out: ParsedEvent[] = [];
  for (const e of events) {
    const last = out.at(-1);
    if (e.type !== "tool_call" && last !== undefined && last.type === e.type) last.text += e.text;
    else out.push(e.type === "tool_call" ? e : { ...e });
  }
  return out.filter((e) => e.type === "tool_call" || e.text.length > 0);
}
