// Finds where a JSON (or Python-literal) value that starts at a given position ends, without
// parsing it: the streaming parsers use it to know when a call's payload is complete.

/**
 * The index just past the balanced value (object, array, string) starting at `text[start]`,
 * or -1 when the text ends first. Quotes may be `"` (JSON) or also `'` (Python literals).
 */
export function balancedEnd(text: string, start: number, pythonQuotes = false): number {
  let depth = 0;
  let quote = "";
  for (let i = start; i < text.length; i++) {
    const c = text[i]!;
    if (quote !== "") {
      if (c === "\\") i++;
      else if (c === quote) {
        quote = "";
        if (depth === 0) return i + 1;
      }
      continue;
    }
    if (c === '"' || (pythonQuotes && c === "'")) quote = c;
    else if (c === "{" || c === "[" || c === "(") depth++;
    else if (c === "}" || c === "]" || c === ")") {
      depth--;
      if (depth <= 0) return i + 1;
    }
  }
  return -1;
}

/** JSON.parse, or undefined when the text is not JSON. */
export function tryParseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The JSON text of a call's arguments: an object as is, a string holding an object kept; else undefined. */
export function argumentsJson(args: unknown): string | undefined {
  if (args === undefined || args === null) return "{}";
  if (isPlainObject(args)) return JSON.stringify(args);
  if (typeof args === "string") return isPlainObject(tryParseJson(args)) ? args : undefined;
  return undefined;
}

/** The JSON text of arguments written as text: an object's JSON, else undefined. */
export function argumentsOfText(text: string): string | undefined {
  const v = tryParseJson(text);
  return isPlainObject(v) ? JSON.stringify(v) : undefined;
}
