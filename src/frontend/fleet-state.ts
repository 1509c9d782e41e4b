// What the fleet page shows, aggregated on the server: one row per worker (role, state, KV
// blocks per tier, running and waiting sequences, load), the last routing decisions with
// their candidates, hit rates, migrations, the planner's last decisions. Fed by the worker
// pools (membership, KV events, load metrics, streams), the pipelines (migrations) and the
// planner (directly when embedded, over the event plane otherwise); read by the page's event stream
// (fleet-page.ts), which sends only the rows that changed since the last tick.
//
// Cost on the request path: two counter updates per stream (start, end) and, only while
// someone watches the page, an explained decision a few times per second. Everything else
// happens at event rate (KV events, metrics) or at tick rate (the page).
import type { KvBlockSetDump, KvCacheEvent, PlannerDecisionMessage, StorageTier, WorkerId, WorkerLoadMetrics, WorkerRole } from "../protocols/index.ts";
import type { CandidateScore, RouterStats, WorkerLoad } from "../router/index.ts";

export type FleetWorkerState = "ready" | "draining" | "gone";

/** A pool of workers the fleet state reads router-side numbers from, at tick time. */
export interface FleetSource {
  readonly model: string;
  readonly role: "decode" | "prefill";
  stats(): RouterStats;
  workerLoad(workerId: WorkerId): WorkerLoad | undefined;
}

/** One worker as the page shows it. Numbers are rounded so that noise does not make deltas. */
export interface FleetWorkerRow {
  id: string;
  model: string;
  role: WorkerRole;
  state: FleetWorkerState;
  /** KV blocks the worker holds, by tier (from its KV events). */
  kv: Record<StorageTier, number>;
  totalBlocks: number;
  running: number;
  waiting: number;
  /** KV use in percent, as the worker reports it. */
  kvUsagePct: number;
  /** Requests the router has in flight on the worker. */
  load: number;
}

export interface FleetDecision {
  at: number;
  model: string;
  role: "decode" | "prefill";
  workerId: string;
  promptBlocks: number;
  candidates: CandidateScore[];
}

export interface FleetMigration {
  at: number;
  model: string;
  from: string;
  to: string;
}

/** One pool's part of one planner decision, as the page shows it. */
export interface FleetPlannerDecision {
  at: number;
  planner: string;
  pool: string;
  current: number;
  desired: number;
  cause: string;
  reason: string;
}

export interface FleetHitRate {
  model: string;
  /** Hit blocks / prompt blocks, overall and by tier (0..1). */
  total: number;
  byTier: Record<StorageTier, number>;
  numRequests: number;
}

export interface FleetStateOptions {
  /** Explained decisions kept (default 20). */
  maxDecisions?: number;
  /** Explained decisions taken per second while the page is watched (default 4). */
  decisionsPerSecond?: number;
  /** Candidates kept per decision (default 8). */
  maxCandidates?: number;
  /** Migrations kept (default 20). */
  maxMigrations?: number;
  /** Planner decisions kept, one per pool and interval (default 20). */
  maxPlannerDecisions?: number;
  /** How long a gone worker stays on the page (ms, default 30000). */
  goneTtlMs?: number;
  /** Wall clock, ms. */
  now?: () => number;
}

interface WorkerEntry {
  row: FleetWorkerRow;
  source: FleetSource | undefined;
  numStreams: number;
  goneAt: number;
}

const TIERS: readonly StorageTier[] = ["device", "host", "disk", "remote"];

export class FleetState {
  private readonly workers = new Map<string, WorkerEntry>();
  private readonly sources = new Set<FleetSource>();
  private readonly decisions: FleetDecision[] = [];
  private readonly migrations: FleetMigration[] = [];
  private numMigrations = 0;
  private readonly plannerDecisions: FleetPlannerDecision[] = [];
  private numPlannerDecisions = 0;
  private readonly maxPlannerDecisions: number;
  private numWatchers = 0;
  private lastSampleAt = -Infinity;
  private readonly maxDecisions: number;
  private readonly sampleEveryMs: number;
  readonly maxCandidates: number;
  private readonly maxMigrations: number;
  private readonly goneTtlMs: number;
  private readonly now: () => number;

