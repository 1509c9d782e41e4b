// `turbine bench` against `turbine serve --engine mocker --speedup k` and `turbine replay` on
// the same trace window must tell the same story: hit rates within 5% and TTFT medians within
// 20% of each other (docs/bench.md, "bench and replay agree", explains the remaining gap).
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadMooncakeTrace, replay, runBench } from "../../src/bench/index.ts";
import type { WorkloadRequest } from "../../src/bench/index.ts";
import { EmbeddedServer } from "../../src/cli/index.ts";

const TRACE = new URL("../../bench/data/mooncake_conversation_trace.jsonl", import.meta.url).pathname;
// At speed-up k, every real millisecond the serving path spends (HTTP, admission, routing) counts
// as k simulated ones; at 5 that overhead alone moved the live median 25–40% off the replay's.
const SPEEDUP = 2;
const WORKERS = 4;
const START = 0;
const LIMIT = 80;

/** The window, less prompts longer than the byte model's 32,768-token context (both sides alike). */
function window(timeScale: number): WorkloadRequest[] {
  return loadMooncakeTrace(TRACE, { start: START, limit: LIMIT, timeScale })
    .filter((r) => r.inputLength < 30_000)
    .map((r, index) => ({ index, arrivalMs: r.arrivalMs, tokenIds: r.tokenIds, outputTokens: r.outputTokens }));
}

test("bench - bench through HTTP and replay in simulated time agree on hit rate and TTFT", async () => {
  const simulated = replay(window(1), { numWorkers: WORKERS, policy: "kv", mode: { kind: "trace" } });

  const server = await EmbeddedServer.start({ host: "127.0.0.1", port: 0, numWorkers: WORKERS, engine: "mocker", mocker: { speedup: SPEEDUP }, router: { policy: "kv" } });
  let live;
  try {
    live = await runBench({
      url: server.url,
      model: "turbine-byte",
      requests: window(1 / SPEEDUP),
      workload: { kind: "trace", path: TRACE, start: START, limit: LIMIT, timeScale: 1 / SPEEDUP },
      mode: { kind: "trace" },
    });
  } finally {
    await server.close();
  }
  assert.equal(live.summary.failures, 0);
  assert.equal(live.summary.count, simulated.summary.count);
  const liveHit = live.summary.prefixHitRate!;
  const simHit = simulated.hitRate;
  // Wall-clock milliseconds at speed-up k are k times simulated milliseconds.
  const liveTtft = live.summary.ttft.p50 * SPEEDUP;
  const simTtft = simulated.summary.ttft.p50;
  const detail = `hit rate ${liveHit.toFixed(4)} (bench) vs ${simHit.toFixed(4)} (replay); TTFT p50 ${liveTtft.toFixed(0)} vs ${simTtft.toFixed(0)} sim-ms`;
  assert.ok(simHit > 0.02, `the window reuses prefixes: ${detail}`);
  assert.ok(Math.abs(liveHit - simHit) <= 0.05 * Math.max(liveHit, simHit), detail);
  assert.ok(Math.abs(liveTtft - simTtft) <= 0.2 * Math.max(liveTtft, simTtft), detail);
});
