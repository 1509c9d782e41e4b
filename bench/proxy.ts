// `npm run bench:proxy`: Turbine (frontend + kv router + one openai-proxy worker) in front of a
// fast mock OpenAI-compatible upstream, against the same upstream called directly, through
// nginx (proxy_buffering off) and through a bare Node.js proxy (fastify + undici, no
// tokenization or routing), in one run; with BENCH_BASELINE_REF=<git ref>, also the Turbine of
// that commit (a copy of its tree) beside today's. Streaming chat completions of 16 tokens at
// concurrency 1, 32 and 128; requests/s and TTFT p50/p99 as ratios against direct, and the
// serving process's CPU per request and per token event (the slope to a 144-token stream).
// Each piece runs in its own process: upstream, Turbine(s), nginx, the Node.js proxy, load
// generator.
import { spawn, execFileSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import http from "node:http";
import { mkdtempSync, writeFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baselineCheckout, cpuSeconds, fmt, freePort, machineLine, percentile, sortedCopy } from "./support.ts";

const NUM_TOKENS = 16;
// The second, longer stream of each cell: CPU per token event is the slope between the two.
const LONG_TOKENS = Number(process.env["BENCH_LONG_TOKENS"] ?? 144);
// BENCH_CONCURRENCY="32" and BENCH_TARGETS="direct,turbine" narrow a run (profiling).
const CONCURRENCIES = (process.env["BENCH_CONCURRENCY"] ?? "1,32,128").split(",").map(Number);
const TARGETS = (process.env["BENCH_TARGETS"] ?? "direct,nginx,node-proxy,turbine").split(",");
const DURATION_MS = Number(process.env["BENCH_DURATION_MS"] ?? 3000);
const WARMUP_MS = Number(process.env["BENCH_WARMUP_MS"] ?? 3000);
// Rounds per cell (the median is reported); rounds after the first warm up for 1 s only.
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 1);
// Time between the mock's tokens (ms); 0: all at once (the default: measures proxy overhead only).
const ITL_MS = Number(process.env["BENCH_ITL_MS"] ?? 0);
const MODEL = "mock";
const self = new URL(import.meta.url).pathname;

// ---- role: the mock upstream (a minimal fast OpenAI-compatible SSE server) ----
function runUpstream(port: number): void {
  const models = JSON.stringify({ object: "list", data: [{ id: MODEL, object: "model" }] });
  const server = http.createServer((req, res) => {
    if (req.method === "GET") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(models);
      return;
    }
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(parts).toString()) as { max_tokens?: number };
      const chat = req.url!.includes("chat");
      const n = body.max_tokens ?? NUM_TOKENS;
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      const head = chat ? `{"id":"x","object":"chat.completion.chunk","model":"${MODEL}","choices":[{"index":0,"delta":{"content":"` : `{"id":"x","object":"text_completion","model":"${MODEL}","choices":[{"index":0,"text":"`;
      const token = `data: ${head}x"${chat ? "}" : ""},"finish_reason":null}]}\n\n`;
      const fin = chat ? `{"index":0,"delta":{},"finish_reason":"length"}` : `{"index":0,"text":"","finish_reason":"length"}`;
      const finish = (): void => {
        res.write(`data: {"id":"x","choices":[${fin}]}\n\n`);
        res.write(`data: {"id":"x","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":${n},"total_tokens":${10 + n}}}\n\n`);
        res.end("data: [DONE]\n\n");
      };
      if (ITL_MS <= 0) {
        // One event per token, each its own write: the shape of a real engine's stream.
        for (let i = 0; i < n; i++) res.write(token);
        finish();
        return;
      }
      let i = 0;
      const tick = (): void => {
        res.write(token);
        if (++i < n) setTimeout(tick, ITL_MS);
        else finish();
      };
      tick();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(port, "127.0.0.1", () => process.send?.("ready"));
}

