// `turbine serve`: the embedded default, everything in one process.
import { Command } from "commander";
import { EmbeddedServer } from "./embedded-server.ts";
import { addEngineOptions, engineSpecFromFlags } from "./engine-options.ts";
import type { EngineFlags } from "./engine-options.ts";
import { addFrontendOptions, admissionFromFlags, apiKeysFromFlags, disaggregationFromFlags, httpLimitsFromFlags, tokenizerThreadsFromFlags, parsersFromFlags, promptCacheFromFlags, routerFromFlags } from "./frontend-options.ts";
import type { FrontendFlags } from "./frontend-options.ts";
import { createLogger } from "./logger.ts";
import { nonNegativeInt, positiveInt } from "./options.ts";
import { onShutdown } from "./shutdown.ts";
import { addPlannerOptions, coldStartWaitFromFlags } from "./planner-options.ts";
import type { PlannerFlags } from "./planner-options.ts";
import { startEmbeddedPlanner } from "./embedded-planner.ts";

interface ServeFlags extends FrontendFlags, EngineFlags, PlannerFlags {
  workers: number;
  prefillWorkers: number;
  loadMetricsIntervalMs: number;
}

export function serveCommand(): Command {
  const cmd = new Command("serve").description("serve the OpenAI API with a router and workers in one process (no external services)");
  addFrontendOptions(cmd);
  cmd
    .option("--workers <n>", "number of workers", positiveInt, 2)
    .option("--prefill-workers <n>", "prefill workers besides --workers (disaggregated serving)", nonNegativeInt, 0)
    .option("--load-metrics-interval-ms <n>", "how often each worker publishes its load metrics to the router", positiveInt, 100);
  addEngineOptions(cmd);
  addPlannerOptions(cmd);
  return cmd.action(async (flags: ServeFlags) => {
    const log = createLogger(flags.logLevel, "turbine-serve");
    const spec = engineSpecFromFlags(flags);
    const apiKeys = apiKeysFromFlags(flags);
    const server = await EmbeddedServer.start({
      ...spec,
      host: flags.host,
      port: flags.port,
      namespace: flags.namespace,
      numWorkers: flags.workers,
      numPrefillWorkers: flags.prefillWorkers,
      migrationLimit: flags.migrationLimit,
      disaggregation: disaggregationFromFlags(flags),
      parsers: parsersFromFlags(flags),
      router: routerFromFlags(flags),
      apiKeys,
      bodyLimitBytes: flags.maxBodyBytes,
      admission: admissionFromFlags(flags, false),
      http: httpLimitsFromFlags(flags),
      tokenizerThreads: tokenizerThreadsFromFlags(flags),
      promptCache: promptCacheFromFlags(flags),
      loadMetricsIntervalMs: flags.loadMetricsIntervalMs,
      coldStartWaitMs: coldStartWaitFromFlags(flags),
      logger: log.child({ role: "frontend" }),
    });
    const model = server.frontend.models.models()[0]?.card.name ?? "";
    const auth = apiKeys.length > 0 ? ` -H "Authorization: Bearer $TURBINE_API_KEY"` : "";
    process.stdout.write(
      `\nTurbine is serving ${model} with ${server.workers.length} ${spec.engine} worker(s), router ${flags.router}, at ${server.url}\n\n` +
        `  curl ${server.url}/v1/chat/completions -H 'Content-Type: application/json'${auth} \\\n` +
        `    -d '{"model": "${model}", "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 32}'\n\n` +
        `Metrics: ${server.url}/metrics   Stop: Ctrl-C\n`,
    );
    const planner = flags.planner !== undefined ? await startEmbeddedPlanner(server, flags, spec, flags.namespace, log) : undefined;
    onShutdown(log, async () => {
      await planner?.close();
      await server.close({ graceMs: 10_000 });
    });
  });
}
