// Autoscaling inside `turbine replay`: at every interval boundary of simulated time a callback
// (a planner, in bench/planner.ts) sees what the fleet did and says how many workers it wants;
// this file starts them (after a start-up delay) and drains the surplus (the router stops
// sending to a draining worker; its engine finishes what it holds, then it leaves). It keeps
// the worker-time bill: every worker that is starting, serving or draining costs.
//
// The replay preallocates `maxWorkers` engine slots; an idle slot is outside the router. A slot
// started again keeps its engine's prefix cache (a real new worker starts cold): a small bias
// in favour of scaling, noted in docs/benchmarks.md.
import type { EngineLoad, MockerCore } from "../engines/index.ts";
import type { WorkerId } from "../protocols/index.ts";
import type { Router, WorkerCapacity } from "../router/index.ts";

/** What the callback sees at a boundary. Flows cover the interval that just ended. */
export interface ReplayIntervalView {
  now: number;
  intervalMs: number;
  numServing: number;
  numStarting: number;
  numDraining: number;
  /** Requests that arrived, and their prompt tokens. */
  numArrivals: number;
  inputTokens: number;
  /** Requests that finished, their output tokens, prompt tokens and cached prompt tokens, TTFT and mean ITL sums. */
  numCompleted: number;
  outputTokens: number;
  completedInputTokens: number;
  cachedTokens: number;
  ttftSumMs: number;
  ttftCount: number;
  itlSumMs: number;
  itlCount: number;
  /** The serving workers' engine loads now. */
  loads: EngineLoad[];
}

export interface ReplayScaling {
  /** Simulated ms between decisions. */
  intervalMs: number;
  /** Engine slots preallocated: the most workers the fleet can have. */
  maxWorkers: number;
  /** Simulated ms from a scale-up decision until the new worker takes requests. Default 0. */
  startupMs?: number;
  /** Returns the workers wanted (serving plus starting). */
  decide(view: ReplayIntervalView): number;
}

export interface ReplayScalingPoint {
  atMs: number;
  desired: number;
  serving: number;
  starting: number;
  draining: number;
}

export interface ReplayScalingResult {
  /** ∫ (starting + serving + draining workers) dt over the replay, ms. */
  workerMs: number;
  /** One point per decision. */
  timeline: ReplayScalingPoint[];
  numStarted: number;
  numDrained: number;
}

const IDLE = 0;
const STARTING = 1;
const SERVING = 2;
const DRAINING = 3;

/** Number of generate slots the replay must create. */
export function scalingSlots(numWorkers: number, scaling: ReplayScaling | undefined): number {
  return scaling === undefined ? numWorkers : Math.max(numWorkers, scaling.maxWorkers);
}

export class ReplayScaler {
  private readonly state: Uint8Array;
  private readonly readyAt: Float64Array;
  private lastAt = Number.NaN;
  private workerMs = 0;
  private readonly timeline: ReplayScalingPoint[] = [];
  private numStarted = 0;
  private numDrained = 0;
  /** Requests finished so far; the bill stops when the last one finishes. */
  private numFinished = 0;
  private endAt = Number.POSITIVE_INFINITY;
  private flows = { numArrivals: 0, inputTokens: 0, numCompleted: 0, outputTokens: 0, completedInputTokens: 0, cachedTokens: 0, ttftSumMs: 0, ttftCount: 0, itlSumMs: 0, itlCount: 0 };

  constructor(
    private readonly options: ReplayScaling,
    initialWorkers: number,
    private readonly engines: readonly MockerCore[],
    private readonly workerIds: readonly WorkerId[],
    private readonly router: Router,
    private readonly capacity: WorkerCapacity,
    private readonly numRequests: number,
  ) {
    const slots = scalingSlots(initialWorkers, options);
    this.state = new Uint8Array(slots);
    this.readyAt = new Float64Array(slots);
    for (let w = 0; w < initialWorkers; w++) this.state[w] = SERVING;
  }

  /** Whether generate slot `w` starts in the router (the initial fleet). */
  static startsServing(w: number, initialWorkers: number): boolean {
    return w < initialWorkers;
  }

  onArrival(promptTokens: number): void {
    this.flows.numArrivals++;
    this.flows.inputTokens += promptTokens;
  }

