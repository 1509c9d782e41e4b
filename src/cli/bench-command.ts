// `turbine bench`: load against any OpenAI-compatible server (Turbine, vLLM, SGLang, llama.cpp).
// Parses flags, builds the workload, runs it, prints the table and writes --json / --html.
import { writeFileSync } from "node:fs";
import { Command, InvalidArgumentError, Option } from "commander";
import {
  benchResultJson,
  formatBenchText,
  loadMooncakeTrace,
  multiTurnWorkload,
  parseDistribution,
  renderHtmlReport,
  runBench,
  sharedPrefixWorkload,
  syntheticWorkload,
} from "../bench/index.ts";
import type { BenchWorkloadConfig, Distribution, PromptFormatOption, SendMode, Vocab, WorkloadRequest } from "../bench/index.ts";
import { TurbineError } from "../protocols/index.ts";
import { nonNegativeInt, positiveInt, positiveNumber } from "./options.ts";

type WorkloadKind = BenchWorkloadConfig["kind"];
const WORKLOAD_KINDS: WorkloadKind[] = ["synthetic", "shared-prefix", "multi-turn", "trace"];

interface BenchFlags {
  url: string;
  model: string;
  workload?: WorkloadKind;
  numRequests?: number;
  inputTokens: string;
  outputTokens: string;
  groups?: number;
  promptsPerGroup?: number;
  prefixTokens: string;
  suffixTokens: string;
  sessions?: number;
  turns?: number;
  userTokens: string;
  trace?: string;
  timeScale: number;
  start: number;
  limit?: number;
  concurrency?: number;
  rate?: number;
  traceTiming?: boolean;
  seed: number;
  vocab: Vocab;
  promptFormat: PromptFormatOption;
  apiKey?: string;
  timeout: number;
  duration?: number;
  sloTtft?: number;
  sloItl?: number;
  json?: string;
  html?: string;
  progress: boolean;
}

