import type {
  EngineOutput,
  KvEventData,
  ModelCard,
  PreprocessedRequest,
  StorageTier,
  WorkerLoadMetrics,
} from "../protocols/index.ts";

/** An engine's load, without the worker id and timestamp the worker adds. */
export type EngineLoad = Omit<WorkerLoadMetrics, "workerId" | "timestamp">;

/** A change to the engine's cached blocks, before the worker numbers it. */
export interface EngineKvEvent {
  tier: StorageTier;
  data: KvEventData;
}

export interface GenerateOptions {
  /** Aborted when the client goes away: the engine stops the request and frees its blocks. */
  signal: AbortSignal;
  /**
   * Called once when the engine takes the request into its running batch: its queue wait is
   * over and its prefill starts (the worker's "queue" span ends there). Engines that cannot
   * tell never call it.
   */
  onScheduled?: () => void;
}

/**
 * What a worker serves: a model behind `generate`. One implementation per engine
 * (mocker, llamacpp, openai-proxy).
 */
export interface Engine {
  /** The model card the worker registers (role, block size and capacity included). */
  readonly card: ModelCard;
  /**
   * Generates for one request. Each item carries new token ids; the last carries
   * finishReason and usage. Breaking out of the iteration cancels the request.
   */
  generate(request: PreprocessedRequest, options: GenerateOptions): AsyncIterable<EngineOutput>;
  /** Current load. */
  load(): EngineLoad;
  /** Subscribes to KV events in the order they happen. Returns the unsubscribe function. */
  onKvEvent(listener: (event: EngineKvEvent) => void): () => void;
  /**
   * Disaggregated serving, prefill side: computes the prompt's KV (the prefill time is spent
   * here) and returns it as bytes for a decode worker of the same model to import. Engines
   * that cannot export KV leave this out and serve as aggregated workers only.
   */
  prefillForTransfer?(request: PreprocessedRequest, options: GenerateOptions): Promise<Uint8Array>;
  /**
   * Disaggregated serving, decode side: loads KV bytes made by `prefillForTransfer` for
   * `tokenIds`, so that the next request with that prompt computes only what follows.
   */
  importPrefilledKv?(tokenIds: readonly number[], kv: Uint8Array, options: GenerateOptions): Promise<void>;
  /** Stops the engine: requests in flight end with "cancelled". */
  close(): Promise<void>;
}
