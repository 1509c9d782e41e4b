// `node --import tsx bench/profile-summary.ts <file.cpuprofile> [--skip <seconds>] [--top <n>]`:
// where a V8 CPU profile (node --cpu-prof; the benchmarks write one per Turbine process with
// BENCH_PROFILE_DIR) spent its busy time, by part of the request path: each sample goes to the
// first rule that matches a frame, from the leaf up (a sample in undici under the engine is
// undici's). `--skip` leaves out the first seconds (start-up); `--top` also lists the functions
// with the most self time. The tables of docs/benchmarks.md (issue 17) come from it.
import { readFileSync } from "node:fs";

interface CallFrame {
  functionName: string;
  url: string;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const RULES: [string, (f: CallFrame) => boolean][] = [
  ["metrics (prom-client)", (f) => f.url.includes("prom-client")],
  ["chat template (jinja)", (f) => f.url.includes("@huggingface/jinja")],
  ["tokenizer", (f) => /model\/(byte|hf|gguf)-tokenizer/.test(f.url) || f.url.includes("@huggingface/tokenizers")],
  ["tracing (otel)", (f) => f.url.includes("@opentelemetry") || /request-tracing|worker-tracing/.test(f.url)],
  ["router + kv hashing", (f) => /\/src\/(router|kv)\//.test(f.url) || f.url.includes("xxhash")],
  ["admission", (f) => /admission/.test(f.url)],
  ["preprocess (rest)", (f) => /frontend\/(preprocessor|prompt-cache|request-fields|chat-features|openai-schemas)/.test(f.url)],
  ["upstream client (undici)", (f) => f.url.includes("undici") || /upstream-client|sse-parser/.test(f.url)],
  ["openai-proxy engine", (f) => /openai-proxy-engine/.test(f.url)],
  ["request plane + worker", (f) => /\/src\/runtime\/|engines\/worker/.test(f.url)],
  ["pipeline", (f) => /model-pipeline|worker-pool|model-manager/.test(f.url)],
  ["postprocess + SSE + chat output", (f) => /postprocessor|detokenizer|stop-jail|chat-output|parsers\//.test(f.url) || (/http-server/.test(f.url) && /streamResponse|write|textEvent/.test(f.functionName))],
  ["http-server (rest)", (f) => /frontend\/(http-server|json-body|openai-errors)/.test(f.url)],
  ["fastify + ajv", (f) => /fastify|ajv|avvio|find-my-way|secure-json|light-my/.test(f.url)],
];
const SOCKET_WRITES = new Set(["writev", "writeUtf8String", "writeBuffer", "writeLatin1String"]);

function main(argv: string[]): void {
  const file = argv.find((a) => !a.startsWith("--") && argv[argv.indexOf(a) - 1] !== "--skip" && argv[argv.indexOf(a) - 1] !== "--top");
  if (!file) {
    console.error("usage: profile-summary.ts <file.cpuprofile> [--skip <seconds>] [--top <n>]");
    process.exit(2);
  }
  const opt = (name: string, d: number): number => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : d);
  const skipUs = opt("--skip", 0) * 1e6;
  const top = opt("--top", 0);
  const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byPart = new Map<string, number>();
  const bySelf = new Map<string, number>();
  let busy = 0;
  let t = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const d = p.timeDeltas[i] ?? 0;
    t += d;
    if (t < skipUs) continue;
    const leaf = byId.get(p.samples[i]!)!;
    const name = leaf.callFrame.functionName;
    if (name === "(idle)") continue;
    busy += d;
    const self = `${name || "(anonymous)"} ${leaf.callFrame.url.split("/").slice(-2).join("/")}`;
    bySelf.set(self, (bySelf.get(self) ?? 0) + d);
    let part: string | null = name === "(garbage collector)" ? "GC" : SOCKET_WRITES.has(name) ? "socket writes (syscalls)" : null;
    for (let id: number | undefined = leaf.id; part === null && id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      part = RULES.find(([, rule]) => rule(f))?.[0] ?? null;
    }
    part ??= leaf.callFrame.url.startsWith("node:") ? "node internals (streams, events, timers, http)" : "other";
    byPart.set(part, (byPart.get(part) ?? 0) + d);
  }
  const pct = (v: number): string => `${((100 * v) / busy).toFixed(1)}%`;
  console.log(`busy ${(busy / 1e6).toFixed(2)} s`);
  console.log("| part | share of busy time |\n| --- | --- |");
  for (const [k, v] of [...byPart].sort((a, b) => b[1] - a[1])) console.log(`| ${k} | ${pct(v)} |`);
  if (top > 0) {
    console.log("\n| self time | function |\n| --- | --- |");
    for (const [k, v] of [...bySelf].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| ${pct(v)} | ${k} |`);
  }
}

main(process.argv.slice(2));
