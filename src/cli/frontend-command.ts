// `turbine frontend`: the OpenAI API and its router, against a fleet found through etcd and
// reached over NATS or TCP.
import { Command, Option } from "commander";
import { Frontend } from "../frontend/index.ts";
import { POLICY_NAMES } from "../router/index.ts";
import type { PolicyName } from "../router/index.ts";
import { createLogger } from "./logger.ts";
import { onShutdown } from "./shutdown.ts";
import { nonNegativeInt, nonNegativeNumber, positiveInt, positiveNumber } from "./options.ts";
import { addDistributedOptions, connectRuntime } from "./runtime-options.ts";
import type { DistributedFlags } from "./runtime-options.ts";

interface FrontendFlags extends DistributedFlags {
  host: string;
  port: number;
  router: PolicyName;
  prefillLoadScale?: number;
  newBlockWeight?: number;
  routerTemperature?: number;
  busyDecodeBlocks?: number;
  busyPrefillTokens?: number;
  migrationLimit: number;
  maxLocalPrefillTokens: number;
  maxPrefillQueueTokens: number;
  apiKey?: string[];
  maxBodyBytes: number;
  namespace: string;
  component: string;
  logLevel: string;
}

export function frontendCommand(): Command {
  const cmd = new Command("frontend")
    .description("serve the OpenAI API for the workers of a distributed fleet (etcd + NATS)")
    .option("--host <addr>", "address to listen on", "127.0.0.1")
    .option("--port <n>", "port to listen on (0: any free port)", nonNegativeInt, 8000)
    .addOption(new Option("--router <policy>", "routing policy").choices(POLICY_NAMES).default("kv"))
    .option("--prefill-load-scale <x>", "kv router: weight of prefill work against decode work (default 16)", nonNegativeNumber)
    .option("--new-block-weight <x>", "kv router: weight of the prompt's uncached blocks against prefill already queued (default 16)", nonNegativeNumber)
    .option("--router-temperature <t>", "kv router: softmax temperature (0: always the lowest cost)", nonNegativeNumber)
    .option("--busy-decode-blocks <fraction>", "a worker above this fraction of its KV blocks in use takes no new requests", positiveNumber)
    .option("--busy-prefill-tokens <n>", "a worker with more prompt tokens waiting takes no new requests", positiveInt)
    .option("--migration-limit <n>", "resend a request this many times when its worker fails mid-stream", nonNegativeInt, 1)
    .option("--max-local-prefill-tokens <n>", "disaggregated serving: prefill on the decode worker when the prompt's uncached part is shorter (0: always on a prefill worker)", nonNegativeInt, 512)
    .option("--max-prefill-queue-tokens <n>", "disaggregated serving: prefill locally while prefill workers have more prompt tokens queued each", nonNegativeInt, 16384)
    .option("--api-key <key...>", "require this bearer key on /v1 (repeatable; or TURBINE_API_KEY)")
    .option("--max-body-bytes <n>", "largest request body accepted", positiveInt, 8 * 1024 * 1024)
    .option("--namespace <name>", "runtime namespace", "turbine")
    .option("--component <name>", "component whose workers serve requests", "backend")
    .addOption(new Option("--log-level <level>", "log level").choices(["trace", "debug", "info", "warn", "error", "silent"]).default("info"));
  addDistributedOptions(cmd);
  return cmd.action(async (flags: FrontendFlags) => {
    const log = createLogger(flags.logLevel, "turbine-frontend");
    const runtime = await connectRuntime(flags, log);
    const envKey = process.env["TURBINE_API_KEY"];
    const frontend = await Frontend.start({
      runtime,
      namespace: flags.namespace,
      component: flags.component,
      host: flags.host,
      port: flags.port,
      router: {
        policy: flags.router,
        policyOptions: { prefillLoadScale: flags.prefillLoadScale, newBlockWeight: flags.newBlockWeight, temperature: flags.routerTemperature },
        maxActiveDecodeBlocks: flags.busyDecodeBlocks,
        maxActivePrefillTokens: flags.busyPrefillTokens,
      },
      migrationLimit: flags.migrationLimit,
      disaggregation: { maxLocalPrefillTokens: flags.maxLocalPrefillTokens, maxPrefillQueueTokens: flags.maxPrefillQueueTokens },
      apiKeys: [...(flags.apiKey ?? []), ...(envKey ? [envKey] : [])],
      bodyLimitBytes: flags.maxBodyBytes,
      logger: log,
    });
    log.info({ url: frontend.url, etcd: flags.etcd, nats: flags.nats }, "frontend ready");
    process.stdout.write(`Turbine frontend at ${frontend.url} (router ${flags.router}, namespace ${flags.namespace})\n`);
    onShutdown(log, async () => {
      await frontend.close();
      await runtime.close();
    });
  });
}
