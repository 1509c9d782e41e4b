import type { RequestId, WorkerId } from "./ids.ts";

/** A worker's load, published periodically on the event plane. */
export interface WorkerLoadMetrics {
  workerId: WorkerId;
  /** KV blocks held by running sequences. */
  activeBlocks: number;
  /** All KV blocks of the engine. */
  totalBlocks: number;
  /** activeBlocks / totalBlocks, 0..1. */
  kvUsage: number;
  numRunningSeqs: number;
  numWaitingSeqs: number;
  /** Prompt tokens admitted but not yet computed. */
  pendingPrefillTokens: number;
  /** Prefix-cache hit rate since start, 0..1. */
  prefixCacheHitRate: number;
  /** Wall time (ms since epoch) when measured. */
  timestamp: number;
  /**
   * Id of the last KV event the worker published (-1: none). A router whose index is behind
   * this for longer than one report lost events (e.g. across a NATS restart) and resyncs.
   */
  lastKvEventId?: number;
}

/**
 * What one router replica tells the others about a request it placed: "routed" when it picks a
 * worker, "prefill_done" at the first token, "finished" at the end (any way it ends).
 */
export interface RouterSyncMessage {
  /** The replica that placed the request; a replica ignores its own messages. */
  replicaId: string;
  model: string;
  /**
   * "heartbeat": the replica is alive (sent every couple of seconds; requestId empty). A
   * replica silent for longer than its peers' timeout has left, and its bookings are released.
   */
  kind: "routed" | "prefill_done" | "finished" | "heartbeat";
  requestId: RequestId;
  /** With "routed". */
  workerId?: WorkerId;
  /** With "routed": uncached prompt tokens, and the KV blocks the request holds. */
  prefillTokens?: number;
  blocks?: number;
}

/** One pool's part of a planner decision (PlannerDecisionMessage). */
export interface PlannerPoolDecision {
  /** "prefill", "decode" or "aggregated". */
  pool: string;
  /** Workers serving when the planner decided. */
  current: number;
  desired: number;
  /** Short stable label ("kv use", "steady", "cooldown", …; see the planner's PoolDecision). */
  cause: string;
  /** Why, in a few words, with the numbers. */
  reason: string;
}

/**
 * A planner's decision at one interval boundary, published by `turbine planner` so that every
 * frontend's fleet page shows it (an embedded planner hands it to its frontend directly).
 */
export interface PlannerDecisionMessage {
  /** Wall time of the decision, ms since epoch. */
  at: number;
  planner: "load" | "sla";
  /** The connector that carries decisions out ("virtual", "local", "kubernetes", "embedded"). */
  connector: string;
  pools: PlannerPoolDecision[];
}
