// Parser names (as `--tool-call-parser` / `--reasoning-parser` take them, vLLM's names where
// vLLM has one), and their detection from a model's chat template.
import { deepseekV3Format } from "./deepseek-v3.ts";
import { hermesFormat } from "./hermes.ts";
import { llama3JsonFormat } from "./llama3-json.ts";
import { mistralFormat } from "./mistral.ts";
import { pythonicFormat } from "./pythonic.ts";
import { qwen3CoderFormat } from "./qwen3-coder.ts";
import type { ToolCallFormat } from "./tool-call-parser.ts";

export const TOOL_CALL_PARSER_NAMES = ["hermes", "llama3_json", "mistral", "pythonic", "deepseek_v3", "qwen3_coder", "harmony"] as const;
export type ToolCallParserName = (typeof TOOL_CALL_PARSER_NAMES)[number];

export const REASONING_PARSER_NAMES = ["deepseek_r1", "qwen3", "gpt_oss"] as const;
export type ReasoningParserName = (typeof REASONING_PARSER_NAMES)[number];

/** The marker-based formats; "harmony" is its own parser (it carries reasoning too). */
export const TOOL_CALL_FORMATS: Readonly<Record<Exclude<ToolCallParserName, "harmony">, ToolCallFormat>> = {
  hermes: hermesFormat,
  llama3_json: llama3JsonFormat,
  mistral: mistralFormat,
  pythonic: pythonicFormat,
  deepseek_v3: deepseekV3Format,
  qwen3_coder: qwen3CoderFormat,
};

export function isToolCallParserName(name: string): name is ToolCallParserName {
  return (TOOL_CALL_PARSER_NAMES as readonly string[]).includes(name);
}

export function isReasoningParserName(name: string): name is ReasoningParserName {
  return (REASONING_PARSER_NAMES as readonly string[]).includes(name);
}

/**
 * The tool-call format a chat template teaches its model, from the markers it writes; null
 * when it shows none (then only `--tool-call-parser` turns parsing on).
 */
export function detectToolCallParser(template: string | undefined): ToolCallParserName | null {
  if (template === undefined) return null;
  if (template.includes("<|channel|>")) return "harmony";
  if (template.includes("<｜tool▁calls▁begin｜>")) return "deepseek_v3";
  if (template.includes("[TOOL_CALLS]")) return "mistral";
  if (template.includes("<function=") && template.includes("<parameter=")) return "qwen3_coder";
  if (template.includes("<tool_call>")) return "hermes";
  if (template.includes("<|python_start|>")) return "pythonic";
  if (template.includes("<|python_tag|>") || (template.includes("<|start_header_id|>") && /\btools\b/.test(template))) return "llama3_json";
  return null;
}

/** The reasoning format of a chat template, or null. */
export function detectReasoningParser(template: string | undefined): ReasoningParserName | null {
  if (template === undefined) return null;
  if (template.includes("<|channel|>")) return "gpt_oss";
  if (!template.includes("<think>") && !template.includes("</think>")) return null;
  return template.includes("<｜Assistant｜>") ? "deepseek_r1" : "qwen3";
}
