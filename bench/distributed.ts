// bench:distributed — what the distributed request planes cost against the embedded one.
// Three fleets side by side in one run, each one mocker worker at a speed-up so high that
// engine time is negligible, driven over HTTP by this process:
//   embedded  `turbine serve --workers 1` (one process, direct calls)
//   tcp       `turbine worker` + `turbine frontend` processes, etcd discovery, TCP requests
//   nats      the same, requests over NATS
// nats-server and etcd are real child processes on free loopback ports. The load levels run
// the three fleets back to back, so all ratios come from the same minute on the same machine.
//
// `--cross-host` (needs root: network namespaces) measures disaggregation across two hosts
// instead: host B is a network namespace joined by a veth pair, with its own host id (so KV
// moves over TCP, not shared memory). A prefill worker on B, a decode worker on A, two
// frontends on A over the same workers: one prefills long prompts remotely (the default rule),
// the other always locally. Requests alternate between them; TTFT side by side.
import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { Agent, request as httpRequest } from "node:http";
import { startEtcd, startNats } from "../test/support/services.ts";
import type { Service } from "../test/support/services.ts";
import { fmt, freePort, machineLine, markdownTable, percentile, sortedCopy, startTurbine, stopChild } from "./support.ts";

const SPEEDUP = 1_000_000;
const PROMPT_CHARS = 64;
const OUTPUT_TOKENS = 32;
const MODEL = "turbine-byte";
// `--quick`: a tenth of the requests, to check that the bench works, not to measure.
const SCALE = process.argv.includes("--quick") ? 0.1 : 1;
const WARMUP = { concurrency: 16, requests: Math.ceil(300 * SCALE) };
const LEVELS = [
  { concurrency: 1, requests: Math.ceil(200 * SCALE) },
  { concurrency: 32, requests: Math.ceil(2000 * SCALE) },
];
const BIN = new URL("../bin/turbine.js", import.meta.url).pathname;

interface Sample {
  ttftMs: number;
  /** Mean gap between output tokens of this request (its tokens may arrive coalesced). */
  itlMs: number;
  tokens: number;
  /** SSE events that carried text: fewer than tokens when the stream coalesces them. */
  events: number;
}

interface LoadResult {
  seconds: number;
  requests: number;
  ttftMs: number[];
  itlMs: number[];
  outputTokens: number;
  events: number;
}

interface Fleet {
  name: string;
  port: number;
}

function prompt(i: number): string {
  return `request ${i} `.padEnd(PROMPT_CHARS, "x");
}

