// `turbine serve --planner`: the planner in the serving process. Workers start and drain in
// process (EmbeddedConnector), inputs come from the frontend's own metrics registry and the
// workers' load metrics on the embedded event plane, the planner's metrics join the
// frontend's /metrics, and its decisions go straight to the frontend's fleet page.
import type { Logger } from "pino";
import { PREFILL_COMPONENT } from "../protocols/index.ts";
import type { PoolName } from "../planner/index.ts";
import { EmbeddedConnector } from "./embedded-connector.ts";
import type { EmbeddedServer } from "./embedded-server.ts";
import { prepareEngines } from "./engine-factory.ts";
import type { EngineSpec } from "./engine-factory.ts";
import { LivePlannerInputs } from "./planner-inputs.ts";
import { plannerFromFlags } from "./planner-options.ts";
import type { PlannerFlags } from "./planner-options.ts";
import { PlannerService } from "./planner-service.ts";

export interface EmbeddedPlanner {
  service: PlannerService;
  connector: EmbeddedConnector;
  close(): Promise<void>;
}

export async function startEmbeddedPlanner(server: EmbeddedServer, flags: PlannerFlags, spec: EngineSpec, namespace: string, log: Logger): Promise<EmbeddedPlanner> {
  const disaggregated = server.workers.some((w) => w.component === PREFILL_COMPONENT);
  const pools: PoolName[] = disaggregated ? ["prefill", "decode"] : ["aggregated"];
  const factories = new Map<PoolName, Awaited<ReturnType<typeof prepareEngines>>>();
  const connector = new EmbeddedConnector({
    runtime: server.runtime,
    namespace,
    loadMetricsIntervalMs: server.loadMetricsIntervalMs,
    initial: disaggregated
      ? { prefill: server.workers.filter((w) => w.component === PREFILL_COMPONENT), decode: server.workers.filter((w) => w.component !== PREFILL_COMPONENT) }
      : { aggregated: [...server.workers] },
    createEngine: async (pool, i) => {
      let f = factories.get(pool);
      if (f === undefined) factories.set(pool, (f = await prepareEngines({ ...spec, role: pool })));
      return f.create(i);
    },
  });
  const inputs = new LivePlannerInputs({ runtime: server.runtime, namespace, pools, frontendMetrics: async () => [await server.frontend.metrics.registry.metrics()] });
  const service = new PlannerService({
    planner: plannerFromFlags(flags, pools),
    connector,
    inputs,
    pools,
    intervalMs: flags.adjustmentInterval * 1000,
    log: log.child({ role: "planner" }),
    registry: server.frontend.metrics.registry,
    onDecision: (d) => server.frontend.metrics.fleetState.plannerDecision(d),
  });
  await service.start();
  return {
    service,
    connector,
    close: async () => {
      await service.close();
      await connector.close();
    },
  };
}
