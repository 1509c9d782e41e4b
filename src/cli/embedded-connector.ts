// The embedded connector (`turbine serve --planner`): workers are started in this process on
// its embedded runtime, and drained with Worker.stop({ drain: true }) (deregister, finish what
// is in flight, close the engine).
import { Worker } from "../engines/index.ts";
import type { Engine } from "../engines/index.ts";
import { PREFILL_COMPONENT } from "../protocols/index.ts";
import type { Runtime } from "../runtime/index.ts";
import type { Connector, PoolDecision, PoolName, ScalingRecord } from "../planner/index.ts";

export interface EmbeddedConnectorOptions {
  runtime: Runtime;
  namespace: string;
  /** A new engine for a worker of the pool. */
  createEngine: (pool: PoolName, index: number) => Promise<Engine>;
  /** Workers already serving, per pool (they are drained like the others). */
  initial?: Partial<Record<PoolName, Worker[]>>;
  /** How long a draining worker's requests may take (ms, default: no limit). */
  drainTimeoutMs?: number;
  /** How often a started worker publishes its load metrics (ms, default 100). */
  loadMetricsIntervalMs?: number;
}

export class EmbeddedConnector implements Connector {
  readonly name = "embedded";
  readonly records: ScalingRecord[] = [];
  private readonly serving = new Map<PoolName, Worker[]>();
  private readonly pending = new Map<PoolName, number>();
  private readonly draining = new Set<Promise<void>>();
  private created = 0;

  constructor(private readonly options: EmbeddedConnectorOptions) {
    for (const [pool, ws] of Object.entries(options.initial ?? {}) as [PoolName, Worker[]][]) this.serving.set(pool, [...ws]);
  }

  numWorkers(pool: PoolName): number {
    return (this.serving.get(pool)?.length ?? 0) + (this.pending.get(pool) ?? 0);
  }

  workers(pool: PoolName): readonly Worker[] {
    return this.serving.get(pool) ?? [];
  }

  async scale(pool: PoolName, desired: number, decision: PoolDecision): Promise<void> {
    const current = this.numWorkers(pool);
    if (current === desired) return;
    this.records.push({ at: Date.now(), pool, from: current, to: desired, reason: decision.reason });
    const list = this.serving.get(pool) ?? [];
    this.serving.set(pool, list);
    if (desired > current) {
      const n = desired - current;
      this.pending.set(pool, (this.pending.get(pool) ?? 0) + n);
      await Promise.all(
        Array.from({ length: n }, async () => {
          try {
            const engine = await this.options.createEngine(pool, this.created++);
            const component = pool === "prefill" ? PREFILL_COMPONENT : undefined;
            list.push(await Worker.start({ runtime: this.options.runtime, namespace: this.options.namespace, component, engine, metricsIntervalMs: this.options.loadMetricsIntervalMs }));
          } finally {
            this.pending.set(pool, this.pending.get(pool)! - 1);
          }
        }),
      );
      return;
    }
    // The newest go first; their drains run in the background (a long request may hold one).
    for (const w of list.splice(Math.max(0, list.length - (current - desired)))) {
      const p = w.stop({ drain: true, drainTimeoutMs: this.options.drainTimeoutMs }).finally(() => this.draining.delete(p));
      this.draining.add(p);
    }
  }

  /** Resolves when every drain under way has finished. */
  async drained(): Promise<void> {
    await Promise.all([...this.draining]);
  }

  async close(): Promise<void> {
    for (const pool of this.serving.keys()) await this.scale(pool, 0, { pool, current: this.numWorkers(pool), desired: 0, reason: "closing", cause: "closing" });
    await this.drained();
  }
}
