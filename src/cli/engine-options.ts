// The engine flags `turbine serve` and `turbine worker` share, and their translation into
// an EngineSpec.
import { statSync } from "node:fs";
import type { Command } from "commander";
import { Option } from "commander";
import { ENGINE_KINDS } from "./engine-factory.ts";
import type { EngineKind, EngineSpec } from "./engine-factory.ts";
import { nonNegativeInt, positiveInt, positiveNumber } from "./options.ts";

export interface EngineFlags {
  engine?: EngineKind;
  model?: string;
  modelName?: string;
  speedup: number;
  numKvBlocks?: number;
  blockSize: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  seed: number;
  kvBytesPerToken: number;
  threads: number;
  sequences: number;
  contextSize?: number;
  gpu?: boolean;
  prefixCacheMb: number;
  upstream?: string[];
  upstreamModel?: string;
  upstreamApiKey?: string;
  upstreamStallTimeout: number;
  promptFormat?: "tokens" | "text" | "auto";
  outputTokens?: "retokenize" | "vllm-logprobs";
  kvEventsEndpoint?: string[];
  kvEventsReplayEndpoint?: string[];
  kvEventsTopic?: string;
}

export function addEngineOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        "--engine <kind>",
        "engine of the workers: llamacpp (real inference; the default), mocker (the simulator; the default for a Hugging Face folder), openai-proxy (an external OpenAI-compatible server per --upstream)",
      ).choices(ENGINE_KINDS),
    )
    .option(
      "--model <path>",
      "a GGUF file (llamacpp or mocker), or a Hugging Face model folder (mocker, openai-proxy: tokenizer and chat template); default: a small random GGUF model (llamacpp, generated once into $TURBINE_DATA_DIR or ~/.cache/turbine), the built-in byte model (mocker, openai-proxy)",
    )
    .option("--model-name <name>", "model name clients use (default: the folder's or file's name)")
    .option("--speedup <k>", "mocker: run simulated time k times faster than real time", positiveNumber, 1)
    .option("--num-kv-blocks <n>", "mocker, openai-proxy: KV blocks per worker (mocker default 16384)", positiveInt)
    .option("--block-size <n>", "tokens per KV block (openai-proxy: the upstream's, e.g. vLLM --block-size)", positiveInt, 16)
    .option("--max-num-seqs <n>", "mocker: most sequences in one batch", positiveInt, 256)
    .option("--max-num-batched-tokens <n>", "mocker: most tokens in one step", positiveInt, 8192)
    .option("--seed <n>", "mocker: seed of the generated tokens", nonNegativeInt, 0)
    .option("--kv-bytes-per-token <n>", "mocker: KV bytes per token a prefill worker moves to a decode worker (default: an 8B model in fp16)", positiveInt, 128 * 1024)
    .option("--threads <n>", "llamacpp: threads per worker (more than the cores slows decoding down)", positiveInt, 1)
    .option("--sequences <n>", "llamacpp: sequences per worker, decoded together in one batch", positiveInt, 4)
    .option("--context-size <n>", "llamacpp: tokens per sequence (default: the model's, at most 4096)", positiveInt)
    .option("--gpu", "llamacpp: use a GPU (CUDA, Metal, Vulkan) when llama.cpp finds one")
    .option("--prefix-cache-mb <n>", "llamacpp: size of the prefix cache of KV states per worker (0: off)", nonNegativeInt, 512)
    .option("--upstream <url...>", "openai-proxy: base URL of an OpenAI-compatible server (repeatable: one worker each)")
    .option("--upstream-model <name>", "openai-proxy: the upstream's model name (default: the first of its /v1/models)")
    .option("--upstream-api-key <key>", "openai-proxy: bearer key for the upstream")
    .option("--upstream-stall-timeout <s>", "openai-proxy: an upstream silent this long (before its answer, or between chunks) counts as dead: the request migrates", positiveNumber, 300)
    .addOption(new Option("--prompt-format <format>", "openai-proxy: send prompts as token ids or text").choices(["tokens", "text", "auto"]).default("auto"))
    .addOption(new Option("--output-tokens <how>", "openai-proxy: how output token ids are obtained").choices(["retokenize", "vllm-logprobs"]).default("retokenize"))
    .option("--kv-events-endpoint <zmq...>", "openai-proxy: the upstream's ZMQ KV event publisher, e.g. tcp://gpu-1:5557 (one per --upstream)")
    .option("--kv-events-replay-endpoint <zmq...>", "openai-proxy: the publisher's replay endpoint (one per --upstream)")
    .option("--kv-events-topic <topic>", "openai-proxy: ZMQ topic of the KV events", "");
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export function engineSpecFromFlags(flags: EngineFlags): EngineSpec {
  // A Hugging Face folder has no weights: alone it can only feed the simulator.
  const engine: EngineKind = flags.engine ?? (flags.upstream ? "openai-proxy" : flags.model !== undefined && isDirectory(flags.model) ? "mocker" : "llamacpp");
  return {
    engine,
    modelPath: flags.model,
    modelName: flags.modelName,
    mocker: {
      speedup: flags.speedup,
      ...(flags.numKvBlocks !== undefined ? { numKvBlocks: flags.numKvBlocks } : {}),
      kvBlockSize: flags.blockSize,
      maxNumSeqs: flags.maxNumSeqs,
      maxNumBatchedTokens: flags.maxNumBatchedTokens,
      seed: flags.seed,
      kvBytesPerToken: flags.kvBytesPerToken,
    },
    llamacpp: {
      threads: flags.threads,
      numSequences: flags.sequences,
      ...(flags.contextSize !== undefined ? { contextSize: flags.contextSize } : {}),
      gpu: flags.gpu === true ? "auto" : false,
      kvBlockSize: flags.blockSize,
      prefixCache: flags.prefixCacheMb > 0 ? { maxBytes: flags.prefixCacheMb * 1024 * 1024 } : false,
    },
    openaiProxy: {
      upstreams: flags.upstream ?? [],
      upstreamModel: flags.upstreamModel,
      upstreamApiKey: flags.upstreamApiKey ?? process.env["TURBINE_UPSTREAM_API_KEY"],
      upstreamStallTimeoutMs: flags.upstreamStallTimeout * 1000,
      promptFormat: flags.promptFormat,
      outputTokens: flags.outputTokens,
      kvEventsEndpoints: flags.kvEventsEndpoint,
      kvEventsReplayEndpoints: flags.kvEventsReplayEndpoint,
      kvEventsTopic: flags.kvEventsTopic,
      kvBlockSize: flags.blockSize,
      numKvBlocks: flags.numKvBlocks,
    },
  };
}
