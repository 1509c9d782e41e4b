// The flags every process that runs a frontend shares (`turbine serve`, `turbine frontend`):
// HTTP, routing, migration, disaggregation, API keys; and what they become.
import type { Command } from "commander";
import { Option } from "commander";
import type { DisaggregationOptions } from "../frontend/index.ts";
import { POLICY_NAMES } from "../router/index.ts";
import type { PolicyName, RouterOptions } from "../router/index.ts";
import { nonNegativeInt, nonNegativeNumber, positiveInt, positiveNumber } from "./options.ts";

export interface FrontendFlags {
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
  coldStartWaitMs: number;
  namespace: string;
  logLevel: string;
}

export function addFrontendOptions(cmd: Command): Command {
  return cmd
    .option("--host <addr>", "address to listen on", "127.0.0.1")
    .option("--port <n>", "port to listen on (0: any free port)", nonNegativeInt, 8000)
    .addOption(new Option("--router <policy>", "routing policy").choices(POLICY_NAMES).default("kv"))
    .option("--prefill-load-scale <x>", "kv router: weight of prefill work against decode work (default 16)", nonNegativeNumber)
    .option("--new-block-weight <x>", "kv router: weight of the prompt's uncached blocks against prefill already queued (default 16)", nonNegativeNumber)
    .option("--router-temperature <t>", "kv router: softmax temperature (0: always the lowest cost)", nonNegativeNumber)
    .option("--busy-decode-blocks <fraction>", "a worker above this fraction of its KV blocks in use takes no new requests", positiveNumber)
    .option("--busy-prefill-tokens <n>", "a worker with more prompt tokens waiting for prefill takes no new requests", positiveInt)
    .option("--migration-limit <n>", "resend a request this many times when its worker fails mid-stream", nonNegativeInt, 1)
    .option("--max-local-prefill-tokens <n>", "disaggregated serving: prefill on the decode worker when the prompt's uncached part is shorter (0: always on a prefill worker)", nonNegativeInt, 512)
    .option("--max-prefill-queue-tokens <n>", "disaggregated serving: prefill locally while prefill workers have more prompt tokens queued each", nonNegativeInt, 16384)
    .option("--api-key <key...>", "require this bearer key on /v1 (repeatable; or TURBINE_API_KEY)")
    .option("--max-body-bytes <n>", "largest request body accepted", positiveInt, 8 * 1024 * 1024)
    .option("--cold-start-wait-ms <n>", "scale to zero: a request that finds no worker waits this long for the planner to start one (0: 503 at once); the model stays listed", nonNegativeInt, 0)
    .option("--namespace <name>", "runtime namespace", "turbine")
    .addOption(new Option("--log-level <level>", "log level").choices(["trace", "debug", "info", "warn", "error", "silent"]).default("info"));
}

export function routerFromFlags(flags: FrontendFlags): Omit<RouterOptions, "blockSize" | "indexer"> {
  return {
    policy: flags.router,
    policyOptions: { prefillLoadScale: flags.prefillLoadScale, newBlockWeight: flags.newBlockWeight, temperature: flags.routerTemperature },
    maxActiveDecodeBlocks: flags.busyDecodeBlocks,
    maxActivePrefillTokens: flags.busyPrefillTokens,
  };
}

export function disaggregationFromFlags(flags: FrontendFlags): DisaggregationOptions {
  return { maxLocalPrefillTokens: flags.maxLocalPrefillTokens, maxPrefillQueueTokens: flags.maxPrefillQueueTokens };
}

/** `--api-key` values plus TURBINE_API_KEY. */
export function apiKeysFromFlags(flags: FrontendFlags): string[] {
  const envKey = process.env["TURBINE_API_KEY"];
  return [...(flags.apiKey ?? []), ...(envKey ? [envKey] : [])];
}
