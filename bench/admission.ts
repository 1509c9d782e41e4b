// bench:admission — two tenants sharing a saturated fleet, one sending 10x the other's rate.
// Three frontends side by side in one run, same fleet shape, same arrivals (seeded):
//   no queue — every worker busy means 503 at once (Turbine before admission);
//   FIFO     — the admission queue without fair queueing (one lane per class);
//   fair     — the admission queue with deficit round robin across tenants (the default).
// Per tenant: goodput (output tokens/s of completed requests), TTFT p50/p99 of completed
// requests (queue wait included), and the share of requests answered 503.
// The engines are mockers in real time (Dynamo's H100 timing fit, speed-up below); the fleet
// is saturated by the router's busy threshold, so capacity is a count of requests in flight.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashApiKey } from "../src/admission/index.ts";
import { EmbeddedServer } from "../src/cli/index.ts";
import { fmt, machineLine, markdownTable, percentile, sortedCopy } from "./support.ts";

const DURATION_S = Number(process.env["BENCH_DURATION_S"] ?? 20);
const LIGHT_RPS = Number(process.env["BENCH_LIGHT_RPS"] ?? 2);
const HEAVY_FACTOR = 10;
const PROMPT_TOKENS = 256;
const OUTPUT_TOKENS = 64;
const SPEEDUP = 2;
const WORKERS = 2;
const QUEUE_TIMEOUT_MS = 5000;

type Mode = "no queue" | "FIFO queue" | "fair queue";
const MODES: Mode[] = ["no queue", "FIFO queue", "fair queue"];
const TENANTS = [
  { name: "light", key: "sk-light", rps: LIGHT_RPS },
  { name: "heavy", key: "sk-heavy", rps: LIGHT_RPS * HEAVY_FACTOR },
] as const;

interface Outcome {
  tenant: string;
  status: number;
  ttftMs: number;
  tokens: number;
}

/** Deterministic exponential inter-arrival times (a small LCG: the same arrivals in every mode). */
function arrivals(rps: number, seconds: number, seed: number): number[] {
  let s = seed >>> 0;
  const rand = (): number => ((s = (s * 1664525 + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const out: number[] = [];
  for (let t = 0; ; ) {
    t += (-Math.log(rand()) / rps) * 1000;
    if (t >= seconds * 1000) return out;
    out.push(t);
  }
}

function oneRequest(agent: Agent, port: number, key: string, i: number): Promise<Omit<Outcome, "tenant">> {
  // Distinct prompts: no prefix-cache help for anyone.
  const prompt = `${key} ${i} `.padEnd(PROMPT_TOKENS, "abcdefghijklmnopqrstuvwxyz".charAt(i % 26));
  const body = JSON.stringify({ model: "turbine-byte", prompt, max_tokens: OUTPUT_TOKENS, ignore_eos: true, stream: true, stream_options: { include_usage: true } });
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port,
        path: "/v1/completions",
        method: "POST",
        agent,
        headers: { "content-type": "application/json", authorization: `Bearer ${key}`, "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        let ttft = -1;
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          if (ttft < 0 && res.statusCode === 200) ttft = performance.now() - t0;
          text += chunk;
        });
        res.on("end", () => {
          const m = /"completion_tokens":(\d+)/.exec(text);
          resolve({ status: res.statusCode ?? 0, ttftMs: ttft, tokens: m ? Number(m[1]) : 0 });
        });
        res.on("error", () => resolve({ status: 0, ttftMs: -1, tokens: 0 }));
      },
    );
    req.on("error", () => resolve({ status: 0, ttftMs: -1, tokens: 0 }));
    req.end(body);
  });
}

async function runMode(mode: Mode, keysFile: string): Promise<Outcome[]> {
  const server = await EmbeddedServer.start({
    host: "127.0.0.1",
    port: 0,
    numWorkers: WORKERS,
    // 256 blocks of 16 tokens per worker, busy above half of them: about 6 requests of
    // 256 + 64 tokens each in flight per worker.
    mocker: { speedup: SPEEDUP, numKvBlocks: 256 },
    router: { policy: "kv", maxActiveDecodeBlocks: 0.5 },
    admission: { apiKeysFile: keysFile, queue: mode === "no queue" ? { size: 0 } : { size: 512, timeoutMs: QUEUE_TIMEOUT_MS, fair: mode === "fair queue" } },
  });
  const port = Number(new URL(server.url).port);
  const agent = new Agent({ keepAlive: true, maxSockets: 1024 });
  const outcomes: Outcome[] = [];
  try {
    const start = performance.now();
    const pending: Promise<void>[] = [];
    TENANTS.forEach((t, ti) => {
      arrivals(t.rps, DURATION_S, 7 + ti).forEach((at, i) => {
        pending.push(
          new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, at - (performance.now() - start)))).then(async () => {
            outcomes.push({ tenant: t.name, ...(await oneRequest(agent, port, t.key, i)) });
          }),
        );
      });
    });
    await Promise.all(pending);
  } finally {
    agent.destroy();
    await server.close();
  }
  return outcomes;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bench-admission-"));
  const keysFile = join(dir, "keys.json");
  writeFileSync(keysFile, JSON.stringify({ tenants: TENANTS.map((t) => ({ name: t.name, keys: [`sha256:${hashApiKey(t.key)}`] })) }));
  const rows: (string | number)[][] = [];
  try {
    for (const mode of MODES) {
      const outcomes = await runMode(mode, keysFile);
      for (const t of TENANTS) {
        const mine = outcomes.filter((o) => o.tenant === t.name);
        const ok = mine.filter((o) => o.status === 200 && o.tokens === OUTPUT_TOKENS);
        const shed = mine.filter((o) => o.status === 503).length;
        const ttft = sortedCopy(ok.map((o) => o.ttftMs));
        const tokens = ok.reduce((n, o) => n + o.tokens, 0);
        rows.push([
          mode,
          `${t.name} (${fmt(t.rps, 0)} req/s)`,
          mine.length,
          ok.length,
          fmt(tokens / DURATION_S, 0),
          `${fmt(percentile(ttft, 50), 0)} / ${fmt(percentile(ttft, 99), 0)}`,
          `${fmt((100 * shed) / Math.max(1, mine.length), 1)}%`,
        ]);
      }
      process.stderr.write(`${mode} done\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\nbench:admission — ${machineLine()}`);
  console.log(
    `${WORKERS} mocker workers (speed-up ${SPEEDUP}, 256 KV blocks, busy above 50%), streaming /v1/completions, prompt ${PROMPT_TOKENS} tokens, ${OUTPUT_TOKENS} output tokens, ` +
      `${DURATION_S} s of Poisson arrivals per mode, queue timeout ${QUEUE_TIMEOUT_MS / 1000} s\n`,
  );
  console.log(markdownTable(["frontend", "tenant", "sent", "completed", "goodput (output tok/s)", "TTFT p50 / p99 (ms)", "503"], rows));
}

await main();
