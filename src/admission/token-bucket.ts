// Token-bucket arithmetic, pure: the caller passes the time. A bucket holds up to `capacity`
// and refills at `refillPerSecond`; a debit may take it below zero (output tokens reconciled
// after the fact), and nothing is admitted until it refills above what a request needs.

export interface BucketLimit {
  readonly capacity: number;
  readonly refillPerSecond: number;
}

export interface BucketState {
  level: number;
  updatedAtMs: number;
}

/** A per-minute limit as a bucket: a minute's worth of burst, refilled evenly. */
export function perMinute(limit: number): BucketLimit {
  return { capacity: limit, refillPerSecond: limit / 60 };
}

/** Brings `state` up to `nowMs` (never back in time). */
export function refill(state: BucketState, limit: BucketLimit, nowMs: number): void {
  if (nowMs > state.updatedAtMs) {
    state.level = Math.min(limit.capacity, state.level + ((nowMs - state.updatedAtMs) / 1000) * limit.refillPerSecond);
    state.updatedAtMs = nowMs;
  }
}

export function fullBucket(limit: BucketLimit, nowMs: number): BucketState {
  return { level: limit.capacity, updatedAtMs: nowMs };
}

/** Milliseconds until a bucket at `level` holds `amount` (0 when it does; Infinity when it never can). */
export function msUntil(level: number, amount: number, limit: BucketLimit): number {
  if (level >= amount) return 0;
  if (amount > limit.capacity || limit.refillPerSecond <= 0) return Infinity;
  return Math.ceil(((amount - level) / limit.refillPerSecond) * 1000);
}

/** Milliseconds until the bucket is full again (OpenAI's x-ratelimit-reset-*). */
export function msUntilFull(level: number, limit: BucketLimit): number {
  return msUntil(level, limit.capacity, limit);
}
