// KV block manager on the Mooncake conversation trace, in simulated time: 16 mocker workers
// behind the kv router (the same sizes as bench:routing), G1 only against G1+G2, G1+G2+G3 and
// G1+G2+G3+G4, with the `bound` row (no queueing, unlimited shared cache). Costs: Dynamo's H100
// prefill fit (measured by Dynamo), 128 KiB of KV per token (an 8B model in fp16), tier
// bandwidths host 25 / disk 3 / remote 10 GB/s (the defaults; flags below change them).
// Then the real part (bench/kvbm-llamacpp.ts): llama.cpp TTFT of a 2,000-token prompt recomputed
// against onboarded from G2, G3 and G4.
// Run: npm run bench:kvbm [-- --part sim|llamacpp|all --time-scale 0.25 --limit 3000 --host-gib 64 --disk-gib 512 --remote-gib 2048]
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { boundReport, formatReplayTable, loadMooncakeTrace, replay, replayReport, NO_SHEDDING } from "../src/bench/index.ts";
import type { ReplayKvbm, ReplayReport } from "../src/bench/index.ts";
import { benchLlamaKvbm } from "./kvbm-llamacpp.ts";
import { fmt, machineLine, markdownTable } from "./support.ts";

const TRACE = fileURLToPath(new URL("./data/mooncake_conversation_trace.jsonl", import.meta.url));

const { values } = parseArgs({
  options: {
    "time-scale": { type: "string", default: "0.25" },
    limit: { type: "string" },
    "host-gib": { type: "string", default: "64" },
    "disk-gib": { type: "string", default: "512" },
    "remote-gib": { type: "string", default: "2048" },
    "host-gbps": { type: "string", default: "25" },
    "disk-gbps": { type: "string", default: "3" },
    "remote-gbps": { type: "string", default: "10" },
    "offload-all": { type: "boolean", default: false },
    configs: { type: "string", default: "g1,g2,g3,g4" },
    part: { type: "string", default: "all" },
    preset: { type: "string", default: "small" },
    json: { type: "boolean", default: false },
  },
});

const WORKERS = 16;
// Busy thresholds off (NO_SHEDDING): every policy is measured on every request, as the tables were.
const ENGINE = { numKvBlocks: 16384, blockSize: 16, maxNumSeqs: 256, maxNumBatchedTokens: 8192, busy: NO_SHEDDING };
const GIB = 1024 ** 3;
const timeScale = Number(values["time-scale"]);
const limit = values.limit !== undefined ? Number(values.limit) : undefined;
const gbps = { host: Number(values["host-gbps"]), disk: Number(values["disk-gbps"]), remote: Number(values["remote-gbps"]) };
const host = Number(values["host-gib"]) * GIB;
const disk = Number(values["disk-gib"]) * GIB;
const remote = Number(values["remote-gib"]) * GIB;
const offloadAll = values["offload-all"];

const CONFIGS: Record<string, { label: string; kvbm?: ReplayKvbm }> = {
  g1: { label: "G1 only" },
  g2: { label: "G1+G2", kvbm: { hostBytes: host, gbps, offloadAll } },
  g3: { label: "G1+G2+G3", kvbm: { hostBytes: host, diskBytes: disk, gbps, offloadAll } },
  g4: { label: "G1+G2+G3+G4", kvbm: { hostBytes: host, diskBytes: disk, remoteBytes: remote, gbps, offloadAll } },
};

if (values.part === "all" || values.part === "sim") runSimulated();
if (values.part === "all" || values.part === "llamacpp") await runLlamaCpp();

