// parsers: tool-call and reasoning parsers of model output (internal to src/frontend).
export { createOutputParser, parseOutput, collectEvents } from "./output-parser.ts";
export type { OutputParserOptions, ParsedOutput } from "./output-parser.ts";
export {
  TOOL_CALL_PARSER_NAMES,
  REASONING_PARSER_NAMES,
  detectToolCallParser,
  detectReasoningParser,
  isToolCallParserName,
  isReasoningParserName,
} from "./registry.ts";
export type { ToolCallParserName, ReasoningParserName } from "./registry.ts";
export { coalesceEvents, newToolCallId } from "./types.ts";
export type { ParsedEvent, StreamingParser, ToolDefinition } from "./types.ts";
export { parseCallList } from "./pythonic.ts";
