// Turbine processes for multi-process tests: `turbine frontend`, `turbine worker` and `turbine planner` as
// child processes of the test, stopped (SIGKILL if need be) when the test process exits.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before } from "node:test";
import { freePort, startNatsAndEtcd } from "./services.ts";
import type { Service } from "./services.ts";

const BIN = new URL("../../bin/turbine.js", import.meta.url).pathname;

const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of live) c.kill("SIGKILL");
});

/** SIGCONTs and SIGKILLs every Turbine process this test process started and waits for them. */
export async function stopAllTurbineProcesses(): Promise<void> {
  await Promise.all(
    [...live].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once("exit", () => resolve());
          c.kill("SIGCONT"); // a SIGSTOPped child still dies of SIGKILL, but say so
          c.kill("SIGKILL");
        }),
    ),
  );
}

export interface TurbineProcess {
  readonly child: ChildProcess;
  /** Worker id (workers) or URL (frontends), from the ready line. */
  readonly id: string;
  /** The whole ready line. */
  readonly readyLine: string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** Everything the process wrote to stderr (its logs). */
  stderr(): string;
}

function launch(args: string[], ready: RegExp, timeoutMs = 30_000, netns?: string): Promise<TurbineProcess> {
  // In a network namespace of the test's own (multi-host tests): `ip netns exec` execs node.
  const argv = [BIN, ...args, "--log-level", "warn"];
  const child = netns
    ? spawn("ip", ["netns", "exec", netns, process.execPath, ...argv], { stdio: ["ignore", "pipe", "pipe"] })
    : spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => {
      live.delete(child);
      resolve(code ?? signal ?? "unknown");
    }),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`turbine ${args[0]} not ready in ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`turbine ${args[0]} exited (${code}) before it was ready: ${err}`));
    });
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const m = ready.exec(line);
      if (!m) return;
      clearTimeout(timer);
      const proc: TurbineProcess = {
        child,
        id: m[1]!,
        readyLine: line,
        exited,
        kill: (signal = "SIGKILL") => child.kill(signal),
        stop: async (graceMs = 5000) => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill("SIGTERM");
          const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
          await exited;
          clearTimeout(t);
        },
        stderr: () => err,
      };
      resolve(proc);
    });
  });
}

export interface ClusterUrls {
  etcd: string;
  nats: string;
  requestPlane?: "tcp" | "nats";
  /** etcd lease TTL of the processes, seconds (tests use a short one). */
  leaseTtl?: number;
}

function clusterArgs(c: ClusterUrls): string[] {
  return ["--etcd", c.etcd, "--nats", c.nats, "--request-plane", c.requestPlane ?? "tcp", "--lease-ttl", String(c.leaseTtl ?? 2)];
}

/** Starts `turbine worker` (in `netns`, if given); resolves once it serves, with its worker id. */
export function startWorker(cluster: ClusterUrls, args: string[], options: { netns?: string } = {}): Promise<TurbineProcess> {
  return launch(["worker", ...clusterArgs(cluster), ...args], /^Turbine worker ([0-9a-f]+) serving/, 30_000, options.netns);
}

/** Starts `turbine frontend` on a free port; resolves once it listens, with its URL. */
export async function startFrontend(cluster: ClusterUrls, args: string[] = []): Promise<TurbineProcess> {
  const port = await freePort();
  return launch(["frontend", ...clusterArgs(cluster), "--port", String(port), ...args], /^Turbine frontend at (http:\/\/\S+)/);
}

/** Starts `turbine planner` with its /metrics on a free port; resolves once it plans, with that server's URL. */
export async function startPlanner(cluster: ClusterUrls, args: string[] = []): Promise<TurbineProcess> {
  const port = await freePort();
  return launch(["planner", ...clusterArgs(cluster), "--metrics-port", String(port), ...args], /^Turbine planner .*metrics at (http:\/\/\S+)\/metrics$/);
}

export interface HealthModel {
  model: string;
  workers: number;
  routableWorkers: string[];
  indexedBlocks: number;
}

export async function health(url: string): Promise<HealthModel[]> {
  const r = await fetch(`${url}/health`);
  return ((await r.json()) as { models: HealthModel[] }).models;
}

/** Polls until `check` holds (returning its last value), or fails after `timeoutMs`. */
export async function until<T>(what: string, get: () => Promise<T>, check: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    try {
      last = await get();
      if (check(last)) return last;
    } catch {
      // not there yet
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface Completion {
  status: number;
  text: string;
  /** x-turbine-worker */
  worker: string;
  error?: { code: string };
}

/** POSTs a /v1/completions request and returns status, text and serving worker. */
export async function complete(url: string, body: Record<string, unknown>): Promise<Completion> {
  const r = await fetch(`${url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const j = (await r.json()) as { choices?: { text: string }[]; error?: { code: string } };
  const out: Completion = { status: r.status, text: j.choices?.[0]?.text ?? "", worker: r.headers.get("x-turbine-worker") ?? "" };
  if (j.error) out.error = j.error;
  return out;
}

/** The value of `turbine_remote_prefills_total` for a model and outcome at a frontend. */
export async function remotePrefills(url: string, model: string, outcome: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`turbine_remote_prefills_total\\{model="${model}",outcome="${outcome}"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

/** A real etcd and NATS for the tests of one `describe`, and the Turbine processes they start. */
export interface ClusterFixture {
  readonly cluster: ClusterUrls;
  readonly nats: Service;
  readonly etcd: Service;
  /** A temp dir removed afterwards. */
  readonly dir: string;
  /** Stops this process when the suite ends. */
  track<T extends TurbineProcess>(p: T): T;
}

/** Call inside `describe`: starts etcd and NATS before its tests, stops everything after. */
export function useCluster(
  options: { leaseTtl?: number; stopGraceMs?: number; host?: () => string; /** tests of the fixture: bad etcd flags */ etcdArgs?: string[] } = {},
): ClusterFixture {
  let nats: Service | undefined;
  let etcd: Service | undefined;
  let dir = "";
  const procs: TurbineProcess[] = [];
  before(async () => {
    const host = options.host?.();
    ({ nats, etcd } = await startNatsAndEtcd({ nats: { host }, etcd: { host, extraArgs: options.etcdArgs } }));
    dir = mkdtempSync(join(tmpdir(), "turbine-cluster-"));
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.stop(options.stopGraceMs)));
    // A process a failed test started but never tracked (a Promise.all that rejected half-way)
    // would keep the test process alive: none outlives the suite.
    await stopAllTurbineProcesses();
    await Promise.all([nats?.stop(), etcd?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    get cluster() {
      return { etcd: etcd!.url, nats: nats!.url, leaseTtl: options.leaseTtl };
    },
    get nats() {
      return nats!;
    },
    get etcd() {
      return etcd!;
    },
    get dir() {
      return dir;
    },
    track<T extends TurbineProcess>(p: T): T {
      procs.push(p);
      return p;
    },
  };
}
