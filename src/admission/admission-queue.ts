// The admission queue of one model: requests that found every worker busy wait here, bounded
// in length and in waiting time. Order: priority class first (every waiting request of a
// higher class goes before any of a lower one); within a class, deficit round robin across
// tenants, weighted and counted in tokens, so that a tenant sending 100x the requests gets
// its weight's share of served tokens, not 100x. Pure: the caller passes the time and decides
// when a worker has room (it peeks, tries to route, and takes on success).
import { PRIORITY_CLASSES, priorityRank } from "./tenant.ts";
import type { PriorityClass } from "./tenant.ts";

export interface AdmissionQueueOptions {
  /** Requests waiting at most, all classes together. */
  maxLength: number;
  /** Longest wait before a request is given up on (ms). */
  maxWaitMs: number;
  /** Tokens a weight-1 tenant is credited per round (default 512). */
  quantumTokens?: number;
}

export interface QueueItem<T> {
  readonly value: T;
  readonly tenant: string;
  readonly priority: PriorityClass;
  /** The tenant's weight within its class. */
  readonly weight: number;
  /** Tokens this request stands for (prompt plus the output it may generate). */
  readonly cost: number;
}

export interface QueueTicket<T> extends QueueItem<T> {
  readonly enqueuedAtMs: number;
  readonly deadlineMs: number;
  /** True while it waits; false once taken, removed, expired or evicted. */
  readonly waiting: boolean;
}

interface Ticket<T> extends QueueTicket<T> {
  waiting: boolean;
  lane: Lane<T>;
}

interface Lane<T> {
  readonly tenant: string;
  weight: number;
  readonly items: Ticket<T>[];
  deficit: number;
  /** Its quantum was credited for the current turn. */
  inTurn: boolean;
}

/** What `push` did: queued (and maybe evicted a lower-class request to make room), or refused (full). */
export type PushResult<T> = { ticket: QueueTicket<T>; evicted: QueueTicket<T> | null } | { ticket: null; evicted: null };

class ClassQueue<T> {
  readonly lanes = new Map<string, Lane<T>>();
  /** Lanes with waiting requests, in round-robin order. */
  readonly active: Lane<T>[] = [];
  private cursor = 0;
  size = 0;

  constructor(private readonly quantum: number) {}

  add(t: Omit<Ticket<T>, "lane">): Ticket<T> {
    let lane = this.lanes.get(t.tenant);
    if (!lane) this.lanes.set(t.tenant, (lane = { tenant: t.tenant, weight: t.weight, items: [], deficit: 0, inTurn: false }));
    lane.weight = t.weight;
    const ticket = { ...t, lane } as Ticket<T>;
    if (lane.items.length === 0) this.active.push(lane);
    lane.items.push(ticket);
    this.size++;
    return ticket;
  }

  /** The request deficit round robin serves next; credits quanta as turns pass. */
  peek(): Ticket<T> | undefined {
    if (this.size === 0) return undefined;
    let misses = 0;
    for (;;) {
      if (this.cursor >= this.active.length) this.cursor = 0;
      const lane = this.active[this.cursor]!;
      if (!lane.inTurn) {
        lane.deficit += this.quantum * lane.weight;
        lane.inTurn = true;
      }
      const head = lane.items[0]!;
      if (head.cost <= lane.deficit) return head;
      lane.inTurn = false;
      this.cursor++;
      if (++misses === this.active.length) {
        // A whole round and nobody can afford their head: skip the rounds that would only add
        // quanta (large requests against a small quantum), keeping every lane's relative credit.
        let rounds = Infinity;
        for (const l of this.active) rounds = Math.min(rounds, Math.ceil((l.items[0]!.cost - l.deficit) / (this.quantum * l.weight)));
        if (rounds > 1) for (const l of this.active) l.deficit += (rounds - 1) * this.quantum * l.weight;
        misses = 0;
      }
    }
  }

  /** Removes `t`; `served` charges its cost to its tenant's deficit. */
  remove(t: Ticket<T>, served: boolean): void {
    const lane = t.lane;
    const i = lane.items.indexOf(t);
    if (i < 0) return;
    lane.items.splice(i, 1);
    this.size--;
    if (served) lane.deficit -= t.cost;
    if (lane.items.length === 0) {
      // An idle tenant keeps no credit (DRR): it cannot save up a burst while away.
      lane.deficit = 0;
      lane.inTurn = false;
      const at = this.active.indexOf(lane);
      this.active.splice(at, 1);
      if (at < this.cursor) this.cursor--;
      this.lanes.delete(lane.tenant);
    }
  }

