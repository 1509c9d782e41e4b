// The frontend process role: follows the models that workers serve and answers the OpenAI
// API for them.
import type { ParserChoice } from "./chat-features.ts";
import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import type { Runtime } from "../runtime/index.ts";
import type { RouterOptions } from "../router/index.ts";
import { createAdmission } from "./admission-setup.ts";
import type { AdmissionOptions, AdmissionSetup } from "./admission-setup.ts";
import { buildHttpServer } from "./http-server.ts";
import type { HttpServerLimits } from "./http-server.ts";
import { FrontendMetrics } from "./metrics.ts";
import { ModelManager } from "./model-manager.ts";
import type { TokenizerThreadOptions } from "../model/index.ts";
import type { PromptCacheOptions } from "./prompt-cache.ts";
import type { DisaggregationOptions } from "./model-pipeline.ts";

export interface FrontendOptions {
  runtime: Runtime;
  namespace: string;
  /** Component whose workers serve requests (default "backend"). */
  component?: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  router?: Omit<RouterOptions, "blockSize" | "indexer">;
  apiKeys?: string[];
  bodyLimitBytes?: number;
  /** HTTP timeouts, connection limit, prompt bounds, whether /metrics is public. */
  http?: HttpServerLimits;
  /** Resends of a request whose worker fails mid-stream (default 1). */
  migrationLimit?: number;
  /** When prompts go to prefill workers (disaggregated serving). */
  disaggregation?: DisaggregationOptions;
  /** Tool-call and reasoning parsers (`--tool-call-parser`, `--reasoning-parser`); absent: detected per model. */
  parsers?: ParserChoice;
  /** A stream whose worker left the fleet and that stalls this long is migrated (ms, default 5000). */
  orphanStallMs?: number;
  /** Scale to zero: how long a request waits for a worker to start (ms, default 0). */
  coldStartWaitMs?: number;
  /** Tokenizer threads per model, for long prompts (default: one thread, 16,384 characters). */
  tokenizerThreads?: TokenizerThreadOptions;
  /** Each model's prompt cache (default 64 MiB); false: none. */
  promptCache?: PromptCacheOptions | false;
  /** A pino logger; default: no logs. */
  logger?: FastifyBaseLogger;
  /** Also export Node process metrics (default true). */
  processMetrics?: boolean;
  /** Tenants (keys file), rate limits and the admission queue. */
  admission?: AdmissionOptions;
}

export class Frontend {
  private constructor(
    readonly app: FastifyInstance,
    readonly models: ModelManager,
    readonly metrics: FrontendMetrics,
    readonly url: string,
    private readonly admission: AdmissionSetup,
  ) {}

  static async start(options: FrontendOptions): Promise<Frontend> {
    const metrics = new FrontendMetrics({ processMetrics: options.processMetrics ?? true });
    // Models load while the HTTP server is built: their errors go to a logger that exists now
    // (a model that fails to load fails that model, never the process).
    let log: FastifyBaseLogger | undefined = options.logger;
    // First: a keys file that does not parse stops the start before anything else runs.
    const admission = createAdmission(options.admission ?? {}, { runtime: options.runtime, namespace: options.namespace, metrics, apiKeys: options.apiKeys, onError: (err) => log?.error({ err }, "api keys file: kept the previous version") });
    const models = await ModelManager.start({
      runtime: options.runtime,
      namespace: options.namespace,
      component: options.component,
      router: options.router ?? { policy: "kv" },
      metrics,
      migrationLimit: options.migrationLimit,
      disaggregation: options.disaggregation,
      ...(options.parsers !== undefined ? { parsers: options.parsers } : {}),
      orphanStallMs: options.orphanStallMs,
      coldStartWaitMs: options.coldStartWaitMs,
      ...(options.tokenizerThreads !== undefined ? { tokenizerThreads: options.tokenizerThreads } : {}),
      ...(options.promptCache !== undefined ? { promptCache: options.promptCache } : {}),
      onError: (err) => log?.error({ err }, "model manager"),
    });
    const app = buildHttpServer({
      admission: admission.http,
      models,
      metrics,
      apiKeys: options.apiKeys,
      bodyLimitBytes: options.bodyLimitBytes,
      limits: options.http,
      logger: options.logger,
    });
    log = app.log;
    const host = options.host ?? "127.0.0.1";
    await app.listen({ host, port: options.port ?? 8000 });
    const addr = app.server.address();
    const port = typeof addr === "object" && addr ? addr.port : options.port;
    const shownHost = host.includes(":") ? `[${host}]` : host === "0.0.0.0" ? "127.0.0.1" : host;
    return new Frontend(app, models, metrics, `http://${shownHost}:${port}`, admission);
  }

  /** Requests waiting in a model's admission queue now. */
  admissionQueueLength(model: string): number {
    return this.admission.controller.queueLength(model);
  }

  async close(): Promise<void> {
    this.models.close();
    this.admission.close();
    await this.app.close();
  }
}
