import { TurbineError, isErrorCode } from "./errors.ts";
import type { ErrorCode } from "./errors.ts";
import type { KvTransferParams } from "./request.ts";

/** Why a sequence ended. */
export type FinishReason = "stop" | "length" | "cancelled" | "error";

/** Token counts of a finished (or ongoing) request. */
export interface Usage {
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens served from the prefix cache instead of computed. */
  cachedTokens: number;
}

/** The log probability of one output token, and the most likely alternatives at its position. */
export interface TokenLogprob {
  tokenId: number;
  logprob: number;
  /** Most likely first; as many as the request asked for. */
  top: { tokenId: number; logprob: number; token?: string }[];
  /** The token's text as the engine has it (upstream servers answer text, not ids). */
  token?: string;
}

/**
 * One item of an engine's output stream. Each carries the token ids new since the previous
 * item; the last one carries `finishReason` and `usage`.
 */
export interface EngineOutput {
  tokenIds: number[];
  /**
   * How many tokens this output stands for, when the engine has their text but not their ids
   * (an upstream server that answers text: its ids would cost a re-tokenization nobody may
   * need). Absent: `tokenIds.length`. Read it with `outputTokenCount`.
   */
  numTokens?: number;
  /**
   * The text of these tokens as the engine produced it, when it has it (an upstream
   * OpenAI-compatible server answers text): the frontend sends it as is rather than decoding
   * `tokenIds`, which for such engines are a re-tokenization of that text, for accounting.
   */
  text?: string;
  finishReason?: FinishReason;
  usage?: Usage;
  /** Set with finishReason "error". */
  error?: EngineOutputError;
  /** A prefill worker's answer to a "prefill" request: where the prompt's KV waits. */
  kvTransfer?: KvTransferParams;
  /** One per token of `tokenIds`, when the request asked for logprobs. */
  logprobs?: TokenLogprob[];
  /** The answer to an "embed" request. */
  embedding?: number[];
}

/** Why an engine failed a request: a Turbine error code, so that its kind (and HTTP status) survives to the client. */
export interface EngineOutputError {
  code: ErrorCode;
  message: string;
  /** The request field at fault, when the engine knows it. */
  param?: string;
}

/**
 * The one mapping from an engine's error output to the error a caller sees: the engine's code
 * is kept (a prompt over the KV capacity stays a 400); a code this build does not know (a
 * newer worker across the wire) is ENGINE_FAILED. `defaultParam` names the field at fault
 * when the engine did not.
 */
export function engineOutputError(error: { code?: unknown; message?: unknown; param?: unknown } | undefined, defaultParam?: string): TurbineError {
  const code: ErrorCode = isErrorCode(error?.code) ? error.code : "ENGINE_FAILED";
  const message = typeof error?.message === "string" && error.message.length > 0 ? error.message : "the engine failed";
  const param = typeof error?.param === "string" ? error.param : ERROR_PARAM_DEFAULTS.has(code) ? defaultParam : undefined;
  return new TurbineError(code, message, param === undefined ? {} : { param });
}

/** Codes about the request's own content: the prompt is what is at fault unless the engine says otherwise. */
const ERROR_PARAM_DEFAULTS: ReadonlySet<ErrorCode> = new Set(["REQUEST_CONTEXT_LENGTH_EXCEEDED", "REQUEST_INVALID"]);

/** The number of tokens an output stands for (its ids, or the count of an engine that sent text). */
export function outputTokenCount(out: EngineOutput): number {
  return out.numTokens ?? out.tokenIds.length;
}

/**
 * Merges consecutive outputs of one stream into one (token ids concatenated; text concatenated
 * when every output has it; finish reason, usage and error from the last that has them). Used
 * to coalesce tokens under load.
 */
export function mergeEngineOutputs(batch: readonly EngineOutput[]): EngineOutput {
  if (batch.length === 1) return batch[0]!;
  const merged: EngineOutput = { tokenIds: [] };
  let text: string | undefined = "";
  let counted = false;
  let numTokens = 0;
  for (const out of batch) {
    for (const t of out.tokenIds) merged.tokenIds.push(t);
    if (out.numTokens !== undefined) counted = true;
    numTokens += outputTokenCount(out);
    text = text !== undefined && out.text !== undefined ? text + out.text : undefined;
    if (out.finishReason !== undefined) merged.finishReason = out.finishReason;
    if (out.usage !== undefined) merged.usage = out.usage;
    if (out.error !== undefined) merged.error = out.error;
    if (out.kvTransfer !== undefined) merged.kvTransfer = out.kvTransfer;
    if (out.logprobs !== undefined) (merged.logprobs ??= []).push(...out.logprobs);
    if (out.embedding !== undefined) merged.embedding = out.embedding;
  }
  if (text !== undefined) merged.text = text;
  if (counted) merged.numTokens = numTokens;
  return merged;
}
