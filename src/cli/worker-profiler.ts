// Measures one worker for the SLA planner: prefill time against prompt length, decode step
// time against batch size and context length. The mocker is measured in simulated time on a
// MockerCore (so its profile is its timing model, as its scheduler applies it: chunked
// prefill and all); any other engine is measured in wall time through the Engine interface.
import { MOCKER_DEFAULTS, MockerCore } from "../engines/index.ts";
import type { Engine, MockerCoreOptions } from "../engines/index.ts";
import { asRequestId, outputTokenCount } from "../protocols/index.ts";
import type { PreprocessedRequest } from "../protocols/index.ts";
import { WORKER_PROFILE_FORMAT } from "../planner/index.ts";
import type { WorkerProfile } from "../planner/index.ts";

export interface ProfileGrid {
  prefillTokens: number[];
  batchSizes: number[];
  contextTokens: number[];
}

export const DEFAULT_PROFILE_GRID: ProfileGrid = {
  prefillTokens: [128, 512, 1024, 2048, 4096, 8192, 16384, 32768],
  batchSizes: [1, 4, 16, 32, 64, 128, 256],
  contextTokens: [256, 1024, 4096, 16384],
};

let nextId = 0;
/** A prompt no other request shares (no prefix-cache hit): token ids from a counter. */
function freshPrompt(numTokens: number, vocab: number): number[] {
  const base = ++nextId * 7919;
  const out = new Array<number>(numTokens);
  for (let i = 0; i < numTokens; i++) out[i] = 1 + ((base + i * 104_729) % (vocab - 1));
  return out;
}

function request(tokens: number[], maxTokens: number, model: string): PreprocessedRequest {
  return { requestId: asRequestId(`profile-${++nextId}`), model, tokenIds: tokens, sampling: { temperature: 0 }, stop: { maxTokens, stopTokenIds: [], ignoreEos: true } };
}

/** Fills the points that could not be measured (KV too small) from their batch neighbours. */
function fillGaps(ms: (number | undefined)[][], batchSizes: number[]): number[][] {
  const numCtx = ms[0]?.length ?? 0;
  for (let j = 0; j < numCtx; j++) {
    const known = ms.map((row, i) => [batchSizes[i]!, row[j]] as const).filter((p): p is readonly [number, number] => p[1] !== undefined);
    for (let i = 0; i < ms.length; i++) {
      if (ms[i]![j] !== undefined) continue;
      if (known.length === 0) ms[i]![j] = 0;
      else if (known.length === 1) ms[i]![j] = known[0]![1];
      else {
        const [a, b] = [known[known.length - 2]!, known[known.length - 1]!];
        ms[i]![j] = b[1] + ((b[1] - a[1]) * (batchSizes[i]! - b[0])) / (b[0] - a[0]);
      }
    }
  }
  return ms as number[][];
}

/** The mocker's profile, measured on a MockerCore in simulated time. */
export function profileMocker(options: MockerCoreOptions = {}, grid: ProfileGrid = DEFAULT_PROFILE_GRID): WorkerProfile {
  const blockSize = options.blockSize ?? MOCKER_DEFAULTS.blockSize;
  const numKvBlocks = options.numKvBlocks ?? MOCKER_DEFAULTS.numKvBlocks;
  const maxNumSeqs = options.maxNumSeqs ?? MOCKER_DEFAULTS.maxNumSeqs;
  const maxNumBatchedTokens = options.maxNumBatchedTokens ?? MOCKER_DEFAULTS.maxNumBatchedTokens;
  const kvTokens = blockSize * numKvBlocks;
  const prefillMs: number[] = [];
  const prefillTokens = grid.prefillTokens.filter((t) => t < kvTokens);
  for (const t of prefillTokens) {
    const core = new MockerCore(options);
    core.addRequest(request(freshPrompt(t, 30_000), 1, "profile"), 0);
    let ms = 0;
    while (core.hasWork()) ms += core.step(ms).durationMs;
    prefillMs.push(ms);
  }
  const batchSizes = grid.batchSizes.filter((b) => b <= maxNumSeqs);
  const decode: (number | undefined)[][] = batchSizes.map(() => grid.contextTokens.map(() => undefined));
  for (let i = 0; i < batchSizes.length; i++) {
    for (let j = 0; j < grid.contextTokens.length; j++) {
      const b = batchSizes[i]!;
      const c = grid.contextTokens[j]!;
      // Fits with room for the tokens decoded while measuring.
      if (b * (Math.ceil(c / blockSize) + 2) > numKvBlocks) continue;
      const core = new MockerCore(options);
      // Long outputs: none may finish while the others still prefill.
      for (let k = 0; k < b; k++) core.addRequest(request(freshPrompt(c, 30_000), 1_000_000, "profile"), 0);
      // Prefill them all (each gets its first token), then time one pure decode step. Those
      // prefilled first have decoded a few tokens meanwhile: a block more at most, each.
      let now = 0;
      for (let guard = 0; core.load().pendingPrefillTokens > 0 || core.load().numWaitingSeqs > 0; guard++) {
        if (guard > 100_000) throw new Error("mocker profile: prefill did not finish");
        now += core.step(now).durationMs;
      }
      decode[i]![j] = core.step(now).durationMs;
    }
  }
  return {
    format: WORKER_PROFILE_FORMAT,
    engine: "mocker",
    model: "mocker",
    measuredAt: new Date().toISOString(),
    machine: "simulated (the mocker's timing model)",
    source: "timing-model",
    blockSize,
    numKvBlocks,
    maxNumSeqs,
    maxNumBatchedTokens,
    prefill: { tokens: prefillTokens, ms: prefillMs },
    decode: { batchSizes, contextTokens: grid.contextTokens, ms: fillGaps(decode, batchSizes) },
  };
}

