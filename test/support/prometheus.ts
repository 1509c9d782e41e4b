// A real Prometheus (Debian's `prometheus`) for tests: scrapes the given loopback targets every
// second, from a temp dir removed by stop(). Queried through its HTTP API.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "./services.ts";

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusServer {
  readonly url: string;
  /** An instant query; throws unless Prometheus answers status "success". */
  query(expr: string): Promise<PromSample[]>;
  /** The scrape targets and whether each is up. */
  targets(): Promise<{ scrapeUrl: string; health: string }[]>;
  stop(): Promise<void>;
}

export async function startPrometheus(targets: { job: string; hostPort: string }[]): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), "turbine-prometheus-"));
  const port = await freePort();
  const jobs = new Map<string, string[]>();
  for (const t of targets) jobs.set(t.job, [...(jobs.get(t.job) ?? []), t.hostPort]);
  const config = [
    "global:",
    "  scrape_interval: 1s",
    "  evaluation_interval: 1s",
    "scrape_configs:",
    ...[...jobs].flatMap(([job, hosts]) => [`  - job_name: ${job}`, "    static_configs:", `      - targets: [${hosts.map((h) => `'${h}'`).join(", ")}]`]),
  ].join("\n");
  writeFileSync(join(dir, "prometheus.yml"), config + "\n");
  const child = spawn(
    "/usr/bin/prometheus",
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const onExit = (): void => void child.kill("SIGKILL");
  process.once("exit", onExit);
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    process.off("exit", onExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const end = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > end) {
      await stop();
      throw new Error(`prometheus did not start: ${stderr}`);
    }
    await sleep(100);
  }
  return {
    url,
    async query(expr) {
      const r = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await r.json()) as { status: string; error?: string; data?: { resultType: string; result: PromSample[] } };
      if (body.status !== "success") throw new Error(`prometheus refused ${expr}: ${body.error}`);
      return body.data!.result;
    },
    async targets() {
      const r = await fetch(`${url}/api/v1/targets`);
      const body = (await r.json()) as { data: { activeTargets: { scrapeUrl: string; health: string }[] } };
      return body.data.activeTargets;
    },
    stop,
  };
}
