// Feeds KV events into a RadixIndexer and repairs gaps: when a worker's event arrives out of
// order, it asks the worker for its whole block set, buffers that worker's events meanwhile,
// resets the worker from the dump and replays the buffered events the dump does not include.
// The transport (how a dump is fetched) is the caller's: this stays pure state.
import { TurbineError } from "../protocols/index.ts";
import type { KvBlockSetDump, KvCacheEvent, WorkerId } from "../protocols/index.ts";
import type { RadixIndexer } from "./radix-indexer.ts";

export type RequestDump = (workerId: WorkerId, options: { signal: AbortSignal }) => Promise<KvBlockSetDump>;

export interface KvEventIngestorOptions {
  /** Fetches a worker's current block set (its `kv_dump` endpoint). */
  requestDump: RequestDump;
  /** Dump attempts per resync before giving up on the worker (default 3). */
  maxDumpAttempts?: number;
  /**
   * Events buffered per worker while its dump is in flight (default 100 000). Past it the buffer
   * is dropped: the dump still resets the worker, and the next event then opens a new resync.
   */
  maxBufferedEvents?: number;
  /** Told when a resync failed for good; the worker has then been dropped from the index. */
  onError?: (workerId: WorkerId, error: TurbineError) => void;
}

export interface KvEventIngestorStats {
  /** Events applied to the index (duplicates and buffered-then-superseded events excluded). */
  eventsApplied: number;
  /** Duplicate events ignored. */
  duplicates: number;
  /** Gaps detected (each starts a resync unless one is already running). */
  gaps: number;
  /** Resyncs completed: a worker reset from a dump. */
  resyncs: number;
  /** Resyncs abandoned after maxDumpAttempts failures. */
  resyncFailures: number;
}

interface Resync {
  buffer: KvCacheEvent[];
  overflowed: boolean;
  readonly abort: AbortController;
  readonly done: Promise<void>;
}

export class KvEventIngestor {
  private readonly requestDump: RequestDump;
  private readonly maxDumpAttempts: number;
  private readonly maxBufferedEvents: number;
  private readonly onError: ((workerId: WorkerId, error: TurbineError) => void) | undefined;
  private readonly resyncing = new Map<WorkerId, Resync>();
  private readonly counters: KvEventIngestorStats = {
    eventsApplied: 0,
    duplicates: 0,
    gaps: 0,
    resyncs: 0,
    resyncFailures: 0,
  };

  constructor(
    readonly indexer: RadixIndexer,
    options: KvEventIngestorOptions,
  ) {
    this.requestDump = options.requestDump;
    this.maxDumpAttempts = Math.max(1, options.maxDumpAttempts ?? 3);
    this.maxBufferedEvents = options.maxBufferedEvents ?? 100_000;
    this.onError = options.onError;
  }

  /** A snapshot of the counters. */
  get stats(): KvEventIngestorStats {
    return { ...this.counters };
  }

  /** Workers whose resync is in flight. */
  resyncingWorkers(): WorkerId[] {
    return [...this.resyncing.keys()];
  }

  /** Applies one event, or buffers it while its worker resyncs, or starts a resync on a gap. */
  ingest(event: KvCacheEvent): void {
    const pending = this.resyncing.get(event.workerId);
    if (pending !== undefined) {
      if (pending.buffer.length >= this.maxBufferedEvents) {
        pending.buffer = [];
        pending.overflowed = true;
      }
      if (!pending.overflowed) pending.buffer.push(event);
      return;
    }
    if (!this.applyOne(event)) this.startResync(event.workerId, [event]);
  }

  /**
   * Rebuilds a worker's part of the index from its dump now, without waiting for a gap: a
   * router that starts late, or attaches a worker late, learns blocks stored before it
   * listened. No-op while a resync of that worker is already in flight.
   */
  resync(workerId: WorkerId): void {
    if (!this.resyncing.has(workerId)) this.startResync(workerId, []);
  }

  /**
   * Resets a worker's part of the index from a dump already in hand (no request): `turbine
   * replay` rejoining a worker whose engine it can read directly. Cancels a resync in flight.
   */
  adopt(dump: KvBlockSetDump): void {
    this.removeWorker(dump.workerId);
    this.indexer.resetWorker(dump);
    this.counters.resyncs++;
  }

  /** Drops a worker (it left the fleet): its blocks, and any resync in flight. */
  removeWorker(workerId: WorkerId): void {
    const pending = this.resyncing.get(workerId);
    if (pending !== undefined) {
      this.resyncing.delete(workerId);
      pending.abort.abort();
    }
    this.indexer.removeWorker(workerId);
  }

  /** Resolves when no resync is in flight (for tests and orderly shutdown). */
  async whenIdle(): Promise<void> {
    while (this.resyncing.size > 0) await Promise.all([...this.resyncing.values()].map((r) => r.done));
  }

  /** Applies one event and counts it; false on a gap (counted, not applied). */
  private applyOne(event: KvCacheEvent): boolean {
    const last = this.indexer.lastEventId(event.workerId);
    if (!this.indexer.applyEvent(event)) {
      this.counters.gaps++;
      return false;
    }
    if (event.eventId <= last) this.counters.duplicates++;
    else this.counters.eventsApplied++;
    return true;
  }

  private startResync(workerId: WorkerId, buffer: KvCacheEvent[]): void {
    const abort = new AbortController();
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    const resync: Resync = { buffer, overflowed: false, abort, done };
    this.resyncing.set(workerId, resync);
    void this.runResync(workerId, resync).finally(resolveDone);
  }

  private async runResync(workerId: WorkerId, resync: Resync): Promise<void> {
    let dump: KvBlockSetDump | undefined;
    let lastError: unknown;
    for (let attempt = 0; attempt < this.maxDumpAttempts && dump === undefined; attempt++) {
      try {
        dump = await this.requestDump(workerId, { signal: resync.abort.signal });
      } catch (err) {
        lastError = err;
      }
      if (this.resyncing.get(workerId) !== resync) return; // worker removed meanwhile
    }
    this.resyncing.delete(workerId);
    if (dump === undefined) {
      this.counters.resyncFailures++;
      this.indexer.removeWorker(workerId);
      this.onError?.(
        workerId,
        new TurbineError("INTERNAL", `KV resync of worker ${workerId} failed after ${this.maxDumpAttempts} attempts`, {
          cause: lastError,
        }),
      );
      return;
    }
    this.indexer.resetWorker(dump.workerId === workerId ? dump : { ...dump, workerId });
    this.counters.resyncs++;
    // Replay what arrived meanwhile, in order, minus what the dump already includes.
    const after = resync.buffer.filter((e) => e.eventId > dump.lastEventId).sort((a, b) => a.eventId - b.eventId);
    for (let i = 0; i < after.length; i++) {
      if (!this.applyOne(after[i]!)) {
        // The dump is older than the first buffered event: resync again, keeping the rest.
        this.startResync(workerId, after.slice(i));
        return;
      }
    }
  }
}
