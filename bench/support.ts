// Shared pieces of the benchmark scripts: percentiles, a child `turbine` process, tables.
import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function sortedCopy(xs: readonly number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Starts `turbine <args>` as a child process (of the checkout at `root`, default this one) and waits until /health answers 200. */
export async function startTurbine(args: string[], port: number, timeoutMs = 30_000, root?: string): Promise<ChildProcess> {
  const bin = root ? join(root, "bin/turbine.js") : new URL("../bin/turbine.js", import.meta.url).pathname;
  // BENCH_PROFILE_DIR: a CPU profile of each turbine process, written when it exits.
  const dir = process.env["BENCH_PROFILE_DIR"];
  const profile = dir ? ["--cpu-prof", `--cpu-prof-dir=${root ? join(dir, "baseline") : dir}`] : [];
  const child = spawn(process.execPath, [...profile, bin, ...args, "--port", String(port), "--log-level", "warn"], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`turbine ${args.join(" ")} exited with ${child.exitCode}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      if (r.status === 200) return child;
    } catch {
      // not listening yet
    }
    if (Date.now() > end) {
      child.kill("SIGKILL");
      throw new Error("turbine did not become healthy in time");
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(t);
}

export function machineLine(): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  return `${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

export function markdownTable(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]): string => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

export const fmt = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toFixed(digits) : "n/a");

/**
 * A copy of the project at git ref `ref` (BENCH_BASELINE_REF), to run beside the working tree
 * in one benchmark: `git archive` of its files into a temp dir that shares this checkout's
 * node_modules. The caller removes it with `remove()`.
 */
export function baselineCheckout(ref: string): { dir: string; commit: string; remove(): void } {
  const root = new URL("..", import.meta.url).pathname;
  const commit = execFileSync("git", ["-C", root, "rev-parse", "--short", `${ref}^{commit}`], { encoding: "utf8" }).trim();
  const dir = mkdtempSync(join(tmpdir(), `turbine-baseline-${commit}-`));
  execFileSync("sh", ["-c", `git -C "${root}" archive "${commit}" | tar -x -C "${dir}"`]);
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  return { dir, commit, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** CPU seconds (user + system, all threads) of a process and its children so far (Linux /proc, 10 ms ticks); null elsewhere. */
export function cpuSeconds(pid: number): number | null {
  try {
    const ticks = (p: number): number => {
      const fields = readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]!.split(" ");
      return Number(fields[11]) + Number(fields[12]);
    };
    let total = ticks(pid);
    // nginx serves from a worker process, the master's child.
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    for (const c of children ? children.split(" ") : []) total += ticks(Number(c));
    return total / 100; // USER_HZ
  } catch {
    return null;
  }
}
