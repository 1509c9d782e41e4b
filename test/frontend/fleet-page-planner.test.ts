// The planner's decisions on the fleet page: an embedded planner (`turbine serve --planner`)
// hands them to its frontend, and its page's event stream carries them; a distributed one
// (`turbine planner`) publishes them on the event plane, and the frontend records them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PlannerService, createLogger, startEmbeddedPlanner } from "../../src/cli/index.ts";
import type { PlannerFlags, PlannerServiceOptions } from "../../src/cli/index.ts";
import { VirtualConnector } from "../../src/planner/index.ts";
import type { PlannerInputs } from "../../src/planner/index.ts";
import { plannerDecisionsSubject } from "../../src/protocols/index.ts";
import type { PlannerDecisionMessage } from "../../src/protocols/index.ts";
import type { FleetPlannerDecision } from "../../src/frontend/index.ts";
import { startServer, waitFor } from "../support/http.ts";

interface FleetEvent {
  event: string;
  data: { planner?: { total: number; recent: FleetPlannerDecision[] } };
}

/** Reads the page's event stream until `check` holds for one of its events (or the time is up). */
async function readEvents(url: string, check: (e: FleetEvent) => boolean, timeoutMs: number, onOpen: () => Promise<void>): Promise<FleetEvent[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const events: FleetEvent[] = [];
  try {
    const res = await fetch(`${url}/fleet/events`, { signal: ac.signal });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    let opened = false;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const event = /^event: (\w+)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event === undefined || data === undefined) continue;
        const e = { event, data: JSON.parse(data) as FleetEvent["data"] };
        events.push(e);
        if (!opened) {
          opened = true;
          await onOpen();
        }
        if (check(e)) return events;
      }
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return events;
}

test("frontend - an embedded planner's decision reaches the fleet page's event stream", { timeout: 60_000 }, async (t) => {
  const server = await startServer({ numWorkers: 1 });
  t.after(() => server.close());
  const flags: PlannerFlags = { planner: "load", predictor: "constant", adjustmentInterval: 0.2, ttftTarget: 2000, itlTarget: 50, minWorkers: {}, maxWorkers: {}, plannerCooldown: 0 };
  let stopPlanner: (() => Promise<void>) | undefined;
  t.after(() => stopPlanner?.());
  // The planner starts once the stream is open: its decisions come as deltas, not in the snapshot.
  const events = await readEvents(server.url, (e) => e.event === "delta" && (e.data.planner?.recent.length ?? 0) > 0, 20_000, async () => {
    const planner = await startEmbeddedPlanner(server, flags, { engine: "mocker", mocker: { speedup: 1000 } }, "turbine", createLogger("silent", "test"));
    stopPlanner = () => planner.close();
  });
  assert.equal(events[0]?.event, "snapshot");
  assert.equal(events[0]!.data.planner?.total, 0, "no decision before the planner ran");
  const delta = events.at(-1)!;
  assert.equal(delta.event, "delta", "a delta carries the planner's decision");
  const d = delta.data.planner!.recent[0]!;
  assert.equal(d.pool, "aggregated");
  assert.equal(d.planner, "load");
  assert.equal(d.current, 1);
  assert.ok(Number.isInteger(d.desired) && d.desired >= 1);
  assert.ok(d.cause.length > 0 && d.reason.length > 0, "cause and reason are shown");
  assert.ok(Math.abs(d.at - Date.now()) < 60_000, "the decision's time");
  // The page renders them (the list is in the HTML; the stream fills it).
  const html = await (await fetch(`${server.url}/fleet`)).text();
  assert.match(html, /<ol id="planner">/);
});

test("frontend - a planner decision published on the event plane lands in the frontend's fleet state", { timeout: 30_000 }, async (t) => {
  const server = await startServer({ numWorkers: 1 });
  t.after(() => server.close());
  const fleet = server.frontend.metrics.fleetState;
  assert.equal(fleet.recentPlannerDecisions().total, 0);

  // The path of `turbine planner`: its service publishes each decision on the namespace's subject.
  const subject = plannerDecisionsSubject("turbine");
  const inputs = {
    collect: async (now: number, intervalMs: number, numWorkers: (p: "aggregated") => number): Promise<PlannerInputs> => ({
      now,
      intervalMs,
      pools: [{ pool: "aggregated", numWorkers: numWorkers("aggregated"), requestRate: 0, meanInputTokens: 0, meanOutputTokens: 0, ttftMs: NaN, itlMs: NaN, queueDepth: 0, kvUsage: 0.95, pendingPrefillTokens: 0, numWaitingForWorkers: 0 }],
    }),
    peekWaiting: async () => 0,
    close: () => undefined,
  };
  const published: PlannerDecisionMessage[] = [];
  const service = new PlannerService({
    planner: { kind: "load", decide: (i) => ({ now: i.now, pools: [{ pool: "aggregated", current: i.pools[0]!.numWorkers, desired: 3, reason: "kv use 95% > 80%", cause: "kv use" }] }) },
    connector: new VirtualConnector({ aggregated: 1 }, Date.now),
    inputs: inputs as unknown as PlannerServiceOptions["inputs"],
    pools: ["aggregated"],
    intervalMs: 60_000,
    log: createLogger("silent", "test"),
    onDecision: (d) => {
      published.push(d);
      server.runtime.events.publish(subject, d);
    },
  });
  t.after(() => service.close());
  await service.start();
  await service.tick();
  assert.equal(published.length, 1, "the service handed its decision on");
  await waitFor(() => fleet.recentPlannerDecisions().total === 1, 5000, "the decision in the fleet state");
  const d = fleet.recentPlannerDecisions().recent[0]!;
  assert.deepEqual({ pool: d.pool, current: d.current, desired: d.desired, cause: d.cause, reason: d.reason, planner: d.planner }, { pool: "aggregated", current: 1, desired: 3, cause: "kv use", reason: "kv use 95% > 80%", planner: "load" });
  assert.equal(d.at, published[0]!.at);

  // A malformed message from another process is dropped, a long reason is cut short.
  server.runtime.events.publish(subject, { at: 1, planner: "load", connector: "x", pools: "nope" });
  server.runtime.events.publish(subject, { at: 2, planner: "load", connector: "x", pools: [{ pool: "decode", current: 1, desired: 1, cause: "steady", reason: "r".repeat(10_000) }] });
  await waitFor(() => fleet.recentPlannerDecisions().total === 2, 5000, "the second decision");
  assert.equal(fleet.recentPlannerDecisions().recent[1]!.reason.length, 200);
});
