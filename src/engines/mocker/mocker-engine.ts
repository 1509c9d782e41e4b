// The mocker as an Engine: a real-time loop drives the pure core. Each iteration runs one
// step, waits its duration divided by `speedup`, then delivers the step's outputs to the
// requests' streams. Waiting tracks a wall-clock target rather than sleeping each duration,
// so sub-millisecond steps (high speedups) accumulate into real timers instead of being
// rounded up, and timer overshoot is paid back by the next steps; between steps the loop
// always yields to the event loop (setImmediate at least), so HTTP keeps being served.
import { DEFAULT_KV_BLOCK_SIZE, TurbineError, engineOutputError, requestedFeatures } from "../../protocols/index.ts";
import type { KvbmStats } from "../../kvbm/index.ts";
import type { EngineOutput, KvEventData, ModelCard, PreprocessedRequest, RequestId } from "../../protocols/index.ts";
import type { Engine, EngineKvEvent, EngineLoad, GenerateOptions } from "../engine.ts";
import { MOCKER_DEFAULTS, MockerCore } from "./mocker-core.ts";
import type { MockerCoreOptions, MockerCounters } from "./mocker-core.ts";
import { RequestStream } from "./request-stream.ts";
import type { StepOutput } from "./scheduler.ts";

export interface MockerEngineOptions extends Omit<MockerCoreOptions, "blockSize" | "numKvBlocks" | "contextLength"> {
  /**
   * The model card, in part. Defaults: name "mocker", byte tokenizer, contextLength 32768,
   * kvBlockSize 16, numKvBlocks 16384, role "aggregated", no EOS ids.
   */
  card?: Partial<ModelCard>;
  /** Simulated time runs this many times faster than wall time. Default 1. */
  speedup?: number;
  /**
   * Disaggregated serving: bytes of KV per token that a prefill moves to a decode worker (a
   * real payload, through the transfer library). Default 131072: an 8B-class model in fp16.
   */
  kvBytesPerToken?: number;
}

/** KV bytes per token of an 8B-class model in fp16 (32 layers × 8 KV heads × 128 × 2 × 2 bytes). */
export const DEFAULT_KV_BYTES_PER_TOKEN = 128 * 1024;

export const DEFAULT_MOCKER_CONTEXT_LENGTH = 32768;

// Beyond this much lag behind the wall clock the loop stops trying to catch up, so a stall
// (a slow machine, a debugger) is not followed by a burst of zero-wait steps.
const MAX_LAG_MS = 50;

interface InFlight {
  stream: RequestStream;
  signal: AbortSignal;
  onAbort: () => void;
}

export class MockerEngine implements Engine {
  readonly card: ModelCard;
  /** The pure core, for tests and tools (counters, block pool). */
  readonly core: MockerCore;
  readonly speedup: number;
  readonly kvBytesPerToken: number;

  private readonly inFlight = new Map<RequestId, InFlight>();
  private readonly t0 = performance.now();
  private simNowMs = 0;
  private loopRunning = false;
  private loopDone: Promise<void> = Promise.resolve();
  private closed = false;
  private sleepTimer: NodeJS.Timeout | null = null;
  private sleepResolve: (() => void) | null = null;

  constructor(options: MockerEngineOptions = {}) {
    const card = options.card ?? {};
    this.card = {
      name: card.name ?? "mocker",
      tokenizer: card.tokenizer ?? { kind: "byte" },
      contextLength: card.contextLength ?? DEFAULT_MOCKER_CONTEXT_LENGTH,
      kvBlockSize: card.kvBlockSize ?? DEFAULT_KV_BLOCK_SIZE,
      numKvBlocks: card.numKvBlocks ?? MOCKER_DEFAULTS.numKvBlocks,
      maxNumSeqs: card.maxNumSeqs ?? options.maxNumSeqs ?? MOCKER_DEFAULTS.maxNumSeqs,
      role: card.role ?? "aggregated",
      eosTokenIds: card.eosTokenIds ?? [],
      ...(card.chatTemplate !== undefined ? { chatTemplate: card.chatTemplate } : {}),
      ...(card.bosTokenId !== undefined ? { bosTokenId: card.bosTokenId } : {}),
      ...(card.bosToken !== undefined ? { bosToken: card.bosToken } : {}),
      ...(card.eosToken !== undefined ? { eosToken: card.eosToken } : {}),
    };
    this.speedup = options.speedup ?? 1;
    if (!(this.speedup > 0)) throw new RangeError(`speedup must be > 0, got ${this.speedup}`);
    this.kvBytesPerToken = options.kvBytesPerToken ?? DEFAULT_KV_BYTES_PER_TOKEN;
    const { card: _card, speedup: _speedup, kvBytesPerToken: _kv, ...coreOptions } = options;
    this.core = new MockerCore({
      ...coreOptions,
      blockSize: this.card.kvBlockSize,
      numKvBlocks: this.card.numKvBlocks,
      maxNumSeqs: this.card.maxNumSeqs,
      contextLength: this.card.contextLength,
    });
  }

  generate(request: PreprocessedRequest, options: GenerateOptions): AsyncIterable<EngineOutput> {
    const id = request.requestId;
    const stream = new RequestStream(() => this.cancelRequest(id));
    if (this.closed) {
      stream.push({ tokenIds: [], finishReason: "error", error: { code: "ENGINE_FAILED", message: "the mocker engine is closed" } });
      return stream;
    }
    if (options.signal.aborted) {
      stream.push({ tokenIds: [], finishReason: "cancelled" });
      return stream;
    }
    // Simulated tokens cannot follow a grammar, carry logprobs or feel penalties: refused, not ignored.
    const unsupported = requestedFeatures(request)[0];
    if (unsupported !== undefined) {
      const message = `The mocker engine does not support ${unsupported.field} (${unsupported.feature})`;
      stream.push({ tokenIds: [], finishReason: "error", error: { code: "REQUEST_UNSUPPORTED", message, param: unsupported.field } });
      return stream;
    }
    const rejected = this.core.addRequest(request, this.now(), undefined, options.onScheduled);
    if (rejected !== null) {
      stream.push(toEngineOutput(rejected));
      return stream;
    }
    const onAbort = (): void => this.cancelRequest(id);
    options.signal.addEventListener("abort", onAbort, { once: true });
    this.inFlight.set(id, { stream, signal: options.signal, onAbort });
    this.startLoop();
    return stream;
  }

