// `turbine serve` as a library: frontend, router and N workers in one process on the
// embedded runtime. Tests and benchmarks start it the same way the command does.
import type { FastifyBaseLogger } from "fastify";
import { TurbineError } from "../protocols/index.ts";
import type { ModelCard } from "../protocols/index.ts";
import { Runtime } from "../runtime/index.ts";
import { statSync } from "node:fs";
import { builtinByteModel, loadGgufModel, loadHuggingFaceModel } from "../model/index.ts";
import type { ModelCardDraft } from "../model/index.ts";
import { LlamaCppEngine, MockerEngine, Worker } from "../engines/index.ts";
import type { Engine, LlamaCppEngineOptions, MockerEngineOptions } from "../engines/index.ts";
import { ensureDefaultGguf } from "./model-command.ts";
import { Frontend } from "../frontend/index.ts";
import type { RouterOptions } from "../router/index.ts";

export type EngineKind = "mocker" | "llamacpp";
export const ENGINE_KINDS: readonly EngineKind[] = ["llamacpp", "mocker"];

export interface EmbeddedServerOptions {
  host?: string;
  /** 0 picks a free port. Default 8000. */
  port?: number;
  namespace?: string;
  numWorkers?: number;
  /** Default "mocker" (the `turbine serve` command defaults to "llamacpp"). */
  engine?: EngineKind;
  /**
   * A GGUF file (any engine), or a Hugging Face model folder (mocker: tokenizer and chat
   * template). Default: the built-in byte model for the mocker, a generated random GGUF model
   * (cached in the data folder) for llama.cpp.
   */
  modelPath?: string;
  /** Name clients use; default the model folder's name, or "turbine-byte". */
  modelName?: string;
  router?: Omit<RouterOptions, "blockSize" | "indexer">;
  /** Mocker settings (speedup, KV blocks, batching, seed). */
  mocker?: Omit<MockerEngineOptions, "card"> & { numKvBlocks?: number; kvBlockSize?: number };
  /** llama.cpp settings (sequences per worker, context size, threads, GPU, prefix cache). */
  llamacpp?: Omit<LlamaCppEngineOptions, "modelPath" | "card" | "modelName">;
  apiKeys?: string[];
  bodyLimitBytes?: number;
  /** A pino logger; default: no logs. */
  logger?: FastifyBaseLogger;
}

export class EmbeddedServer {
  private constructor(
    readonly runtime: Runtime,
    readonly frontend: Frontend,
    readonly workers: Worker[],
  ) {}

  get url(): string {
    return this.frontend.url;
  }

  static async start(options: EmbeddedServerOptions = {}): Promise<EmbeddedServer> {
    const numWorkers = options.numWorkers ?? 2;
    if (!Number.isInteger(numWorkers) || numWorkers < 1) {
      throw new TurbineError("REQUEST_INVALID", `--workers must be a positive integer, got ${numWorkers}`);
    }
    const namespace = options.namespace ?? "turbine";
    const engineKind = options.engine ?? "mocker";
    if (!ENGINE_KINDS.includes(engineKind)) throw new TurbineError("REQUEST_INVALID", `unknown engine ${String(engineKind)}`);
    const modelPath = options.modelPath ?? (engineKind === "llamacpp" ? await ensureDefaultGguf() : undefined);
    if (engineKind === "llamacpp" && !isFile(modelPath!)) {
      throw new TurbineError("MODEL_LOAD_FAILED", `the llamacpp engine needs a GGUF file, got ${modelPath}`);
    }
    const draft = await modelDraft({ ...options, modelPath });
    const runtime = Runtime.embedded();
    const workers: Worker[] = [];
    try {
      const frontend = await Frontend.start({
        runtime,
        namespace,
        host: options.host,
        port: options.port,
        router: options.router,
        apiKeys: options.apiKeys,
        bodyLimitBytes: options.bodyLimitBytes,
        logger: options.logger,
      });
      const server = new EmbeddedServer(runtime, frontend, workers);
      for (let i = 0; i < numWorkers; i++) {
        const engine =
          engineKind === "llamacpp"
            ? await LlamaCppEngine.create({ ...options.llamacpp, modelPath: modelPath!, card: draft })
            : createEngine(options, draft);
        workers.push(await Worker.start({ runtime, namespace, engine }));
      }
      await frontend.models.settled();
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
    const drain = Promise.all(this.workers.map((w) => w.stop({ drain: grace > 0 })));
    if (grace > 0) await Promise.race([drain, new Promise((r) => setTimeout(r, grace).unref())]);
    await Promise.all(this.workers.map((w) => w.stop()));
    await this.frontend.close();
    await this.runtime.close();
  }
}

async function modelDraft(options: EmbeddedServerOptions): Promise<ModelCardDraft> {
  const path = options.modelPath;
  if (path && isFile(path)) {
    const gguf = await loadGgufModel(path);
    await gguf.tokenizer.close(); // the frontend loads its own from the card
    return options.modelName ? { ...gguf.card, name: options.modelName } : gguf.card;
  }
  const loaded = path ? await loadHuggingFaceModel(path) : builtinByteModel();
  return options.modelName ? { ...loaded.card, name: options.modelName } : loaded.card;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function createEngine(options: EmbeddedServerOptions, draft: ModelCardDraft): Engine {
  const { numKvBlocks, kvBlockSize, ...mocker } = options.mocker ?? {};
  const card: Partial<ModelCard> = {
    ...draft,
    role: "aggregated",
    kvBlockSize: kvBlockSize ?? draft.kvBlockSize,
    ...(numKvBlocks !== undefined ? { numKvBlocks } : {}),
  };
  // Every worker gets the same seed, so a request's output does not depend on where it ran.
  return new MockerEngine({ ...mocker, card });
}
