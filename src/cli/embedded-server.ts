// `turbine serve` as a library: frontend, router and N workers in one process on the
// embedded runtime. Tests and benchmarks start it the same way the command does.
import type { FastifyBaseLogger } from "fastify";
import { PREFILL_COMPONENT, TurbineError } from "../protocols/index.ts";
import { Runtime } from "../runtime/index.ts";
import { Worker } from "../engines/index.ts";
import { Frontend } from "../frontend/index.ts";
import type { AdmissionOptions, DisaggregationOptions, HttpServerLimits, ParserChoice } from "../frontend/index.ts";
import type { RouterOptions } from "../router/index.ts";
import { prepareEngines } from "./engine-factory.ts";
import type { EngineKind, EngineSpec } from "./engine-factory.ts";
import type { TokenizerThreadOptions } from "../model/index.ts";
import type { PromptCacheOptions } from "../frontend/index.ts";
import { registerWorkerMetrics, workerMetricsSource } from "./worker-metrics.ts";

export interface EmbeddedServerOptions extends Partial<Omit<EngineSpec, "engine" | "role">> {
  host?: string;
  /** 0 picks a free port. Default 8000. */
  port?: number;
  namespace?: string;
  /** Workers (openai-proxy: one per upstream). Default 2. */
  numWorkers?: number;
  /** Prefill workers besides them (disaggregated serving). Default 0. */
  numPrefillWorkers?: number;
  /** When prompts go to prefill workers. */
  disaggregation?: DisaggregationOptions;
  parsers?: ParserChoice;
  /** Default "mocker" (the `turbine serve` command defaults to "llamacpp"). */
  engine?: EngineKind;
  router?: Omit<RouterOptions, "blockSize" | "indexer">;
  /** Resends of a request whose worker fails mid-stream (default 1). */
  migrationLimit?: number;
  apiKeys?: string[];
  bodyLimitBytes?: number;
  /** Tenants (keys file), rate limits and the admission queue. */
  admission?: AdmissionOptions;
  /** HTTP timeouts, connection limit, prompt bounds, whether /metrics is public. */
  http?: HttpServerLimits;
  /** Scale to zero: how long a request waits for a worker (ms, default 0). */
  coldStartWaitMs?: number;
  /** Tokenizer threads per model, for long prompts (default: one thread, 16,384 characters). */
  tokenizerThreads?: TokenizerThreadOptions;
  /** How often each worker publishes its load metrics to the router (ms, default 100). */
  loadMetricsIntervalMs?: number;
  /** Each model's prompt cache (default 64 MiB); false: none. */
  promptCache?: PromptCacheOptions | false;
  /** A pino logger; default: no logs. */
  logger?: FastifyBaseLogger;
}

export class EmbeddedServer {
  private constructor(
    readonly runtime: Runtime,
    readonly frontend: Frontend,
    readonly workers: Worker[],
    /** How often its workers publish their load metrics (ms; a planner's new workers too). */
    readonly loadMetricsIntervalMs?: number,
  ) {}

  get url(): string {
    return this.frontend.url;
  }

  static async start(options: EmbeddedServerOptions = {}): Promise<EmbeddedServer> {
    const namespace = options.namespace ?? "turbine";
    const factory = await prepareEngines({ ...options, engine: options.engine ?? "mocker" });
    const numWorkers = factory.fixedCount ?? options.numWorkers ?? 2;
    if (!Number.isInteger(numWorkers) || numWorkers < 1) {
      throw new TurbineError("REQUEST_INVALID", `--workers must be a positive integer, got ${numWorkers}`);
    }
    const runtime = Runtime.embedded();
    const workers: Worker[] = [];
    try {
      const frontend = await Frontend.start({
        runtime,
        namespace,
        host: options.host,
        port: options.port,
        router: options.router,
        migrationLimit: options.migrationLimit,
        disaggregation: options.disaggregation,
        ...(options.parsers !== undefined ? { parsers: options.parsers } : {}),
        apiKeys: options.apiKeys,
        bodyLimitBytes: options.bodyLimitBytes,
        admission: options.admission,
        http: options.http,
        coldStartWaitMs: options.coldStartWaitMs,
        ...(options.tokenizerThreads !== undefined ? { tokenizerThreads: options.tokenizerThreads } : {}),
        ...(options.promptCache !== undefined ? { promptCache: options.promptCache } : {}),
        logger: options.logger,
      });
      const server = new EmbeddedServer(runtime, frontend, workers, options.loadMetricsIntervalMs);
      const numPrefill = options.numPrefillWorkers ?? 0;
      const role = numPrefill > 0 ? "decode" : "aggregated";
      const decodeFactory = numPrefill > 0 ? await prepareEngines({ ...options, engine: options.engine ?? "mocker", role }) : factory;
      for (let i = 0; i < numWorkers; i++) {
        workers.push(await Worker.start({ runtime, namespace, engine: await decodeFactory.create(i), metricsIntervalMs: options.loadMetricsIntervalMs }));
      }
      if (numPrefill > 0) {
        const prefill = await prepareEngines({ ...options, engine: options.engine ?? "mocker", role: "prefill" });
        for (let i = 0; i < numPrefill; i++) {
          workers.push(await Worker.start({ runtime, namespace, component: PREFILL_COMPONENT, engine: await prefill.create(i), metricsIntervalMs: options.loadMetricsIntervalMs }));
        }
      }
      await frontend.models.settled();
      // The workers' own families on the frontend's /metrics (the router already has kv_usage).
      registerWorkerMetrics(frontend.metrics.registry, () => workers.map(workerMetricsSource), { withoutKvUsage: true });
      return server;
    } catch (err) {
      await Promise.all(workers.map((w) => w.stop()));
      await runtime.close();
      throw err;
    }
  }

  /** Stops taking requests, lets those in flight finish (up to `graceMs`), then stops. */
  async close(options: { graceMs?: number } = {}): Promise<void> {
    const grace = options.graceMs ?? 0;
    await Promise.all(this.workers.map((w) => w.stop({ drain: grace > 0, drainTimeoutMs: grace })));
    await this.frontend.close();
    await this.runtime.close();
  }
}
