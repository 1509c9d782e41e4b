// Qwen3-Coder tool calls (XML): `<tool_call>\n<function=NAME>\n<parameter=KEY>\nVALUE\n</parameter>\n</function>\n</tool_call>`.
// Values are text; they become the type the tool's JSON schema gives the parameter (a string
// stays a string; numbers, booleans, objects and arrays are parsed as JSON when they parse).
import { tryParseJson } from "./json-scan.ts";
import type { RegionResult, ToolCallFormat } from "./tool-call-parser.ts";
import type { ToolDefinition } from "./types.ts";

const FUNCTION = /^\s*<function=([^>\n]+)>([\s\S]*?)<\/function>\s*$/;
const PARAMETER = /<parameter=([^>\n]+)>\n?([\s\S]*?)\n?<\/parameter>/g;

function convert(value: string, tool: ToolDefinition | undefined, key: string): unknown {
  const props = tool?.function.parameters?.["properties"] as Record<string, { type?: unknown }> | undefined;
  const type = props?.[key]?.type;
  if (type === "string") return value;
  const parsed = tryParseJson(value);
  return parsed === undefined ? value : parsed;
}

export const qwen3CoderFormat: ToolCallFormat = {
  name: "qwen3_coder",
  markers: ["<tool_call>", "<function="],
  read(text, marker, final, tools): RegionResult {
    // A bare `<function=...>...</function>` (no wrapper) is accepted too.
    const bare = marker === "<function=";
    const endTag = bare ? "</function>" : "</tool_call>";
    const end = text.indexOf(endTag);
    if (end < 0 && !final) return "incomplete";
    const inner = (bare ? marker : "") + (end < 0 ? text : text.slice(0, end)) + (bare && end >= 0 ? endTag : "");
    const m = FUNCTION.exec(inner);
    if (m === null) return "invalid";
    const name = m[1]!.trim();
    const tool = tools.find((t) => t.function.name === name);
    const args: Record<string, unknown> = {};
    const body = m[2]!;
    for (const p of body.matchAll(PARAMETER)) args[p[1]!.trim()] = convert(p[2]!, tool, p[1]!.trim());
    if (body.replace(PARAMETER, "").trim().length > 0) return "invalid";
    return { consumed: end < 0 ? text.length : end + endTag.length, calls: [{ name, arguments: JSON.stringify(args) }] };
  },
};
