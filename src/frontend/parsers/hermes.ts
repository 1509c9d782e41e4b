// Hermes / Qwen2.5 / Qwen3 tool calls: `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`,
// one block per call (the format the Qwen chat templates ask for).
import { argumentsJson, isPlainObject, tryParseJson } from "./json-scan.ts";
import type { RegionResult, ToolCallFormat } from "./tool-call-parser.ts";

const END = "</tool_call>";

export const hermesFormat: ToolCallFormat = {
  name: "hermes",
  markers: ["<tool_call>"],
  read(text, _marker, final): RegionResult {
    const end = text.indexOf(END);
    if (end < 0 && !final) return "incomplete";
    // An unterminated block at the end of the output is read too (models stop at EOS early).
    const inner = end < 0 ? text : text.slice(0, end);
    const v = tryParseJson(inner.trim());
    if (!isPlainObject(v) || typeof v["name"] !== "string") return "invalid";
    const args = argumentsJson(v["arguments"] ?? v["parameters"]);
    if (args === undefined) return "invalid";
    return { consumed: end < 0 ? text.length : end + END.length, calls: [{ name: v["name"], arguments: args }] };
  },
};
