// `turbine serve`: the embedded default, everything in one process.
import { Command } from "commander";
import { EmbeddedServer } from "./embedded-server.ts";
import { addEngineOptions, engineSpecFromFlags } from "./engine-options.ts";
import type { EngineFlags } from "./engine-options.ts";
import { addFrontendOptions, apiKeysFromFlags, disaggregationFromFlags, httpLimitsFromFlags, parsersFromFlags, routerFromFlags } from "./frontend-options.ts";
import type { FrontendFlags } from "./frontend-options.ts";
import { createLogger } from "./logger.ts";
import { nonNegativeInt, positiveInt } from "./options.ts";
import { onShutdown } from "./shutdown.ts";

interface ServeFlags extends FrontendFlags, EngineFlags {
  workers: number;
  prefillWorkers: number;
}

export function serveCommand(): Command {
  const cmd = new Command("serve").description("serve the OpenAI API with a router and workers in one process (no external services)");
  addFrontendOptions(cmd);
  cmd
    .option("--workers <n>", "number of workers", positiveInt, 2)
    .option("--prefill-workers <n>", "prefill workers besides --workers (disaggregated serving)", nonNegativeInt, 0);
  addEngineOptions(cmd);
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
      http: httpLimitsFromFlags(flags),
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
    onShutdown(log, () => server.close({ graceMs: 10_000 }));
  });
}
