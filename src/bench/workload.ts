// Workloads: the requests a benchmark sends, as token ids, generated deterministically from a
// seed. `turbine bench` sends them over HTTP; `turbine replay` feeds them to simulated engines.
// Token ids are drawn uniformly from a vocab range, so prompts that must share a prefix share
// it token for token and prompts that must not share one diverge at their first token (with
// overwhelming probability).
import { TurbineError } from "../protocols/index.ts";
import { Prng } from "./prng.ts";

/** One request of a workload. */
export interface WorkloadRequest {
  /** Position in the workload, 0-based. */
  index: number;
  /** Trace mode: arrival time in ms from the first request (already scaled). */
  arrivalMs?: number;
  /** Prompt token ids. */
  tokenIds: number[];
  /** Tokens to generate (exactly: senders ask the server to ignore EOS). */
  outputTokens: number;
  /** Multi-turn: the chat session this turn belongs to. */
  sessionId?: number;
  /** Multi-turn: 0-based turn number within the session. */
  turn?: number;
}

/** The inclusive token id range prompts are drawn from. */
export interface Vocab {
  min: number;
  max: number;
}

/** Bytes 1..255: valid for Turbine's byte-level model (0 is left out); real models accept any. */
export const DEFAULT_VOCAB: Vocab = { min: 1, max: 255 };

/**
 * A length distribution. Samples are rounded to integers and clamped to [min, max] (min
 * defaults to 1: a prompt or an output has at least one token). `lognormal`'s mean and sd are
 * those of the lengths themselves, not of their logarithm.
 */
export type Distribution =
  | { kind: "fixed"; value: number }
  | { kind: "uniform"; min: number; max: number }
  | { kind: "normal"; mean: number; sd: number; min?: number; max?: number }
  | { kind: "lognormal"; mean: number; sd: number; min?: number; max?: number };

/** Draws one integer length. */
export function sampleDistribution(d: Distribution, rng: Prng): number {
  switch (d.kind) {
    case "fixed":
      return Math.max(1, Math.round(d.value));
    case "uniform":
      return Math.max(1, rng.int(Math.round(d.min), Math.round(d.max)));
    case "normal":
      return clampLength(d.mean + d.sd * rng.normal(), d.min, d.max);
    case "lognormal": {
      // Moments of the lengths → parameters of the underlying normal.
      const s2 = Math.log(1 + (d.sd * d.sd) / (d.mean * d.mean));
      const mu = Math.log(d.mean) - s2 / 2;
      return clampLength(Math.exp(mu + Math.sqrt(s2) * rng.normal()), d.min, d.max);
    }
  }
}

function clampLength(x: number, min = 1, max = Number.POSITIVE_INFINITY): number {
  return Math.min(Math.max(Math.round(x), Math.max(1, min)), max);
}

/**
 * Parses a distribution from the command line: `512` (fixed), `uniform:100:200`,
 * `normal:MEAN:SD[:MIN[:MAX]]`, `lognormal:MEAN:SD[:MIN[:MAX]]`.
 */
export function parseDistribution(spec: string): Distribution {
  const parts = spec.trim().split(":");
  const nums = parts.slice(parts.length === 1 ? 0 : 1).map((p) => Number(p));
  const bad = (): never => {
    throw new TurbineError(
      "INPUT_INVALID",
      `bad distribution "${spec}": expected N, uniform:MIN:MAX, normal:MEAN:SD[:MIN[:MAX]] or lognormal:MEAN:SD[:MIN[:MAX]]`,
    );
  };
  if (nums.some((n) => !Number.isFinite(n) || n < 0)) bad();
  const kind = parts.length === 1 ? "fixed" : parts[0];
  if (kind === "fixed" && nums.length === 1) return { kind: "fixed", value: nums[0]! };
  if (kind === "uniform" && nums.length === 2 && nums[0]! <= nums[1]!) return { kind: "uniform", min: nums[0]!, max: nums[1]! };
  if ((kind === "normal" || kind === "lognormal") && nums.length >= 2 && nums.length <= 4) {
    if (kind === "lognormal" && !(nums[0]! > 0)) bad();
    return { kind, mean: nums[0]!, sd: nums[1]!, min: nums[2], max: nums[3] };
  }
  return bad();
}

/** Appends `n` token ids drawn from the vocab. */
export function pushRandomTokens(out: number[], n: number, rng: Prng, vocab: Vocab = DEFAULT_VOCAB): number[] {
  const span = vocab.max - vocab.min + 1;
  for (let i = 0; i < n; i++) out.push(vocab.min + Math.floor(rng.next() * span));
  return out;
}

