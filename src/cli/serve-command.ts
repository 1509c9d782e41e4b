// `turbine serve`: the embedded default, everything in one process.
import { statSync } from "node:fs";
import { Command, Option } from "commander";
import { POLICY_NAMES } from "../router/index.ts";
import type { PolicyName } from "../router/index.ts";
import { ENGINE_KINDS, EmbeddedServer } from "./embedded-server.ts";
import type { EngineKind } from "./embedded-server.ts";
import { createLogger } from "./logger.ts";
import { nonNegativeInt, nonNegativeNumber, positiveInt, positiveNumber } from "./options.ts";

interface ServeFlags {
  host: string;
  port: number;
  workers: number;
  engine?: EngineKind;
  model?: string;
  modelName?: string;
  router: PolicyName;
  prefillLoadScale: number;
  routerTemperature: number;
  busyDecodeBlocks?: number;
  busyPrefillTokens?: number;
  speedup: number;
  numKvBlocks: number;
  blockSize: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  seed: number;
  threads: number;
  sequences: number;
  contextSize?: number;
  gpu: boolean;
  prefixCacheMb: number;
  apiKey?: string[];
  maxBodyBytes: number;
  namespace: string;
  logLevel: string;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export function serveCommand(): Command {
  return new Command("serve")
    .description("serve the OpenAI API with a router and workers in one process (no external services)")
    .option("--host <addr>", "address to listen on", "127.0.0.1")
    .option("--port <n>", "port to listen on (0: any free port)", nonNegativeInt, 8000)
    .option("--workers <n>", "number of workers", positiveInt, 2)
    .addOption(new Option("--engine <kind>", "engine of the workers: llamacpp (real inference; the default) or mocker (the simulator; the default for a Hugging Face folder)").choices(ENGINE_KINDS))
    .option(
      "--model <path>",
      "a GGUF file (llamacpp or mocker), or a Hugging Face model folder (mocker); default: a small random GGUF model (llamacpp, generated once into $TURBINE_DATA_DIR or ~/.cache/turbine), the built-in byte model (mocker)",
    )
    .option("--model-name <name>", "model name clients use (default: the folder's name)")
    .addOption(new Option("--router <policy>", "routing policy").choices(POLICY_NAMES).default("kv"))
    .option("--prefill-load-scale <x>", "kv router: weight of prefill work against decode work", nonNegativeNumber, 1)
    .option("--router-temperature <t>", "kv router: softmax temperature (0: always the lowest cost)", nonNegativeNumber, 0)
    .option("--busy-decode-blocks <fraction>", "a worker whose active KV blocks exceed this fraction of its blocks takes no new requests", positiveNumber)
    .option("--busy-prefill-tokens <n>", "a worker with more prompt tokens waiting for prefill takes no new requests", positiveInt)
    .option("--speedup <k>", "mocker: run simulated time k times faster than real time", positiveNumber, 1)
    .option("--num-kv-blocks <n>", "mocker: KV blocks per worker", positiveInt, 16384)
    .option("--block-size <n>", "tokens per KV block", positiveInt, 16)
    .option("--max-num-seqs <n>", "mocker: most sequences in one batch", positiveInt, 256)
    .option("--max-num-batched-tokens <n>", "mocker: most tokens in one step", positiveInt, 8192)
    .option("--seed <n>", "mocker: seed of the generated tokens", nonNegativeInt, 0)
    .option("--threads <n>", "llamacpp: threads per worker (more than the cores slows decoding down)", positiveInt, 1)
    .option("--sequences <n>", "llamacpp: sequences per worker, decoded together in one batch", positiveInt, 4)
    .option("--context-size <n>", "llamacpp: tokens per sequence (default: the model's, at most 4096)", positiveInt)
    .option("--gpu", "llamacpp: use a GPU (CUDA, Metal, Vulkan) when llama.cpp finds one")
    .option("--prefix-cache-mb <n>", "llamacpp: size of the prefix cache of KV states per worker (0: off)", nonNegativeInt, 512)
    .option("--api-key <key...>", "require this bearer key on /v1 (repeatable; or TURBINE_API_KEY)")
    .option("--max-body-bytes <n>", "largest request body accepted", positiveInt, 8 * 1024 * 1024)
    .option("--namespace <name>", "runtime namespace", "turbine")
    .addOption(new Option("--log-level <level>", "log level").choices(["trace", "debug", "info", "warn", "error", "silent"]).default("info"))
    .action(async (flags: ServeFlags) => {
      const log = createLogger(flags.logLevel, "turbine-serve");
      // A Hugging Face folder has no weights: it can only feed the simulator.
      const engine: EngineKind = flags.engine ?? (flags.model !== undefined && isDirectory(flags.model) ? "mocker" : "llamacpp");
      const envKey = process.env["TURBINE_API_KEY"];
      const apiKeys = [...(flags.apiKey ?? []), ...(envKey ? [envKey] : [])];
      const server = await EmbeddedServer.start({
        host: flags.host,
        port: flags.port,
        namespace: flags.namespace,
        numWorkers: flags.workers,
        engine,
        modelPath: flags.model,
        modelName: flags.modelName,
        llamacpp: {
          threads: flags.threads,
          numSequences: flags.sequences,
          ...(flags.contextSize !== undefined ? { contextSize: flags.contextSize } : {}),
          gpu: flags.gpu === true ? "auto" : false,
          kvBlockSize: flags.blockSize,
          prefixCache: flags.prefixCacheMb > 0 ? { maxBytes: flags.prefixCacheMb * 1024 * 1024 } : false,
        },
        router: {
          policy: flags.router,
          policyOptions: { prefillLoadScale: flags.prefillLoadScale, temperature: flags.routerTemperature },
          maxActiveDecodeBlocks: flags.busyDecodeBlocks,
          maxActivePrefillTokens: flags.busyPrefillTokens,
        },
        mocker: {
          speedup: flags.speedup,
          numKvBlocks: flags.numKvBlocks,
          kvBlockSize: flags.blockSize,
          maxNumSeqs: flags.maxNumSeqs,
          maxNumBatchedTokens: flags.maxNumBatchedTokens,
          seed: flags.seed,
        },
        apiKeys,
        bodyLimitBytes: flags.maxBodyBytes,
        logger: log.child({ role: "frontend" }),
      });
      const model = server.frontend.models.models()[0]?.card.name ?? "";
      const auth = apiKeys.length > 0 ? ` -H "Authorization: Bearer $TURBINE_API_KEY"` : "";
      process.stdout.write(
        `\nTurbine is serving ${model} with ${flags.workers} ${engine} worker(s), router ${flags.router}, at ${server.url}\n\n` +
          `  curl ${server.url}/v1/chat/completions -H 'Content-Type: application/json'${auth} \\\n` +
          `    -d '{"model": "${model}", "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 32}'\n\n` +
          `Metrics: ${server.url}/metrics   Stop: Ctrl-C\n`,
      );
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) {
          process.exit(1);
        }
        stopping = true;
        log.info({ signal }, "shutting down: finishing requests in flight");
        server.close({ graceMs: 10_000 }).then(
          () => process.exit(0),
          (err: unknown) => {
            log.error({ err }, "shutdown failed");
            process.exit(1);
          },
        );
      };
      process.once("SIGINT", () => stop("SIGINT"));
      process.once("SIGTERM", () => stop("SIGTERM"));
    });
}
