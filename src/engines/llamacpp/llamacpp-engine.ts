// Real inference through node-llama-cpp: one llama.cpp context holding K sequences, so that the
// decode steps of concurrent requests go to llama.cpp as one batch; a prefix cache of finished
// sequences' KV states; KV export/import of a prefilled sequence.
import { readFileSync, writeFileSync } from "node:fs";
import type { LlamaContext, LlamaContextSequence, LlamaEmbeddingContext, LlamaModel, Token, BatchItem, PrioritizedBatchItem } from "node-llama-cpp";
import { DEFAULT_KV_BLOCK_SIZE, TurbineError, isTurbineError } from "../../protocols/index.ts";
import type { EngineFeature, EngineOutput, ErrorCode, ModelCard, PreprocessedRequest, TokenLogprob, Usage, WorkerRole } from "../../protocols/index.ts";
import { computeLocalBlockHashes, chainSequenceHashes } from "../../kv/index.ts";
import { completeModelCard, loadGgufModel, sharedLlama } from "../../model/index.ts";
import type { ModelCardDraft } from "../../model/index.ts";
import type { Engine, EngineKvEvent, EngineLoad, GenerateOptions } from "../engine.ts";
import { KvBlockManager } from "../../kvbm/index.ts";
import type { KvBlockManagerOptions, KvBlockManagerStats } from "../../kvbm/index.ts";
import { PrefixCache } from "./prefix-cache.ts";
import type { PrefixCacheEntry } from "./prefix-cache.ts";
import { SequencePool } from "./sequence-pool.ts";
import { GrammarCache, samplerOptionsOf } from "./sampling.ts";
import type { SamplingCounters } from "./sampling.ts";

export interface LlamaCppEngineOptions {
  /** A GGUF model file. */
  modelPath: string;
  /** The card draft, when the caller has loaded it already (else read from the file). */
  card?: ModelCardDraft;
  /** Name clients use (overrides the card's). */
  modelName?: string;
  role?: WorkerRole;
  /** Sequences of the context: requests decoded together in one batch. Default 4. */
  numSequences?: number;
  /** Tokens per sequence (llama.cpp rounds up to a multiple of 256). Default min(model's, 4096). */
  contextSize?: number;
  /** Most tokens in one llama.cpp batch. Default 512. */
  batchSize?: number;
  /** Threads of the context's evaluations. Default 1 (on few cores, more threads decode slower). */
  threads?: number;
  /** false: CPU (default); "auto": the best GPU backend llama.cpp finds. */
  gpu?: false | "auto";
  /** Prefix cache of finished sequences' KV (default on, 512 MiB); false turns all reuse off. */
  prefixCache?: false | { maxBytes?: number; dir?: string };
  kvBlockSize?: number;
  /** Longest wait for the other generating requests to join a batch (ms). Default 2. */
  maxBatchWaitMs?: number;
  /**
   * KV block manager tiers below the prefix cache (which is G2): states it evicts go to a disk
   * folder (G3) and a Redis shared by the model's workers (G4), and come back on a prefix hit.
   */
  kvbm?: Omit<KvBlockManagerOptions, "namespace" | "emit" | "emitShared">;
}

/** A prefilled sequence's KV, movable to another engine on the same model and settings. */
export interface LlamaCppKvExport {
  /** The tokens whose KV `state` holds (the prompt but its last token). */
  tokenIds: number[];
  /** llama.cpp's sequence state file, as bytes. */
  state: Uint8Array;
  /** Settings an importing engine must share (llama.cpp refuses or misreads states otherwise). */
  numSequences: number;
  modelBytes: number;
}

export interface LlamaCppCounters extends SamplingCounters {
  numRequests: number;
  numPromptTokens: number;
  /** Prompt tokens llama.cpp evaluated (the rest came from the prefix cache or a live sequence). */
  numEvaluatedPromptTokens: number;
  numCachedPromptTokens: number;
  numOutputTokens: number;
  /** llama.cpp batches dispatched, and the sequences they carried. */
  numBatches: number;
  numBatchedSequences: number;
  /** Batches that carried two sequences or more. */
  numMultiSequenceBatches: number;
  maxSequencesInBatch: number;
  numStateLoads: number;
  numStateSaves: number;
  numEvictions: number;
  /** States onboarded from the KVBM's disk (G3) and remote store (G4). */
  numOnboardsDisk: number;
  numOnboardsRemote: number;
  /** Embedding requests answered (by the embedding context, not the generating one). */
  numEmbeddings: number;
}

