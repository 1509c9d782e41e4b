// JSON request bodies, checked before they are parsed: JSON is UTF-8 (RFC 8259), so a body
// that is not is refused rather than decoded with replacement characters; and a body with
// more objects and arrays than any acceptable request holds is refused before JSON.parse,
// which builds every one of them synchronously (500,000 tiny messages: ~250 ms of a blocked
// event loop, before any schema could count them).
import { isUtf8 } from "node:buffer";
import { TurbineError } from "../protocols/index.ts";

const OPEN_BRACE = 0x7b; // {
const OPEN_BRACKET = 0x5b; // [
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Objects and arrays in `json` outside strings, counted up to `limit + 1` (then it stops).
 * The common case costs two native scans: when the body holds no more `{` and `[` bytes
 * than the limit in all, strings included, nothing else is read.
 */
export function countJsonContainers(json: Buffer, limit: number): number {
  let rough = 0;
  for (const byte of [OPEN_BRACE, OPEN_BRACKET]) {
    for (let i = json.indexOf(byte); i >= 0 && rough <= limit; i = json.indexOf(byte, i + 1)) rough++;
  }
  if (rough <= limit) return rough;
  // Braces inside strings (code in a prompt) do not count: scan with string state.
  let count = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const b = json[i]!;
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
      if (++count > limit) return count;
    }
  }
  return count;
}

/**
 * Refuses a body that is not UTF-8, or that holds more than `maxContainers` objects and
 * arrays (`param` names the field that would hold them); returns its text.
 */
export function checkJsonBody(body: Buffer, maxContainers: number, param: string | undefined): string {
  if (!isUtf8(body)) throw new TurbineError("REQUEST_INVALID_JSON", "Request body is not valid UTF-8");
  if (countJsonContainers(body, maxContainers) > maxContainers) {
    throw new TurbineError("REQUEST_INVALID", `Request body holds more than ${maxContainers} JSON objects and arrays`, param === undefined ? {} : { param });
  }
  return body.toString("utf8");
}