function streamOnce(agent: Agent, port: number, i: number): Promise<Sample> {
  const body = JSON.stringify({
    model: MODEL,
    prompt: prompt(i),
    max_tokens: OUTPUT_TOKENS,
    ignore_eos: true,
    stream: true,
    stream_options: { include_usage: true },
  });
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: "127.0.0.1", port, path: "/v1/completions", method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        let first = -1;
        let last = -1;
        let tokens = 0;
        let events = 0;
        let buffered = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          const now = performance.now();
          buffered += chunk;
          let nl: number;
          while ((nl = buffered.indexOf("\n\n")) >= 0) {
            const event = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 2);
            if (!event.startsWith("data: {")) continue;
            const parsed = JSON.parse(event.slice(6)) as { choices: { text: string }[]; usage?: { completion_tokens: number } | null };
            if (parsed.usage) tokens = parsed.usage.completion_tokens;
            if ((parsed.choices[0]?.text.length ?? 0) > 0) {
              if (first < 0) first = now;
              last = now;
              events++;
            }
          }
        });
        res.on("end", () => {
          if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode} from port ${port}`));
          if (first < 0) return reject(new Error("stream ended without a token"));
          resolve({ ttftMs: first - t0, itlMs: tokens > 1 ? (last - first) / (tokens - 1) : 0, tokens, events });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function runLoad(agent: Agent, port: number, concurrency: number, total: number): Promise<LoadResult> {
  let next = 0;
  const ttftMs: number[] = [];
  const itlMs: number[] = [];
  let outputTokens = 0;
  let events = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const s = await streamOnce(agent, port, next++);
        ttftMs.push(s.ttftMs);
        itlMs.push(s.itlMs);
        outputTokens += s.tokens;
        events += s.events;
      }
    }),
  );
  return { seconds: (performance.now() - start) / 1000, requests: total, ttftMs: sortedCopy(ttftMs), itlMs: sortedCopy(itlMs), outputTokens, events };
}

// Every child of this run, killed if the bench dies before its own cleanup (an error, ^C).
const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

function startWorker(plane: "tcp" | "nats", namespace: string, etcd: Service, nats: Service): ChildProcess {
  const args = [BIN, "worker", "--engine", "mocker", "--speedup", String(SPEEDUP), "--namespace", namespace];
  args.push("--etcd", etcd.url, "--nats", nats.url, "--request-plane", plane, "--log-level", "warn");
  return track(spawn(process.execPath, args, { stdio: ["ignore", "ignore", "inherit"] }));
}

/** One worker and one frontend on `plane`; resolves once the frontend's /health sees the worker. */
async function startDistributed(plane: "tcp" | "nats", etcd: Service, nats: Service): Promise<Fleet> {
  // A namespace per plane: both fleets share etcd and NATS without seeing each other.
  const namespace = `bench-${plane}`;
  startWorker(plane, namespace, etcd, nats);
  const port = await freePort();
  track(await startTurbine(["frontend", "--namespace", namespace, "--etcd", etcd.url, "--nats", nats.url, "--request-plane", plane], port, 60_000));
  return { name: plane.toUpperCase(), port };
}

function row(level: { concurrency: number; requests: number }, fleet: string, r: LoadResult, base: LoadResult): (string | number)[] {
  const rps = r.requests / r.seconds;
  const baseRps = base.requests / base.seconds;
  const tps = r.outputTokens / r.seconds;
  const baseTps = base.outputTokens / base.seconds;
  return [
    level.concurrency,
    fleet,
    `${fmt(percentile(r.ttftMs, 50))} / ${fmt(percentile(r.ttftMs, 99))}`,
    `${fmt(percentile(r.ttftMs, 50) - percentile(base.ttftMs, 50))} / ${fmt(percentile(r.ttftMs, 99) - percentile(base.ttftMs, 99))}`,
    `${fmt(percentile(r.itlMs, 50), 3)} / ${fmt(percentile(r.itlMs, 99), 3)}`,
    `${fmt(percentile(r.itlMs, 50) / percentile(base.itlMs, 50))} / ${fmt(percentile(r.itlMs, 99) / percentile(base.itlMs, 99))}`,
    fmt(r.outputTokens / r.events, 1),
    fleet === "embedded" ? fmt(rps, 0) : `${fmt(rps, 0)} (**${fmt(rps / baseRps)}×**)`,
    fleet === "embedded" ? fmt(tps, 0) : `${fmt(tps, 0)} (**${fmt(tps / baseTps)}×**)`,
  ];
}

async function main(): Promise<void> {
  const started = performance.now();
  const services: Service[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const rows: (string | number)[][] = [];
  try {
    const [nats, etcd] = await Promise.all([startNats(), startEtcd()]);
    services.push(nats, etcd);
    const embeddedPort = await freePort();
    track(await startTurbine(["serve", "--engine", "mocker", "--workers", "1", "--speedup", String(SPEEDUP)], embeddedPort, 60_000));
    const fleets: Fleet[] = [{ name: "embedded", port: embeddedPort }];
    // One at a time: process start-up (tsx, JIT) is CPU-heavy on a small machine.
    fleets.push(await startDistributed("tcp", etcd, nats));
    fleets.push(await startDistributed("nats", etcd, nats));
    process.stderr.write(`fleets up in ${fmt((performance.now() - started) / 1000, 1)} s\n`);

    for (const f of fleets) await runLoad(agent, f.port, WARMUP.concurrency, WARMUP.requests);
    for (const level of LEVELS) {
      const results = new Map<string, LoadResult>();
      for (const f of fleets) results.set(f.name, await runLoad(agent, f.port, level.concurrency, level.requests));
      const base = results.get("embedded")!;
      for (const f of fleets) rows.push(row(level, f.name, results.get(f.name)!, base));
      process.stderr.write(`concurrency ${level.concurrency} done\n`);
    }
  } finally {
    agent.destroy();
    // Frontends and workers before the servers they talk to; SIGTERM drains, then SIGKILL.
    await Promise.all([...children].map((c) => stopChild(c)));
    await Promise.all(services.map((s) => s.stop()));
  }

  console.log(`\nbench:distributed — ${machineLine()}`);
  console.log(
    `streaming /v1/completions, prompt ${PROMPT_CHARS} tokens, ${OUTPUT_TOKENS} output tokens (ignore_eos), mocker speed-up ${SPEEDUP}, 1 worker; ` +
      `load from one process over keep-alive HTTP; ${LEVELS.map((l) => `${l.requests} requests at concurrency ${l.concurrency}`).join(", ")}`,
  );
  console.log("embedded = `turbine serve` (one process); TCP / NATS = `turbine frontend` + `turbine worker` processes, etcd discovery, requests over that plane");
  console.log("ITL = a request's mean gap between output tokens (first to last token / (tokens − 1)); p50/p99 over requests; tokens per SSE event > 1 means tokens arrived coalesced\n");
  console.log(
    markdownTable(
      ["concurrency", "fleet", "TTFT p50 / p99 (ms)", "added TTFT p50 / p99 (ms)", "ITL p50 / p99 (ms)", "ITL ratio p50 / p99", "tokens per SSE event", "req/s (× embedded)", "output tok/s (× embedded)"],
      rows,
    ),
  );
  console.log(`\nwhole run ${fmt((performance.now() - started) / 1000, 1)} s`);
}

// --- cross-host disaggregation ---

const XH_PROMPT_TOKENS = [1000, 4000];
const XH_REQUESTS = Math.ceil(24 * SCALE);
const XH_KV_BYTES_PER_TOKEN = 32 * 1024; // a 1B-class model (Llama 3.2 1B: 16 layers, 8 KV heads of 64, fp16)

async function streamTtft(port: number, body: Record<string, unknown>): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ...body, stream: true }) });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let ttft = -1;
  let raw = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    raw += value;
    if (ttft < 0 && /"text":"[^"]/.test(raw)) ttft = performance.now() - t0;
  }
  if (ttft < 0) throw new Error("stream ended without a token");
  return ttft;
}

async function metricSum(url: string, name: string, labels = ""): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let n = 0;
  for (const line of text.split("\n")) if (line.startsWith(`${name}{`) && line.includes(labels)) n += Number(line.slice(line.lastIndexOf(" ") + 1));
  return n;
}

/** Spawns `turbine worker`, resolving with its metrics URL once its ready line appears. */
function spawnWorker(args: string[], netns?: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const argv = [BIN, "worker", ...args, "--log-level", "warn"];
  const child = track(netns ? spawn("ip", ["netns", "exec", netns, process.execPath, ...argv], { stdio: ["ignore", "pipe", "inherit"], env }) : spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "inherit"], env }));
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /metrics at (\S+)\/metrics/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`worker exited (${code}) before it was ready`)));
  });
}

async function crossHost(): Promise<void> {
  const started = performance.now();
  const tag = process.pid % 250;
  const ns = `tbbench${process.pid}`;
  const hostA = `10.232.${tag}.1`;
  const hostB = `10.232.${tag}.2`;
  const vethA = `tbxa${process.pid % 100000}`;
  const vethB = `tbxb${process.pid % 100000}`;
  const ip = (...args: string[]): void => {
    execFileSync("ip", args, { stdio: "pipe" });
  };
  ip("netns", "add", ns);
  const services: Service[] = [];
  const rows: (string | number)[][] = [];
  let checks = "";
  try {
    ip("link", "add", vethA, "type", "veth", "peer", "name", vethB);
    ip("link", "set", vethB, "netns", ns);
    ip("addr", "add", `${hostA}/24`, "dev", vethA);
    ip("link", "set", vethA, "up");
    ip("netns", "exec", ns, "ip", "addr", "add", `${hostB}/24`, "dev", vethB);
    ip("netns", "exec", ns, "ip", "link", "set", vethB, "up");
    ip("netns", "exec", ns, "ip", "link", "set", "lo", "up");
    const [nats, etcd] = await Promise.all([startNats({ host: hostA }), startEtcd({ host: hostA })]);
    services.push(nats, etcd);
    const cluster = ["--etcd", etcd.url, "--nats", nats.url, "--request-plane", "tcp", "--namespace", "xhost"];
    const mock = ["--engine", "mocker", "--speedup", "1", "--kv-bytes-per-token", String(XH_KV_BYTES_PER_TOKEN), ...cluster];
    await spawnWorker([...mock, "--role", "prefill", "--advertise-host", hostB, "--metrics-host", hostB], ns, { ...process.env, TURBINE_HOST_ID: `bench-host-b-${process.pid}` });
    const decodeMetrics = await spawnWorker([...mock, "--role", "decode", "--advertise-host", hostA]);
    const remotePort = await freePort();
    const localPort = await freePort();
    track(await startTurbine(["frontend", ...cluster], remotePort, 60_000));
    track(await startTurbine(["frontend", ...cluster, "--max-local-prefill-tokens", "100000000"], localPort, 60_000));
    for (const port of [remotePort, localPort]) {
      const end = Date.now() + 30_000;
      for (;;) {
        const h = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { models: { workers: number; prefillWorkers?: number }[] };
        if (h.models.some((m) => m.workers === 1 && m.prefillWorkers === 1)) break;
        if (Date.now() > end) throw new Error("the fleet did not come up");
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    process.stderr.write(`cross-host fleet up in ${fmt((performance.now() - started) / 1000, 1)} s\n`);
    let nRemote = 0;
    for (const promptTokens of XH_PROMPT_TOKENS) {
      const remote: number[] = [];
      const local: number[] = [];
      for (let i = -2; i < XH_REQUESTS; i++) {
        // A prompt of its own each time (no prefix cache hit), the same length; 2 warm-up rounds.
        const body = (k: string) => ({ model: MODEL, prompt: `${k}${i} ${promptTokens} `.padEnd(promptTokens, "y"), max_tokens: 4, ignore_eos: true });
        const r = await streamTtft(remotePort, body("r"));
        const l = await streamTtft(localPort, body("l"));
        if (i < 0) continue;
        remote.push(r);
        local.push(l);
      }
      nRemote += XH_REQUESTS + 2;
      const rs = sortedCopy(remote);
      const ls = sortedCopy(local);
      const mb = (promptTokens * XH_KV_BYTES_PER_TOKEN) / 1e6;
      rows.push([
        promptTokens,
        fmt(mb, 1),
        `${fmt(percentile(ls, 50), 1)} / ${fmt(percentile(ls, 90), 1)}`,
        `${fmt(percentile(rs, 50), 1)} / ${fmt(percentile(rs, 90), 1)}`,
        `${fmt(percentile(rs, 50) - percentile(ls, 50), 1)}`,
        `**${fmt(percentile(rs, 50) / percentile(ls, 50))}×**`,
      ]);
    }
    // The remote path really ran: every prompt of the remote frontend went through host B, its KV over TCP.
    const imported = await metricSum(decodeMetrics, "turbine_worker_kv_imports_total", 'path="tcp"');
    const fallbacks = await metricSum(decodeMetrics, "turbine_worker_kv_import_fallbacks_total");
    const remoteOk = await metricSum(`http://127.0.0.1:${remotePort}`, "turbine_remote_prefills_total", 'outcome="ok"');
    checks = `checks: ${remoteOk} of ${nRemote} remote frontend requests prefilled on host B; decode worker imported ${imported} KV over TCP, ${fallbacks} fallbacks to local prefill`;
    if (imported !== nRemote || fallbacks !== 0) throw new Error(`the remote path did not run for every request: ${checks}`);
  } finally {
    await Promise.all([...children].map((c) => stopChild(c)));
    await Promise.all(services.map((s) => s.stop()));
    for (const args of [["netns", "del", ns], ["link", "del", vethA]]) {
      try {
        ip(...args);
      } catch {
        // already gone
      }
    }
  }
  console.log(`\nbench:distributed --cross-host — ${machineLine()}`);
  console.log(
    `two hosts as network namespaces (veth, TCP; host B with its own host id, so no shared memory); mocker workers in real time (speed-up 1, Dynamo H100 timing), ` +
      `KV ${XH_KV_BYTES_PER_TOKEN / 1024} KiB/token (a 1B-class model in fp16); streaming /v1/completions, max_tokens 4, a fresh prompt per request, concurrency 1, ` +
      `${XH_REQUESTS} requests per size and mode after 2 warm-ups, alternating between the two frontends. TTFT as seen by the client.`,
  );
  console.log("local = decode worker prefills itself (frontend with --max-local-prefill-tokens 100000000); remote = prefill worker on host B, KV pulled over TCP by the decode worker on host A\n");
  console.log(markdownTable(["prompt tokens", "KV moved (MB)", "local prefill TTFT p50 / p90 (ms)", "remote prefill TTFT p50 / p90 (ms)", "added p50 (ms)", "remote / local p50"], rows));
  console.log(`\n${checks}; whole run ${fmt((performance.now() - started) / 1000, 1)} s`);
}

if (process.argv.includes("--cross-host")) await crossHost();
else await main();
