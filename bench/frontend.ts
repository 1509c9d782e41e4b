// bench:frontend — what the frontend, router and request plane add on top of an engine.
// Streaming requests through `turbine serve` (a child process, mocker at a speed-up so high
// that engine time is negligible) against the same mocker called in-process without HTTP,
// at concurrency 1, 64 and 256, measured side by side in one run. Ratios, not absolute times.
// The serve process's CPU per request and per token event (the slope between 32- and
// 256-token streams) is read from /proc; with BENCH_BASELINE_REF=<git ref> the `turbine serve`
// of that commit (a copy of its tree) runs beside today's in the same cells.
import { Agent, request as httpRequest } from "node:http";
import { MockerEngine } from "../src/engines/index.ts";
import { asRequestId } from "../src/protocols/index.ts";
import type { PreprocessedRequest } from "../src/protocols/index.ts";
import type { ChildProcess } from "node:child_process";
import { baselineCheckout, cpuSeconds, fmt, freePort, machineLine, markdownTable, percentile, sortedCopy, startTurbine, stopChild } from "./support.ts";

const SPEEDUP = 1e6;
const PROMPT_CHARS = 120;
const OUTPUT_TOKENS = 32;
// The long streams of the CPU-per-token-event slope (a quarter as many requests).
const LONG_OUTPUT_TOKENS = 256;
const ALL_LEVELS = [
  { concurrency: 1, requests: 300 },
  { concurrency: 64, requests: 3000 },
  { concurrency: 256, requests: 4000 },
];
// BENCH_CONCURRENCY="64" narrows a run (profiling: BENCH_PROFILE_DIR=/tmp/p).
const LEVELS = process.env["BENCH_CONCURRENCY"] ? ALL_LEVELS.filter((l) => process.env["BENCH_CONCURRENCY"]!.split(",").map(Number).includes(l.concurrency)) : ALL_LEVELS;

interface RunResult {
  seconds: number;
  latenciesMs: number[];
  ttftMs: number[];
  outputTokens: number;
}

async function runLoad(concurrency: number, total: number, one: (i: number) => Promise<{ latencyMs: number; ttftMs: number; tokens: number }>): Promise<RunResult> {
  let next = 0;
  const latenciesMs: number[] = [];
  const ttftMs: number[] = [];
  let outputTokens = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const r = await one(i);
        latenciesMs.push(r.latencyMs);
        ttftMs.push(r.ttftMs);
        outputTokens += r.tokens;
      }
    }),
  );
  return { seconds: (performance.now() - start) / 1000, latenciesMs, ttftMs, outputTokens };
}

function prompt(i: number): string {
  return `request ${i} `.padEnd(PROMPT_CHARS, "x");
}

async function direct(engine: MockerEngine, i: number): Promise<{ latencyMs: number; ttftMs: number; tokens: number }> {
  const t0 = performance.now();
  const req: PreprocessedRequest = {
    requestId: asRequestId(`direct-${i}`),
    model: "turbine-byte",
    tokenIds: [...Buffer.from(prompt(i))],
    sampling: {},
    stop: { maxTokens: OUTPUT_TOKENS, stopTokenIds: [], ignoreEos: true },
  };
  let ttft = -1;
  let tokens = 0;
  for await (const out of engine.generate(req, { signal: new AbortController().signal })) {
    if (ttft < 0 && out.tokenIds.length > 0) ttft = performance.now() - t0;
    tokens += out.tokenIds.length;
  }
  return { latencyMs: performance.now() - t0, ttftMs: ttft, tokens };
}