export interface EngineProfileOptions {
  /** Written into the profile: "llamacpp", "openai-proxy". */
  engineName: string;
  grid: ProfileGrid;
  /** Tokens decoded per request when timing decode steps. Default 16. */
  decodeTokens?: number;
  /** Repeats per prefill point (the median is kept). Default 3. */
  repeats?: number;
  machine?: string;
  signal?: AbortSignal;
}

/** Any engine, in wall time: TTFT of lone prompts, and the token gaps of b concurrent requests. */
export async function profileEngine(engine: Engine, options: EngineProfileOptions): Promise<WorkerProfile> {
  const card = engine.card;
  const signal = options.signal ?? new AbortController().signal;
  // Ids below 250 exist in every vocabulary (byte-level ones included).
  const vocab = 250;
  const maxContext = card.contextLength;
  const prefillTokens = options.grid.prefillTokens.filter((t) => t + 1 < maxContext);
  const prefillMs: number[] = [];
  // A warm-up request first: the first one pays for lazy set-up (graphs, buffers).
  for await (const out of engine.generate(request(freshPrompt(8, vocab), 4, card.name), { signal })) void out;
  for (const t of prefillTokens) {
    const times: number[] = [];
    for (let r = 0; r < (options.repeats ?? 3); r++) {
      const start = performance.now();
      for await (const out of engine.generate(request(freshPrompt(t, vocab), 1, card.name), { signal })) {
        if (outputTokenCount(out) > 0 || out.finishReason !== undefined) break;
      }
      times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    prefillMs.push(times[times.length >> 1]!);
  }
  const k = options.decodeTokens ?? 16;
  const contextTokens = options.grid.contextTokens.filter((c) => c + k < maxContext);
  const batchSizes = options.grid.batchSizes;
  const decode: (number | undefined)[][] = batchSizes.map(() => contextTokens.map(() => undefined));
  for (let i = 0; i < batchSizes.length; i++) {
    for (let j = 0; j < contextTokens.length; j++) {
      const b = batchSizes[i]!;
      const c = contextTokens[j]!;
      // Each request's mean inter-token gap: (last token − first token) / (tokens − 1).
      const gaps: number[] = [];
      await Promise.all(
        Array.from({ length: b }, async () => {
          let first = 0;
          let last = 0;
          let n = 0;
          for await (const out of engine.generate(request(freshPrompt(c, vocab), k, card.name), { signal })) {
            const count = outputTokenCount(out);
            if (count === 0) continue;
            const now = performance.now();
            if (n === 0) first = now;
            last = now;
            n += count;
          }
          if (n > 1) gaps.push((last - first) / (n - 1));
        }),
      );
      if (gaps.length > 0) decode[i]![j] = gaps.reduce((s, g) => s + g, 0) / gaps.length;
    }
  }
  return {
    format: WORKER_PROFILE_FORMAT,
    engine: options.engineName,
    model: card.name,
    measuredAt: new Date().toISOString(),
    machine: options.machine ?? "",
    source: "measured",
    blockSize: card.kvBlockSize,
    numKvBlocks: card.numKvBlocks,
    maxNumSeqs: Math.max(...batchSizes),
    maxNumBatchedTokens: Math.max(...prefillTokens, 1),
    prefill: { tokens: prefillTokens, ms: prefillMs },
    decode: { batchSizes, contextTokens, ms: fillGaps(decode, batchSizes) },
  };
}
