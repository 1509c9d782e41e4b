// Sends a workload to a server in one of three modes and collects one record per request sent:
// - concurrency: a closed loop of N requests in flight, each completion sends the next;
// - rate: an open loop with Poisson arrivals (exponential gaps from a seeded PRNG, first at 0);
// - trace: an open loop at the workload's own arrival times (arrivalMs, rebased to 0).
// In every mode a multi-turn session stays in order: a turn is not sent before the previous
// turn of its session has finished (in the open loops it goes out at its arrival time or when
// its predecessor finishes, whichever is later). The run is bounded by the request count and by
// durationMs: at the deadline nothing new is sent and requests in flight are cancelled
// (recorded as failed with error "cancelled: --duration reached").
import type { BenchHttpClient, BenchRecord } from "./http-client.ts";
import { Prng } from "./prng.ts";
import type { WorkloadRequest } from "./workload.ts";

export type SendMode =
  | { kind: "concurrency"; concurrency: number }
  | { kind: "rate"; requestsPerS: number; seed: number }
  | { kind: "trace" };

/** Counts passed to the progress callback after each completion. */
export interface LoadProgress {
  done: number;
  failed: number;
  inFlight: number;
  total: number;
}

export interface LoadGeneratorOptions {
  client: Pick<BenchHttpClient, "send">;
  requests: readonly WorkloadRequest[];
  mode: SendMode;
  /** Most wall time of the run, ms. Default: no limit. */
  durationMs?: number;
  /** Aborting stops the run as the deadline does (records say "cancelled: <reason>"). */
  signal?: AbortSignal;
  onRecord?: (record: BenchRecord, progress: LoadProgress) => void;
}

/** A sent request's record, with the time it was meant to go out (open loops). */
export interface ScheduledRecord extends BenchRecord {
  /** Open loops: the planned send time, ms from the run's start; startMs − scheduledMs is the sender's lag. */
  scheduledMs?: number;
}

export interface LoadRunResult {
  /** One per request sent, in workload order. */
  records: ScheduledRecord[];
  /** Requests never sent (the deadline or the signal came first). */
  notSent: number;
  /** Wall time of the run, ms. */
  wallMs: number;
  /** Wall-clock time the run started (ISO 8601). */
  startedAt: string;
  stoppedBy: "completed" | "duration" | "signal";
}

/** Poisson arrival times, ms from the start: the first at 0, then exponential gaps of mean 1/rate. */
export function poissonArrivals(count: number, requestsPerS: number, seed: number): Float64Array {
  if (!(requestsPerS > 0)) throw new RangeError(`rate must be positive, got ${requestsPerS}`);
  const rng = new Prng(seed);
  const out = new Float64Array(count);
  const meanGapMs = 1000 / requestsPerS;
  for (let i = 1; i < count; i++) out[i] = out[i - 1]! + rng.exponential(meanGapMs);
  return out;
}

