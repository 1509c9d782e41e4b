// The flags every process that runs a frontend shares (`turbine serve`, `turbine frontend`):
// HTTP (timeouts, connection and prompt bounds), routing, migration, disaggregation, API
// keys; and what they become.
import type { Command } from "commander";
import { Option } from "commander";
import { DEFAULT_HTTP_LIMITS, REASONING_PARSER_NAMES, TOOL_CALL_PARSER_NAMES } from "../frontend/index.ts";
import type { AdmissionOptions, DisaggregationOptions, HttpServerLimits, ParserChoice, PromptCacheOptions } from "../frontend/index.ts";
import { DEFAULT_TOKENIZER_THREAD_MIN_CHARS } from "../model/index.ts";
import type { TokenizerThreadOptions } from "../model/index.ts";
import { POLICY_NAMES } from "../router/index.ts";
import type { PolicyName, RouterOptions } from "../router/index.ts";
import { busyThreshold, nonNegativeInt, nonNegativeNumber, positiveInt, positiveNumber } from "./options.ts";

export interface FrontendFlags {
  host: string;
  port: number;
  router: PolicyName;
  prefillLoadScale?: number;
  newBlockWeight?: number;
  routerTemperature?: number;
  busyDecodeBlocks?: number;
  busyPrefillTokens?: number;
  busyRequestsPerSeq?: number;
  migrationLimit: number;
  maxLocalPrefillTokens: number;
  maxPrefillQueueTokens: number;
  apiKey?: string[];
  apiKeysFile?: string;
  queueSize: number;
  queueTimeout: number;
  maxBodyBytes: number;
  requestTimeout: number;
  idleTimeout: number;
  keepAliveTimeout: number;
  maxRequestsPerSocket: number;
  maxConnections: number;
  maxMessages: number;
  maxPromptChars: number;
  metricsPublic: boolean;
  coldStartWaitMs: number;
  namespace: string;
  logLevel: string;
  toolCallParser?: string;
  reasoningParser?: string;
  tokenizerThreads: number;
  tokenizerThreadMinChars: number;
  promptCacheMib: number;
}

export function addFrontendOptions(cmd: Command): Command {
  return cmd
    .option("--host <addr>", "address to listen on", "127.0.0.1")
    .option("--port <n>", "port to listen on (0: any free port)", nonNegativeInt, 8000)
    .addOption(new Option("--router <policy>", "routing policy").choices(POLICY_NAMES).default("kv"))
    .option("--prefill-load-scale <x>", "kv router: weight of prefill work against decode work (default 16)", nonNegativeNumber)
    .option("--new-block-weight <x>", "kv router: weight of the prompt's uncached blocks against prefill already queued (default 16)", nonNegativeNumber)
    .option("--router-temperature <t>", "kv router: softmax temperature (0: always the lowest cost)", nonNegativeNumber)
    .option("--busy-decode-blocks <fraction>", "a worker above this fraction of its KV blocks in use takes no new requests (default 1; off: never busy)", busyThreshold)
    .option("--busy-prefill-tokens <n>", "a worker with more prompt tokens waiting for prefill takes no new requests (default: no limit)", busyThreshold)
    .option("--busy-requests-per-seq <x>", "a worker with this many times its model card's max sequences running or waiting takes no new requests (default 2; off: never busy)", busyThreshold)
    .option("--migration-limit <n>", "resend a request this many times when its worker fails mid-stream", nonNegativeInt, 1)
    .option("--max-local-prefill-tokens <n>", "disaggregated serving: prefill on the decode worker when the prompt's uncached part is shorter (0: always on a prefill worker)", nonNegativeInt, 512)
    .option("--max-prefill-queue-tokens <n>", "disaggregated serving: prefill locally while prefill workers have more prompt tokens queued each", nonNegativeInt, 16384)
    .option("--api-key <key...>", "require this bearer key on /v1 (repeatable; or TURBINE_API_KEY)")
    .option("--api-keys-file <path>", "tenants: hashed API keys with priority class, limits and models (JSON, reloaded on change; docs/deploy.md)")
    .option("--queue-size <n>", "requests that may wait per model while every worker is busy (0: answer 503 at once)", nonNegativeInt, 256)
    .option("--queue-timeout <s>", "longest wait in the admission queue before a 503", positiveNumber, 30)
    .option("--max-body-bytes <n>", "largest request body accepted", positiveInt, 8 * 1024 * 1024)
    .option("--max-messages <n>", "most messages in one chat request", positiveInt, DEFAULT_HTTP_LIMITS.maxMessages)
    .option("--max-prompt-chars <n>", "most characters of prompt content in one request (checked before the chat template runs)", positiveInt, DEFAULT_HTTP_LIMITS.maxPromptChars)
    .option("--request-timeout <s>", "a request's headers and body must arrive within this (0: no limit)", nonNegativeNumber, DEFAULT_HTTP_LIMITS.requestTimeoutMs / 1000)
    .option("--idle-timeout <s>", "close a connection with no traffic either way for this long (0: never)", nonNegativeNumber, DEFAULT_HTTP_LIMITS.idleTimeoutMs / 1000)
    .option("--keep-alive-timeout <s>", "close an idle keep-alive connection after this", positiveNumber, DEFAULT_HTTP_LIMITS.keepAliveTimeoutMs / 1000)
    .option("--max-requests-per-socket <n>", "close a connection after this many requests (0: no limit)", nonNegativeInt, DEFAULT_HTTP_LIMITS.maxRequestsPerSocket)
    .option("--max-connections <n>", "open connections accepted at once; more are dropped", positiveInt, DEFAULT_HTTP_LIMITS.maxConnections)
    .option("--metrics-public", "serve /metrics without the API key (by default it needs one when keys are set: it names worker ids)", false)
    .addOption(new Option("--tool-call-parser <name>", "format of the models' tool calls (default: detected from the chat template)").choices([...TOOL_CALL_PARSER_NAMES, "none"]))
    .addOption(new Option("--reasoning-parser <name>", "format of the models' reasoning (default: detected from the chat template)").choices([...REASONING_PARSER_NAMES, "none"]))
    .option("--prompt-cache-mib <n>", "each model's cache of rendered chat prompts and their tokens, MiB (0: no cache)", nonNegativeNumber, 64)
    .option("--tokenizer-threads <n>", "threads per model that encode long prompts off the event loop (Hugging Face tokenizers; 0: all on the loop)", nonNegativeInt, 1)
    .option("--tokenizer-thread-min-chars <n>", "prompts at least this long (characters) are encoded on a tokenizer thread", positiveInt, DEFAULT_TOKENIZER_THREAD_MIN_CHARS)
    .option("--cold-start-wait-ms <n>", "scale to zero: a request that finds no worker waits this long for the planner to start one (0: 503 at once); the model stays listed", nonNegativeInt, 0)
    .option("--namespace <name>", "runtime namespace", "turbine")
    .addOption(new Option("--log-level <level>", "log level").choices(["trace", "debug", "info", "warn", "error", "silent"]).default("info"));
}

