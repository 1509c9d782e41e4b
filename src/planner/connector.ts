// A connector carries out a planner's decisions on some fleet. Scale-down always drains: the
// worker stops taking requests, finishes those in flight, deregisters, then exits.
import type { PoolDecision, PoolName } from "./planner-types.ts";

export interface Connector {
  /** "virtual", "local", "embedded", "kubernetes". */
  readonly name: string;
  /** Workers of the pool serving now (started and ready, not draining). */
  numWorkers(pool: PoolName): number;
  /** Moves the pool towards `desired` workers; resolves when the starts and drains are under way. */
  scale(pool: PoolName, desired: number, decision: PoolDecision): Promise<void>;
  /** Stops what the connector started (draining). */
  close(): Promise<void>;
}

/** One decision as a connector records it. */
export interface ScalingRecord {
  at: number;
  pool: PoolName;
  from: number;
  to: number;
  reason: string;
}

/**
 * Records decisions and pretends they took effect at once: dry runs, tests, and the replay
 * (which applies them to its simulated fleet itself).
 */
export class VirtualConnector implements Connector {
  readonly name = "virtual";
  readonly records: ScalingRecord[] = [];
  private readonly counts = new Map<PoolName, number>();

  constructor(
    initial: Partial<Record<PoolName, number>> = {},
    private readonly clock: () => number = () => 0,
  ) {
    for (const [pool, n] of Object.entries(initial) as [PoolName, number][]) this.counts.set(pool, n);
  }

  numWorkers(pool: PoolName): number {
    return this.counts.get(pool) ?? 0;
  }

  scale(pool: PoolName, desired: number, decision: PoolDecision): Promise<void> {
    const from = this.numWorkers(pool);
    if (from !== desired) this.records.push({ at: this.clock(), pool, from, to: desired, reason: decision.reason });
    this.counts.set(pool, desired);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