/** Runs the workload; resolves when every request has finished or the run was stopped. Never rejects on request failures. */
export function runLoad(options: LoadGeneratorOptions): Promise<LoadRunResult> {
  const { client, requests, mode } = options;
  const n = requests.length;
  const epochMs = performance.now();
  const startedAt = new Date().toISOString();
  const records: (ScheduledRecord | undefined)[] = new Array(n);
  const abort = new AbortController();

  // Session order: pred[i] is the position of the previous turn of i's session, or -1.
  const pred = new Int32Array(n).fill(-1);
  const succ = new Int32Array(n).fill(-1);
  const bySession = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const s = requests[i]!.sessionId;
    if (s === undefined) continue;
    let list = bySession.get(s);
    if (!list) bySession.set(s, (list = []));
    list.push(i);
  }
  for (const list of bySession.values()) {
    list.sort((a, b) => (requests[a]!.turn ?? 0) - (requests[b]!.turn ?? 0) || a - b);
    for (let k = 1; k < list.length; k++) {
      pred[list[k]!] = list[k - 1]!;
      succ[list[k - 1]!] = list[k]!;
    }
  }

  // Planned send times for the open loops.
  let schedule: Float64Array | undefined;
  if (mode.kind === "rate") schedule = poissonArrivals(n, mode.requestsPerS, mode.seed);
  else if (mode.kind === "trace") {
    schedule = new Float64Array(n);
    let base = Number.POSITIVE_INFINITY;
    for (let i = 0; i < n; i++) base = Math.min(base, requests[i]!.arrivalMs ?? 0);
    for (let i = 0; i < n; i++) schedule[i] = (requests[i]!.arrivalMs ?? 0) - (Number.isFinite(base) ? base : 0);
  }

  const finished = new Uint8Array(n); // 1 once a request's record is in
  const due = new Uint8Array(n); // open loops: 1 once its arrival time has passed
  let sent = 0;
  let done = 0;
  let failed = 0;
  let inFlight = 0;
  let stoppedBy: LoadRunResult["stoppedBy"] = "completed";
  let stopped = false;

  return new Promise<LoadRunResult>((resolve) => {
    let deadline: NodeJS.Timeout | undefined;
    let tick: NodeJS.Timeout | undefined;
    const end = (): void => {
      clearTimeout(deadline);
      clearTimeout(tick);
      options.signal?.removeEventListener("abort", onSignal);
      const out: ScheduledRecord[] = [];
      for (const r of records) if (r) out.push(r);
      resolve({ records: out, notSent: n - sent, wallMs: performance.now() - epochMs, startedAt, stoppedBy });
    };
    const maybeEnd = (): void => {
      if (inFlight === 0 && (stopped || done === n)) end();
    };
    const stop = (why: "duration" | "signal", reason: string): void => {
      if (stopped) return;
      stopped = true;
      stoppedBy = why;
      abort.abort(reason);
      maybeEnd();
    };
    const onSignal = (): void => stop("signal", "interrupted");

    const send = (i: number): void => {
      sent++;
      inFlight++;
      void client.send(requests[i]!, { epochMs, signal: abort.signal }).then((rec: ScheduledRecord) => {
        if (schedule) rec.scheduledMs = schedule[i]!;
        records[i] = rec;
        finished[i] = 1;
        inFlight--;
        done++;
        if (!rec.ok) failed++;
        options.onRecord?.(rec, { done, failed, inFlight, total: n });
        onFinished(i);
        maybeEnd();
      });
    };

    // Closed loop: a FIFO of positions whose session predecessor (if any) has finished.
    const ready: number[] = [];
    let head = 0;
    const fill = (): void => {
      if (mode.kind !== "concurrency") return;
      while (!stopped && inFlight < mode.concurrency && head < ready.length) send(ready[head++]!);
    };

    // Open loops: positions sorted by planned time; a due request whose predecessor is still
    // running goes out when that predecessor finishes.
    const order: number[] = [];
    let next = 0;
    const pump = (): void => {
      if (!schedule || stopped) return;
      const now = performance.now() - epochMs;
      while (next < order.length && schedule[order[next]!]! <= now) {
        const i = order[next++]!;
        due[i] = 1;
        if (pred[i]! < 0 || finished[pred[i]!]) send(i);
      }
      if (next < order.length) tick = setTimeout(pump, Math.max(0, schedule[order[next]!]! - now));
    };

    const onFinished = (i: number): void => {
      if (stopped) return;
      const s = succ[i]!;
      if (mode.kind === "concurrency") {
        if (s >= 0) ready.push(s);
        fill();
      } else if (s >= 0 && due[s]) send(s);
    };

    if (options.durationMs !== undefined) deadline = setTimeout(() => stop("duration", "--duration reached"), options.durationMs);
    if (options.signal?.aborted) stop("signal", "interrupted");
    options.signal?.addEventListener("abort", onSignal, { once: true });
    if (n === 0 || stopped) {
      maybeEnd();
      return;
    }
    if (mode.kind === "concurrency") {
      if (!(mode.concurrency >= 1)) throw new RangeError(`concurrency must be at least 1, got ${mode.concurrency}`);
      for (let i = 0; i < n; i++) if (pred[i]! < 0) ready.push(i);
      fill();
    } else {
      for (let i = 0; i < n; i++) order.push(i);
      const sched = schedule!;
      order.sort((a, b) => sched[a]! - sched[b]! || a - b);
      pump();
    }
  });
}