interface Running {
  numTokens: number;
  numPendingPrefill: number;
}

/** What llama.cpp's sampler does for a request beyond plain sampling (see sampling.ts). */
const LLAMACPP_FEATURES: readonly EngineFeature[] = ["guided_decoding", "logprobs", "penalties", "logit_bias", "embeddings"];

const STATE_MAGIC = 0x67677371; // llama.cpp's LLAMA_STATE_SEQ_MAGIC, "ggsq"

export class LlamaCppEngine implements Engine {
  readonly card: ModelCard;
  readonly counters: LlamaCppCounters = {
    numRequests: 0,
    numPromptTokens: 0,
    numEvaluatedPromptTokens: 0,
    numCachedPromptTokens: 0,
    numOutputTokens: 0,
    numBatches: 0,
    numBatchedSequences: 0,
    numMultiSequenceBatches: 0,
    maxSequencesInBatch: 0,
    numStateLoads: 0,
    numStateSaves: 0,
    numEvictions: 0,
    numOnboardsDisk: 0,
    numOnboardsRemote: 0,
    numGuidedRequests: 0,
    numGuidedFallbacks: 0,
    numEmbeddings: 0,
  };
  readonly prefixCache: PrefixCache | null;
  /** G3/G4 below the prefix cache, or null. */
  readonly kvbm: KvBlockManager | null;
  private readonly pendingOffloads = new Set<Promise<void>>();
  private readonly listeners = new Set<(e: EngineKvEvent) => void>();
  private readonly running = new Set<Running>();
  private readonly blockSize: number;
  private closed = false;
  // Requests inside their evaluation loop, and those of them waiting on llama.cpp for a step.
  private numEvaluating = 0;
  private readonly atBarrier: (() => void)[] = [];
  private barrierTimer: NodeJS.Timeout | null = null;
  private readonly maxBatchWaitMs: number;
  private readonly closing = new AbortController();
  private readonly grammars: GrammarCache;
  /** The model's embedding context, made on the first embedding request. */
  private embedding: Promise<LlamaEmbeddingContext> | null = null;
  private readonly threads: number;

  private constructor(
    readonly model: LlamaModel,
    readonly context: LlamaContext,
    private readonly pool: SequencePool,
    card: ModelCard,
    options: LlamaCppEngineOptions,
    private readonly modelBytes: number,
  ) {
    this.card = card;
    this.blockSize = card.kvBlockSize;
    this.maxBatchWaitMs = options.maxBatchWaitMs ?? 2;
    this.grammars = new GrammarCache(model);
    this.threads = options.threads ?? 1;
    const pc = options.prefixCache;
    this.prefixCache =
      pc === false
        ? null
        : new PrefixCache({
            maxBytes: pc?.maxBytes ?? 512 * 1024 * 1024,
            ...(pc?.dir !== undefined ? { dir: pc.dir } : {}),
            emit: (data) => {
              for (const l of this.listeners) l({ tier: "host", data });
            },
            onEvict: (entry) => this.offload(entry),
          });
    const kv = options.kvbm;
    this.kvbm =
      kv !== undefined && this.prefixCache !== null && (kv.diskDir !== undefined || kv.redisUrl !== undefined)
        ? new KvBlockManager({
            ...kv,
            // States load only into an engine with the same model and context layout.
            namespace: `${card.name}:${modelBytes}:b${card.kvBlockSize}:s${pool.numSequences}:c${context.contextSize}`,
            emit: (tier, data) => {
              for (const l of this.listeners) l({ tier, data });
            },
            emitShared: (data) => {
              for (const l of this.listeners) l({ tier: "remote", data, shared: true });
            },
          })
        : null;
  }

  /** G2 evicts a state: hand a reused one (or any, with offloadAll) down to G3/G4, in the background. */
  private offload(entry: PrefixCacheEntry): void {
    const kvbm = this.kvbm;
    if (kvbm === null || this.closed || !kvbm.shouldOffload(entry.numUses) || entry.hashes.length === 0) return;
    let payload: Uint8Array;
    try {
      payload = readFileSync(entry.file);
    } catch {
      return;
    }
    const hashes = entry.hashes;
    const p = kvbm
      .offload({ key: hashes[hashes.length - 1]!, bytes: payload.length, parentHash: null, hashes, tokensHashes: entry.locals, numUses: entry.numUses }, payload)
      .finally(() => this.pendingOffloads.delete(p));
    this.pendingOffloads.add(p);
  }

