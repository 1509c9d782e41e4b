// Real nats-server and etcd for the distributed tests: child processes on free loopback
// ports, each in its own temp dir, stopped (and the dir removed) by stop().
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
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

async function waitUntil(check: () => Promise<boolean>, child: ChildProcess, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode}`);
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`${what} did not become ready in ${timeoutMs} ms`);
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

/** Starts a server process; `ready` polls until it serves. */
async function startService(
  what: string,
  launch: (dir: string) => ChildProcess,
  ready: () => Promise<boolean>,
  url: string,
): Promise<Service> {
  let dir = mkdtempSync(join(tmpdir(), `turbine-${what}-`));
  let child = track(launch(dir));
  await waitUntil(ready, child, what);
  return {
    url,
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
      child = track(launch(dir));
      await waitUntil(ready, child, what);
    },
  };
}

/** `host`: the address to listen on (default loopback; a test host's address in multi-host tests). */
export async function startNats(options: { host?: string } = {}): Promise<Service> {
  const host = options.host ?? "127.0.0.1";
  const port = await freePort();
  return startService(
    "nats",
    (dir) => spawn("/usr/sbin/nats-server", ["-a", host, "-p", String(port), "-l", join(dir, "nats.log")], { stdio: "ignore" }),
    () => canConnect(port, host),
    `nats://${host}:${port}`,
  );
}

export async function startEtcd(options: { host?: string } = {}): Promise<Service> {
  const host = options.host ?? "127.0.0.1";
  const clientPort = await freePort();
  const peerPort = await freePort();
  const client = `http://${host}:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return startService(
    "etcd",
    (dir) =>
      spawn(
        "/usr/bin/etcd",
        [
          "--name", "turbine-test",
          "--data-dir", join(dir, "data"),
          "--listen-client-urls", client,
          "--advertise-client-urls", client,
          "--listen-peer-urls", peer,
          "--initial-advertise-peer-urls", peer,
          "--initial-cluster", `turbine-test=${peer}`,
          "--log-level", "error",
          "--logger", "zap",
        ],
        { stdio: "ignore" },
      ),
    async () => {
      try {
        const res = await fetch(`${client}/health`, { signal: AbortSignal.timeout(1000) });
        return res.ok && ((await res.json()) as { health?: string }).health === "true";
      } catch {
        return false;
      }
    },
    client,
  );
}

/** Polls until `check` holds; fails after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}
