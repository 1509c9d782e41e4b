// Real nats-server and etcd for the distributed tests: child processes on free loopback
// ports, each in its own temp dir (which also keeps its output, printed when it fails to
// start), stopped (and the dir removed) by stop().
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export interface Service {
  readonly url: string;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its temp dir. */
  stop(): Promise<void>;
  /** Stops and starts it again on the same port; `wipe` also drops its data (etcd). */
  restart(options?: { wipe?: boolean; downMs?: number }): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port }, () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });
}

/** A service that did not come up; `output` is what it wrote (also printed to stderr). */
export class ServiceStartError extends Error {
  readonly code = "SERVICE_START_FAILED";
  constructor(
    message: string,
    readonly output: string,
    readonly exitCode: number | null,
  ) {
    super(`${message}\n--- its output ---\n${output}`);
  }
}

function readLog(path: string): string {
  try {
    return readFileSync(path, "utf8").slice(-8000);
  } catch {
    return "";
  }
}

async function waitUntil(check: () => Promise<boolean>, child: ChildProcess, what: string, log: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new ServiceStartError(`${what} exited with code ${child.exitCode ?? child.signalCode}`, readLog(log), child.exitCode);
    }
    if (await check()) return;
    await sleep(50);
  }
  await stopChild(child);
  throw new ServiceStartError(`${what} did not become ready in ${timeoutMs} ms`, readLog(log), null);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 3000);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

// Children still running when the test process exits (a failed test, a crash) are killed,
// so no server outlives its test file.
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of live) c.kill("SIGKILL");
});
const track = (c: ChildProcess): ChildProcess => {
  live.add(c);
  c.once("exit", () => live.delete(c));
  return c;
};

/** How many service processes of this test process are running (tests of the fixtures). */
export function liveServices(): number {
  return live.size;
}

/** Starts `argv` with stdout and stderr appended to `log` (kept in the service's temp dir). */
function spawnLogged(argv: string[], log: string): ChildProcess {
  const fd = openSync(log, "a");
  try {
    return spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", fd, fd] });
  } finally {
    closeSync(fd);
  }
}

const START_ATTEMPTS = 3;

/**
 * Starts a server process on ports it picks with `ports()`; `ready` polls until it serves. A
 * server that exits before it is ready (another process took a port between our probe and its
 * bind) is retried on new ports; the last failure throws with the server's output, printed.
 */
async function startService<P>(
  what: string,
  ports: () => Promise<P>,
  argv: (dir: string, ports: P) => string[],
  ready: (ports: P, log: string) => Promise<boolean>,
  url: (ports: P) => string,
): Promise<Service> {
  for (let attempt = 1; ; attempt++) {
    const p = await ports();
    let dir = mkdtempSync(join(tmpdir(), `turbine-${what}-`));
    const log = () => join(dir, `${what}.out`);
    const launch = () => track(spawnLogged(argv(dir, p), log()));
    let child = launch();
    try {
      await waitUntil(() => ready(p, log()), child, what, log());
    } catch (err) {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
      const portTaken = err instanceof ServiceStartError && /address already in use|EADDRINUSE/i.test(err.output);
      if (attempt < START_ATTEMPTS && portTaken) continue;
      if (err instanceof ServiceStartError) process.stderr.write(`[test services] ${err.message}\n`);
      throw err;
    }
    return {
      url: url(p),
      stop: async () => {
        await stopChild(child);
        rmSync(dir, { recursive: true, force: true });
      },
      restart: async (options = {}) => {
        await stopChild(child);
        if (options.wipe) {
          rmSync(dir, { recursive: true, force: true });
          dir = mkdtempSync(join(tmpdir(), `turbine-${what}-`));
        }
        if (options.downMs) await sleep(options.downMs);
        child = launch();
        try {
          await waitUntil(() => ready(p, log()), child, what, log());
        } catch (err) {
          if (err instanceof ServiceStartError) process.stderr.write(`[test services] ${err.message}\n`);
          throw err;
        }
      },
    };
  }
}

export interface ServiceOptions {
  /** The address to listen on (default loopback; a test host's address in multi-host tests). */
  host?: string;
  /** More command-line arguments (tests of the fixtures give bad ones). */
  extraArgs?: string[];
  /** The port to try first (tests of the fixtures give a taken one); later tries pick free ones. */
  port?: number;
}

/** `first` on the first call (when given), `next()` after. */
function firstThen<P>(first: P | undefined, next: () => Promise<P>): () => Promise<P> {
  let used = first === undefined;
  return async () => {
    if (used) return next();
    used = true;
    return first!;
  };
}

export async function startNats(options: ServiceOptions = {}): Promise<Service> {
  const host = options.host ?? "127.0.0.1";
  return startService(
    "nats",
    firstThen(options.port, () => freePort()),
    (_dir, port) => ["/usr/sbin/nats-server", "-a", host, "-p", String(port), ...(options.extraArgs ?? [])],
    // Its own "ready" line first: another process on the port would accept connections too.
    async (port, log) => readLog(log).includes("Server is ready") && (await canConnect(port, host)),
    (port) => `nats://${host}:${port}`,
  );
}

export async function startEtcd(options: ServiceOptions = {}): Promise<Service> {
  const host = options.host ?? "127.0.0.1";
  const client = (p: { client: number }) => `http://${host}:${p.client}`;
  return startService(
    "etcd",
    firstThen(
      options.port === undefined ? undefined : { client: options.port, peer: await freePort() },
      async () => ({ client: await freePort(), peer: await freePort() }),
    ),
    (dir, p) => {
      const peer = `http://127.0.0.1:${p.peer}`;
      return [
        "/usr/bin/etcd",
        "--name", "turbine-test",
        "--data-dir", join(dir, "data"),
        "--listen-client-urls", client(p),
        "--advertise-client-urls", client(p),
        "--listen-peer-urls", peer,
        "--initial-advertise-peer-urls", peer,
        "--initial-cluster", `turbine-test=${peer}`,
        "--log-level", "error",
        "--logger", "zap",
        ...(options.extraArgs ?? []),
      ];
    },
    async (p) => {
      try {
        const res = await fetch(`${client(p)}/health`, { signal: AbortSignal.timeout(1000) });
        return res.ok && ((await res.json()) as { health?: string }).health === "true";
      } catch {
        return false;
      }
    },
    client,
  );
}

/**
 * NATS and etcd together. When one fails to start, the other is stopped before the error is
 * thrown, so a half-started fixture never keeps the test process alive.
 */
export async function startNatsAndEtcd(options: { nats?: ServiceOptions; etcd?: ServiceOptions } = {}): Promise<{ nats: Service; etcd: Service }> {
  const [nats, etcd] = await Promise.allSettled([startNats(options.nats), startEtcd(options.etcd)]);
  if (nats.status === "fulfilled" && etcd.status === "fulfilled") return { nats: nats.value, etcd: etcd.value };
  await Promise.all([nats, etcd].map((r) => (r.status === "fulfilled" ? r.value.stop() : undefined)));
  throw nats.status === "rejected" ? nats.reason : (etcd as PromiseRejectedResult).reason;
}

/** Polls until `check` holds; fails after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}