  /** The most recently queued request (what an eviction drops). */
  newest(): Ticket<T> | undefined {
    let best: Ticket<T> | undefined;
    for (const l of this.active) {
      const t = l.items[l.items.length - 1]!;
      if (!best || t.enqueuedAtMs >= best.enqueuedAtMs) best = t;
    }
    return best;
  }
}

export class AdmissionQueue<T> {
  private readonly classes: ClassQueue<T>[];
  /** Tickets in arrival order, for expiry; removed ones are dropped lazily. */
  private arrivals: Ticket<T>[] = [];
  private arrivalsHead = 0;
  private numWaiting = 0;

  constructor(private readonly options: AdmissionQueueOptions) {
    const q = options.quantumTokens ?? 512;
    this.classes = PRIORITY_CLASSES.map(() => new ClassQueue<T>(q));
  }

  get length(): number {
    return this.numWaiting;
  }

  /** Waiting requests of one class. */
  lengthOf(priority: PriorityClass): number {
    return this.classes[priorityRank(priority)]!.size;
  }

  /**
   * Queues a request. When the queue is full, a request of a higher class than the lowest
   * one waiting takes the place of that class's newest request (returned as `evicted`);
   * otherwise it is refused.
   */
  push(item: QueueItem<T>, nowMs: number): PushResult<T> {
    let evicted: Ticket<T> | null = null;
    if (this.numWaiting >= this.options.maxLength) {
      const rank = priorityRank(item.priority);
      for (let r = this.classes.length - 1; r > rank && !evicted; r--) evicted = this.classes[r]!.newest() ?? null;
      if (!evicted) return { ticket: null, evicted: null };
      this.drop(evicted, false);
    }
    const cls = this.classes[priorityRank(item.priority)]!;
    const ticket = cls.add({ ...item, cost: Math.max(1, item.cost), enqueuedAtMs: nowMs, deadlineMs: nowMs + this.options.maxWaitMs, waiting: true });
    this.arrivals.push(ticket);
    this.numWaiting++;
    return { ticket, evicted };
  }

  /** The request to admit next, if any (stays queued until `take`). */
  peek(): QueueTicket<T> | undefined {
    for (const c of this.classes) {
      const t = c.peek();
      if (t) return t;
    }
    return undefined;
  }

  /** Admits `ticket` (normally what `peek` returned), charging its tokens to its tenant. */
  take(ticket: QueueTicket<T>): boolean {
    return this.drop(ticket as Ticket<T>, true);
  }

  /** Removes a request that no longer waits (its client left). */
  remove(ticket: QueueTicket<T>): boolean {
    return this.drop(ticket as Ticket<T>, false);
  }

  /** Removes and returns every request whose deadline has passed. */
  expire(nowMs: number): QueueTicket<T>[] {
    const out: QueueTicket<T>[] = [];
    while (this.arrivalsHead < this.arrivals.length) {
      const t = this.arrivals[this.arrivalsHead]!;
      if (t.waiting && t.deadlineMs > nowMs) break;
      this.arrivalsHead++;
      if (t.waiting) {
        this.drop(t, false);
        out.push(t);
      }
    }
    this.compact();
    return out;
  }

  /** When the oldest waiting request times out, if any. */
  nextDeadlineMs(): number | undefined {
    for (let i = this.arrivalsHead; i < this.arrivals.length; i++) if (this.arrivals[i]!.waiting) return this.arrivals[i]!.deadlineMs;
    return undefined;
  }

  private drop(t: Ticket<T>, served: boolean): boolean {
    if (!t.waiting) return false;
    t.waiting = false;
    this.classes[priorityRank(t.priority)]!.remove(t, served);
    this.numWaiting--;
    return true;
  }

  private compact(): void {
    if (this.arrivalsHead > 64 && this.arrivalsHead * 2 > this.arrivals.length) {
      this.arrivals = this.arrivals.slice(this.arrivalsHead);
      this.arrivalsHead = 0;
    }
  }
}