  constructor(options: FleetStateOptions = {}) {
    this.maxDecisions = options.maxDecisions ?? 20;
    this.sampleEveryMs = 1000 / (options.decisionsPerSecond ?? 4);
    this.maxCandidates = options.maxCandidates ?? 8;
    this.maxMigrations = options.maxMigrations ?? 20;
    this.maxPlannerDecisions = options.maxPlannerDecisions ?? 20;
    this.goneTtlMs = options.goneTtlMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  /** A pool to read router numbers from; returns its removal. */
  register(source: FleetSource): () => void {
    this.sources.add(source);
    return () => this.sources.delete(source);
  }

  /** The page's event stream counts its clients: decisions are explained only while watched. */
  watch(): () => void {
    this.numWatchers++;
    let done = false;
    return () => {
      if (!done) this.numWatchers--;
      done = true;
    };
  }

  get watched(): boolean {
    return this.numWatchers > 0;
  }

  workerAdded(source: FleetSource | undefined, workerId: WorkerId, role: WorkerRole, model: string, totalBlocks: number): void {
    const known = this.workers.get(workerId);
    if (known) {
      known.row.state = "ready";
      known.source = source;
      return;
    }
    this.workers.set(workerId, {
      row: { id: workerId, model, role, state: "ready", kv: { device: 0, host: 0, disk: 0, remote: 0 }, totalBlocks, running: 0, waiting: 0, kvUsagePct: 0, load: 0 },
      source,
      numStreams: 0,
      goneAt: 0,
    });
  }

  /** The worker left discovery: draining while its streams finish, then gone. */
  workerLeft(workerId: WorkerId): void {
    const w = this.workers.get(workerId);
    if (!w) return;
    if (w.numStreams > 0) w.row.state = "draining";
    else this.markGone(w);
  }

  streamStarted(workerId: WorkerId): void {
    const w = this.workers.get(workerId);
    if (w) w.numStreams++;
  }

  streamEnded(workerId: WorkerId): void {
    const w = this.workers.get(workerId);
    if (!w) return;
    w.numStreams = Math.max(0, w.numStreams - 1);
    if (w.numStreams === 0 && w.row.state === "draining") this.markGone(w);
  }

  loadMetrics(m: WorkerLoadMetrics): void {
    const w = this.workers.get(m.workerId);
    if (!w) return;
    w.row.running = m.numRunningSeqs;
    w.row.waiting = m.numWaitingSeqs;
    w.row.kvUsagePct = Math.round(m.kvUsage * 100);
    w.row.totalBlocks = m.totalBlocks;
  }

  kvEvent(e: KvCacheEvent): void {
    const w = this.workers.get(e.workerId);
    if (!w) return;
    const kv = w.row.kv;
    const d = e.data;
    if (d.type === "stored") kv[e.tier] += d.blocks.length;
    else if (d.type === "removed") kv[e.tier] = Math.max(0, kv[e.tier] - d.hashes.length);
    else kv[e.tier] = 0;
  }

  /** A resync replaced what the router knew of the worker's blocks: so do the counts. */
  kvDump(dump: KvBlockSetDump): void {
    const w = this.workers.get(dump.workerId);
    if (!w) return;
    const kv = { device: 0, host: 0, disk: 0, remote: 0 };
    for (const e of dump.events) kv[e.tier] += e.data.blocks.length;
    w.row.kv = kv;
  }

  /** Whether the next decision should be explained (watched, and not sampled too recently). */
  wantsDecision(): boolean {
    if (this.numWatchers === 0) return false;
    const now = this.now();
    if (now - this.lastSampleAt < this.sampleEveryMs) return false;
    this.lastSampleAt = now;
    return true;
  }

  decision(model: string, role: "decode" | "prefill", workerId: WorkerId, promptBlocks: number, candidates: CandidateScore[]): void {
    const rounded = candidates.map((c) => ({ ...c, cost: c.cost === null ? null : Math.round(c.cost * 100) / 100 }));
    this.decisions.push({ at: this.now(), model, role, workerId, promptBlocks, candidates: rounded });
    if (this.decisions.length > this.maxDecisions) this.decisions.shift();
  }

  migrated(model: string, from: WorkerId, to: WorkerId): void {
    this.numMigrations++;
    this.migrations.push({ at: this.now(), model, from, to });
    if (this.migrations.length > this.maxMigrations) this.migrations.shift();
  }

  /**
   * A planner decided (every interval, holds included). The message may come from another
   * process: fields are coerced, and reasons cut short, so that a bad one cannot bloat the page.
   */
  plannerDecision(m: PlannerDecisionMessage): void {
    if (!Array.isArray(m.pools)) return;
    const text = (v: unknown, max: number): string => String(v ?? "").slice(0, max);
    for (const d of m.pools) {
      this.numPlannerDecisions++;
      this.plannerDecisions.push({
        at: Number(m.at) || this.now(),
        planner: text(m.planner, 16),
        pool: text(d.pool, 32),
        current: Number(d.current) || 0,
        desired: Number(d.desired) || 0,
        cause: text(d.cause, 32),
        reason: text(d.reason, 200),
      });
    }
    if (this.plannerDecisions.length > this.maxPlannerDecisions) this.plannerDecisions.splice(0, this.plannerDecisions.length - this.maxPlannerDecisions);
  }

  /** The rows now (router numbers read here), with gone workers past their TTL dropped. */
  rows(): FleetWorkerRow[] {
    const now = this.now();
    const out: FleetWorkerRow[] = [];
    for (const [id, w] of this.workers) {
      if (w.row.state === "gone" && now - w.goneAt > this.goneTtlMs) {
        this.workers.delete(id);
        continue;
      }
      if (w.row.state !== "gone" && w.source) w.row.load = w.source.workerLoad(id as WorkerId)?.numActiveRequests ?? w.row.load;
      out.push(w.row);
    }
    return out;
  }

  hitRates(): FleetHitRate[] {
    const out: FleetHitRate[] = [];
    for (const s of this.sources) {
      if (s.role !== "decode") continue;
      const st = s.stats();
      const per = (n: number): number => (st.numPromptBlocks > 0 ? Math.round((n / st.numPromptBlocks) * 1000) / 1000 : 0);
      const byTier = { device: 0, host: 0, disk: 0, remote: 0 };
      for (const t of TIERS) byTier[t] = per(st.numHitBlocksByTier[t]);
      out.push({ model: s.model, total: per(st.numHitBlocks), byTier, numRequests: st.numRequests });
    }
    return out;
  }

  recentDecisions(): readonly FleetDecision[] {
    return this.decisions;
  }

  recentMigrations(): { total: number; recent: readonly FleetMigration[] } {
    return { total: this.numMigrations, recent: this.migrations };
  }

  recentPlannerDecisions(): { total: number; recent: readonly FleetPlannerDecision[] } {
    return { total: this.numPlannerDecisions, recent: this.plannerDecisions };
  }

  private markGone(w: WorkerEntry): void {
    w.row.state = "gone";
    w.row.running = 0;
    w.row.waiting = 0;
    w.row.load = 0;
    w.goneAt = this.now();
  }
}
