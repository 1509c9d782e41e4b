// The fleet page with 1,000 simulated workers stays light: the page is small, the first
// snapshot is bounded, and while a tenth of the workers change every 100 ms the browser gets
// at most one delta per tick, of bounded size, and keeps every row current (planner decisions too).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import Fastify from "fastify";
import { asWorkerId } from "../../src/protocols/index.ts";
import type { WorkerId } from "../../src/protocols/index.ts";
import { FleetState, registerFleetPage } from "../../src/frontend/index.ts";
import type { FleetSource } from "../../src/frontend/index.ts";
import type { RouterStats } from "../../src/router/index.ts";
import { launchChromium } from "../support/browser.ts";
import type { HeadlessBrowser } from "../support/browser.ts";

const NUM_WORKERS = 1000;
const TICK_MS = 500;
// Bounds: the HTML page, the first snapshot, the delta stream (bytes per second and messages per tick).
const MAX_PAGE_BYTES = 16 * 1024;
const MAX_SNAPSHOT_BYTES = 160 * 1024;
const MAX_STREAM_BYTES_PER_S = 120 * 1024;

let browser: HeadlessBrowser | undefined;
const app = Fastify();
after(async () => {
  await browser?.close();
  await app.close();
});

test("frontend - the fleet page stays under its size and update-rate bounds with 1,000 workers", { timeout: 120_000 }, async () => {
  const state = new FleetState();
  const active = new Map<WorkerId, number>();
  let requests = 0;
  const source: FleetSource = {
    model: "sim",
    role: "decode",
    stats: (): RouterStats => ({ numRequests: requests, numPromptBlocks: requests * 10, numHitBlocks: requests * 4, kvHitRate: 0.4, numExpiredBookings: 0, numReconciledBookings: 0, numHitBlocksByTier: { device: requests * 3, host: requests, disk: 0, remote: 0 } }),
    workerLoad: (id) => ({ workerId: id, totalBlocks: 4096, activePrefillTokens: 0, activeDecodeBlocks: 0, numActiveRequests: active.get(id) ?? 0, kvUsage: 0, cachedBlocks: 0 }),
  };
  state.register(source);
  const ids = Array.from({ length: NUM_WORKERS }, (_, i) => asWorkerId(`sim${String(i).padStart(4, "0")}`));
  for (const [i, id] of ids.entries()) state.workerAdded(source, id, i % 4 === 0 ? "prefill" : "decode", "sim", 4096);
  registerFleetPage(app, state, { tickMs: TICK_MS });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;

  // Churn: every 100 ms a tenth of the workers report new load, and decisions are sampled.
  let step = 0;
  const churn = setInterval(() => {
    step++;
    for (let k = 0; k < NUM_WORKERS / 10; k++) {
      const id = ids[(step * 97 + k * 13) % NUM_WORKERS]!;
      state.loadMetrics({ workerId: id, activeBlocks: step % 4096, totalBlocks: 4096, kvUsage: (step % 100) / 100, numRunningSeqs: step % 7, numWaitingSeqs: step % 3, pendingPrefillTokens: 0, prefixCacheHitRate: 0, timestamp: Date.now() });
      active.set(id, step % 5);
    }
    requests += 10;
    if (step % 10 === 0) state.plannerDecision({ at: Date.now(), planner: "load", connector: "virtual", pools: [{ pool: "decode", current: 750, desired: 760 + (step % 3), cause: "kv use", reason: "kv use 90% > 80%" }] });
    if (state.wantsDecision()) state.decision("sim", "decode", ids[step % NUM_WORKERS]!, 10, ids.slice(0, 8).map((w, i) => ({ workerId: w, overlapBlocks: i, cost: 100 - i })));
  }, 100);

  try {
    browser = await launchChromium();
    const page = await browser.newPage();
    const response = await page.goto(`${url}/fleet`);
    const html = (await response!.body()).length;
    assert.ok(html < MAX_PAGE_BYTES, `page ${html} B < ${MAX_PAGE_BYTES} B`);
    // Functions run in the page; they are strings here because the project's types have no DOM.
    await page.waitForFunction(`document.querySelectorAll("#workers tbody tr").length === ${NUM_WORKERS}`, undefined, { timeout: 30_000 });
    type Stats = { messages: number; bytes: number; snapshots: number; deltas: number };
    const read = (): Promise<Stats> => page.evaluate("({ ...window.__fleet })") as Promise<Stats>;
    const first = await read();
    assert.equal(first.snapshots, 1);
    assert.ok(first.bytes < MAX_SNAPSHOT_BYTES, `snapshot ${first.bytes} B < ${MAX_SNAPSHOT_BYTES} B`);

    const t0 = Date.now();
    const s0 = await read();
    await new Promise((r) => setTimeout(r, 5000));
    const s1 = await read();
    const seconds = (Date.now() - t0) / 1000;
    const deltas = s1.deltas - s0.deltas;
    const rate = (s1.bytes - s0.bytes) / seconds;
    assert.ok(deltas > 0, "deltas arrive while workers change");
    assert.ok(deltas <= Math.ceil((seconds * 1000) / TICK_MS) + 1, `${deltas} deltas in ${seconds.toFixed(1)} s: at most one per ${TICK_MS} ms tick`);
    assert.ok(rate < MAX_STREAM_BYTES_PER_S, `${Math.round(rate)} B/s < ${MAX_STREAM_BYTES_PER_S} B/s`);
    assert.equal(s1.snapshots, 1, "no snapshot again: the client kept up");

    // The rows are current: stop the churn, wait a tick, compare a changed worker with the server.
    clearInterval(churn);
    await new Promise((r) => setTimeout(r, TICK_MS * 3));
    const row = state.rows().find((r) => r.running > 0)!;
    const shown = await page.locator(`tr[data-worker="${row.id}"] td`).allTextContents();
    assert.equal(shown[9], String(row.running));
    assert.equal(shown[11], String(row.load));
    assert.equal(await page.locator("#workers tbody tr").count(), NUM_WORKERS);
    assert.ok((await page.locator("#decisions li").count()) > 0, "sampled decisions are shown");
    assert.match((await page.locator("#planner li").first().textContent()) ?? "", /decode: 750 → 76\d \(kv use\) kv use 90% > 80%/, "the planner's decisions are shown");
    assert.equal(await page.locator("#planner-total").textContent(), String(state.recentPlannerDecisions().total));
    console.log(`# fleet page, ${NUM_WORKERS} workers: page ${html} B, snapshot ${first.bytes} B, ${deltas} deltas in ${seconds.toFixed(1)} s, ${Math.round(rate)} B/s`);
  } finally {
    clearInterval(churn);
  }
});
