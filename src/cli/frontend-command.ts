// `turbine frontend`: the OpenAI API and its router, against a fleet found through etcd and
// reached over NATS or TCP.
import { Command } from "commander";
import { Frontend } from "../frontend/index.ts";
import { addFrontendOptions, admissionFromFlags, apiKeysFromFlags, disaggregationFromFlags, httpLimitsFromFlags, tokenizerThreadsFromFlags, parsersFromFlags, promptCacheFromFlags, routerFromFlags } from "./frontend-options.ts";
import type { FrontendFlags } from "./frontend-options.ts";
import { createLogger } from "./logger.ts";
import { addDistributedOptions, connectRuntime } from "./runtime-options.ts";
import type { DistributedFlags } from "./runtime-options.ts";
import { onShutdown } from "./shutdown.ts";

interface FrontendCommandFlags extends FrontendFlags, DistributedFlags {
  component: string;
}

export function frontendCommand(): Command {
  const cmd = new Command("frontend").description("serve the OpenAI API for the workers of a distributed fleet (etcd + NATS)");
  addFrontendOptions(cmd);
  cmd.option("--component <name>", "component whose workers generate", "backend");
  addDistributedOptions(cmd);
  return cmd.action(async (flags: FrontendCommandFlags) => {
    const log = createLogger(flags.logLevel, "turbine-frontend");
    const runtime = await connectRuntime(flags, log);
    const frontend = await Frontend.start({
      runtime,
      namespace: flags.namespace,
      component: flags.component,
      host: flags.host,
      port: flags.port,
      router: routerFromFlags(flags),
      migrationLimit: flags.migrationLimit,
      disaggregation: disaggregationFromFlags(flags),
      parsers: parsersFromFlags(flags),
      apiKeys: apiKeysFromFlags(flags),
      bodyLimitBytes: flags.maxBodyBytes,
      admission: admissionFromFlags(flags, true),
      http: httpLimitsFromFlags(flags),
      tokenizerThreads: tokenizerThreadsFromFlags(flags),
      promptCache: promptCacheFromFlags(flags),
      coldStartWaitMs: flags.coldStartWaitMs,
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
