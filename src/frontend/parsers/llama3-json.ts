// Llama 3.x JSON tool calls: the output is `{"name": ..., "parameters": {...}}` (several
// separated by `;`), optionally after `<|python_tag|>`.
import { argumentsJson, balancedEnd, isPlainObject, tryParseJson } from "./json-scan.ts";
import type { RegionResult, ToolCallFormat } from "./tool-call-parser.ts";
import type { RawToolCall } from "./types.ts";

export const llama3JsonFormat: ToolCallFormat = {
  name: "llama3_json",
  markers: ["<|python_tag|>"],
  opensAtStart: (text) => text.startsWith("{"),
  read(text, _marker, final): RegionResult {
    const calls: RawToolCall[] = [];
    let pos = 0;
    for (;;) {
      while (pos < text.length && /\s/.test(text[pos]!)) pos++;
      if (pos >= text.length) return final && calls.length > 0 ? { consumed: pos, calls } : final ? "invalid" : "incomplete";
      if (text[pos] !== "{") return calls.length > 0 ? { consumed: pos, calls } : "invalid";
      const end = balancedEnd(text, pos);
      if (end < 0) return final ? "invalid" : "incomplete";
      const v = tryParseJson(text.slice(pos, end));
      if (!isPlainObject(v) || typeof v["name"] !== "string") return calls.length > 0 ? { consumed: pos, calls } : "invalid";
      const args = argumentsJson(v["parameters"] ?? v["arguments"]);
      if (args === undefined) return calls.length > 0 ? { consumed: pos, calls } : "invalid";
      calls.push({ name: v["name"], arguments: args });
      pos = end;
      let p = pos;
      while (p < text.length && /\s/.test(text[p]!)) p++;
      if (p < text.length && text[p] === ";") pos = p + 1;
      else if (p >= text.length && !final) return "incomplete";
      else return { consumed: pos, calls };
    }
  },
};