// ---- role: the floor of a Node.js proxy ----
// The same libraries Turbine serves and proxies with (fastify, undici's pool), doing only what
// any proxy must: parse the JSON body, forward it, pipe the answer's bytes back. No template,
// tokenizer, routing or SSE re-encoding: the throughput ceiling of a one-process Node.js proxy
// on this machine, which Turbine's ratio should be read against.
async function runNodeProxy(port: number, upstream: string): Promise<void> {
  const { default: Fastify } = await import("fastify");
  const { Pool } = await import("undici");
  const pool = new Pool(upstream, { connections: 1024 });
  const app = Fastify();
  app.post("/v1/chat/completions", async (req, reply) => {
    const res = await pool.request({ path: "/v1/chat/completions", method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(req.body) });
    reply.hijack();
    reply.raw.writeHead(res.statusCode, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    for await (const chunk of res.body) reply.raw.write(chunk);
    reply.raw.end();
  });
  await app.listen({ host: "127.0.0.1", port });
  process.send?.("ready");
}

// ---- role: Turbine with one openai-proxy worker ----
async function runTurbine(port: number, upstream: string): Promise<void> {
  const { Runtime } = await import("../src/runtime/index.ts");
  const { Frontend } = await import("../src/frontend/index.ts");
  const { OpenAIProxyEngine, Worker } = await import("../src/engines/index.ts");
  const { builtinByteModel } = await import("../src/model/index.ts");
  const runtime = Runtime.embedded();
  const frontend = await Frontend.start({ runtime, namespace: "bench", host: "127.0.0.1", port, router: { policy: "kv" } });
  const model = builtinByteModel();
  const engine = new OpenAIProxyEngine({ upstream, upstreamModel: MODEL, card: { ...model.card, name: MODEL }, tokenizer: model.tokenizer, promptFormat: "tokens" });
  await Worker.start({ runtime, namespace: "bench", engine });
  await frontend.models.settled();
  process.send?.("ready");
}

// ---- role: the load generator ----
interface LoadResult {
  numRequests: number;
  numErrors: number;
  seconds: number;
  ttftMs: number[];
}

async function runLoad(url: string, concurrency: number, durationMs: number, numTokens: number, warmupMs: number, onMeasuring: () => void): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const u = new URL(url);
  const body = JSON.stringify({
    model: MODEL,
    messages: [{ role: "user", content: "Tell me a short story about a fast proxy." }],
    max_tokens: numTokens,
    stream: true,
  });
  const ttft: number[] = [];
  let numRequests = 0;
  let numErrors = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const t0 = performance.now();
      let first = true;
      const req = http.request(
        { hostname: u.hostname, port: u.port, path: "/v1/chat/completions", method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
        (res) => {
          if (res.statusCode !== 200) numErrors++;
          res.setEncoding("utf8");
          res.on("data", (c: string) => {
            // The first token: a content delta with text.
            if (first && c.includes('"content":"x')) {
              first = false;
              ttft.push(performance.now() - t0);
            }
          });
          res.on("end", () => {
            numRequests++;
            resolve();
          });
          res.on("error", () => {
            numErrors++;
            resolve();
          });
        },
      );
      req.on("error", () => {
        numErrors++;
        resolve();
      });
      req.end(body);
    });
  // Warm-up at the cell's concurrency, the same for every target: opens the connections and
  // lets the server's JIT settle (a Node.js server is several times slower in its first second).
  const warmEnd = performance.now() + warmupMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      do await one();
      while (performance.now() < warmEnd);
    }),
  );
  ttft.length = 0;
  numRequests = 0;
  numErrors = 0;
  onMeasuring();
  const start = performance.now();
  const end = start + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) await one();
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  return { numRequests, numErrors, seconds, ttftMs: ttft };
}

// ---- orchestration ----
function child(args: string[], script = self): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const profile = process.env["BENCH_PROFILE_DIR"] && args[0] === "turbine" ? ["--cpu-prof", `--cpu-prof-dir=${process.env["BENCH_PROFILE_DIR"]}${script === self ? "" : "/baseline"}`] : [];
    const c = spawn(process.execPath, [...profile, "--import", "tsx", script, ...args], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    c.once("message", () => resolve(c));
    c.once("exit", (code) => reject(new Error(`${args[0]} exited with ${code}`)));
  });
}

/** Runs a load generator; `onMeasuring` is called when its warm-up ends and measuring starts. */
function load(url: string, concurrency: number, numTokens: number, warmupMs: number, onMeasuring: () => void): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ["--import", "tsx", self, "load", url, String(concurrency), String(DURATION_MS), String(numTokens), String(warmupMs)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    c.on("message", (m) => {
      if (m === "measuring") onMeasuring();
      else resolve(m as LoadResult);
    });
    c.once("exit", (code) => code !== 0 && reject(new Error(`load generator exited with ${code}`)));
  });
}

