// The live planner loop: every adjustment interval it collects the inputs, asks the planner,
// logs one line per pool decision, exports the decision as metrics, has the connector carry
// it out, and hands it to `onDecision` (the fleet page: directly or over the event plane). Between intervals it checks often for requests waiting on a pool with no
// worker (scale to zero), so a cold start does not wait for the next boundary.
import type { Logger } from "pino";
import { Counter, Gauge, Registry } from "prom-client";
import type { Connector, Planner, PlannerDecision, PoolName } from "../planner/index.ts";
import type { PlannerDecisionMessage } from "../protocols/index.ts";
import type { LivePlannerInputs } from "./planner-inputs.ts";

export interface PlannerServiceOptions {
  planner: Planner;
  connector: Connector;
  inputs: LivePlannerInputs;
  pools: readonly PoolName[];
  /** Adjustment interval, ms (default 30000). */
  intervalMs?: number;
  /** How often a pool at zero is checked for waiting requests, ms (default 250). */
  coldStartCheckMs?: number;
  log: Logger;
  /** Where the planner's metrics go (default: a registry of its own, `registry`). */
  registry?: Registry;
  /** Each decision, once carried out (the fleet page's feed). */
  onDecision?: (decision: PlannerDecisionMessage) => void;
}

class PlannerMetrics {
  readonly desired: Gauge<"pool">;
  readonly actual: Gauge<"pool">;
  readonly decisions: Counter<"pool" | "direction" | "cause">;
  readonly predictedRate: Gauge<"pool">;
  readonly observedRate: Gauge<"pool">;
  readonly predictedInput: Gauge<"pool">;
  readonly observedInput: Gauge<"pool">;
  readonly predictedOutput: Gauge<"pool">;
  readonly observedOutput: Gauge<"pool">;

  constructor(readonly registry: Registry) {
    const registers = [registry];
    const gauge = (name: string, help: string): Gauge<"pool"> => new Gauge({ name, help, labelNames: ["pool"] as const, registers });
    this.desired = gauge("turbine_planner_desired_workers", "Workers the planner wants per pool");
    this.actual = gauge("turbine_planner_actual_workers", "Workers per pool now (starting or serving, not draining)");
    this.decisions = new Counter({ name: "turbine_planner_decisions_total", help: "Planner decisions per pool, by direction (up, down, hold) and cause", labelNames: ["pool", "direction", "cause"] as const, registers });
    this.predictedRate = gauge("turbine_planner_predicted_request_rate", "Requests/s the SLA planner forecast for the next interval");
    this.observedRate = gauge("turbine_planner_observed_request_rate", "Requests/s observed over the last interval");
    this.predictedInput = gauge("turbine_planner_predicted_input_tokens", "Mean prompt tokens forecast for the next interval");
    this.observedInput = gauge("turbine_planner_observed_input_tokens", "Mean prompt tokens observed over the last interval");
    this.predictedOutput = gauge("turbine_planner_predicted_output_tokens", "Mean output tokens forecast for the next interval");
    this.observedOutput = gauge("turbine_planner_observed_output_tokens", "Mean output tokens observed over the last interval");
  }
}

export class PlannerService {
  readonly metrics: PlannerMetrics;
  /** Every decision, newest last (bounded). */
  readonly history: PlannerDecision[] = [];
  private timer: NodeJS.Timeout | undefined;
  private coldTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private lastTickAt = 0;
  private closed = false;

  constructor(private readonly options: PlannerServiceOptions) {
    this.metrics = new PlannerMetrics(options.registry ?? new Registry());
  }

  get registry(): Registry {
    return this.metrics.registry;
  }

  get intervalMs(): number {
    return this.options.intervalMs ?? 30_000;
  }

  /** Takes the baseline of the counters, then decides every interval. */
  async start(): Promise<void> {
    this.lastTickAt = Date.now();
    await this.options.inputs.collect(this.lastTickAt, this.intervalMs, (p) => this.options.connector.numWorkers(p));
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.coldTimer = setInterval(() => void this.checkColdStart(), this.options.coldStartCheckMs ?? 250);
  }

  /** One adjustment (serialized: a tick never overlaps the previous one). */
  tick(): Promise<void> {
    this.running = this.running.then(() => this.adjust()).catch((err: unknown) => this.options.log.error({ err }, "planner adjustment failed"));
    return this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    clearInterval(this.coldTimer);
    await this.running;
    this.options.inputs.close();
  }

  private async checkColdStart(): Promise<void> {
    const { connector, pools, inputs } = this.options;
    if (this.closed || !pools.some((p) => p !== "prefill" && connector.numWorkers(p) === 0)) return;
    if ((await inputs.peekWaiting()) > 0) await this.tick();
  }

  private async adjust(): Promise<void> {
    if (this.closed) return;
    const { planner, connector, inputs, log } = this.options;
    const now = Date.now();
    const elapsed = Math.max(1, now - this.lastTickAt);
    this.lastTickAt = now;
    const observed = await inputs.collect(now, elapsed, (p) => connector.numWorkers(p));
    const decision = planner.decide(observed);
    this.history.push(decision);
    if (this.history.length > 1000) this.history.splice(0, this.history.length - 1000);
    const m = this.metrics;
    for (const d of decision.pools) {
      const o = observed.pools.find((p) => p.pool === d.pool)!;
      const direction = d.desired > d.current ? "up" : d.desired < d.current ? "down" : "hold";
      m.desired.set({ pool: d.pool }, d.desired);
      m.decisions.inc({ pool: d.pool, direction, cause: d.cause });
      m.observedRate.set({ pool: d.pool }, o.requestRate);
      m.observedInput.set({ pool: d.pool }, o.meanInputTokens);
      m.observedOutput.set({ pool: d.pool }, o.meanOutputTokens);
      if (d.predicted) {
        m.predictedRate.set({ pool: d.pool }, d.predicted.requestRate);
        m.predictedInput.set({ pool: d.pool }, d.predicted.meanInputTokens);
        m.predictedOutput.set({ pool: d.pool }, d.predicted.meanOutputTokens);
      }
      log.info(
        {
          pool: d.pool,
          planner: planner.kind,
          connector: connector.name,
          current: d.current,
          desired: d.desired,
          direction,
          cause: d.cause,
          reason: d.reason,
          observed: { requestRate: o.requestRate, inputTokens: o.meanInputTokens, outputTokens: o.meanOutputTokens, ttftMs: o.ttftMs, itlMs: o.itlMs, kvUsage: o.kvUsage, queueDepth: o.queueDepth, waiting: o.numWaitingForWorkers },
          predicted: d.predicted,
        },
        "planner decision",
      );
      if (d.desired !== d.current) await connector.scale(d.pool, d.desired, d);
      m.actual.set({ pool: d.pool }, connector.numWorkers(d.pool));
    }
    this.options.onDecision?.({
      at: now,
      planner: planner.kind,
      connector: connector.name,
      pools: decision.pools.map((d) => ({ pool: d.pool, current: d.current, desired: d.desired, cause: d.cause, reason: d.reason })),
    });
  }
}
