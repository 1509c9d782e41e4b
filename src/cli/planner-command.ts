// `turbine planner`: the planner of a distributed fleet. It reads the workers' load metrics on
// NATS and the frontends' /metrics (--frontend-url), decides every --adjustment-interval, and
// acts through a connector: local (worker processes on this machine), kubernetes (worker
// Deployments) or virtual (decisions only: a dry run). Each decision is published on the
// event plane (`<namespace>.planner.decisions`) for the frontends' fleet pages.
import { createServer } from "node:http";
import { Command, Option } from "commander";
import { KubeConfig } from "@kubernetes/client-node";
import { POOL_NAMES, VirtualConnector } from "../planner/index.ts";
import { plannerDecisionsSubject } from "../protocols/index.ts";
import type { Connector, PoolName } from "../planner/index.ts";
import { KubernetesConnector } from "./kubernetes-connector.ts";
import { LocalConnector } from "./local-connector.ts";
import { createLogger } from "./logger.ts";
import { nonNegativeInt } from "./options.ts";
import { LivePlannerInputs, scrapeMetrics } from "./planner-inputs.ts";
import { addPlannerOptions, plannerFromFlags } from "./planner-options.ts";
import type { PlannerFlags } from "./planner-options.ts";
import { PlannerService } from "./planner-service.ts";
import { addDistributedOptions, connectRuntime } from "./runtime-options.ts";
import type { DistributedFlags } from "./runtime-options.ts";
import { onShutdown } from "./shutdown.ts";

interface PlannerCommandFlags extends PlannerFlags, DistributedFlags {
  connector: "virtual" | "local" | "kubernetes";
  pools: string;
  namespace: string;
  frontendUrl: string[];
  model?: string;
  workerArgs: string;
  k8sNamespace: string;
  deployment: string[];
  k8sServer?: string;
  metricsHost: string;
  metricsPort: number;
  logLevel: string;
}

export function plannerCommand(): Command {
  const cmd = new Command("planner")
    .description("scale the workers of a distributed fleet to meet TTFT/ITL targets (etcd + NATS; connectors: local, kubernetes, virtual)")
    .addOption(new Option("--connector <kind>", "what carries out decisions").choices(["virtual", "local", "kubernetes"]).default("virtual"))
    .option("--pools <list>", "pools planned: aggregated, or prefill,decode", "aggregated")
    .option("--namespace <name>", "runtime namespace", "turbine")
    .option("--frontend-url <url...>", "frontends whose /metrics give request rate, lengths, TTFT and ITL", ["http://127.0.0.1:8000"])
    .option("--model <name>", "plan for this model's requests only (default: all)")
    .option("--worker-args <args>", "local connector: arguments of `turbine worker` (engine, model; --etcd, --nats, --namespace are added)", "--engine mocker")
    .option("--k8s-namespace <name>", "kubernetes connector: namespace of the Deployments", "default")
    .option("--deployment <pool=name...>", "kubernetes connector: the Deployment of each pool, e.g. aggregated=turbine-worker", [])
    .option("--k8s-server <url>", "kubernetes connector: API server URL (default: from kubeconfig or the in-cluster account)")
    .option("--metrics-host <addr>", "address of the planner's /metrics", "127.0.0.1")
    .option("--metrics-port <n>", "port of the planner's /metrics (0: any free port)", nonNegativeInt, 0)
    .addOption(new Option("--log-level <level>", "log level").choices(["trace", "debug", "info", "warn", "error", "silent"]).default("info"));
  addPlannerOptions(cmd, { defaultPlanner: "load" });
  addDistributedOptions(cmd);
  return cmd.action(async (flags: PlannerCommandFlags) => {
    const log = createLogger(flags.logLevel, "turbine-planner");
    const pools = flags.pools.split(",").map((p) => p.trim()) as PoolName[];
    for (const p of pools) if (!POOL_NAMES.includes(p)) throw new Error(`--pools: unknown pool ${p} (use ${POOL_NAMES.join(", ")})`);
    const planner = plannerFromFlags(flags, pools);
    const runtime = await connectRuntime(flags, log);
    const connector = await connectorFromFlags(flags, pools, log);
    // The floor from the start: min workers (default 1) of each pool.
    for (const p of pools) {
      const min = flags.minWorkers[p] ?? 1;
      if (connector.numWorkers(p) < min) await connector.scale(p, min, { pool: p, current: connector.numWorkers(p), desired: min, reason: "start: min workers", cause: "bounded" });
    }
    const inputs = new LivePlannerInputs({ runtime, namespace: flags.namespace, pools, frontendMetrics: scrapeMetrics(flags.frontendUrl), model: flags.model });
    const subject = plannerDecisionsSubject(flags.namespace);
    const service = new PlannerService({ planner, connector, inputs, pools, intervalMs: flags.adjustmentInterval * 1000, log, onDecision: (d) => runtime.events.publish(subject, d) });
    await service.start();
    const http = createServer((req, res) => {
      if (req.url !== "/metrics") {
        res.writeHead(404).end();
        return;
      }
      void service.registry.metrics().then((text) => res.writeHead(200, { "content-type": service.registry.contentType }).end(text));
    });
    await new Promise<void>((resolve) => http.listen(flags.metricsPort, flags.metricsHost, resolve));
    const addr = http.address();
    const url = `http://${flags.metricsHost}:${typeof addr === "object" && addr ? addr.port : flags.metricsPort}`;
    log.info({ planner: planner.kind, connector: connector.name, pools, metrics: `${url}/metrics` }, "planner ready");
    process.stdout.write(`Turbine planner (${planner.kind}, ${connector.name} connector) planning ${pools.join(", ")}; metrics at ${url}/metrics\n`);
    onShutdown(log, async () => {
      await service.close();
      http.close();
      await connector.close();
      await runtime.close();
    });
  });
}

async function connectorFromFlags(flags: PlannerCommandFlags, pools: readonly PoolName[], log: ReturnType<typeof createLogger>): Promise<Connector> {
  if (flags.connector === "local") {
    const base = flags.workerArgs.split(/\s+/).filter((a) => a.length > 0);
    const runtimeArgs = ["--etcd", flags.etcd, "--nats", flags.nats, "--namespace", flags.namespace, "--request-plane", flags.requestPlane, "--lease-ttl", String(flags.leaseTtl)];
    return new LocalConnector({ workerArgs: () => [...base, ...runtimeArgs], log });
  }
  if (flags.connector === "kubernetes") {
    const deployments: Partial<Record<PoolName, string>> = {};
    for (const spec of flags.deployment) {
      const [pool, name] = spec.split("=");
      if (!pools.includes(pool as PoolName) || !name) throw new Error(`--deployment ${spec}: use pool=name with pools ${pools.join(", ")}`);
      deployments[pool as PoolName] = name;
    }
    let kubeConfig: KubeConfig | undefined;
    if (flags.k8sServer !== undefined) {
      kubeConfig = new KubeConfig();
      kubeConfig.loadFromClusterAndUser({ name: "turbine", server: flags.k8sServer, skipTLSVerify: false }, { name: "turbine", token: process.env["TURBINE_K8S_TOKEN"] });
    }
    return KubernetesConnector.connect({ deployments, namespace: flags.k8sNamespace, log, kubeConfig });
  }
  return new VirtualConnector({}, Date.now);
}
