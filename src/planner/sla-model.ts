// The queueing arithmetic behind the SLA planner: given a worker profile and a load (requests/s,
// prompt and output lengths) spread over N workers, the TTFT and ITL to expect. Pure functions,
// so a hand-computed case can check them.
//
// Prefill is an M/D/1 queue per worker: service time s = prefill(prompt), utilization
// ρ = λ·s / N, mean TTFT = s + s·ρ / (2(1 − ρ)).
// Decode is a fixed point of Little's law: per worker, b = (λ/N)·osl·ITL concurrent sequences,
// each step takes decode(b, context) with context = prompt + osl/2. An aggregated worker also
// prefills; the time it spends prefilling (share φ = (λ/N)·s) stretches every step:
// ITL = decode(b, context) / (1 − φ).
import type { ProfileModel } from "./worker-profile.ts";

export interface LoadShape {
  /** Requests per second for the whole pool. */
  requestRate: number;
  inputTokens: number;
  outputTokens: number;
  /** Share of prompt tokens a prefix cache saves from prefill (default 0). */
  prefixHitRate?: number;
}

/** Prompt tokens that must be computed. */
const uncached = (load: LoadShape): number => Math.max(1, load.inputTokens * (1 - (load.prefixHitRate ?? 0)));

export interface PoolEstimate {
  ttftMs: number;
  itlMs: number;
  /** Concurrent sequences per worker. */
  batchSize: number;
  /** KV use per worker, 0..1 (can exceed 1: infeasible). */
  kvUsage: number;
  /** False when the queue has no steady state (utilization ≥ 1, the batch diverges). */
  stable: boolean;
}

const FIXED_POINT_ITERATIONS = 50;

/** A prefill worker pool of `n` workers. */
export function estimatePrefill(model: ProfileModel, load: LoadShape, n: number): PoolEstimate {
  const s = model.prefillMs(uncached(load));
  const rho = (load.requestRate / n) * (s / 1000);
  const stable = rho < 1;
  const ttftMs = stable ? s + (s * rho) / (2 * (1 - rho)) : Number.POSITIVE_INFINITY;
  return { ttftMs, itlMs: 0, batchSize: 0, kvUsage: 0, stable };
}

/**
 * Decode (prefillShare 0) or aggregated (prefillShare φ) workers: solves the batch size for
 * Little's law and returns the ITL it gives.
 */
export function estimateDecode(model: ProfileModel, load: LoadShape, n: number, prefillShare = 0, ttftMs = 0): PoolEstimate {
  const perWorker = load.requestRate / n;
  const context = load.inputTokens + load.outputTokens / 2;
  const maxSeqs = model.profile.maxNumSeqs;
  if (prefillShare >= 1) return { ttftMs, itlMs: Number.POSITIVE_INFINITY, batchSize: maxSeqs, kvUsage: 1, stable: false };
  let b = Math.max(1, perWorker * (ttftMs / 1000));
  let itl = model.decodeMs(b, context) / (1 - prefillShare);
  for (let k = 0; k < FIXED_POINT_ITERATIONS; k++) {
    const next = perWorker * ((ttftMs + load.outputTokens * itl) / 1000);
    if (next > maxSeqs * 4) {
      b = next;
      break;
    }
    b = next;
    itl = model.decodeMs(Math.max(1, b), context) / (1 - prefillShare);
  }
  const kvUsage = (b * context) / model.kvTokens;
  const stable = b <= maxSeqs && Number.isFinite(itl);
  return { ttftMs, itlMs: stable ? itl : Number.POSITIVE_INFINITY, batchSize: b, kvUsage, stable };
}

/** Aggregated workers: M/D/1 prefill (stretched by the decode steps it shares), then decode. */
export function estimateAggregated(model: ProfileModel, load: LoadShape, n: number): PoolEstimate {
  const s = model.prefillMs(uncached(load));
  const phi = (load.requestRate / n) * (s / 1000);
  if (phi >= 1) return { ttftMs: Number.POSITIVE_INFINITY, itlMs: Number.POSITIVE_INFINITY, batchSize: 0, kvUsage: 1, stable: false };
  const context = load.inputTokens + load.outputTokens / 2;
  // Each prefill chunk also pays a decode step of the running batch; one pass is enough.
  const chunks = Math.max(1, Math.ceil(uncached(load) / model.profile.maxNumBatchedTokens));
  const first = estimateDecode(model, load, n, phi, s);
  const stepMs = model.decodeMs(Math.max(1, first.batchSize), context);
  const service = s + chunks * stepMs;
  const rho = Math.min(0.999999, (load.requestRate / n) * (service / 1000));
  const ttftMs = service + (service * rho) / (2 * (1 - rho));
  const est = estimateDecode(model, load, n, phi, ttftMs);
  return { ...est, ttftMs, stable: est.stable && rho < 1 };
}
