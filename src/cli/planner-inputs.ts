// The planner's live inputs: the workers' load metrics from the event plane (KV use, queue,
// pending prefill tokens) and the frontends' request counters and latency histograms from
// their /metrics text (in-process: the frontend's own registry; distributed: scraped over
// HTTP). Counter deltas between two collections are the interval's flows.
import { BACKEND_COMPONENT, PREFILL_COMPONENT, loadMetricsSubject } from "../protocols/index.ts";
import type { WorkerLoadMetrics } from "../protocols/index.ts";
import type { Runtime, Subscription } from "../runtime/index.ts";
import { ObservationWindow, parsePrometheusText, sumSamples } from "../planner/index.ts";
import type { PlannerInputs, PoolName } from "../planner/index.ts";

export interface LivePlannerInputsOptions {
  runtime: Runtime;
  namespace: string;
  pools: readonly PoolName[];
  /** The /metrics texts of the frontends (one per frontend). */
  frontendMetrics: () => Promise<string[]>;
  /** Only this model's requests count (default: all). */
  model?: string;
  /** A worker silent this long is dropped from the load (ms, default 5000). */
  staleMs?: number;
}

interface FrontendTotals {
  requests: number;
  input: number;
  output: number;
  cached: number;
  ttftSum: number;
  ttftCount: number;
  itlSum: number;
  itlCount: number;
  waiting: number;
  /** Requests in the frontends' admission queues (every worker busy). */
  queued: number;
}

export class LivePlannerInputs {
  private readonly windows = new Map<PoolName, ObservationWindow>();
  private readonly lastSeen = new Map<string, { pool: PoolName; at: number }>();
  private readonly subscriptions: Subscription<WorkerLoadMetrics>[] = [];
  private previous: FrontendTotals | undefined;
  private lastWaiting = 0;

  constructor(private readonly options: LivePlannerInputsOptions) {
    for (const pool of options.pools) this.windows.set(pool, new ObservationWindow(pool));
    const follow = (component: string, pool: PoolName): void => {
      const sub = options.runtime.events.subscribe<WorkerLoadMetrics>(loadMetricsSubject(options.namespace, component), { maxPending: 10_000 });
      this.subscriptions.push(sub);
      void (async () => {
        for await (const m of sub) {
          this.windows.get(pool)?.setLoad(m.workerId, m);
          this.lastSeen.set(m.workerId, { pool, at: Date.now() });
        }
      })();
    };
    const generating = options.pools.find((p) => p !== "prefill");
    if (generating !== undefined) follow(BACKEND_COMPONENT, generating);
    if (options.pools.includes("prefill")) follow(PREFILL_COMPONENT, "prefill");
  }

  /** Requests waiting for a worker at the frontends, as of the last collection or `peekWaiting`. */
  get numWaitingForWorkers(): number {
    return this.lastWaiting;
  }

  /** Reads the frontends' waiting gauge only (the fast cold-start check). */
  async peekWaiting(): Promise<number> {
    const t = await this.totals();
    this.lastWaiting = t.waiting;
    return t.waiting;
  }

  /** The interval's observation of every pool; `numWorkers` from the connector. */
  async collect(now: number, intervalMs: number, numWorkers: (pool: PoolName) => number): Promise<PlannerInputs> {
    const t = await this.totals();
    const p = this.previous ?? t;
    this.previous = t;
    this.lastWaiting = t.waiting;
    const wall = Date.now();
    for (const [id, seen] of this.lastSeen) {
      if (wall - seen.at > (this.options.staleMs ?? 5000)) {
        this.windows.get(seen.pool)?.removeWorker(id);
        this.lastSeen.delete(id);
      }
    }
    const pools = this.options.pools.map((pool) => {
      const w = this.windows.get(pool)!;
      // Every request passes through every pool (prefill, then decode; or aggregated).
      w.addRequests({
        numRequests: Math.max(0, t.requests - p.requests),
        inputTokens: Math.max(0, t.input - p.input),
        numCompleted: Math.max(0, t.requests - p.requests),
        outputTokens: Math.max(0, t.output - p.output),
        cachedTokens: Math.max(0, t.cached - p.cached),
        completedInputTokens: Math.max(0, t.input - p.input),
        ttftSumMs: Math.max(0, t.ttftSum - p.ttftSum) * 1000,
        ttftCount: Math.max(0, t.ttftCount - p.ttftCount),
        itlSumMs: Math.max(0, t.itlSum - p.itlSum) * 1000,
        itlCount: Math.max(0, t.itlCount - p.itlCount),
      });
      return w.close(intervalMs, numWorkers(pool), pool === "prefill" ? 0 : t.waiting, pool === "prefill" ? 0 : t.queued);
    });
    return { now, intervalMs, pools };
  }

  close(): void {
    for (const s of this.subscriptions) s.unsubscribe();
  }

  private async totals(): Promise<FrontendTotals> {
    const texts = await this.options.frontendMetrics();
    const match: Record<string, string> = this.options.model !== undefined ? { model: this.options.model } : {};
    const t: FrontendTotals = { requests: 0, input: 0, output: 0, cached: 0, ttftSum: 0, ttftCount: 0, itlSum: 0, itlCount: 0, waiting: 0, queued: 0 };
    for (const text of texts) {
      const s = parsePrometheusText(text);
      t.requests += sumSamples(s, "turbine_requests_total", match);
      t.input += sumSamples(s, "turbine_input_tokens_total", match);
      t.output += sumSamples(s, "turbine_output_tokens_total", match);
      t.cached += sumSamples(s, "turbine_cached_tokens_total", match);
      t.ttftSum += sumSamples(s, "turbine_time_to_first_token_seconds_sum", match);
      t.ttftCount += sumSamples(s, "turbine_time_to_first_token_seconds_count", match);
      t.itlSum += sumSamples(s, "turbine_inter_token_latency_seconds_sum", match);
      t.itlCount += sumSamples(s, "turbine_inter_token_latency_seconds_count", match);
      t.waiting += sumSamples(s, "turbine_requests_waiting_for_workers", match);
      // With every worker busy, requests wait in the frontends' admission queue: queue depth too.
      t.queued += sumSamples(s, "turbine_admission_queue_length", match);
    }
    return t;
  }
}

/** Fetches each URL's /metrics text; an unreachable frontend counts as empty (logged by the caller's absence of flows). */
export function scrapeMetrics(urls: readonly string[]): () => Promise<string[]> {
  return () =>
    Promise.all(
      urls.map(async (u) => {
        try {
          const r = await fetch(new URL("/metrics", u), { signal: AbortSignal.timeout(5000) });
          return r.ok ? await r.text() : "";
        } catch {
          return "";
        }
      }),
    );
}
