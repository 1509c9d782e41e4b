// Mistral tool calls: `[TOOL_CALLS][{"name": ..., "arguments": {...}, "id": "abc123XYZ"}, ...]`
// (Mistral Nemo / v3 tokenizers), or `[TOOL_CALLS]name[ARGS]{...}` (v11 tokenizers), optionally
// `name[CALL_ID]id[ARGS]{...}`. Ids are 9 alphanumerics: Mistral's templates reject others.
import { argumentsJson, argumentsOfText, balancedEnd, isPlainObject, tryParseJson } from "./json-scan.ts";
import type { RegionResult, ToolCallFormat } from "./tool-call-parser.ts";
import type { RawToolCall } from "./types.ts";

const ID = /^[A-Za-z0-9]{9}$/;

function readArray(text: string, start: number, final: boolean): RegionResult {
  const end = balancedEnd(text, start);
  if (end < 0) return final ? "invalid" : "incomplete";
  const v = tryParseJson(text.slice(start, end));
  const list = Array.isArray(v) ? v : [v];
  const calls: RawToolCall[] = [];
  for (const item of list) {
    if (!isPlainObject(item) || typeof item["name"] !== "string") return "invalid";
    const args = argumentsJson(item["arguments"] ?? item["parameters"]);
    if (args === undefined) return "invalid";
    const call: RawToolCall = { name: item["name"], arguments: args };
    if (typeof item["id"] === "string" && ID.test(item["id"])) call.id = item["id"];
    calls.push(call);
  }
  return calls.length > 0 ? { consumed: end, calls } : "invalid";
}

function readNamed(text: string, start: number, final: boolean): RegionResult {
  const m = /^([A-Za-z0-9_.-]+)(?:\[CALL_ID\]([A-Za-z0-9]+))?\[ARGS\]/.exec(text.slice(start));
  if (m === null) {
    // Still a possible `name[CALL_ID]id[ARGS]` prefix: wait; anything else is not a call.
    return !final && couldBecomeNamedCall(text.slice(start)) ? "incomplete" : "invalid";
  }
  const argsAt = start + m[0].length;
  if (argsAt >= text.length) return final ? "invalid" : "incomplete";
  if (text[argsAt] !== "{") return "invalid";
  const end = balancedEnd(text, argsAt);
  if (end < 0) return final ? "invalid" : "incomplete";
  const args = argumentsOfText(text.slice(argsAt, end));
  if (args === undefined) return "invalid";
  const call: RawToolCall = { name: m[1]!, arguments: args };
  if (m[2] !== undefined && ID.test(m[2])) call.id = m[2];
  return { consumed: end, calls: [call] };
}

function couldBecomeNamedCall(text: string): boolean {
  const rest = text.replace(/^[A-Za-z0-9_.-]*/, "");
  if ("[ARGS]".startsWith(rest) || "[CALL_ID]".startsWith(rest)) return true;
  if (!rest.startsWith("[CALL_ID]")) return false;
  return "[ARGS]".startsWith(rest.slice(9).replace(/^[A-Za-z0-9]*/, ""));
}

export const mistralFormat: ToolCallFormat = {
  name: "mistral",
  markers: ["[TOOL_CALLS]"],
  idLength: 9,
  read(text, _marker, final): RegionResult {
    let pos = 0;
    while (pos < text.length && /\s/.test(text[pos]!)) pos++;
    if (pos >= text.length) return final ? "invalid" : "incomplete";
    return text[pos] === "[" || text[pos] === "{" ? readArray(text, pos, final) : readNamed(text, pos, final);
  },
};
