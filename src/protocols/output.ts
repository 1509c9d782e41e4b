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
   * The text of these tokens as the engine produced it, when it has it (an upstream
   * OpenAI-compatible server answers text): the frontend sends it as is rather than decoding
   * `tokenIds`, which for such engines are a re-tokenization of that text, for accounting.
   */
  text?: string;
  finishReason?: FinishReason;
  usage?: Usage;
  /** Set with finishReason "error". */
  error?: { code: string; message: string };
  /** A prefill worker's answer to a "prefill" request: where the prompt's KV waits. */
  kvTransfer?: KvTransferParams;
  /** One per token of `tokenIds`, when the request asked for logprobs. */
  logprobs?: TokenLogprob[];
  /** The answer to an "embed" request. */
  embedding?: number[];
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
  for (const out of batch) {
    for (const t of out.tokenIds) merged.tokenIds.push(t);
    text = text !== undefined && out.text !== undefined ? text + out.text : undefined;
    if (out.finishReason !== undefined) merged.finishReason = out.finishReason;
    if (out.usage !== undefined) merged.usage = out.usage;
    if (out.error !== undefined) merged.error = out.error;
    if (out.kvTransfer !== undefined) merged.kvTransfer = out.kvTransfer;
    if (out.logprobs !== undefined) (merged.logprobs ??= []).push(...out.logprobs);
    if (out.embedding !== undefined) merged.embedding = out.embedding;
  }
  if (text !== undefined) merged.text = text;
  return merged;
}
