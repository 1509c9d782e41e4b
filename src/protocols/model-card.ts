/**
 * Where a model's tokenizer comes from. `path` is where the worker read it; `sha256` is the
 * digest of its tokenizer files (what the worker serves on MODEL_FILES_ENDPOINT), so a frontend
 * that cannot read `path`, or reads different content there, fetches them from the worker.
 */
export type TokenizerSource =
  | { kind: "byte" }
  | { kind: "huggingface"; path: string; sha256?: string }
  | { kind: "gguf"; path: string; sha256?: string };

/** One piece of one tokenizer file on MODEL_FILES_ENDPOINT (files in order, pieces in order). */
export interface TokenizerFileChunk {
  /** File name inside the model folder (huggingface) or "vocab.gguf" (gguf: the header, no tensors). */
  name: string;
  /** Base64 of the piece. */
  data: string;
  /** Last piece of this file. */
  last: boolean;
}

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
  /**
   * Request features the engine honours beyond plain sampling; the frontend refuses requests
   * that use others with a 400 naming the field. Absent: none.
   */
  features?: EngineFeature[];
}

/** Optional request features, by what an engine must do to honour them. */
export type EngineFeature =
  /** `guided` (JSON object / JSON schema, forced tool calls). */
  | "guided_decoding"
  /** `logprobs` of output tokens. */
  | "logprobs"
  /** presence, frequency and repetition penalties. */
  | "penalties"
  | "logit_bias"
  /** The worker also serves the `embed` endpoint. */
  | "embeddings";

export const DEFAULT_KV_BLOCK_SIZE = 16;
