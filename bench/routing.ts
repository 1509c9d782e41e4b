// Routing-policy comparison on the Mooncake conversation trace (12,031 requests, one hour of a
// production service), replayed in simulated time against 16 mocker engines behind the real
// router (RadixIndexer fed by the engines' KV events, active sequences, metrics every 100 ms).
// The time scale sets the load: timestamps × TIME_SCALE, so 0.25 replays the hour in 15 minutes
// of simulated time (4× the trace's request rate). Prints a markdown table per policy.
// Run: npm run bench:routing [-- --time-scale 0.25 --limit 3000 --policies kv,round-robin]
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { formatReplayTable, loadMooncakeTrace, replay, replayReport, NO_SHEDDING } from "../src/bench/index.ts";
import type { ReplayReport } from "../src/bench/index.ts";
import type { PolicyName } from "../src/router/index.ts";
import { machineLine } from "./support.ts";

const TRACE = fileURLToPath(new URL("./data/mooncake_conversation_trace.jsonl", import.meta.url));

const { values } = parseArgs({
  options: {
    "time-scale": { type: "string", default: "0.25" },
    start: { type: "string", default: "0" },
    limit: { type: "string" },
    // `kv@S` / `kv@S/K`: the kv policy with prefillLoadScale S (and newBlockWeight K); `kv@1/1`
    // is the plain ARCHITECTURE.md cost, shown beside the default to measure what it adds.
    policies: { type: "string", default: "kv,kv@1/1,round-robin,random,least-loaded,power-of-two,sglang,llmd" },
    json: { type: "boolean", default: false },
  },
});

const WORKERS = 16;
// Busy thresholds off (NO_SHEDDING): every policy is measured on every request, as the tables were.
const ENGINE = { numKvBlocks: 16384, blockSize: 16, maxNumSeqs: 256, maxNumBatchedTokens: 8192, busy: NO_SHEDDING };
const timeScale = Number(values["time-scale"]);
const start = Number(values.start);
const limit = values.limit !== undefined ? Number(values.limit) : undefined;
const policies = values.policies.split(",").map((spec) => {
  const [name, weights] = spec.split("@") as [PolicyName, string | undefined];
  const [scale, newBlock] = weights?.split("/") ?? [];
  const label = weights === undefined ? name : `${name} (prefill scale ${scale}${newBlock !== undefined ? `, new-block weight ${newBlock}` : ""})`;
  return { name, label, prefillLoadScale: scale !== undefined ? Number(scale) : undefined, newBlockWeight: newBlock !== undefined ? Number(newBlock) : undefined };
});

const workload = loadMooncakeTrace(TRACE, { timeScale, start, limit });
const reports: ReplayReport[] = [];
for (const p of policies) {
  const r = replay(workload, { numWorkers: WORKERS, policy: p.name, policyOptions: { prefillLoadScale: p.prefillLoadScale, newBlockWeight: p.newBlockWeight }, ...ENGINE, seed: 0 });
  process.stderr.write(`${p.label}: ${(r.wallMs / 1000).toFixed(1)} s wall, ${(r.simMs / 1000).toFixed(0)} s simulated\n`);
  reports.push(replayReport(p.label, r));
}

const kv = reports.find((r) => r.policy === "kv");
const rr = reports.find((r) => r.policy === "round-robin");
console.log(`## Routing policies on the Mooncake conversation trace (simulated)\n`);
console.log(
  `${workload.length} requests (rows ${start}..${start + workload.length - 1}), timestamps × ${timeScale}; ` +
    `${WORKERS} mocker workers, ${ENGINE.numKvBlocks} KV blocks of ${ENGINE.blockSize} tokens each, ` +
    `max_num_seqs ${ENGINE.maxNumSeqs}, max_num_batched_tokens ${ENGINE.maxNumBatchedTokens}, Dynamo's H100 timing fit; ` +
    `trace blocks of 512 tokens; KV events without delay, load metrics every 100 ms.\n`,
);
console.log(formatReplayTable(reports));
if (kv !== undefined && rr !== undefined) {
  console.log(`\nkv vs round-robin: mean TTFT ${(rr.ttftMs.mean / kv.ttftMs.mean).toFixed(2)}x lower, TTFT p90 ${(rr.ttftMs.p90 / kv.ttftMs.p90).toFixed(2)}x lower.`);
}
console.log(`\n${machineLine()}; wall time per policy: ${reports.map((r) => `${r.policy} ${r.wallS.toFixed(1)} s`).join(", ")}`);
if (values.json) console.log(`\n${JSON.stringify(reports, null, 2)}`);
