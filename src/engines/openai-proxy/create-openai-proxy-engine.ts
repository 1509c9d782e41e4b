// What `turbine serve|worker --engine openai-proxy` calls: loads the model's tokenizer and
// template (the frontend tokenizes with them, so routing is token-accurate), asks the
// upstream for its model name when none is given, and builds the engine.
import { TurbineError } from "../../protocols/index.ts";
import { builtinByteModel, loadHuggingFaceModel } from "../../model/index.ts";
import { OpenAIProxyEngine } from "./openai-proxy-engine.ts";
import type { OutputTokens, PromptFormat } from "./openai-proxy-engine.ts";
import { UpstreamClient } from "./upstream-client.ts";

export interface CreateOpenAIProxyEngineOptions {
  /** `--upstream`: base URL of the OpenAI-compatible server. */
  upstream: string;
  /** `--upstream-model`: its model name; default: the first model of its /v1/models. */
  upstreamModel?: string;
  /** `--upstream-api-key`. */
  upstreamApiKey?: string;
  /** `--upstream-stall-timeout` in ms (default 300 s). */
  upstreamStallTimeoutMs?: number;
  /** `--model`: Hugging Face folder of the model (tokenizer, template); default: the byte model. */
  modelPath?: string;
  /** `--model-name`: name clients use; default the upstream model's name. */
  modelName?: string;
  /** `--prompt-format` (default "auto"). */
  promptFormat?: PromptFormat;
  /** `--output-tokens` (default "retokenize"). */
  outputTokens?: OutputTokens;
  /** `--kv-events-endpoint`: the upstream's ZMQ PUB endpoint (e.g. tcp://gpu-1:5557). */
  kvEventsEndpoint?: string;
  /** `--kv-events-replay-endpoint`: its ROUTER replay endpoint (e.g. tcp://gpu-1:5558). */
  kvEventsReplayEndpoint?: string;
  /** `--kv-events-topic` (default ""). */
  kvEventsTopic?: string;
  /** `--kv-block-size`: the upstream's block size (vLLM --block-size; default the model's, 16). */
  kvBlockSize?: number;
  /** `--num-kv-blocks`: the upstream's KV capacity in blocks, for load estimates (default 65536). */
  numKvBlocks?: number;
  /** Errors of the KV event subscription (malformed batches, replay timeouts). */
  onKvEventsError?: (err: Error) => void;
}

export async function createOpenAIProxyEngine(options: CreateOpenAIProxyEngineOptions): Promise<OpenAIProxyEngine> {
  const loaded = options.modelPath ? await loadHuggingFaceModel(options.modelPath) : builtinByteModel();
  let upstreamModel = options.upstreamModel;
  if (upstreamModel === undefined) {
    const client = new UpstreamClient({ baseUrl: options.upstream, apiKey: options.upstreamApiKey, maxSockets: 1 });
    try {
      const list = (await client.getJson("/models")) as { data?: { id?: unknown }[] };
      const id = list.data?.[0]?.id;
      if (typeof id !== "string") throw new TurbineError("MODEL_LOAD_FAILED", `upstream ${client.baseUrl} lists no model: pass --upstream-model`);
      upstreamModel = id;
    } finally {
      client.close();
    }
  }
  const kvEvents = options.kvEventsEndpoint
    ? {
        endpoint: options.kvEventsEndpoint,
        ...(options.kvEventsReplayEndpoint !== undefined ? { replayEndpoint: options.kvEventsReplayEndpoint } : {}),
        ...(options.kvEventsTopic !== undefined ? { topic: options.kvEventsTopic } : {}),
        ...(options.onKvEventsError !== undefined ? { onError: options.onKvEventsError } : {}),
      }
    : undefined;
  return new OpenAIProxyEngine({
    upstream: options.upstream,
    upstreamModel,
    ...(options.upstreamApiKey !== undefined ? { apiKey: options.upstreamApiKey } : {}),
    ...(options.upstreamStallTimeoutMs !== undefined ? { stallTimeoutMs: options.upstreamStallTimeoutMs } : {}),
    card: {
      ...loaded.card,
      name: options.modelName ?? upstreamModel,
      kvBlockSize: options.kvBlockSize ?? loaded.card.kvBlockSize,
      ...(options.numKvBlocks !== undefined ? { numKvBlocks: options.numKvBlocks } : {}),
    },
    tokenizer: loaded.tokenizer,
    ...(options.promptFormat !== undefined ? { promptFormat: options.promptFormat } : {}),
    ...(options.outputTokens !== undefined ? { outputTokens: options.outputTokens } : {}),
    ...(kvEvents !== undefined ? { kvEvents } : {}),
  });
}