  /** Waits for the offloads in flight (tests, shutdown). */
  async flushOffloads(): Promise<void> {
    while (this.pendingOffloads.size > 0) await Promise.all([...this.pendingOffloads]);
  }

  /** The KVBM's counters (bytes, blocks, offloads, onboards, hits per tier), or null without one. */
  kvbmStats(): KvBlockManagerStats | null {
    return this.kvbm?.stats() ?? null;
  }

  /** Loads the model and creates the context (seconds for large models). */
  static async create(options: LlamaCppEngineOptions): Promise<LlamaCppEngine> {
    const numSequences = options.numSequences ?? 4;
    const draft = options.card ?? (await loadGgufModel(options.modelPath)).card;
    const llama = await sharedLlama({ gpu: options.gpu ?? false });
    let model: LlamaModel;
    try {
      model = await llama.loadModel({ modelPath: options.modelPath, gpuLayers: options.gpu === "auto" ? "auto" : 0 });
    } catch (cause) {
      throw new TurbineError("MODEL_LOAD_FAILED", `cannot load ${options.modelPath}: ${(cause as Error).message}`, { cause });
    }
    const hooks: { onBatch?: (n: number) => void } = {};
    const context = await model.createContext({
      sequences: numSequences,
      contextSize: options.contextSize ?? Math.min(draft.contextLength, 4096),
      batchSize: options.batchSize ?? 512,
      threads: options.threads ?? 1,
      batching: {
        // llama.cpp's default split ("maximumParallelism"), counted: one call per batch.
        itemPrioritizationStrategy: ({ items, size }) => {
          const res = maximumParallelism(items, size);
          hooks.onBatch?.(res.length);
          return res;
        },
      },
    });
    const contextSize = context.contextSize;
    const kvBlockSize = options.kvBlockSize ?? DEFAULT_KV_BLOCK_SIZE;
    const card = {
      ...completeModelCard(
        { ...draft, ...(options.modelName !== undefined ? { name: options.modelName } : {}), contextLength: Math.min(draft.contextLength, contextSize) },
        { role: options.role ?? "aggregated", kvBlockSize, numKvBlocks: Math.floor((contextSize * numSequences) / kvBlockSize) },
      ),
      // Sequences decoded at once: routers derive their busy threshold from it.
      maxNumSeqs: numSequences,
      features: [...LLAMACPP_FEATURES],
    };
    const pool = new SequencePool(context, numSequences);
    const engine = new LlamaCppEngine(model, context, pool, card, options, model.size);
    hooks.onBatch = (n) => engine.countBatch(n);
    return engine;
  }

  generate(request: PreprocessedRequest, options: GenerateOptions): AsyncIterable<EngineOutput> {
    return this.run(request, options.signal);
  }

  load(): EngineLoad {
    let activeTokens = 0;
    let pending = 0;
    for (const r of this.running) {
      activeTokens += r.numTokens;
      pending += r.numPendingPrefill;
    }
    const totalBlocks = this.card.numKvBlocks;
    const activeBlocks = Math.ceil(activeTokens / this.blockSize);
    const c = this.counters;
    return {
      activeBlocks,
      totalBlocks,
      kvUsage: totalBlocks > 0 ? Math.min(1, activeBlocks / totalBlocks) : 0,
      numRunningSeqs: this.pool.numBusy,
      numWaitingSeqs: this.pool.numWaiting,
      pendingPrefillTokens: pending,
      prefixCacheHitRate: c.numPromptTokens > 0 ? c.numCachedPromptTokens / c.numPromptTokens : 0,
    };
  }

