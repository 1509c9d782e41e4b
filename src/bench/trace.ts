// Mooncake-format traces (one JSON object per line: timestamp ms, input_length, output_length,
// hash_ids of 512-token prefix blocks) turned into token-id workloads.
//
// Each hash id becomes a fixed block of `blockTokens` token ids drawn from a PRNG seeded by the
// id: the same id always gives the same tokens, so equal hash-id prefixes become equal token
// prefixes and a prefix cache sees exactly the reuse the trace describes. The prompt is the
// blocks concatenated and cut to input_length.
//
// Memory: the conversation trace is 145 M prompt tokens; as number[] that is over 1 GB. So a
// request keeps only its hash ids and builds `tokenIds` when it is read (a fresh array on each
// read: read it once). Blocks come from a bounded cache of generated blocks shared by the
// requests of one load, since the trace reuses ids a lot.
import { readFileSync } from "node:fs";
import { TurbineError } from "../protocols/index.ts";
import { Prng } from "./prng.ts";
import { DEFAULT_VOCAB } from "./workload.ts";
import type { Vocab, WorkloadRequest } from "./workload.ts";

export interface TraceOptions {
  /** First row of the window (0-based, counting non-blank rows). Default 0. */
  start?: number;
  /** Rows in the window. Default: to the end. */
  limit?: number;
  /** Multiplies the timestamps: k < 1 replays faster. Default 1. */
  timeScale?: number;
  /** Range of the token ids. Default 1..255. */
  vocab?: Vocab;
  /** Tokens per hash id. Default 512 (Mooncake's block). */
  blockTokens?: number;
}

/** The tokens of trace blocks, generated once per id while they stay in the cache. */
export class TraceBlocks {
  private readonly cache = new Map<number, Uint32Array>();

  constructor(
    readonly blockTokens: number,
    readonly vocab: Vocab,
    /** Blocks kept; the cache is dropped whole when full (cheap, and hot ids come back at once). */
    private readonly maxCached = 8192,
  ) {}

  /** The token ids of block `id`: a pure function of (id, blockTokens, vocab). */
  block(id: number): Uint32Array {
    let b = this.cache.get(id);
    if (b === undefined) {
      b = new Uint32Array(this.blockTokens);
      fillBlock(b, id, this.vocab);
      if (this.cache.size >= this.maxCached) this.cache.clear();
      this.cache.set(id, b);
    }
    return b;
  }
}

/** Fills `out` with the tokens of block `id`: Prng(id)'s stream, reduced to the vocab. */
export function fillBlock(out: Uint32Array, id: number, vocab: Vocab): void {
  new Prng(id).fillInts(out, vocab.min, vocab.max);
}

/** A trace row as a workload request; `tokenIds` is built on each read. */
export class TraceRequest implements WorkloadRequest {
  constructor(
    readonly index: number,
    readonly arrivalMs: number,
    readonly inputLength: number,
    readonly outputTokens: number,
    readonly hashIds: readonly number[],
    readonly blocks: TraceBlocks,
  ) {}

  get tokenIds(): number[] {
    const n = this.inputLength;
    const bt = this.blocks.blockTokens;
    const out = new Array<number>(n);
    let k = 0;
    for (let b = 0; k < n; b++) {
      const block = this.blocks.block(this.hashIds[b]!);
      const end = Math.min(bt, n - k);
      for (let i = 0; i < end; i++) out[k++] = block[i]!;
    }
    return out;
  }
}

/** Loads a Mooncake-format trace file. Errors name the file and line. */
export function loadMooncakeTrace(path: string, options: TraceOptions = {}): TraceRequest[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new TurbineError("INPUT_INVALID", `cannot read trace ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseMooncakeTrace(text, path, options);
}

/** Parses Mooncake-format text; `source` names it in errors. */
export function parseMooncakeTrace(text: string, source: string, options: TraceOptions = {}): TraceRequest[] {
  const start = options.start ?? 0;
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const timeScale = options.timeScale ?? 1;
  const blockTokens = options.blockTokens ?? 512;
  const vocab = options.vocab ?? DEFAULT_VOCAB;
  if (!(Number.isInteger(start) && start >= 0)) throw new RangeError(`start must be a non-negative integer, got ${start}`);
  if (!(limit >= 0)) throw new RangeError(`limit must be non-negative, got ${limit}`);
  if (!(timeScale >= 0 && Number.isFinite(timeScale))) throw new RangeError(`timeScale must be a finite number >= 0, got ${timeScale}`);
  if (!(Number.isInteger(blockTokens) && blockTokens > 0)) throw new RangeError(`blockTokens must be a positive integer, got ${blockTokens}`);
  const blocks = new TraceBlocks(blockTokens, vocab);
  const out: TraceRequest[] = [];
  let row = 0;
  let first = 0;
  let pos = 0;
  let lineNo = 0;
  while (pos < text.length && out.length < limit) {
    let nl = text.indexOf("\n", pos);
    if (nl < 0) nl = text.length;
    const line = text.slice(pos, nl).trim();
    pos = nl + 1;
    lineNo++;
    if (line === "") continue;
    if (row++ < start) continue;
    const where = `${source}:${lineNo}`;
    let o: { timestamp?: unknown; input_length?: unknown; output_length?: unknown; hash_ids?: unknown };
    try {
      o = JSON.parse(line) as typeof o;
    } catch (err) {
      throw new TurbineError("INPUT_INVALID", `${where}: not JSON: ${(err as Error).message}`, { cause: err });
    }
    if (o === null || typeof o !== "object") throw new TurbineError("INPUT_INVALID", `${where}: expected an object`);
    const { timestamp, input_length: inputLength, output_length: outputLength, hash_ids: hashIds } = o;
    if (typeof timestamp !== "number" || !Number.isFinite(timestamp) || timestamp < 0) throw new TurbineError("INPUT_INVALID", `${where}: timestamp must be a number >= 0`, { param: "timestamp" });
    if (!isPositiveInteger(inputLength)) throw new TurbineError("INPUT_INVALID", `${where}: input_length must be a positive integer`, { param: "input_length" });
    if (!isPositiveInteger(outputLength)) throw new TurbineError("INPUT_INVALID", `${where}: output_length must be a positive integer`, { param: "output_length" });
    if (!Array.isArray(hashIds) || !hashIds.every((h) => Number.isInteger(h) && (h as number) >= 0)) {
      throw new TurbineError("INPUT_INVALID", `${where}: hash_ids must be an array of non-negative integers`, { param: "hash_ids" });
    }
    const need = Math.ceil(inputLength / blockTokens);
    if (hashIds.length < need) {
      throw new TurbineError("INPUT_INVALID", `${where}: ${hashIds.length} hash_ids cover ${hashIds.length * blockTokens} tokens; input_length is ${inputLength} (${blockTokens} tokens per id)`, { param: "hash_ids" });
    }
    if (out.length === 0) first = timestamp;
    if (timestamp < first) throw new TurbineError("INPUT_INVALID", `${where}: timestamp ${timestamp} is before the window's first (${first}); traces must be sorted`, { param: "timestamp" });
    out.push(new TraceRequest(out.length, (timestamp - first) * timeScale, inputLength, outputLength, hashIds as number[], blocks));
  }
  return out;
}

function isPositiveInteger(x: unknown): x is number {
  return typeof x === "number" && Number.isInteger(x) && x > 0;
}
