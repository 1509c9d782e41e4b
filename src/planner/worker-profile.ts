// What one worker can do, as `turbine profile` measured it: prefill time against prompt length
// and decode step time against batch size and context length, plus the capacity limits the
// engine ran with. The SLA planner reads nothing else about the hardware.
import { TurbineError } from "../protocols/index.ts";

export const WORKER_PROFILE_FORMAT = "turbine-worker-profile/1";

export interface WorkerProfile {
  format: typeof WORKER_PROFILE_FORMAT;
  engine: string;
  model: string;
  /** ISO date of the measurement, and where it ran (free text). */
  measuredAt: string;
  machine: string;
  /** "timing-model" (the mocker's formula, sampled) or "measured". */
  source: "timing-model" | "measured";
  blockSize: number;
  numKvBlocks: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  /** Time to prefill one prompt of `tokens[i]` tokens (no cache hit), ms. */
  prefill: { tokens: number[]; ms: number[] };
  /** Time of one decode step of `batchSizes[i]` sequences of `contextTokens[j]` tokens each: `ms[i][j]`. */
  decode: { batchSizes: number[]; contextTokens: number[]; ms: number[][] };
}

/** Checks a parsed profile JSON; throws REQUEST_INVALID naming the field at fault. */
export function parseWorkerProfile(json: unknown): WorkerProfile {
  const bad = (field: string, why: string): never => {
    throw new TurbineError("REQUEST_INVALID", `worker profile: ${field} ${why}`, { param: field });
  };
  if (typeof json !== "object" || json === null) return bad("profile", "is not an object");
  const p = json as Partial<WorkerProfile>;
  if (p.format !== WORKER_PROFILE_FORMAT) bad("format", `must be "${WORKER_PROFILE_FORMAT}"`);
  for (const k of ["blockSize", "numKvBlocks", "maxNumSeqs", "maxNumBatchedTokens"] as const) {
    if (!(Number.isInteger(p[k]) && (p[k] as number) > 0)) bad(k, "must be a positive integer");
  }
  const increasing = (field: string, xs: unknown): number[] => {
    if (!Array.isArray(xs) || xs.length === 0) return bad(field, "must be a non-empty array");
    for (let i = 0; i < xs.length; i++) {
      if (typeof xs[i] !== "number" || !Number.isFinite(xs[i]) || (i > 0 && xs[i] <= xs[i - 1])) bad(field, "must be finite, strictly increasing numbers");
    }
    return xs as number[];
  };
  const tokens = increasing("prefill.tokens", p.prefill?.tokens);
  if (!Array.isArray(p.prefill?.ms) || p.prefill.ms.length !== tokens.length) bad("prefill.ms", "must have one value per prefill.tokens");
  const batch = increasing("decode.batchSizes", p.decode?.batchSizes);
  const ctx = increasing("decode.contextTokens", p.decode?.contextTokens);
  const ms = p.decode?.ms;
  if (!Array.isArray(ms) || ms.length !== batch.length || ms.some((row) => !Array.isArray(row) || row.length !== ctx.length)) {
    bad("decode.ms", "must be a batchSizes × contextTokens table");
  }
  return p as WorkerProfile;
}

/** Piecewise-linear in one variable; the end segments extend outwards; never below 0. */
function interp(xs: readonly number[], ys: readonly number[], x: number): number {
  const n = xs.length;
  if (n === 1) return Math.max(0, ys[0]!);
  let i = 0;
  while (i < n - 2 && x > xs[i + 1]!) i++;
  const x0 = xs[i]!;
  const x1 = xs[i + 1]!;
  return Math.max(0, ys[i]! + ((ys[i + 1]! - ys[i]!) * (x - x0)) / (x1 - x0));
}

/** Reads a profile's tables by interpolation. */
export class ProfileModel {
  constructor(readonly profile: WorkerProfile) {}

  /** ms to prefill one prompt of `tokens` tokens. */
  prefillMs(tokens: number): number {
    return interp(this.profile.prefill.tokens, this.profile.prefill.ms, tokens);
  }

  /** ms of one decode step of `batchSize` sequences with `contextTokens` tokens each. */
  decodeMs(batchSize: number, contextTokens: number): number {
    const d = this.profile.decode;
    const column = d.ms.map((row) => interp(d.contextTokens, row, contextTokens));
    return interp(d.batchSizes, column, batchSize);
  }

  /** KV tokens of one worker. */
  get kvTokens(): number {
    return this.profile.numKvBlocks * this.profile.blockSize;
  }
}