function distribution(value: string): string {
  try {
    parseDistribution(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return value;
}

function vocabRange(value: string): Vocab {
  const m = /^(\d+):(\d+)$/.exec(value.trim());
  const min = Number(m?.[1]);
  const max = Number(m?.[2]);
  if (!m || !(max >= min)) throw new InvalidArgumentError("must be MIN:MAX token ids, e.g. 1:255");
  return { min, max };
}

/** `out` receives the report (default stdout); the progress bar goes to stderr. */
export function benchCommand(out: { write(s: string): unknown } = process.stdout): Command {
  return new Command("bench")
    .description("measure an OpenAI-compatible server: TTFT, ITL, end-to-end latency, throughput, goodput")
    .requiredOption("--url <base>", "server base URL, e.g. http://127.0.0.1:8000")
    .requiredOption("--model <name>", "model name to request")
    .addOption(new Option("--workload <kind>", "workload (default: trace with --trace, shared-prefix with --groups, multi-turn with --sessions, else synthetic)").choices(WORKLOAD_KINDS))
    .option("--num-requests <n>", "requests to send (synthetic: default 100; others: at most this many of the workload)", positiveInt)
    .option("--input-tokens <dist>", "synthetic prompt length: N, uniform:MIN:MAX, normal:MEAN:SD[:MIN[:MAX]], lognormal:MEAN:SD[:MIN[:MAX]]", distribution, "512")
    .option("--output-tokens <dist>", "output length of synthetic, shared-prefix and multi-turn requests (same syntax)", distribution, "128")
    .option("--groups <n>", "shared-prefix: number of groups", positiveInt)
    .option("--prompts-per-group <n>", "shared-prefix: prompts per group (default 10)", positiveInt)
    .option("--prefix-tokens <dist>", "shared-prefix: shared prefix length", distribution, "1024")
    .option("--suffix-tokens <dist>", "shared-prefix: unique suffix length", distribution, "128")
    .option("--sessions <n>", "multi-turn: number of chat sessions", positiveInt)
    .option("--turns <n>", "multi-turn: turns per session (default 4); each turn resends the history", positiveInt)
    .option("--user-tokens <dist>", "multi-turn: length of each user message", distribution, "256")
    .option("--trace <file>", "Mooncake-format trace (JSONL: timestamp, input_length, output_length, hash_ids)")
    .option("--time-scale <k>", "trace: multiply timestamps by k (k < 1 replays faster)", positiveNumber, 1)
    .option("--start <i>", "trace: first row of the window", nonNegativeInt, 0)
    .option("--limit <n>", "trace: rows in the window", positiveInt)
    .option("--concurrency <n>", "closed loop: keep n requests in flight (default 1, unless --rate or --trace-timing)", positiveInt)
    .option("--rate <r>", "open loop: Poisson arrivals at r requests/s (seeded by --seed)", positiveNumber)
    .option("--trace-timing", "open loop: send at the trace's timestamps (default for --trace without --concurrency/--rate)")
    .option("--seed <n>", "seed of the workload and of the Poisson arrivals", nonNegativeInt, 0)
    .addOption(new Option("--vocab <min:max>", "token ids are drawn from this range (1:255 suits Turbine's byte model and any real one)").argParser(vocabRange).default({ min: 1, max: 255 }, "1:255"))
    .addOption(new Option("--prompt-format <format>", "send prompts as token ids, as text, or probe once (auto)").choices(["tokens", "text", "auto"]).default("auto"))
    .option("--api-key <key>", "bearer key (default: $OPENAI_API_KEY, else $TURBINE_API_KEY)")
    .option("--timeout <s>", "per-request timeout, seconds", positiveNumber, 600)
    .option("--duration <s>", "stop after this many seconds (requests in flight are cancelled and recorded as such)", positiveNumber)
    .option("--slo-ttft <ms>", "goodput: TTFT objective, ms", positiveNumber)
    .option("--slo-itl <ms>", "goodput: inter-token latency objective (per-request mean), ms", positiveNumber)
    .option("--json <file>", "write the JSON result (config, summary, per-request records; see docs/bench.md)")
    .option("--html <file>", "write a self-contained HTML report with plots")
    .option("--no-progress", "no progress bar on stderr")
    .action(async (flags: BenchFlags) => {
      const modes = [flags.concurrency !== undefined, flags.rate !== undefined, flags.traceTiming === true].filter(Boolean).length;
      if (modes > 1) throw new TurbineError("REQUEST_INVALID", "choose one of --concurrency, --rate and --trace-timing");
      const { requests, workload } = buildWorkload(flags);
      let mode: SendMode;
      if (flags.rate !== undefined) mode = { kind: "rate", requestsPerS: flags.rate, seed: flags.seed };
      else if (flags.traceTiming || (workload.kind === "trace" && flags.concurrency === undefined)) {
        if (workload.kind !== "trace") throw new TurbineError("REQUEST_INVALID", "--trace-timing needs --trace");
        mode = { kind: "trace" };
      } else mode = { kind: "concurrency", concurrency: flags.concurrency ?? 1 };

      const interrupt = new AbortController();
      const onSigint = (): void => {
        process.stderr.write("\nturbine bench: interrupted, finishing the report (Ctrl-C again to quit)\n");
        process.once("SIGINT", () => process.exit(130));
        interrupt.abort();
      };
      process.once("SIGINT", onSigint);
      try {
        const result = await runBench({
          url: flags.url,
          model: flags.model,
          apiKey: flags.apiKey ?? process.env["OPENAI_API_KEY"] ?? process.env["TURBINE_API_KEY"],
          requests,
          workload,
          mode,
          seed: flags.seed,
          vocab: flags.vocab,
          promptFormat: flags.promptFormat,
          timeoutMs: flags.timeout * 1000,
          durationMs: flags.duration !== undefined ? flags.duration * 1000 : undefined,
          sloTtftMs: flags.sloTtft,
          sloItlMs: flags.sloItl,
          signal: interrupt.signal,
          progress: flags.progress ? process.stderr : undefined,
        });
        out.write(formatBenchText(result));
        if (flags.json) {
          writeFileSync(flags.json, benchResultJson(result) + "\n");
          out.write(`JSON result: ${flags.json}\n`);
        }
        if (flags.html) {
          writeFileSync(flags.html, renderHtmlReport(result));
          out.write(`HTML report: ${flags.html}\n`);
        }
        // Nothing succeeded: a script should notice.
        if (result.summary.count > 0 && result.summary.failures === result.summary.count) process.exitCode = 1;
      } finally {
        process.off("SIGINT", onSigint);
      }
    });
}

function buildWorkload(flags: BenchFlags): { requests: WorkloadRequest[]; workload: BenchWorkloadConfig } {
  const kind: WorkloadKind =
    flags.workload ?? (flags.trace !== undefined ? "trace" : flags.groups !== undefined ? "shared-prefix" : flags.sessions !== undefined ? "multi-turn" : "synthetic");
  const d = (spec: string): Distribution => parseDistribution(spec);
  const cap = (r: WorkloadRequest[]): WorkloadRequest[] => (flags.numRequests !== undefined && flags.numRequests < r.length ? r.slice(0, flags.numRequests) : r);
  const { seed, vocab } = flags;
  switch (kind) {
    case "synthetic":
      return {
        requests: syntheticWorkload({ numRequests: flags.numRequests ?? 100, inputTokens: d(flags.inputTokens), outputTokens: d(flags.outputTokens), seed, vocab }),
        workload: { kind, inputTokens: flags.inputTokens, outputTokens: flags.outputTokens },
      };
    case "shared-prefix": {
      const groups = flags.groups ?? 8;
      const promptsPerGroup = flags.promptsPerGroup ?? 10;
      const requests = sharedPrefixWorkload({
        numGroups: groups,
        promptsPerGroup,
        prefixTokens: d(flags.prefixTokens),
        suffixTokens: d(flags.suffixTokens),
        outputTokens: d(flags.outputTokens),
        seed,
        vocab,
      });
      return { requests: cap(requests), workload: { kind, groups, promptsPerGroup, prefixTokens: flags.prefixTokens, suffixTokens: flags.suffixTokens, outputTokens: flags.outputTokens } };
    }
    case "multi-turn": {
      const sessions = flags.sessions ?? 8;
      const turns = flags.turns ?? 4;
      const requests = multiTurnWorkload({ numSessions: sessions, turnsPerSession: turns, userTokens: d(flags.userTokens), assistantTokens: d(flags.outputTokens), seed, vocab });
      return { requests: cap(requests), workload: { kind, sessions, turns, userTokens: flags.userTokens, outputTokens: flags.outputTokens } };
    }
    case "trace": {
      if (flags.trace === undefined) throw new TurbineError("REQUEST_INVALID", "--workload trace needs --trace <file>");
      const limit = flags.limit ?? flags.numRequests;
      const requests = loadMooncakeTrace(flags.trace, { start: flags.start, limit, timeScale: flags.timeScale, vocab });
      const workload: BenchWorkloadConfig = { kind, path: flags.trace, start: flags.start, timeScale: flags.timeScale };
      if (limit !== undefined) workload.limit = limit;
      return { requests, workload };
    }
  }
}