  onKvEvent(listener: (event: EngineKvEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    await this.pool.drain();
    await this.flushOffloads();
    await this.kvbm?.close();
    this.prefixCache?.close();
    if (this.embedding !== null) await (await this.embedding.catch(() => null))?.dispose();
    await this.context.dispose();
    await this.model.dispose();
  }

  /**
   * Prefills `tokenIds` but its last token and returns the KV as bytes (the last token is
   * evaluated by the importer, which needs its logits to sample).
   */
  async exportKv(tokenIds: readonly number[], options: { signal?: AbortSignal } = {}): Promise<LlamaCppKvExport> {
    if (tokenIds.length < 2) throw new TurbineError("REQUEST_INVALID", "exportKv needs at least 2 tokens");
    const signal = options.signal ?? this.closing.signal;
    const prefix = tokenIds.slice(0, -1);
    const seq = await this.pool.acquire(prefix, signal);
    try {
      const running: Running = { numTokens: prefix.length, numPendingPrefill: prefix.length };
      this.running.add(running);
      try {
        await this.prepare(seq, prefix, prefix.length);
        await seq.evaluateWithoutGeneratingNewTokens(prefix.slice(seq.nextTokenIndex) as Token[]);
      } finally {
        this.running.delete(running);
      }
      const file = `${this.prefixCache?.dir ?? "/tmp"}/export-${process.pid}-${Math.random().toString(36).slice(2)}.bin`;
      await seq.saveStateToFile(file);
      const state = new Uint8Array(readFileSync(file));
      await import("node:fs/promises").then((fs) => fs.unlink(file));
      await this.remember(seq);
      return { tokenIds: prefix, state, numSequences: this.pool.numSequences, modelBytes: this.modelBytes };
    } finally {
      this.pool.release(seq);
    }
  }

  /**
   * Puts exported KV into the prefix cache (publishing its blocks), so that the next request
   * starting with those tokens evaluates only what follows. The state's own token list is
   * replaced by `kv.tokenIds`: the bytes are trusted to be those tokens' KV.
   */
  importKv(kv: LlamaCppKvExport): void {
    if (this.prefixCache === null) throw new TurbineError("REQUEST_UNSUPPORTED", "importKv needs the prefix cache");
    if (kv.numSequences !== this.pool.numSequences || kv.modelBytes !== this.modelBytes) {
      throw new TurbineError(
        "REQUEST_INVALID",
        `KV from an engine with ${kv.numSequences} sequences on a ${kv.modelBytes}-byte model cannot load into one with ${this.pool.numSequences} on ${this.modelBytes}`,
      );
    }
    const state = relabelState(kv.state, kv.tokenIds);
    const file = this.prefixCache.newFile();
    writeFileSync(file, state);
    this.addToCache(file, kv.tokenIds);
  }

  /** Disaggregated prefill: the prompt's KV (all but its last token) as one self-describing byte string. */
  async prefillForTransfer(request: PreprocessedRequest, options: GenerateOptions): Promise<Uint8Array> {
    return encodeKvExport(await this.exportKv(request.tokenIds, { signal: options.signal }));
  }

  /** Disaggregated decode: loads KV made by another worker's `prefillForTransfer` into the prefix cache. */
  async importPrefilledKv(tokenIds: readonly number[], kv: Uint8Array): Promise<void> {
    const exported = decodeKvExport(kv);
    for (let i = 0; i < exported.tokenIds.length; i++) {
      if (exported.tokenIds[i] !== tokenIds[i]) throw new TurbineError("ENGINE_FAILED", "the imported KV is not this prompt's");
    }
    this.importKv(exported);
  }

  private async *run(request: PreprocessedRequest, signal: AbortSignal): AsyncGenerator<EngineOutput> {
    const prompt = request.tokenIds;
    const n = prompt.length;
    const k = request.numPrefilledOutputTokens ?? 0;
    const usage: Usage = { promptTokens: n - k, completionTokens: k, cachedTokens: 0 };
    if (n === 0) {
      yield errorOutput("REQUEST_INVALID", "empty prompt", usage);
      return;
    }
    const contextSize = this.context.contextSize;
    if (n >= contextSize) {
      yield errorOutput("REQUEST_CONTEXT_LENGTH_EXCEEDED", `prompt of ${n} tokens leaves no room in the context of ${contextSize}`, usage);
      return;
    }
    if (request.task === "embed") {
      yield await this.embed(request, usage);
      return;
    }
    const maxNew = Math.min(request.stop.maxTokens - k, contextSize - n);
    if (!(maxNew > 0)) {
      yield { tokenIds: [], finishReason: "length", usage };
      return;
    }
    const generated: number[] = [];
    let extra: Awaited<ReturnType<typeof samplerOptionsOf>>;
    try {
      extra = await samplerOptionsOf(request, this.model, this.grammars, generated, this.counters);
    } catch (err) {
      yield isTurbineError(err) ? errorOutput(err.code, err.message, usage, err.param) : errorOutput("ENGINE_FAILED", (err as Error).message, usage);
      return;
    }
    this.counters.numRequests++;
    const running: Running = { numTokens: n, numPendingPrefill: n };
    this.running.add(running);
    let seq: LlamaContextSequence;
    try {
      seq = await this.pool.acquire(prompt, signal);
    } catch {
      this.running.delete(running);
      yield { tokenIds: [], finishReason: "cancelled", usage };
      return;
    }
    let finish = "cancelled" as EngineOutput["finishReason"];
    try {
      const reused = await this.prepare(seq, prompt, n - 1);
      usage.cachedTokens = reused;
      this.counters.numPromptTokens += n;
      this.counters.numCachedPromptTokens += reused;
      this.counters.numEvaluatedPromptTokens += n - reused;
      const { temperature = 1, topK, topP, seed } = request.sampling;
      const stopIds = request.stop.ignoreEos === true ? [] : request.stop.stopTokenIds;
      const evaluateOptions = {
        temperature,
        ...(topK !== undefined && topK > 0 ? { topK } : {}),
        ...(topP !== undefined && topP < 1 ? { topP } : {}),
        seed: seed ?? Math.floor(Math.random() * 0x7fffffff),
        yieldEogToken: true,
        ...extra,
      };
      const numTop = request.logprobs?.topLogprobs;
      // With logprobs, each step also returns the sampler's distribution over the vocabulary.
      const tokens: AsyncGenerator<Token | { token: Token; probabilities: Map<Token, number> }, void, unknown> =
        numTop === undefined
          ? seq.evaluate(prompt.slice(reused) as Token[], evaluateOptions)
          : seq.evaluateWithMetadata(prompt.slice(reused) as Token[], { probabilities: true }, evaluateOptions);
      let numNew = 0;
      this.numEvaluating++;
      try {
      for (;;) {
        const step = await this.step(tokens);
        if (step.done === true) break;
        const token = typeof step.value === "number" ? step.value : step.value.token;
        const logprobs = typeof step.value === "number" ? undefined : [logprobOf(token, step.value.probabilities, numTop ?? 0)];
        generated.push(token);
        if (numNew === 0) running.numPendingPrefill = 0;
        numNew++;
        usage.completionTokens++;
        running.numTokens++;
        this.counters.numOutputTokens++;
        if (stopIds.includes(token)) finish = "stop";
        else if (numNew >= maxNew) finish = "length";
        if (finish !== "cancelled") {
          yield { tokenIds: [token], finishReason: finish, usage: { ...usage }, ...(logprobs ? { logprobs } : {}) };
          return;
        }
        if (signal.aborted || this.closed) break;
        yield logprobs ? { tokenIds: [token], logprobs } : { tokenIds: [token] };
        if (signal.aborted || this.closed) break;
      }
      } finally {
        this.numEvaluating--;
        this.maybeReleaseBarrier();
        await tokens.return();
      }
      // Only an abort (or an EOG the request does not stop on, past which llama.cpp will not go) gets here.
      if (!signal.aborted && !this.closed) finish = "stop";
      yield { tokenIds: [], finishReason: finish, usage: { ...usage } };
    } catch (err) {
      finish = "error";
      yield errorOutput("ENGINE_FAILED", (err as Error).message, usage);
    } finally {
      this.running.delete(running);
      if (finish === "stop" || finish === "length") await this.remember(seq).catch(() => undefined);
      this.pool.release(seq);
    }
  }

  /**
   * The prompt's embedding, from an embedding context of the same model (llama.cpp's pooled
   * output; made on first use, at the generating context's size).
   */
  private async embed(request: PreprocessedRequest, usage: Usage): Promise<EngineOutput> {
    try {
      this.embedding ??= this.model.createEmbeddingContext({ contextSize: this.context.contextSize, threads: this.threads });
      const ctx = await this.embedding;
      const e = await ctx.getEmbeddingFor(request.tokenIds as Token[]);
      this.counters.numEmbeddings++;
      return { tokenIds: [], embedding: [...e.vector], finishReason: "stop", usage };
    } catch (err) {
      this.embedding = null;
      return errorOutput("ENGINE_FAILED", `embedding failed: ${(err as Error).message}`, usage);
    }
  }

  /**
   * The next token of `it`, in step with the other generating requests. node-llama-cpp batches
   * the decodes queued before its dispatch; left alone, each sequence re-queues whenever its
   * sampling ends, and concurrent requests drift into separate batches. So every request waits
   * here until all generating requests are ready (or `maxBatchWaitMs` passed), and they queue
   * their steps together, in one tick.
   */
  private async step<T>(it: AsyncGenerator<T, void, unknown>): Promise<IteratorResult<T, void>> {
    if (this.numEvaluating > 1) {
      await new Promise<void>((resolve) => {
        this.atBarrier.push(resolve);
        this.barrierTimer ??= setTimeout(() => this.releaseBarrier(), this.maxBatchWaitMs);
        this.maybeReleaseBarrier();
      });
    }
    return it.next();
  }

  private maybeReleaseBarrier(): void {
    if (this.atBarrier.length > 0 && this.atBarrier.length >= this.numEvaluating) this.releaseBarrier();
  }

  private releaseBarrier(): void {
    if (this.barrierTimer !== null) clearTimeout(this.barrierTimer);
    this.barrierTimer = null;
    for (const resolve of this.atBarrier.splice(0)) resolve();
  }

  /**
   * Makes `seq` hold the longest known prefix of `tokens` (at most `limit` tokens): its own live
   * KV, or a prefix-cache state loaded into it; erases the rest. Returns the tokens reused.
   */
  private async prepare(seq: LlamaContextSequence, tokens: readonly number[], limit: number): Promise<number> {
    const cache = this.prefixCache;
    if (cache === null) {
      if (seq.nextTokenIndex > 0) await seq.clearHistory();
      return 0;
    }
    let reuse = Math.min(seq.compareContextTokens(tokens as Token[]).firstDifferentIndex, limit);
    const { hashes } = this.hashes(tokens);
    let match = cache.lookup(hashes);
    const maxBlocks = Math.floor(limit / this.blockSize);
    const have = Math.max(match?.numBlocks ?? 0, Math.floor(reuse / this.blockSize));
    if (this.kvbm !== null && have < maxBlocks) {
      // G2 and the live sequence hold less than the prompt: a longer state from disk or Redis
      // goes into G2 (publishing its blocks as host) and loads like any cached state.
      const got = await this.kvbm.onboard(hashes.slice(0, maxBlocks), have);
      if (got !== null && !this.closed) {
        const file = cache.newFile();
        writeFileSync(file, got.payload);
        const entry = cache.add(file, stateTokenCount(got.payload), got.entry.hashes, got.entry.tokensHashes);
        entry.numUses = got.entry.numUses;
        match = { entry, numBlocks: got.entry.hashes.length };
        if (got.tier === "disk") this.counters.numOnboardsDisk++;
        else this.counters.numOnboardsRemote++;
      }
    }
    if (match !== undefined && Math.min(match.numBlocks * this.blockSize, limit) > reuse) {
      await seq.loadStateFromFile(match.entry.file, { acceptRisk: true });
      this.counters.numStateLoads++;
      reuse = Math.min(seq.compareContextTokens(tokens as Token[]).firstDifferentIndex, limit);
    }
    if (seq.nextTokenIndex > reuse) await seq.eraseContextTokenRanges([{ start: reuse, end: seq.nextTokenIndex }]);
    return reuse;
  }

  /** Saves a finished sequence's state into the prefix cache when it holds new full blocks. */
  private async remember(seq: LlamaContextSequence): Promise<void> {
    const cache = this.prefixCache;
    if (cache === null || this.closed) return;
    const tokens = seq.contextTokens;
    const { hashes } = this.hashes(tokens);
    if (hashes.length === 0 || cache.numCachedBlocks(hashes) === hashes.length) return;
    const file = cache.newFile();
    await seq.saveStateToFile(file);
    this.counters.numStateSaves++;
    this.addToCache(file, tokens);
  }

  private addToCache(file: string, tokens: readonly number[]): void {
    const { hashes, locals } = this.hashes(tokens);
    this.prefixCache!.add(file, tokens.length, hashes, locals);
    this.counters.numEvictions = this.prefixCache!.numEvictions;
  }

  private hashes(tokens: readonly number[]) {
    const locals = computeLocalBlockHashes(tokens, this.blockSize);
    return { locals, hashes: chainSequenceHashes(locals, null) };
  }

  private countBatch(numSequences: number): void {
    const c = this.counters;
    c.numBatches++;
    c.numBatchedSequences += numSequences;
    if (numSequences > 1) c.numMultiSequenceBatches++;
    if (numSequences > c.maxSequencesInBatch) c.maxSequencesInBatch = numSequences;
  }
}

/** The chosen token's log probability and the `numTop` most likely (the map is sorted, most likely first). */
function logprobOf(token: number, probabilities: Map<Token, number>, numTop: number): TokenLogprob {
  const top: TokenLogprob["top"] = [];
  if (numTop > 0) {
    for (const [id, p] of probabilities) {
      top.push({ tokenId: id, logprob: Math.log(p) });
      if (top.length >= numTop) break;
    }
  }
  const p = probabilities.get(token as Token) ?? 0;
  return { tokenId: token, logprob: p > 0 ? Math.log(p) : -9999, top };
}

function errorOutput(code: ErrorCode, message: string, usage: Usage, param?: string): EngineOutput {
  return { tokenIds: [], finishReason: "error", usage, error: param === undefined ? { code, message } : { code, message, param } };
}

/** Tokens a llama.cpp sequence state holds (0 when it is not one). */
function stateTokenCount(state: Uint8Array): number {
  const view = new DataView(state.buffer, state.byteOffset, state.byteLength);
  return state.byteLength >= 12 && view.getUint32(0, true) === STATE_MAGIC ? view.getUint32(8, true) : 0;
}

/** Rewrites the token list of a llama.cpp sequence state file (same count required). */
function relabelState(state: Uint8Array, tokenIds: readonly number[]): Uint8Array {
  const view = new DataView(state.buffer, state.byteOffset, state.byteLength);
  if (state.byteLength < 12 || view.getUint32(0, true) !== STATE_MAGIC) {
    throw new TurbineError("REQUEST_INVALID", "not a llama.cpp sequence state");
  }
  const count = view.getUint32(8, true);
  if (count !== tokenIds.length) {
    throw new TurbineError("REQUEST_INVALID", `state holds ${count} tokens, the export names ${tokenIds.length}`);
  }
  const out = state.slice();
  const outView = new DataView(out.buffer);
  for (let i = 0; i < count; i++) outView.setInt32(12 + 4 * i, tokenIds[i]!, true);
  return out;
}

/** node-llama-cpp's default batch split: every queued sequence gets a share of the batch. */
function maximumParallelism(items: readonly BatchItem[], size: number): PrioritizedBatchItem[] {
  let left = size;
  const even = Math.floor(left / Math.max(1, items.length));
  const res: PrioritizedBatchItem[] = [];
  const clipped: PrioritizedBatchItem[] = [];
  for (const item of items) {
    const amount = Math.min(item.tokens.length, left, even);
    const p = { item, processAmount: amount };
    res.push(p);
    left -= amount;
    if (amount < item.tokens.length) clipped.push(p);
    if (left === 0) break;
  }
  // Hand what is left to the clipped items (long prefills), first come first served.
  for (let i = 0; i < clipped.length && left > 0; i++) {
    const p = clipped[i]!;
    const more = Math.min(p.item.tokens.length - p.processAmount, left);
    p.processAmount += more;
    left -= more;
  }
  return res;
}

/** KV export on the wire: u32 LE header length, JSON header, llama.cpp's state bytes. */
function encodeKvExport(kv: LlamaCppKvExport): Uint8Array {
  const header = Buffer.from(JSON.stringify({ tokenIds: kv.tokenIds, numSequences: kv.numSequences, modelBytes: kv.modelBytes }));
  const out = Buffer.allocUnsafe(4 + header.length + kv.state.length);
  out.writeUInt32LE(header.length, 0);
  header.copy(out, 4);
  out.set(kv.state, 4 + header.length);
  return out;
}

function decodeKvExport(bytes: Uint8Array): LlamaCppKvExport {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = buf.length >= 4 ? buf.readUInt32LE(0) : -1;
  if (n < 0 || 4 + n > buf.length) throw new TurbineError("ENGINE_FAILED", "malformed KV export");
  const header = JSON.parse(buf.subarray(4, 4 + n).toString("utf8")) as Omit<LlamaCppKvExport, "state">;
  return { ...header, state: new Uint8Array(buf.subarray(4 + n)) };
}
