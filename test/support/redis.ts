// A real redis-server for the KVBM tests: a child process on a free loopback port, no
// persistence, in its own temp dir; stop() kills it and removes the dir, kill() is SIGKILL
// (a crash), restart() brings it back on the same port (empty). Modelled on services.ts.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "./services.ts";

export interface RedisService {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
  /** SIGKILL, as a crash. */
  kill(): Promise<void>;
  restart(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of live) c.kill("SIGKILL");
});

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port }, () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });
}

function exited(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 3000);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    child.kill(signal);
  });
}

export async function startRedis(): Promise<RedisService> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "turbine-redis-"));
  let child: ChildProcess;
  const launch = async (): Promise<void> => {
    child = spawn("/usr/bin/redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], { stdio: "ignore" });
    live.add(child);
    const c = child;
    c.once("exit", () => live.delete(c));
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      if (c.exitCode !== null) throw new Error(`redis-server exited with code ${c.exitCode}`);
      if (await canConnect(port)) return;
      await sleep(50);
    }
    throw new Error("redis-server did not become ready in 10 s");
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async () => {
      await exited(child, "SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
    kill: () => exited(child, "SIGKILL"),
    restart: async () => {
      await exited(child, "SIGTERM");
      await launch();
    },
  };
}
