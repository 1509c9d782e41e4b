// The `local` connector: the planner's workers are `turbine worker` processes on this machine.
// Scale-up spawns one per missing worker (ready when it prints its "serving" line); scale-down
// sends SIGTERM, which drains the worker (it deregisters, finishes what it has in flight,
// exits: see worker-command.ts), and forgets it when it has exited.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import type { Connector, PoolDecision, PoolName, ScalingRecord } from "../planner/index.ts";

export interface LocalConnectorOptions {
  /** Arguments after `turbine worker` for a worker of the pool (engine, model, --etcd, --nats…); `--role` is added. */
  workerArgs: (pool: PoolName) => string[];
  log: Logger;
  /** Environment of the workers (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** A worker that does not print its ready line in this long is killed (ms, default 120000). */
  readyTimeoutMs?: number;
  /** Processes already running the pools' workers at start: none (default). */
  binPath?: string;
}

type State = "starting" | "ready" | "draining";

interface LocalWorker {
  pool: PoolName;
  child: ChildProcess;
  state: State;
  workerId?: string;
  startedAt: number;
  readyAt?: number;
  drainStartedAt?: number;
  exited: Promise<void>;
}

/** A drained worker, for tests and logs. */
export interface DrainRecord {
  pool: PoolName;
  workerId: string | undefined;
  drainStartedAt: number;
  exitedAt: number;
  exitCode: number | null;
}

const ROLE: Record<PoolName, string> = { aggregated: "aggregated", decode: "decode", prefill: "prefill" };

export class LocalConnector implements Connector {
  readonly name = "local";
  readonly records: ScalingRecord[] = [];
  readonly drains: DrainRecord[] = [];
  private readonly workers = new Set<LocalWorker>();
  private readonly bin: string;

  constructor(private readonly options: LocalConnectorOptions) {
    this.bin = options.binPath ?? fileURLToPath(new URL("../../bin/turbine.js", import.meta.url));
  }

  numWorkers(pool: PoolName): number {
    let n = 0;
    for (const w of this.workers) if (w.pool === pool && w.state !== "draining") n++;
    return n;
  }

  /** Workers that serve now (ready), with their ids. */
  readyWorkers(pool: PoolName): string[] {
    return [...this.workers].filter((w) => w.pool === pool && w.state === "ready").map((w) => w.workerId ?? "");
  }

  /** Resolves when every worker of the pool that is starting has become ready (or died). */
  async settled(pool: PoolName): Promise<void> {
    while ([...this.workers].some((w) => w.pool === pool && w.state === "starting")) await new Promise((r) => setTimeout(r, 50));
  }

  scale(pool: PoolName, desired: number, decision: PoolDecision): Promise<void> {
    const current = this.numWorkers(pool);
    if (current === desired) return Promise.resolve();
    this.records.push({ at: Date.now(), pool, from: current, to: desired, reason: decision.reason });
    for (let i = current; i < desired; i++) this.startWorker(pool);
    if (desired < current) {
      // Not-yet-ready workers go first (newest first), then the newest ready ones.
      const mine = [...this.workers].filter((w) => w.pool === pool && w.state !== "draining");
      mine.sort((a, b) => (a.state === b.state ? b.startedAt - a.startedAt : a.state === "starting" ? -1 : 1));
      for (const w of mine.slice(0, current - desired)) this.drain(w);
    }
    return Promise.resolve();
  }

  async close(): Promise<void> {
    for (const w of this.workers) if (w.state !== "draining") this.drain(w);
    await Promise.all([...this.workers].map((w) => w.exited));
  }

  private startWorker(pool: PoolName): void {
    const args = [this.bin, "worker", ...this.options.workerArgs(pool), "--role", ROLE[pool]];
    const child = spawn(process.execPath, args, { env: this.options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    const w: LocalWorker = { pool, child, state: "starting", startedAt: Date.now(), exited: Promise.resolve() };
    w.exited = new Promise((resolve) =>
      child.once("exit", (code) => {
        this.workers.delete(w);
        if (w.drainStartedAt !== undefined) this.drains.push({ pool, workerId: w.workerId, drainStartedAt: w.drainStartedAt, exitedAt: Date.now(), exitCode: code });
        else this.options.log.warn({ pool, workerId: w.workerId, code }, "local worker exited unasked");
        resolve();
      }),
    );
    this.workers.add(w);
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      if (w.state !== "starting") return;
      out += chunk.toString();
      const m = /Turbine worker (\S+) serving/.exec(out);
      if (m) {
        w.state = "ready";
        w.workerId = m[1];
        w.readyAt = Date.now();
        clearTimeout(timeout);
        this.options.log.info({ pool, workerId: w.workerId, startupMs: w.readyAt - w.startedAt }, "local worker ready");
      }
    });
    // Its logs are the worker's own; keep the pipe drained.
    child.stderr!.resume();
    const timeout = setTimeout(() => {
      if (w.state === "starting") {
        this.options.log.error({ pool }, "local worker did not become ready: killed");
        child.kill("SIGKILL");
      }
    }, this.options.readyTimeoutMs ?? 120_000);
    timeout.unref();
    child.once("exit", () => clearTimeout(timeout));
  }

  private drain(w: LocalWorker): void {
    w.state = "draining";
    w.drainStartedAt = Date.now();
    this.options.log.info({ pool: w.pool, workerId: w.workerId }, "draining local worker");
    w.child.kill("SIGTERM");
  }
}
