// DeepSeek V3 / R1 tool calls, as the DeepSeek V3 chat template writes them:
// `<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>...<｜tool▁calls▁end｜>`,
// and V3.1's shorter `<｜tool▁call▁begin｜>NAME<｜tool▁sep｜>ARGS<｜tool▁call▁end｜>`.
import { argumentsOfText } from "./json-scan.ts";
import type { RegionResult, ToolCallFormat } from "./tool-call-parser.ts";
import type { RawToolCall } from "./types.ts";

export const DEEPSEEK_CALLS_BEGIN = "<｜tool▁calls▁begin｜>";
export const DEEPSEEK_CALLS_END = "<｜tool▁calls▁end｜>";
const CALL = /<｜tool▁call▁begin｜>([\s\S]*?)<｜tool▁sep｜>([\s\S]*?)<｜tool▁call▁end｜>/g;
const FENCED = /^([^\n]+)\n```(?:json)?\n([\s\S]*?)\n?```\s*$/;

export const deepseekV3Format: ToolCallFormat = {
  name: "deepseek_v3",
  markers: [DEEPSEEK_CALLS_BEGIN],
  read(text, _marker, final): RegionResult {
    const end = text.indexOf(DEEPSEEK_CALLS_END);
    if (end < 0 && !final) return "incomplete";
    const inner = end < 0 ? text : text.slice(0, end);
    const calls: RawToolCall[] = [];
    for (const m of inner.matchAll(CALL)) {
      const fenced = FENCED.exec(m[2]!);
      // V3: "function" before the separator, the name and a fenced JSON after; V3.1: name, JSON.
      const name = fenced !== null ? fenced[1]!.trim() : m[1]!.trim();
      const args = argumentsOfText((fenced !== null ? fenced[2]! : m[2]!).trim());
      if (name.length === 0 || args === undefined) return "invalid";
      calls.push({ name, arguments: args });
    }
    // Only separators may lie between the calls.
    if (calls.length === 0 || inner.replace(CALL, "").trim().length > 0) return "invalid";
    return { consumed: end < 0 ? text.length : end + DEEPSEEK_CALLS_END.length, calls };
  },
};