function nginxBinary(): string | null {
  for (const p of ["/usr/sbin/nginx", "/usr/bin/nginx"]) if (existsSync(p)) return p;
  return null;
}

async function startNginx(dir: string, port: number, upstreamPort: number): Promise<ChildProcess | null> {
  const bin = nginxBinary();
  if (!bin) {
    console.error("nginx not found: install Debian's nginx-light (apt-get install -y nginx-light); skipping the nginx column");
    return null;
  }
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream mock { server 127.0.0.1:${upstreamPort}; keepalive 256; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`,
  );
  execFileSync(bin, ["-t", "-q", "-c", conf, "-p", dir, "-e", `${dir}/error.log`]);
  const c = spawn(bin, ["-c", conf, "-p", dir, "-e", `${dir}/error.log`], { stdio: "inherit" });
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/v1/models`);
      if (r.ok) return c;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("nginx did not start");
}

interface Cell {
  rps: number;
  p50: number;
  p99: number;
  /** Serving process's CPU µs per request, at NUM_TOKENS and at LONG_TOKENS. */
  cpuShort: number;
  cpuLong: number;
  errors: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "turbine-bench-proxy-"));
  const [upPort, turbinePort, nginxPort, nodeProxyPort, basePort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const procs: ChildProcess[] = [];
  const baselineRef = process.env["BENCH_BASELINE_REF"];
  const baseline = baselineRef ? baselineCheckout(baselineRef) : null;
  const baseName = baseline ? `turbine@${baseline.commit}` : "";
  try {
    procs.push(await child(["upstream", String(upPort)]));
    procs.push(await child(["turbine", String(turbinePort), `http://127.0.0.1:${upPort}`]));
    const nodeProxy = TARGETS.includes("node-proxy") ? await child(["node-proxy", String(nodeProxyPort), `http://127.0.0.1:${upPort}`]) : null;
    if (nodeProxy) procs.push(nodeProxy);
    const nginx = TARGETS.includes("nginx") ? await startNginx(dir, nginxPort, upPort) : null;
    if (nginx) procs.push(nginx);
    // The baseline: the same role of the same script, from the checkout of BENCH_BASELINE_REF.
    const base = baseline ? await child(["turbine", String(basePort), `http://127.0.0.1:${upPort}`], join(baseline.dir, "bench/proxy.ts")) : null;
    if (base) procs.push(base);
    const targets = ([
      ["direct", `http://127.0.0.1:${upPort}`],
      ...(nginx ? ([["nginx", `http://127.0.0.1:${nginxPort}`]] as [string, string][]) : []),
      ["node-proxy", `http://127.0.0.1:${nodeProxyPort}`],
      ["turbine", `http://127.0.0.1:${turbinePort}`],
      ...(base ? ([[baseName, `http://127.0.0.1:${basePort}`]] as [string, string][]) : []),
    ] as [string, string][]).filter(([name]) => TARGETS.includes(name) || (name === baseName && TARGETS.includes("turbine")));
    // The process that serves each target (direct: the upstream itself), for its CPU.
    const pidOf: Record<string, number | undefined> = { direct: procs[0]?.pid, turbine: procs[1]?.pid, nginx: nginx?.pid, "node-proxy": nodeProxy?.pid, [baseName]: base?.pid };
    const rows: string[] = [];
    const summary: string[] = [];
    for (const c of CONCURRENCIES) {
      // BENCH_ROUNDS > 1: the targets take turns round after round (A B C, A B C, ...) and each
      // figure is the median of its rounds, so a drift of the shared machine hits them alike.
      const rounds: Record<string, Cell[]> = {};
      for (let round = 0; round < ROUNDS; round++) {
        for (const [name, url] of targets) {
          const pid = pidOf[name];
          // The serving process's CPU over a measured part (all threads, /proc), per request.
          const measure = async (numTokens: number): Promise<{ r: LoadResult; cpuUs: number }> => {
            let cpu0: number | null = null;
            const r = await load(url, c, numTokens, round === 0 ? WARMUP_MS : Math.min(WARMUP_MS, 1000), () => (cpu0 = pid ? cpuSeconds(pid) : null));
            const cpu1 = pid ? cpuSeconds(pid) : null;
            return { r, cpuUs: cpu0 !== null && cpu1 !== null ? ((cpu1 - cpu0) * 1e6) / Math.max(1, r.numRequests) : NaN };
          };
          const short = await measure(NUM_TOKENS);
          const long = await measure(LONG_TOKENS);
          const sorted = sortedCopy(short.r.ttftMs);
          (rounds[name] ??= []).push({ rps: short.r.numRequests / short.r.seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99), cpuShort: short.cpuUs, cpuLong: long.cpuUs, errors: short.r.numErrors + long.r.numErrors });
        }
      }
      const cells: Record<string, Cell> = {};
      for (const [name, rs] of Object.entries(rounds)) {
        const med = (f: (x: Cell) => number): number => percentile(sortedCopy(rs.map(f)), 50);
        cells[name] = { rps: med((x) => x.rps), p50: med((x) => x.p50), p99: med((x) => x.p99), cpuShort: med((x) => x.cpuShort), cpuLong: med((x) => x.cpuLong), errors: rs.reduce((n, x) => n + x.errors, 0) };
      }
      const direct = cells["direct"] ?? Object.values(cells)[0]!;
      const np = cells["node-proxy"];
      for (const [name] of targets) {
        const m = cells[name]!;
        const x = (v: number, b: number): string => `${(v / b).toFixed(2)}×`;
        rows.push(
          `| ${c} | ${name} | ${m.rps.toFixed(0)} | ${x(m.rps, direct.rps)} | ${m.p50.toFixed(2)} | ${np ? (m.p50 - np.p50).toFixed(2) : "n/a"} | ${m.p99.toFixed(2)} | ${x(m.p99, direct.p99)} | ${fmt(m.cpuShort, 0)} | ${fmt(perEvent(m), 1)} | ${m.errors} |`,
        );
      }
      const t = cells["turbine"];
      if (t && np) {
        summary.push(
          `concurrency ${c}: Turbine ${(t.rps / direct.rps).toFixed(2)}× direct's requests/s, ${(t.rps / np.rps).toFixed(2)}× node-proxy's; CPU per request ${(t.cpuShort / np.cpuShort).toFixed(2)}× node-proxy's; ` +
            `CPU per token event ${fmt(perEvent(t), 1)} µs (node-proxy ${fmt(perEvent(np), 1)}); TTFT p50 +${(t.p50 - np.p50).toFixed(2)} ms over node-proxy` +
            (cells[baseName] ? `; baseline ${baseName}: ${fmt(cells[baseName].cpuShort, 0)} µs/request, ${fmt(perEvent(cells[baseName]), 1)} µs/token event, ${(cells[baseName].rps / direct.rps).toFixed(2)}× direct` : ""),
        );
      }
    }
    console.log(`\nbench:proxy — ${machineLine()}`);
    console.log(`Streaming chat completions, ${NUM_TOKENS} tokens (CPU per token event: the ${LONG_TOKENS}-token run's CPU per request less the ${NUM_TOKENS}-token one's, per extra token), mock inter-token time ${ITL_MS} ms, ${DURATION_MS / 1000} s per cell after ${WARMUP_MS / 1000} s of warm-up${ROUNDS > 1 ? `, median of ${ROUNDS} rounds (targets in turn)` : ""}; ratios against direct.\n`);
    console.log("| concurrency | target | req/s | req/s vs direct | TTFT p50 (ms) | TTFT p50 over node-proxy (ms) | TTFT p99 (ms) | p99 vs direct | server CPU µs/req | server CPU µs/token event | errors |");
    console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (const r of rows) console.log(r);
    if (summary.length > 0) console.log(`\n${summary.join("\n")}`);
  } finally {
    for (const p of procs) p.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
    baseline?.remove();
  }
}

/** CPU µs per token event: the slope between the short and the long streams' CPU per request. */
function perEvent(m: Cell): number {
  return (m.cpuLong - m.cpuShort) / (LONG_TOKENS - NUM_TOKENS);
}

const role = process.argv[2];
if (role === "upstream") runUpstream(Number(process.argv[3]));
else if (role === "turbine") await runTurbine(Number(process.argv[3]), process.argv[4]!);
else if (role === "node-proxy") await runNodeProxy(Number(process.argv[3]), process.argv[4]!);
else if (role === "load") {
  const r = await runLoad(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6]), Number(process.argv[7]), () => process.send!("measuring"));
  process.send!(r, () => process.exit(0));
} else await main();
