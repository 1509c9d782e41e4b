// The preStop drain the Kubernetes manifests rely on, on a real `turbine worker` process:
// POST /drain takes the worker out of discovery, turns /health to 503 while /live stays 200,
// lets the request in flight finish, and answers once drained; the SIGTERM that follows exits 0.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { freePort } from "../support/services.ts";
import { health, startFrontend, startWorker, until, useCluster } from "../support/fleet.ts";

describe("deploy - a worker drained by its preStop hook", () => {
  const fx = useCluster();

  test("deploy - POST /drain deregisters the worker, finishes its request in flight, then SIGTERM exits 0", async () => {
    const metricsPort = await freePort();
    const worker = fx.track(
      await startWorker(fx.cluster, ["--engine", "mocker", "--model-name", "drain", "--speedup", "0.5", "--metrics-port", String(metricsPort), "--drain-timeout-ms", "20000"]),
    );
    const frontend = fx.track(await startFrontend(fx.cluster));
    await until("the worker", () => health(frontend.id), (h) => h.find((m) => m.model === "drain")?.workers === 1);
    const status = `http://127.0.0.1:${metricsPort}`;
    assert.equal((await fetch(`${status}/health`)).status, 200);

    const res = await fetch(`${frontend.id}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "drain", prompt: "a long answer", max_tokens: 120, ignore_eos: true, stream: true }),
    });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    await reader.read(); // the stream has started on the worker

    let drainedAt = 0;
    const drain = fetch(`${status}/drain`, { method: "POST" }).then(async (r) => {
      drainedAt = Date.now();
      return { status: r.status, body: (await r.json()) as { status: string } };
    });
    await until("/health turns 503", () => fetch(`${status}/health`).then((r) => r.status), (s) => s === 503, 5000);
    assert.equal((await fetch(`${status}/live`)).status, 200, "alive while draining");
    await until("the frontend drops the worker", () => health(frontend.id), (h) => h.find((m) => m.model === "drain")?.workers === 0);

    const next = await reader.read();
    assert.equal(next.done, false, "still streaming after the worker left discovery");
    assert.equal(drainedAt, 0, "the drain has not answered while its request streams");
    let text = new TextDecoder().decode(next.value);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    assert.match(text, /"finish_reason":"length"/, "the request in flight finished");
    assert.match(text, /data: \[DONE\]/);
    const drained = await drain;
    assert.deepEqual(drained, { status: 200, body: { status: "drained", workerId: worker.id } });

    worker.kill("SIGTERM");
    assert.equal(await worker.exited, 0);
  });
});
