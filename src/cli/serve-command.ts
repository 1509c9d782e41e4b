// `turbine serve`: the embedded default, everything in one process.
import { Command, Option } from "commander";
import { POLICY_NAMES } from "../router/index.ts";
import type { PolicyName } from "../router/index.ts";
import { EmbeddedServer } from "./embedded-server.ts";
import { addEngineOptions, engineSpecFromFlags } from "./engine-options.ts";
import type { EngineFlags } from "./engine-options.ts";
import { onShutdown } from "./shutdown.ts";
import { createLogger } from "./logger.ts";
import { nonNegativeInt, nonNegativeNumber, positiveInt, positiveNumber } from "./options.ts";

interface ServeFlags extends EngineFlags {
  host: string;
  port: number;
  workers: number;
  router: PolicyName;
  prefillLoadScale?: number;
  newBlockWeight?: number;
  routerTemperature?: number;
  busyDecodeBlocks?: number;
  busyPrefillTokens?: number;
  migrationLimit: number;
  maxLocalPrefillTokens: number;
  maxPrefillQueueTokens: number;
  prefillWorkers: number;
  apiKey?: string[];
  maxBodyBytes: number;
  namespace: string;
  logLevel: string;
}

export function serveCommand(): Command {
  const cmd = new Command("serve")
    .description("serve the OpenAI API with a router and workers in one process (no external services)")
    .option("--host <addr>", "address to listen on", "127.0.0.1")
    .option("--port <n>", "port to listen on (0: any free port)", nonNegativeInt, 8000)
    .option("--workers <n>", "number of workers", positiveInt, 2)
    .addOption(new Option("--router <policy>", "routing policy").choices(POLICY_NAMES).default("kv"))
    .option("--prefill-load-scale <x>", "kv router: weight of prefill work against decode work (default 16)", nonNegativeNumber)
    .option("--new-block-weight <x>", "kv router: weight of the prompt's uncached blocks against prefill already queued (default 16)", nonNegativeNumber)
    .option("--router-temperature <t>", "kv router: softmax temperature (0: always the lowest cost)", nonNegativeNumber)
    .option("--busy-decode-blocks <fraction>", "a worker whose active KV blocks exceed this fraction of its blocks takes no new requests", positiveNumber)
    .option("--busy-prefill-tokens <n>", "a worker with more prompt tokens waiting for prefill takes no new requests", positiveInt)
    .option("--migration-limit <n>", "resend a request this many times when its worker fails mid-stream", nonNegativeInt, 1)
    .option("--max-local-prefill-tokens <n>", "disaggregated serving: prefill on the decode worker when the prompt's uncached part is shorter (0: always on a prefill worker)", nonNegativeInt, 512)
    .option("--max-prefill-queue-tokens <n>", "disaggregated serving: prefill locally while prefill workers have more prompt tokens queued each", nonNegativeInt, 16384)
    .option("--prefill-workers <n>", "prefill workers besides --workers (disaggregated serving)", nonNegativeInt, 0)
    .option("--api-key <key...>", "require this bearer key on /v1 (repeatable; or TURBINE_API_KEY)")
    .option("--max-body-bytes <n>", "largest request body accepted", positiveInt, 8 * 1024 * 1024)
    .option("--namespace <name>", "runtime namespace", "turbine")
    .addOption(new Option("--log-level <level>", "log level").choices(["trace", "debug", "info", "warn", "error", "silent"]).default("info"));
  addEngineOptions(cmd);
  return cmd.action(async (flags: ServeFlags) => {
      const log = createLogger(flags.logLevel, "turbine-serve");
      const spec = engineSpecFromFlags(flags);
      const engine = spec.engine;
      const envKey = process.env["TURBINE_API_KEY"];
      const apiKeys = [...(flags.apiKey ?? []), ...(envKey ? [envKey] : [])];
      const server = await EmbeddedServer.start({
        ...spec,
        host: flags.host,
        port: flags.port,
        namespace: flags.namespace,
        numWorkers: flags.workers,
        migrationLimit: flags.migrationLimit,
        disaggregation: { maxLocalPrefillTokens: flags.maxLocalPrefillTokens, maxPrefillQueueTokens: flags.maxPrefillQueueTokens },
        numPrefillWorkers: flags.prefillWorkers,
        router: {
          policy: flags.router,
          policyOptions: { prefillLoadScale: flags.prefillLoadScale, newBlockWeight: flags.newBlockWeight, temperature: flags.routerTemperature },
          maxActiveDecodeBlocks: flags.busyDecodeBlocks,
          maxActivePrefillTokens: flags.busyPrefillTokens,
        },
        apiKeys,
        bodyLimitBytes: flags.maxBodyBytes,
        logger: log.child({ role: "frontend" }),
      });
      const model = server.frontend.models.models()[0]?.card.name ?? "";
      const auth = apiKeys.length > 0 ? ` -H "Authorization: Bearer $TURBINE_API_KEY"` : "";
      process.stdout.write(
        `\nTurbine is serving ${model} with ${server.workers.length} ${engine} worker(s), router ${flags.router}, at ${server.url}\n\n` +
          `  curl ${server.url}/v1/chat/completions -H 'Content-Type: application/json'${auth} \\\n` +
          `    -d '{"model": "${model}", "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 32}'\n\n` +
          `Metrics: ${server.url}/metrics   Stop: Ctrl-C\n`,
      );
      onShutdown(log, () => server.close({ graceMs: 10_000 }));
    });
}
