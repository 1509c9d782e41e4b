// The scheduler: owns the waiting and running queues, the per-step token budget and
// preemption. It touches KV memory only through the KV cache manager.
//
// Step contract (vLLM v1's):
//   1. schedule() builds the step's plan. Running requests first, in admission order (mostly
//      decodes, plus prefills still in progress), each for all its uncomputed tokens within
//      the token budget (chunked prefill). When a request cannot get blocks, the most
//      recently admitted running request is preempted (blocks freed, back to the front of
//      waiting, recomputed later) and allocation is retried; a request may preempt itself.
//      Then, if nothing was preempted, waiting requests are admitted in order while the
//      budget, maxNumSeqs and free blocks allow; each reuses its longest cached prefix.
//   2. The caller runs the plan (the core times it and samples a token for every request
//      whose tokens are all computed) and hands the tokens to updateFromOutput(), which
//      advances the requests, appends tokens, applies stop conditions and frees finished ones.
// The plan object is reused: it is valid until the next schedule().
import type { EngineOutputError, FinishReason, RequestId, Usage } from "../../protocols/index.ts";
import type { KvCacheManager } from "./kv-cache-manager.ts";
import { RequestQueue } from "./request-queue.ts";
import { RequestStatus } from "./mocker-request.ts";
import type { MockerRequest } from "./mocker-request.ts";

export interface SchedulerConfig {
  /** Most sequences running at once. */
  maxNumSeqs: number;
  /** Most tokens computed in one step. */
  maxNumBatchedTokens: number;
}

/** One step's plan. Entries [0, numScheduled) are valid. */
export interface StepPlan {
  numScheduled: number;
  requests: MockerRequest[];
  /** Tokens each request computes this step. */
  numNewTokens: number[];
  /** Tokens computed by prefilling (or recomputing) requests. */
  numPrefillTokens: number;
  /** Requests computing exactly their latest token. */
  numDecodeSeqs: number;
  /** Requests preempted while building this plan. */
  numPreempted: number;
}

/** What a step produced for one request; takes effect when the step ends. */
export interface StepOutput {
  requestId: RequestId;
  tokenIds: number[];
  finishReason?: FinishReason;
  usage?: Usage;
  /** With finishReason "error": a Turbine error code and a message. */
  error?: EngineOutputError;
}

/** Marks a planned request that samples no token this step (prefill chunk in progress). */
export const NO_TOKEN = -1;

export class Scheduler {
  readonly config: SchedulerConfig;
  /** Running requests in admission order (the last is preempted first). */
  readonly running: MockerRequest[] = [];
  numPreemptions = 0;

  private readonly kv: KvCacheManager;
  private readonly waiting = new RequestQueue<MockerRequest>();
  private numWaiting = 0;
  private numWaitingTokens = 0;
  private readonly plan: StepPlan = {
    numScheduled: 0,
    requests: [],
    numNewTokens: [],
    numPrefillTokens: 0,
    numDecodeSeqs: 0,
    numPreempted: 0,
  };

  constructor(config: SchedulerConfig, kv: KvCacheManager) {
    if (!(config.maxNumSeqs >= 1) || !(config.maxNumBatchedTokens >= 1)) {
      throw new RangeError("maxNumSeqs and maxNumBatchedTokens must be at least 1");
    }
    this.config = config;
    this.kv = kv;
  }

  get numWaitingSeqs(): number {
    return this.numWaiting;
  }

  get numRunningSeqs(): number {
    return this.running.length;
  }

  /** Prompt (and recompute) tokens of waiting and running requests not computed yet. */
  get numPendingPrefillTokens(): number {
    let n = this.numWaitingTokens;
    for (const r of this.running) if (r.numComputedTokens < r.numPromptTokens) n += r.numPromptTokens - r.numComputedTokens;
    return n;
  }

  hasWork(): boolean {
    return this.numWaiting > 0 || this.running.length > 0;
  }

  /** Appends a new request to the waiting queue. */
  add(req: MockerRequest): void {
    req.status = RequestStatus.Waiting;
    this.waiting.pushBack(req);
    this.numWaiting++;
    this.numWaitingTokens += req.tokens.length;
  }

  /** Removes a request wherever it is and frees its blocks at once. */
  cancel(req: MockerRequest): void {
    if (req.status === RequestStatus.Running) {
      const i = this.running.indexOf(req);
      if (i >= 0) this.running.splice(i, 1);
      this.kv.free(req.kv);
    } else if (req.status === RequestStatus.Waiting) {
      // Left in the queue; schedule() drops it when it reaches the front.
      this.numWaiting--;
      this.numWaitingTokens -= req.tokens.length;
    }
    req.status = RequestStatus.Finished;
  }

  /** Requests waiting, front first (cancelled ones left out). */
  waitingRequests(): MockerRequest[] {
    return this.waiting.toArray().filter((r) => r.status === RequestStatus.Waiting);
  }