  onFinish(now: number, ok: boolean, ttftMs: number, outputTokens: number, durationAfterFirstMs: number, promptTokens = 0, cachedTokens = 0): void {
    if (++this.numFinished === this.numRequests) {
      this.poll(now);
      this.endAt = now;
    }
    if (!ok) return;
    const f = this.flows;
    f.numCompleted++;
    f.outputTokens += outputTokens;
    f.completedInputTokens += promptTokens;
    f.cachedTokens += cachedTokens;
    if (Number.isFinite(ttftMs)) {
      f.ttftSumMs += ttftMs;
      f.ttftCount++;
    }
    if (outputTokens > 1) {
      f.itlSumMs += durationAfterFirstMs / (outputTokens - 1);
      f.itlCount++;
    }
  }

  /** Bills worker time up to `now`, brings started workers in, lets drained ones go. */
  poll(now: number): void {
    const until = Math.min(now, this.endAt);
    if (!Number.isNaN(this.lastAt) && until > this.lastAt) this.workerMs += (until - this.lastAt) * this.countNot(IDLE);
    this.lastAt = Number.isNaN(this.lastAt) ? until : Math.max(this.lastAt, until);
    for (let w = 0; w < this.state.length; w++) {
      const s = this.state[w];
      if (s === STARTING && this.readyAt[w]! <= now) {
        this.state[w] = SERVING;
        this.router.addWorker(this.workerIds[w]!, this.capacity);
      } else if (s === DRAINING && !this.engines[w]!.hasWork()) {
        this.state[w] = IDLE;
        this.numDrained++;
      }
    }
  }

  /** An interval boundary: asks for the desired size and moves towards it. */
  tick(now: number): void {
    this.poll(now);
    const loads: EngineLoad[] = [];
    for (let w = 0; w < this.state.length; w++) if (this.state[w] === SERVING) loads.push(this.engines[w]!.load());
    const view: ReplayIntervalView = {
      now,
      intervalMs: this.options.intervalMs,
      numServing: this.countOf(SERVING),
      numStarting: this.countOf(STARTING),
      numDraining: this.countOf(DRAINING),
      ...this.flows,
      loads,
    };
    this.flows = { numArrivals: 0, inputTokens: 0, numCompleted: 0, outputTokens: 0, completedInputTokens: 0, cachedTokens: 0, ttftSumMs: 0, ttftCount: 0, itlSumMs: 0, itlCount: 0 };
    const desired = Math.max(0, Math.min(this.state.length, Math.round(this.options.decide(view))));
    let current = view.numServing + view.numStarting;
    const startup = this.options.startupMs ?? 0;
    for (let w = 0; w < this.state.length && current < desired; w++) {
      if (this.state[w] !== IDLE) continue;
      this.state[w] = STARTING;
      this.readyAt[w] = now + startup;
      this.numStarted++;
      current++;
    }
    // Surplus: cancel starts first (newest first), then drain the least busy serving workers.
    for (let w = this.state.length - 1; w >= 0 && current > desired; w--) {
      if (this.state[w] !== STARTING) continue;
      this.state[w] = IDLE;
      current--;
    }
    while (current > desired) {
      let pick = -1;
      let least = Number.POSITIVE_INFINITY;
      for (let w = 0; w < this.state.length; w++) {
        if (this.state[w] !== SERVING) continue;
        const l = this.engines[w]!.load();
        const busy = l.numRunningSeqs + l.numWaitingSeqs;
        if (busy < least) {
          least = busy;
          pick = w;
        }
      }
      if (pick < 0) break;
      this.state[pick] = DRAINING;
      this.router.removeWorker(this.workerIds[pick]!);
      current--;
    }
    this.poll(now);
    this.timeline.push({ atMs: now, desired, serving: this.countOf(SERVING), starting: this.countOf(STARTING), draining: this.countOf(DRAINING) });
  }

  result(): ReplayScalingResult {
    return { workerMs: this.workerMs, timeline: this.timeline, numStarted: this.numStarted, numDrained: this.numDrained };
  }

  private countOf(s: number): number {
    let c = 0;
    for (let w = 0; w < this.state.length; w++) if (this.state[w] === s) c++;
    return c;
  }

  private countNot(s: number): number {
    return this.state.length - this.countOf(s);
  }
}