  load(): EngineLoad {
    return this.core.load();
  }

  /**
   * Prefill for a decode worker: runs the prompt through the scheduler like any request (so
   * the prefill time is spent here, batched with the rest) up to its first token, then hands
   * out a payload of `kvBytesPerToken` per prompt token.
   */
  async prefillForTransfer(request: PreprocessedRequest, options: GenerateOptions): Promise<Uint8Array> {
    const prefill: PreprocessedRequest = { ...request, stop: { ...request.stop, maxTokens: 1, ignoreEos: true } };
    for await (const out of this.generate(prefill, options)) {
      if (out.finishReason === "error") throw engineOutputError(out.error);
      if (out.finishReason === "cancelled") throw new TurbineError("RUNTIME_CANCELLED", "prefill cancelled");
    }
    return new Uint8Array(request.tokenIds.length * this.kvBytesPerToken);
  }

  /** Caches the prompt's full blocks as if computed here; the payload's size is checked, its bytes are not. */
  async importPrefilledKv(tokenIds: readonly number[], kv: Uint8Array): Promise<void> {
    const expected = tokenIds.length * this.kvBytesPerToken;
    if (kv.length !== expected) {
      throw new TurbineError("ENGINE_FAILED", `KV payload of ${kv.length} bytes for ${tokenIds.length} tokens; expected ${expected}`);
    }
    this.core.importPrefix([...tokenIds]);
  }

  /** Publishes an event of a store shared by the process's engines (the simulated G4). */
  publishShared(data: KvEventData): void {
    this.core.emitShared(data);
  }

  kvbmStats(): KvbmStats | null {
    return this.core.kvbmStats();
  }

  onKvEvent(listener: (event: EngineKvEvent) => void): () => void {
    return this.core.onKvEvent(listener);
  }

  /** Counters since start (steps, preemptions, evictions, prefix queries and hits). */
  get counters(): MockerCounters {
    return this.core.counters;
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      for (const id of [...this.inFlight.keys()]) this.cancelRequest(id);
      this.wakeUp();
    }
    await this.loopDone;
  }

  /** Simulated time: advances with steps, and with the wall clock (scaled) while idle. */
  private now(): number {
    const wall = (performance.now() - this.t0) * this.speedup;
    if (wall > this.simNowMs) this.simNowMs = wall;
    return this.simNowMs;
  }

  /** Ends a request at once: its blocks go back to the pool, its stream ends "cancelled". */
  private cancelRequest(id: RequestId): void {
    const entry = this.inFlight.get(id);
    if (entry === undefined) return;
    this.inFlight.delete(id);
    entry.signal.removeEventListener("abort", entry.onAbort);
    const usage = this.core.cancel(id);
    entry.stream.push(usage === null ? { tokenIds: [], finishReason: "cancelled" } : { tokenIds: [], finishReason: "cancelled", usage });
  }

  private startLoop(): void {
    if (this.loopRunning || this.closed) return;
    this.loopRunning = true;
    this.loopDone = this.runLoop();
  }

  private async runLoop(): Promise<void> {
    try {
      // Let the caller finish its synchronous work (e.g. several generate() calls) first.
      await new Promise<void>((resolve) => setImmediate(resolve));
      let target = performance.now();
      while (!this.closed && this.core.hasWork()) {
        const { durationMs, outputs } = this.core.step(this.now());
        this.simNowMs += durationMs;
        const wall = performance.now();
        if (target < wall - MAX_LAG_MS) target = wall - MAX_LAG_MS;
        target += durationMs / this.speedup;
        const delay = target - wall;
        if (delay >= 1) await this.sleep(delay);
        else await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.closed) break;
        this.deliver(outputs);
      }
    } finally {
      this.loopRunning = false;
    }
    // A request that arrived while the loop was finishing.
    if (!this.closed && this.core.hasWork()) this.startLoop();
  }

  private deliver(outputs: readonly StepOutput[]): void {
    for (const out of outputs) {
      const entry = this.inFlight.get(out.requestId);
      if (entry === undefined) continue; // cancelled during the step
      if (out.finishReason !== undefined) {
        this.inFlight.delete(out.requestId);
        entry.signal.removeEventListener("abort", entry.onAbort);
      }
      entry.stream.push(toEngineOutput(out));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.sleepResolve = resolve;
      this.sleepTimer = setTimeout(() => {
        this.sleepTimer = null;
        this.sleepResolve = null;
        resolve();
      }, ms);
    });
  }

  private wakeUp(): void {
    if (this.sleepTimer !== null) clearTimeout(this.sleepTimer);
    this.sleepTimer = null;
    const resolve = this.sleepResolve;
    this.sleepResolve = null;
    if (resolve !== null) resolve();
  }
}

function toEngineOutput(out: StepOutput): EngineOutput {
  const o: EngineOutput = { tokenIds: out.tokenIds };
  if (out.finishReason !== undefined) o.finishReason = out.finishReason;
  if (out.usage !== undefined) o.usage = out.usage;
  if (out.error !== undefined) o.error = out.error;
  return o;
}