function checkVocab(vocab: Vocab): Vocab {
  if (!(Number.isInteger(vocab.min) && Number.isInteger(vocab.max) && vocab.min >= 0 && vocab.max >= vocab.min)) {
    throw new RangeError(`bad vocab ${vocab.min}..${vocab.max}`);
  }
  return vocab;
}

export interface SyntheticWorkloadOptions {
  numRequests: number;
  inputTokens: Distribution;
  outputTokens: Distribution;
  seed?: number;
  vocab?: Vocab;
}

/** Independent random prompts: no shared prefixes beyond chance. */
export function syntheticWorkload(options: SyntheticWorkloadOptions): WorkloadRequest[] {
  const rng = new Prng(options.seed ?? 0);
  const vocab = checkVocab(options.vocab ?? DEFAULT_VOCAB);
  const out: WorkloadRequest[] = [];
  for (let i = 0; i < options.numRequests; i++) {
    const n = sampleDistribution(options.inputTokens, rng);
    const outputTokens = sampleDistribution(options.outputTokens, rng);
    out.push({ index: i, tokenIds: pushRandomTokens([], n, rng, vocab), outputTokens });
  }
  return out;
}

export interface SharedPrefixWorkloadOptions {
  numGroups: number;
  promptsPerGroup: number;
  /** Length of each group's shared prefix. */
  prefixTokens: Distribution;
  /** Length of each prompt's unique suffix. */
  suffixTokens: Distribution;
  outputTokens: Distribution;
  seed?: number;
  vocab?: Vocab;
}

/**
 * Groups of prompts sharing a prefix (a system prompt, a document). Requests are interleaved
 * across groups (group 0 prompt 0, group 1 prompt 0, ...), so a router has to keep groups apart
 * to earn their reuse.
 */
export function sharedPrefixWorkload(options: SharedPrefixWorkloadOptions): WorkloadRequest[] {
  const rng = new Prng(options.seed ?? 0);
  const vocab = checkVocab(options.vocab ?? DEFAULT_VOCAB);
  const prefixes: number[][] = [];
  for (let g = 0; g < options.numGroups; g++) prefixes.push(pushRandomTokens([], sampleDistribution(options.prefixTokens, rng), rng, vocab));
  const out: WorkloadRequest[] = [];
  for (let p = 0; p < options.promptsPerGroup; p++) {
    for (let g = 0; g < options.numGroups; g++) {
      const tokenIds = prefixes[g]!.slice();
      pushRandomTokens(tokenIds, sampleDistribution(options.suffixTokens, rng), rng, vocab);
      out.push({ index: out.length, tokenIds, outputTokens: sampleDistribution(options.outputTokens, rng) });
    }
  }
  return out;
}

export interface MultiTurnWorkloadOptions {
  numSessions: number;
  turnsPerSession: number;
  /** Length of each user message. */
  userTokens: Distribution;
  /** Length of each assistant reply: the turn's outputTokens. */
  assistantTokens: Distribution;
  seed?: number;
  vocab?: Vocab;
}

/**
 * Chat sessions in which every turn resends the whole history: the earlier user messages and,
 * in place of the assistant's earlier replies, a synthetic stand-in of the same length (random
 * tokens, fixed per session and turn). The stand-in replaces the real reply, which a load
 * generator does not wait to feed back; the prefix therefore grows turn after turn exactly as
 * in a real chat, but the cached KV of a reply is never reused (a real server caches the tokens
 * it generated, not the stand-in). Requests are ordered by turn, then session (all first turns,
 * then all second turns...); `sessionId` and `turn` let a sender keep each session in order.
 */
export function multiTurnWorkload(options: MultiTurnWorkloadOptions): WorkloadRequest[] {
  const rng = new Prng(options.seed ?? 0);
  const vocab = checkVocab(options.vocab ?? DEFAULT_VOCAB);
  const histories: number[][] = [];
  const users: number[][][] = [];
  const replies: number[][] = [];
  for (let s = 0; s < options.numSessions; s++) {
    histories.push([]);
    const u: number[][] = [];
    const r: number[] = [];
    for (let t = 0; t < options.turnsPerSession; t++) {
      u.push(pushRandomTokens([], sampleDistribution(options.userTokens, rng), rng, vocab));
      r.push(sampleDistribution(options.assistantTokens, rng));
    }
    users.push(u);
    replies.push(r);
  }
  const out: WorkloadRequest[] = [];
  for (let t = 0; t < options.turnsPerSession; t++) {
    for (let s = 0; s < options.numSessions; s++) {
      const history = histories[s]!;
      if (t > 0) pushRandomTokens(history, replies[s]![t - 1]!, rng, vocab);
      for (const tok of users[s]![t]!) history.push(tok);
      out.push({ index: out.length, tokenIds: history.slice(), outputTokens: replies[s]![t]!, sessionId: s, turn: t });
    }
  }
  return out;
}
