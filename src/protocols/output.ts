/** Why a sequence ended. */
export type FinishReason = "stop" | "length" | "cancelled" | "error";

/** Token counts of a finished (or ongoing) request. */
export interface Usage {
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens served from the prefix cache instead of computed. */
  cachedTokens: number;
}

/**
 * One item of an engine's output stream. Each carries the token ids new since the previous
 * item; the last one carries `finishReason` and `usage`.
 */
export interface EngineOutput {
  tokenIds: number[];
  finishReason?: FinishReason;
  usage?: Usage;
  /** Set with finishReason "error". */
  error?: { code: string; message: string };
}
