// `turbine serve --load-metrics-interval-ms`: the embedded workers publish their load metrics
// to the router as often as asked (the distributed `turbine worker` has had the flag).
import { test } from "node:test";
import assert from "node:assert/strict";
import { BACKEND_COMPONENT, loadMetricsSubject } from "../../src/protocols/index.ts";
import { startServer } from "../support/http.ts";

/** Load-metrics messages the server's workers publish in `ms`. */
async function published(intervalMs: number | undefined, ms: number): Promise<number> {
  const server = await startServer({ numWorkers: 2, ...(intervalMs !== undefined ? { loadMetricsIntervalMs: intervalMs } : {}) });
  try {
    const sub = server.runtime.events.subscribe(loadMetricsSubject("turbine", BACKEND_COMPONENT));
    let n = 0;
    const counting = (async () => {
      for await (const _m of sub) n++;
    })();
    await new Promise((r) => setTimeout(r, ms));
    sub.unsubscribe();
    await counting;
    return n;
  } finally {
    await server.close();
  }
}

test("cli - serve: the workers publish load metrics at --load-metrics-interval-ms", async () => {
  // Two workers for 600 ms: every 50 ms is about 24 messages, the default 100 ms about 12, and
  // once a minute none yet. The bounds leave room for a loaded machine's late timers.
  const fast = await published(50, 600);
  const slow = await published(60_000, 600);
  const byDefault = await published(undefined, 600);
  assert.ok(fast >= 12, `every 50 ms: ${fast} messages`);
  assert.equal(slow, 0, "once a minute: none in 600 ms");
  assert.ok(byDefault >= 4 && byDefault < fast, `the default (100 ms): ${byDefault} messages, fewer than every 50 ms (${fast})`);
});