function viaHttp(agent: Agent, port: number, i: number, maxTokens = OUTPUT_TOKENS): Promise<{ latencyMs: number; ttftMs: number; tokens: number }> {
  const body = JSON.stringify({ model: "turbine-byte", prompt: prompt(i), max_tokens: maxTokens, ignore_eos: true, stream: true });
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: "127.0.0.1", port, path: "/v1/completions", method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        let ttft = -1;
        let tokens = 0;
        let buffered = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          buffered += chunk;
          let nl: number;
          while ((nl = buffered.indexOf("\n\n")) >= 0) {
            const event = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 2);
            if (!event.startsWith("data: {")) continue;
            const text = (JSON.parse(event.slice(6)) as { choices: { text: string }[] }).choices[0]?.text ?? "";
            if (text.length > 0) {
              if (ttft < 0) ttft = performance.now() - t0;
              tokens += text.length; // byte model: one character per token
            }
          }
        });
        res.on("end", () => {
          if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}`));
          else resolve({ latencyMs: performance.now() - t0, ttftMs: ttft, tokens });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

interface Server {
  name: string;
  port: number;
  child: ChildProcess;
}

/** One server's cell: the short run's result, and its CPU µs per request and per token event. */
async function measure(agent: Agent, server: Server, concurrency: number, requests: number): Promise<{ run: RunResult; cpuPerRequest: number; cpuPerEvent: number }> {
  const pid = server.child.pid!;
  const cpuOf = async (n: number, maxTokens: number): Promise<{ run: RunResult; us: number }> => {
    const c0 = cpuSeconds(pid);
    const run = await runLoad(concurrency, n, (i) => viaHttp(agent, server.port, i, maxTokens));
    const c1 = cpuSeconds(pid);
    return { run, us: c0 !== null && c1 !== null ? ((c1 - c0) * 1e6) / n : NaN };
  };
  const short = await cpuOf(requests, OUTPUT_TOKENS);
  const long = await cpuOf(Math.max(concurrency, Math.round(requests / 4)), LONG_OUTPUT_TOKENS);
  return { run: short.run, cpuPerRequest: short.us, cpuPerEvent: (long.us - short.us) / (LONG_OUTPUT_TOKENS - OUTPUT_TOKENS) };
}

async function main(): Promise<void> {
  const args = ["serve", "--engine", "mocker", "--workers", "1", "--router", "kv", "--speedup", String(SPEEDUP)];
  const baselineRef = process.env["BENCH_BASELINE_REF"];
  const baseline = baselineRef ? baselineCheckout(baselineRef) : null;
  const servers: Server[] = [];
  const engine = new MockerEngine({ speedup: SPEEDUP, card: { name: "turbine-byte" } });
  const agent = new Agent({ keepAlive: true, maxSockets: 512 });
  const rows: (string | number)[][] = [];
  try {
    const port = await freePort();
    servers.push({ name: "turbine", port, child: await startTurbine(args, port) });
    if (baseline) {
      const basePort = await freePort();
      servers.push({ name: `turbine@${baseline.commit}`, port: basePort, child: await startTurbine(args, basePort, 30_000, baseline.dir) });
    }
    // Warm up every path (JIT, connections).
    for (const s of servers) await runLoad(16, 400, (i) => viaHttp(agent, s.port, i));
    await runLoad(16, 400, (i) => direct(engine, i));
    for (const { concurrency, requests } of LEVELS) {
      const base = await runLoad(concurrency, requests, (i) => direct(engine, i));
      const b = sortedCopy(base.latenciesMs);
      const bt = sortedCopy(base.ttftMs);
      const rpsB = requests / base.seconds;
      for (const server of servers) {
        const { run: http, cpuPerRequest, cpuPerEvent } = await measure(agent, server, concurrency, requests);
        const h = sortedCopy(http.latenciesMs);
        const ht = sortedCopy(http.ttftMs);
        const rpsH = requests / http.seconds;
        rows.push([
          concurrency,
          server.name,
          requests,
          `${fmt(rpsH, 0)} / ${fmt(rpsB, 0)} = **${fmt(rpsH / rpsB)}**`,
          `${fmt(http.outputTokens / http.seconds, 0)} / ${fmt(base.outputTokens / base.seconds, 0)} = **${fmt(http.outputTokens / http.seconds / (base.outputTokens / base.seconds))}**`,
          `${fmt(percentile(ht, 50) - percentile(bt, 50))} / ${fmt(percentile(ht, 99) - percentile(bt, 99))}`,
          `${fmt(percentile(h, 50) - percentile(b, 50))} / ${fmt(percentile(h, 99) - percentile(b, 99))}`,
          `${fmt(percentile(h, 50) / percentile(b, 50))} / ${fmt(percentile(h, 99) / percentile(b, 99))}`,
          fmt(cpuPerRequest, 0),
          fmt(cpuPerEvent, 1),
        ]);
      }
      process.stderr.write(`concurrency ${concurrency} done\n`);
    }
  } finally {
    agent.destroy();
    await engine.close();
    for (const s of servers) await stopChild(s.child);
    baseline?.remove();
  }
  console.log(`\nbench:frontend — ${machineLine()}`);
  console.log(`streaming /v1/completions, prompt ${PROMPT_CHARS} tokens, ${OUTPUT_TOKENS} output tokens, mocker speed-up ${SPEEDUP}, 1 worker, kv router`);
  console.log("Turbine = HTTP client → turbine serve (child process) → router → mocker; direct = the same mocker called in-process");
  console.log(`CPU: the serve process's (frontend and its in-process mocker), all threads, /proc; per token event = slope between ${OUTPUT_TOKENS}- and ${LONG_OUTPUT_TOKENS}-token streams\n`);
  console.log(
    markdownTable(
      ["concurrency", "server", "requests", "req/s Turbine / direct = ratio", "output tok/s Turbine / direct = ratio", "added TTFT p50 / p99 (ms)", "added latency p50 / p99 (ms)", "latency ratio p50 / p99", "serve CPU µs/request", "serve CPU µs/token event"],
      rows,
    ),
  );
}

await main();
