// The engine flags `turbine serve` and `turbine worker` share, and their translation into
// an EngineSpec.
import { statSync } from "node:fs";
import type { Command } from "commander";
import { Option } from "commander";
import { ENGINE_KINDS } from "./engine-factory.ts";
import type { EngineKind, EngineSpec } from "./engine-factory.ts";
import { TurbineError } from "../protocols/index.ts";
import { byteSize, nonNegativeInt, positiveInt, positiveNumber } from "./options.ts";

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
  kvbmHostBytes?: number;
  kvbmDiskDir?: string;
  kvbmDiskBytes?: number;
  kvbmRedis?: string;
  kvbmRemoteBytes?: number;
  kvbmOffloadAll?: boolean;
  kvbmHostGbps: number;
  kvbmDiskGbps: number;
  kvbmRemoteGbps: number;
}

/**
 * The KV block manager flags (`serve`, `worker`; `replay` has the simulated subset). Sizes take
 * units (64GiB). The mocker's tiers are simulated (sizes and bandwidths); llama.cpp's are real.
 */
export function addKvbmOptions(cmd: Command, simulatedOnly = false): Command {
  cmd
    .option("--kvbm-host-bytes <size>", "KVBM G2 per worker: host memory for KV offloaded from the engine (mocker: simulated; llamacpp: its prefix cache of states, instead of --prefix-cache-mb)", byteSize)
    .option("--kvbm-disk-bytes <size>", "KVBM G3 per worker: disk for KV G2 evicts (mocker: simulated; llamacpp: bound of --kvbm-disk-dir, default 8GiB)", byteSize)
    .option("--kvbm-remote-bytes <size>", "KVBM G4: the remote store shared by the model's workers (mocker: simulated, shared by the workers of one process; llamacpp: this worker's share, default 8GiB)", byteSize)
    .option("--kvbm-offload-all", "KVBM: offload every block G2 evicts to G3/G4, not only blocks reused at least once")
    .option("--kvbm-host-gbps <n>", "KVBM transfer model (mocker, replay): host-to-engine bandwidth, GB/s", positiveNumber, 25)
    .option("--kvbm-disk-gbps <n>", "KVBM transfer model (mocker, replay): disk bandwidth, GB/s", positiveNumber, 3)
    .option("--kvbm-remote-gbps <n>", "KVBM transfer model (mocker, replay): remote-store bandwidth, GB/s", positiveNumber, 10);
  if (!simulatedOnly) {
    cmd
      .option("--kvbm-disk-dir <dir>", "llamacpp: KVBM G3 folder (crash-safe files, checksummed)")
      .option("--kvbm-redis <url>", "llamacpp: KVBM G4, a Redis shared by the model's workers (redis://host:port); unreachable: local tiers only");
  }
  return cmd;
}

/** The mocker's simulated KVBM settings from the flags, or undefined without --kvbm-host-bytes. */
export function mockerKvbmFromFlags(f: Pick<EngineFlags, "kvbmHostBytes" | "kvbmDiskBytes" | "kvbmRemoteBytes" | "kvbmOffloadAll" | "kvbmHostGbps" | "kvbmDiskGbps" | "kvbmRemoteGbps">): {
  hostBytes: number;
  diskBytes: number;
  remoteBytes: number;
  offloadAll: boolean;
  gbps: { host: number; disk: number; remote: number };
} | undefined {
  if (f.kvbmHostBytes === undefined || f.kvbmHostBytes === 0) {
    if ((f.kvbmDiskBytes ?? 0) > 0 || (f.kvbmRemoteBytes ?? 0) > 0) throw new TurbineError("REQUEST_INVALID", "--kvbm-disk-bytes and --kvbm-remote-bytes need --kvbm-host-bytes (G3/G4 take what G2 evicts)");
    return undefined;
  }
  return {
    hostBytes: f.kvbmHostBytes,
    diskBytes: f.kvbmDiskBytes ?? 0,
    remoteBytes: f.kvbmRemoteBytes ?? 0,
    offloadAll: f.kvbmOffloadAll === true,
    gbps: { host: f.kvbmHostGbps, disk: f.kvbmDiskGbps, remote: f.kvbmRemoteGbps },
  };
}

export function addEngineOptions(cmd: Command): Command {
  addKvbmOptions(cmd);
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
  if (engine !== "llamacpp" && (flags.kvbmDiskDir !== undefined || flags.kvbmRedis !== undefined)) {
    throw new TurbineError("REQUEST_INVALID", `--kvbm-disk-dir and --kvbm-redis are llama.cpp's real stores; the ${engine} engine's tiers are simulated: size them with --kvbm-disk-bytes / --kvbm-remote-bytes`);
  }
  const mockerKvbm = engine === "mocker" ? mockerKvbmFromFlags(flags) : undefined;
  const llamaHost = flags.kvbmHostBytes ?? flags.prefixCacheMb * 1024 * 1024;
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
      ...(mockerKvbm !== undefined ? { kvbmSettings: { ...mockerKvbm, kvBytesPerToken: flags.kvBytesPerToken } } : {}),
    },
    llamacpp: {
      threads: flags.threads,
      numSequences: flags.sequences,
      ...(flags.contextSize !== undefined ? { contextSize: flags.contextSize } : {}),
      gpu: flags.gpu === true ? "auto" : false,
      kvBlockSize: flags.blockSize,
      prefixCache: llamaHost > 0 ? { maxBytes: llamaHost } : false,
      ...(flags.kvbmDiskDir !== undefined || flags.kvbmRedis !== undefined
        ? {
            kvbm: {
              ...(flags.kvbmDiskDir !== undefined ? { diskDir: flags.kvbmDiskDir } : {}),
              ...(flags.kvbmDiskBytes !== undefined ? { diskBytes: flags.kvbmDiskBytes } : {}),
              ...(flags.kvbmRedis !== undefined ? { redisUrl: flags.kvbmRedis } : {}),
              ...(flags.kvbmRemoteBytes !== undefined ? { remoteBytes: flags.kvbmRemoteBytes } : {}),
              offloadAll: flags.kvbmOffloadAll === true,
            },
          }
        : {}),
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