/** `shared`: share rate limits with the other frontends over the event plane (distributed runtime). */
export function admissionFromFlags(flags: FrontendFlags, shared: boolean): AdmissionOptions {
  return {
    apiKeysFile: flags.apiKeysFile,
    queue: { size: flags.queueSize, timeoutMs: Math.round(flags.queueTimeout * 1000) },
    sharedLimits: shared,
  };
}

export function routerFromFlags(flags: FrontendFlags): Omit<RouterOptions, "blockSize" | "indexer"> {
  return {
    policy: flags.router,
    policyOptions: { prefillLoadScale: flags.prefillLoadScale, newBlockWeight: flags.newBlockWeight, temperature: flags.routerTemperature },
    maxActiveDecodeBlocks: flags.busyDecodeBlocks,
    maxActivePrefillTokens: flags.busyPrefillTokens,
    maxActiveRequestsPerSeq: flags.busyRequestsPerSeq,
  };
}

export function parsersFromFlags(flags: FrontendFlags): ParserChoice {
  const p: ParserChoice = {};
  if (flags.toolCallParser !== undefined) p.toolCallParser = flags.toolCallParser as NonNullable<ParserChoice["toolCallParser"]>;
  if (flags.reasoningParser !== undefined) p.reasoningParser = flags.reasoningParser as NonNullable<ParserChoice["reasoningParser"]>;
  return p;
}

export function tokenizerThreadsFromFlags(flags: FrontendFlags): TokenizerThreadOptions {
  return { threads: flags.tokenizerThreads, minChars: flags.tokenizerThreadMinChars };
}

export function promptCacheFromFlags(flags: FrontendFlags): PromptCacheOptions | false {
  return flags.promptCacheMib === 0 ? false : { maxBytes: Math.round(flags.promptCacheMib * 1024 * 1024) };
}

export function disaggregationFromFlags(flags: FrontendFlags): DisaggregationOptions {
  return { maxLocalPrefillTokens: flags.maxLocalPrefillTokens, maxPrefillQueueTokens: flags.maxPrefillQueueTokens };
}

export function httpLimitsFromFlags(flags: FrontendFlags): HttpServerLimits {
  return {
    requestTimeoutMs: Math.round(flags.requestTimeout * 1000),
    idleTimeoutMs: Math.round(flags.idleTimeout * 1000),
    keepAliveTimeoutMs: Math.round(flags.keepAliveTimeout * 1000),
    maxRequestsPerSocket: flags.maxRequestsPerSocket,
    maxConnections: flags.maxConnections,
    maxMessages: flags.maxMessages,
    maxPromptChars: flags.maxPromptChars,
    metricsPublic: flags.metricsPublic,
  };
}

/** `--api-key` values plus TURBINE_API_KEY. */
export function apiKeysFromFlags(flags: FrontendFlags): string[] {
  const envKey = process.env["TURBINE_API_KEY"];
  return [...(flags.apiKey ?? []), ...(envKey ? [envKey] : [])];
}
