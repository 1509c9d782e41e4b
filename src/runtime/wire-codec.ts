// The wire codec of the distributed planes: JSON that carries bigint (block hashes) and
// errors across processes. A bigint travels as a tagged string "\u0000n<decimal>"; a string
// that itself starts with "\u0000" is escaped as "\u0000s<string>", so every value
// round-trips. The tag makes JSON.stringify write the escape "\\u0000", which lets the
// decoder skip its reviver (the slow path) for the common message without one.
import { ERROR_CODES, TurbineError } from "../protocols/index.ts";
import type { ErrorCode } from "../protocols/index.ts";

const TAG = "\u0000";
const ESCAPED_TAG = "\\u0000";

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return `${TAG}n${value.toString()}`;
  if (typeof value === "string" && value.charCodeAt(0) === 0) return `${TAG}s${value}`;
  return value;
}

function reviver(_key: string, value: unknown): unknown {
  if (typeof value === "string" && value.charCodeAt(0) === 0) {
    const body = value.slice(2);
    return value.charCodeAt(1) === 0x6e /* n */ ? BigInt(body) : body;
  }
  return value;
}

/** Encodes a value as JSON text; bigints and strings starting with NUL survive the trip. */
export function encodeWire(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    if (!(e instanceof TypeError)) throw e; // a bigint: take the tagging path
  }
  if (text === undefined || text.includes(ESCAPED_TAG)) text = JSON.stringify(value, replacer);
  return text ?? "null";
}

export function decodeWire(text: string): unknown {
  return text.includes(ESCAPED_TAG) ? JSON.parse(text, reviver) : JSON.parse(text);
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

export function encodeWireBytes(value: unknown): Uint8Array {
  return utf8Encoder.encode(encodeWire(value));
}

export function decodeWireBytes(bytes: Uint8Array): unknown {
  return decodeWire(utf8Decoder.decode(bytes));
}

/** An error as it crosses the wire. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
  param?: string;
  retryAfterSeconds?: number;
}

export function errorToWire(error: unknown): WireError {
  if (error instanceof TurbineError) {
    const w: WireError = { name: error.name, message: error.message, code: error.code };
    if (error.param !== undefined) w.param = error.param;
    if (error.retryAfterSeconds !== undefined) w.retryAfterSeconds = error.retryAfterSeconds;
    return w;
  }
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: "Error", message: String(error) };
}

/** A TurbineError keeps its code, message, param and retry hint; other errors keep name and message. */
export function errorFromWire(w: WireError): Error {
  if (w.code !== undefined && Object.hasOwn(ERROR_CODES, w.code)) {
    const options: { param?: string; retryAfterSeconds?: number } = {};
    if (w.param !== undefined) options.param = w.param;
    if (w.retryAfterSeconds !== undefined) options.retryAfterSeconds = w.retryAfterSeconds;
    return new TurbineError(w.code as ErrorCode, w.message, options);
  }
  const e = new Error(w.message);
  e.name = w.name;
  return e;
}
