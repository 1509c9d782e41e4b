/** Where a model's tokenizer comes from. */
export type TokenizerSource =
  | { kind: "byte" }
  | { kind: "huggingface"; path: string }
  | { kind: "gguf"; path: string };

export type WorkerRole = "aggregated" | "prefill" | "decode";

/** What a worker registers about the model it serves; frontends build their pipeline from it. */
export interface ModelCard {
  /** Name clients use in `model`. */
  name: string;
  tokenizer: TokenizerSource;
  /** Jinja chat template; absent: a plain "role: content" rendering. */
  chatTemplate?: string;
  /** Maximum prompt + output tokens. */
  contextLength: number;
  /** Tokens per KV block. */
  kvBlockSize: number;
  /** KV blocks of the engine (capacity). */
  numKvBlocks: number;
  /** Sequences the engine runs at once (its batch), when it has such a bound; routers derive busy thresholds from it. */
  maxNumSeqs?: number;
  role: WorkerRole;
  eosTokenIds: number[];
  /**
   * Whether the worker publishes KV events (default true). Without them the router tracks
   * the worker's blocks from its own decisions (approximate indexer).
   */
  publishesKvEvents?: boolean;
  bosTokenId?: number;
  /** Tokens of the chat template's special values. */
  bosToken?: string;
  eosToken?: string;
}

export const DEFAULT_KV_BLOCK_SIZE = 16;
