// `turbine worker`: one engine served as a worker of a distributed fleet. It registers in
// etcd under a lease, serves `generate` and `kv_dump` on the request plane, and publishes
// KV events and load metrics on NATS. SIGTERM drains it: it deregisters, finishes what is in
// flight, and exits.
import { Command, Option } from "commander";
import { Worker } from "../engines/index.ts";
import type { WorkerRole } from "../protocols/index.ts";
import { prepareEngines } from "./engine-factory.ts";
import { addEngineOptions, engineSpecFromFlags } from "./engine-options.ts";
import type { EngineFlags } from "./engine-options.ts";
import { createLogger } from "./logger.ts";
import { nonNegativeInt, positiveInt } from "./options.ts";
import { startWorkerStatusServer } from "./worker-status-server.ts";
import { addDistributedOptions, connectRuntime } from "./runtime-options.ts";
import type { DistributedFlags } from "./runtime-options.ts";
import { onShutdown } from "./shutdown.ts";

interface WorkerFlags extends EngineFlags, DistributedFlags {
  namespace: string;
  component?: string;
  role: WorkerRole;
  drainTimeoutMs: number;
  loadMetricsIntervalMs: number;
  metricsHost: string;
  metricsPort: number;
  logLevel: string;
}

export function workerCommand(): Command {
  const cmd = new Command("worker")
    .description("serve one engine as a worker of a distributed fleet (etcd + NATS)")
    .option("--namespace <name>", "runtime namespace", "turbine")
    .option("--component <name>", "component to serve under (default: backend; prefill for --role prefill)")
    .addOption(new Option("--role <role>", "what the worker does").choices(["aggregated", "prefill", "decode"]).default("aggregated"))
    .option("--metrics-host <addr>", "address of the worker's /metrics, /health and /live", "127.0.0.1")
    .option("--metrics-port <n>", "port of the worker's /metrics, /health and /live (0: any free port)", nonNegativeInt, 0)
    .option("--load-metrics-interval-ms <n>", "how often the worker publishes its load metrics to the routers", positiveInt, 100)
    .option("--drain-timeout-ms <n>", "on SIGTERM, how long requests in flight may take to finish", positiveInt, 60_000)
    .addOption(new Option("--log-level <level>", "log level").choices(["trace", "debug", "info", "warn", "error", "silent"]).default("info"));
  addEngineOptions(cmd);
  addDistributedOptions(cmd);
  return cmd.action(async (flags: WorkerFlags) => {
    const log = createLogger(flags.logLevel, "turbine-worker");
    const spec = { ...engineSpecFromFlags(flags), role: flags.role };
    const factory = await prepareEngines(spec);
    if (factory.fixedCount !== undefined && factory.fixedCount !== 1) {
      throw new Error("turbine worker serves one engine: give exactly one --upstream");
    }
    const runtime = await connectRuntime(flags, log);
    const engine = await factory.create(0);
    const worker = await Worker.start({
      runtime,
      engine,
      namespace: flags.namespace,
      component: flags.component ?? (flags.role === "prefill" ? "prefill" : undefined),
      metricsIntervalMs: flags.loadMetricsIntervalMs,
      // Peers on other hosts pull KV from this address: the one the request plane advertises.
      transferHost: flags.advertiseHost,
      onKvImportFallback: (reason, err) => log.warn({ reason, err: (err as Error)?.message ?? String(err) }, "KV import failed: prefilling locally"),
    });
    // One drain, whoever asks first: a preStop hook (POST /drain) or SIGTERM.
    const status = await startWorkerStatusServer(worker, flags.metricsHost, flags.metricsPort, {
      drain: () => worker.stop({ drain: true, drainTimeoutMs: flags.drainTimeoutMs }),
    });
    log.info({ workerId: worker.workerId, engine: spec.engine, model: engine.card.name, role: flags.role, metrics: status.url }, "worker ready");
    process.stdout.write(`Turbine worker ${worker.workerId} serving ${engine.card.name} (${spec.engine}, ${flags.role}); metrics at ${status.url}/metrics\n`);
    onShutdown(log, async () => {
      await status.drain();
      await status.close();
      await runtime.close();
    });
  });
}