  schedule(): StepPlan {
    const plan = this.plan;
    plan.numScheduled = 0;
    plan.numPrefillTokens = 0;
    plan.numDecodeSeqs = 0;
    plan.numPreempted = 0;
    let budget = this.config.maxNumBatchedTokens;
    const running = this.running;

    // 1. Running requests, in admission order.
    for (let i = 0; i < running.length && budget > 0; i++) {
      const req = running[i]!;
      const numNew = Math.min(req.tokens.length - req.numComputedTokens, budget);
      let preemptedSelf = false;
      while (!this.kv.allocateSlots(req.kv, req.numComputedTokens, numNew)) {
        const victim = running.pop()!;
        this.preempt(victim);
        plan.numPreempted++;
        if (victim === req) {
          preemptedSelf = true;
          break;
        }
      }
      if (preemptedSelf) break;
      this.addToPlan(req, numNew);
      budget -= numNew;
    }

    // 2. Waiting requests, unless this step had to preempt (memory is short: let it drain).
    if (plan.numPreempted === 0) {
      while (budget > 0 && running.length < this.config.maxNumSeqs) {
        const req = this.waiting.peekFront();
        if (req === undefined) break;
        if (req.status !== RequestStatus.Waiting) {
          this.waiting.popFront();
          continue;
        }
        const numCachedTokens = this.kv.findCachedPrefix(req.kv) * this.kv.blockSize;
        const numNew = Math.min(req.tokens.length - numCachedTokens, budget);
        if (!this.kv.allocateSlots(req.kv, numCachedTokens, numNew)) break;
        this.waiting.popFront();
        this.numWaiting--;
        this.numWaitingTokens -= req.tokens.length;
        this.kv.recordPrefixQuery(req.tokens.length, numCachedTokens);
        if (req.numCachedTokens < 0) req.numCachedTokens = numCachedTokens;
        req.numComputedTokens = numCachedTokens;
        req.status = RequestStatus.Running;
        if (req.onScheduled) {
          req.onScheduled();
          req.onScheduled = undefined;
        }
        running.push(req);
        this.addToPlan(req, numNew);
        budget -= numNew;
      }
    }
    return plan;
  }

  /**
   * Applies a step: `sampled[j]` is the token sampled for plan entry j, or NO_TOKEN.
   * Returns one output per sampled token, the last of a request with its finish reason and usage.
   */
  updateFromOutput(plan: StepPlan, sampled: ArrayLike<number>): StepOutput[] {
    const outputs: StepOutput[] = [];
    let numFinished = 0;
    for (let j = 0; j < plan.numScheduled; j++) {
      const req = plan.requests[j]!;
      if (req.status !== RequestStatus.Running) continue;
      req.numComputedTokens += plan.numNewTokens[j]!;
      const token = sampled[j]!;
      if (token === NO_TOKEN) continue;
      req.tokens.push(token);
      req.numOutputTokens++;
      let finishReason: FinishReason | null = null;
      if (!req.ignoreEos && req.stopTokenIds.length > 0 && req.stopTokenIds.includes(token)) finishReason = "stop";
      else if (req.numOutputTokens >= req.maxNewTokens) finishReason = "length";
      if (finishReason === null) {
        outputs.push({ requestId: req.requestId, tokenIds: [token] });
      } else {
        req.status = RequestStatus.Finished;
        this.kv.free(req.kv);
        numFinished++;
        outputs.push({ requestId: req.requestId, tokenIds: [token], finishReason, usage: req.usage() });
      }
    }
    if (numFinished > 0) this.dropFinished();
    // Plan entries would keep finished requests alive until overwritten.
    plan.requests.length = 0;
    plan.numNewTokens.length = 0;
    return outputs;
  }

  private addToPlan(req: MockerRequest, numNew: number): void {
    const plan = this.plan;
    plan.requests[plan.numScheduled] = req;
    plan.numNewTokens[plan.numScheduled] = numNew;
    plan.numScheduled++;
    if (numNew === 1 && req.numComputedTokens >= req.numPromptTokens) plan.numDecodeSeqs++;
    else plan.numPrefillTokens += numNew;
  }

  private preempt(req: MockerRequest): void {
    this.kv.free(req.kv);
    req.numComputedTokens = 0;
    req.numPreemptions++;
    req.status = RequestStatus.Waiting;
    this.waiting.pushFront(req);
    this.numWaiting++;
    this.numWaitingTokens += req.tokens.length;
    this.numPreemptions++;
  }

  private dropFinished(): void {
    const running = this.running;
    let w = 0;
    for (let r = 0; r < running.length; r++) {
      const req = running[r]!;
      if (req.status === RequestStatus.Running) running[w++] = req;
    }
    running.length = w;
  }
}
