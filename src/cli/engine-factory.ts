// Which engine a worker runs, from flags: shared by `turbine serve` (N workers in one
// process) and `turbine worker` (one worker per process).
import { statSync } from "node:fs";
import { TurbineError } from "../protocols/index.ts";
import type { ModelCard, WorkerRole } from "../protocols/index.ts";
import { builtinByteModel, loadGgufModel, loadHuggingFaceModel } from "../model/index.ts";
import type { ModelCardDraft } from "../model/index.ts";
import { LlamaCppEngine, MockerEngine, createOpenAIProxyEngine } from "../engines/index.ts";
import { SharedTier } from "../kvbm/index.ts";
import type { Engine, LlamaCppEngineOptions, MockerEngineOptions, OutputTokens, PromptFormat } from "../engines/index.ts";
import { ensureDefaultGguf } from "./model-command.ts";

export type EngineKind = "mocker" | "llamacpp" | "openai-proxy";
export const ENGINE_KINDS: readonly EngineKind[] = ["llamacpp", "mocker", "openai-proxy"];

export interface OpenAIProxySpec {
  /** One worker per upstream. */
  upstreams: string[];
  upstreamModel?: string;
  upstreamApiKey?: string;
  /** An upstream silent this long fails the request (it migrates); default 300 s. */
  upstreamStallTimeoutMs?: number;
  promptFormat?: PromptFormat;
  outputTokens?: OutputTokens;
  /** The i-th upstream's ZMQ KV event publisher (vLLM/SGLang --kv-events-config). */
  kvEventsEndpoints?: string[];
  kvEventsReplayEndpoints?: string[];
  kvEventsTopic?: string;
  kvBlockSize?: number;
  numKvBlocks?: number;
}

export interface EngineSpec {
  engine: EngineKind;
  /**
   * A GGUF file (any engine), or a Hugging Face model folder (mocker, openai-proxy: tokenizer
   * and chat template). Default: the built-in byte model for the mocker and the proxy, a
   * generated random GGUF model (cached in the data folder) for llama.cpp.
   */
  modelPath?: string;
  modelName?: string;
  role?: WorkerRole;
  mocker?: Omit<MockerEngineOptions, "card" | "kvbm"> & { numKvBlocks?: number; kvBlockSize?: number; kvbmSettings?: MockerKvbmSettings };
  llamacpp?: Omit<LlamaCppEngineOptions, "modelPath" | "card" | "modelName">;
  openaiProxy?: OpenAIProxySpec;
}

/** The mocker's simulated KVBM: G2/G3 per engine, G4 shared by the engines of this process. */
export interface MockerKvbmSettings {
  hostBytes: number;
  diskBytes: number;
  remoteBytes: number;
  offloadAll: boolean;
  kvBytesPerToken?: number;
  gbps: { host: number; disk: number; remote: number };
}

export interface EngineFactory {
  /** Engines this spec calls for, when it fixes the number (one per upstream). */
  readonly fixedCount: number | undefined;
  create(index: number): Promise<Engine>;
}

/** Loads what every engine of the spec shares (the model card) once; then creates engines. */
export async function prepareEngines(spec: EngineSpec): Promise<EngineFactory> {
  if (!ENGINE_KINDS.includes(spec.engine)) {
    throw new TurbineError("REQUEST_INVALID", `unknown engine "${String(spec.engine)}": use ${ENGINE_KINDS.join(", ")}`);
  }
  const role: WorkerRole = spec.role ?? "aggregated";
  if (spec.engine === "openai-proxy") {
    const p = spec.openaiProxy;
    if (!p || p.upstreams.length === 0) throw new TurbineError("REQUEST_INVALID", "--engine openai-proxy needs --upstream <url>");
    return {
      fixedCount: p.upstreams.length,
      create: (i) =>
        createOpenAIProxyEngine({
          upstream: p.upstreams[i]!,
          upstreamModel: p.upstreamModel,
          upstreamApiKey: p.upstreamApiKey,
          upstreamStallTimeoutMs: p.upstreamStallTimeoutMs,
          modelPath: spec.modelPath,
          modelName: spec.modelName,
          promptFormat: p.promptFormat,
          outputTokens: p.outputTokens,
          kvEventsEndpoint: p.kvEventsEndpoints?.[i],
          kvEventsReplayEndpoint: p.kvEventsReplayEndpoints?.[i],
          kvEventsTopic: p.kvEventsTopic,
          kvBlockSize: p.kvBlockSize,
          numKvBlocks: p.numKvBlocks,
        }),
    };
  }
  const modelPath = spec.modelPath ?? (spec.engine === "llamacpp" ? await ensureDefaultGguf() : undefined);
  if (spec.engine === "llamacpp" && !isFile(modelPath!)) {
    throw new TurbineError("MODEL_LOAD_FAILED", `the llamacpp engine needs a GGUF file, got ${modelPath}`);
  }
  const draft = await modelDraft(modelPath, spec.modelName);
  if (spec.engine === "llamacpp") {
    return {
      fixedCount: undefined,
      create: () => LlamaCppEngine.create({ ...spec.llamacpp, modelPath: modelPath!, card: draft }),
    };
  }
  const { numKvBlocks, kvBlockSize, kvbmSettings, ...mocker } = spec.mocker ?? {};
  // One simulated G4 for the process; the first engine publishes its events (as shared).
  let g4Publisher: MockerEngine | null = null;
  const shared = kvbmSettings !== undefined && kvbmSettings.remoteBytes > 0 ? new SharedTier(kvbmSettings.remoteBytes, (data) => g4Publisher?.publishShared(data)) : null;
  const kvbm = kvbmSettings !== undefined ? { ...kvbmSettings, remote: shared } : undefined;
  const card: Partial<ModelCard> = {
    ...draft,
    role,
    kvBlockSize: kvBlockSize ?? draft.kvBlockSize,
    ...(numKvBlocks !== undefined ? { numKvBlocks } : {}),
  };
  // Every worker gets the same seed, so a request's output does not depend on where it ran.
  return {
    fixedCount: undefined,
    create: async () => {
      const engine = new MockerEngine({ ...mocker, card, ...(kvbm !== undefined ? { kvbm } : {}) });
      g4Publisher ??= engine;
      return engine;
    },
  };
}

async function modelDraft(path: string | undefined, name: string | undefined): Promise<ModelCardDraft> {
  if (path && isFile(path)) {
    const gguf = await loadGgufModel(path);
    await gguf.tokenizer.close(); // the frontend loads its own from the card
    return name ? { ...gguf.card, name } : gguf.card;
  }
  const loaded = path ? await loadHuggingFaceModel(path) : builtinByteModel();
  return name ? { ...loaded.card, name } : loaded.card;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