function runSimulated(): void {
const workload = loadMooncakeTrace(TRACE, { timeScale, limit });
const reports: ReplayReport[] = [];
const onboarded: string[] = [];
for (const key of values.configs.split(",")) {
  const c = CONFIGS[key];
  if (c === undefined) throw new Error(`unknown config ${key}; known: ${Object.keys(CONFIGS).join(",")}`);
  const r = replay(workload, { numWorkers: WORKERS, policy: "kv", ...ENGINE, seed: 0, ...(c.kvbm !== undefined ? { kvbm: c.kvbm } : {}) });
  process.stderr.write(`${c.label}: ${(r.wallMs / 1000).toFixed(1)} s wall, ${(r.simMs / 1000).toFixed(0)} s simulated\n`);
  reports.push(replayReport(c.label, r));
  if (r.onboardedTokens !== undefined) {
    const o = r.onboardedTokens;
    onboarded.push(`${c.label}: ${(o.host / 1e6).toFixed(2)} M tokens from host, ${(o.disk / 1e6).toFixed(2)} M from disk, ${(o.remote / 1e6).toFixed(2)} M from remote`);
  }
}
const bound = boundReport(workload, ENGINE);
reports.push(bound);

console.log(`## KV block manager on the Mooncake conversation trace (simulated)\n`);
console.log(
  `${workload.length} requests, timestamps × ${timeScale}; ${WORKERS} mocker workers behind the kv router, ${ENGINE.numKvBlocks} KV blocks of ${ENGINE.blockSize} tokens each (G1), ` +
    `max_num_seqs ${ENGINE.maxNumSeqs}, max_num_batched_tokens ${ENGINE.maxNumBatchedTokens}, Dynamo's H100 timing fit; 128 KiB KV per token; ` +
    `G2 ${values["host-gib"]} GiB per worker at ${gbps.host} GB/s, G3 ${values["disk-gib"]} GiB per worker at ${gbps.disk} GB/s, G4 ${values["remote-gib"]} GiB shared at ${gbps.remote} GB/s` +
    `${offloadAll ? ", every block G2 evicts offloaded" : ", reused blocks offloaded to G3/G4"}; router tier credits derived from the same costs.\n`,
);
console.log(formatReplayTable(reports));
const g1 = reports.find((r) => r.policy === "G1 only");
const all = reports.find((r) => r.policy === "G1+G2+G3+G4");
if (g1 !== undefined && all !== undefined) {
  console.log(
    `\nG1+G2+G3+G4 vs G1 only: mean TTFT ${(g1.ttftMs.mean / all.ttftMs.mean).toFixed(2)}x lower; hit rate ${(100 * all.hitRate).toFixed(1)}% = ` +
      `${((100 * all.hitRate) / bound.hitRate).toFixed(0)}% of the unlimited-cache ceiling (${(100 * bound.hitRate).toFixed(1)}%).`,
  );
}
for (const line of onboarded) console.log(`- ${line}`);
console.log(`\n${machineLine()}; wall time: ${reports.filter((r) => r.policy !== "bound").map((r) => `${r.policy} ${r.wallS.toFixed(1)} s`).join(", ")}`);
if (values.json) console.log(`\n${JSON.stringify(reports, null, 2)}`);
}

async function runLlamaCpp(): Promise<void> {
  const r = await benchLlamaKvbm({ preset: values.preset as "tiny" | "small" | "100m" });
  console.log(`\n## KV block manager on llama.cpp (real)\n`);
  console.log(`TTFT of a ${r.promptTokens}-token prompt, random-weight \`${r.preset}\` GGUF, CPU, 1 thread; one sequence state ${(r.stateBytes / 2 ** 20).toFixed(1)} MiB; median of 3.\n`);
  const row = (label: string, ms: number): (string | number)[] => [label, fmt(ms, 1), fmt(r.ms.recompute / ms, 1)];
  console.log(
    markdownTable(
      ["prompt KV", "TTFT (ms)", "recompute / this"],
      [row("recomputed (no cache)", r.ms.recompute), row("onboarded from G2 (/dev/shm)", r.ms.host), row("onboarded from G3 (disk)", r.ms.disk), row("onboarded from G4 (Redis, written by another engine)", r.ms.remote)],
    ),
  );
  console.log(`\n${machineLine()}`);
}
