// Turbine across processes: frontends and workers as separate processes, found through a
// real etcd, talking over the TCP request plane and a real NATS.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeRandomLlamaGguf } from "../../src/model/index.ts";
import { complete, health, startFrontend, startWorker, until, useCluster } from "../support/fleet.ts";
import type { Completion } from "../support/fleet.ts";

const completeText = (url: string, model: string, prompt: string, maxTokens = 8): Promise<Completion> =>
  complete(url, { model, prompt, max_tokens: maxTokens, ignore_eos: true });

describe("distributed - a fleet of separate processes", () => {
  const fx = useCluster();

  test("distributed - one frontend serves three mocker workers and a llama.cpp worker", async () => {
    const gguf = join(fx.dir, "tiny.gguf");
    await writeRandomLlamaGguf(gguf, { preset: "tiny", seed: 5 });
    const mockers = await Promise.all(
      [0, 1, 2].map(() => startWorker(fx.cluster, ["--engine", "mocker", "--model-name", "mock", "--speedup", "100"])),
    );
    const llama = await startWorker(fx.cluster, ["--engine", "llamacpp", "--model", gguf, "--model-name", "tiny-llama"]);
    for (const p of [...mockers, llama]) fx.track(p);
    const frontend = await startFrontend(fx.cluster, ["--router", "round-robin"]);
    fx.track(frontend);
    const models = await until(
      "both models with their workers",
      () => health(frontend.id),
      (h) => h.find((m) => m.model === "mock")?.workers === 3 && h.find((m) => m.model === "tiny-llama")?.workers === 1,
    );
    assert.equal(models.length, 2);
    const served = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await completeText(frontend.id, "mock", `request ${i}`);
      assert.equal(r.status, 200);
      assert.equal(r.text.length, 8);
      served.add(r.worker);
    }
    assert.deepEqual([...served].sort(), mockers.map((m) => m.id).sort(), "every mocker worker served");
    const l = await completeText(frontend.id, "tiny-llama", "Hello there", 6);
    assert.equal(l.status, 200);
    assert.equal(l.worker, llama.id);
    // Every process can be scraped: a worker serves its own /metrics.
    const metricsUrl = /metrics at (\S+)/.exec(mockers[0]!.readyLine)![1]!;
    const scraped = await (await fetch(metricsUrl)).text();
    assert.match(scraped, new RegExp(`turbine_worker_kv_total_blocks\\{worker="${mockers[0]!.id}",model="mock",role="aggregated"\\} 16384`));
    const list = (await (await fetch(`${frontend.id}/v1/models`)).json()) as { data: { id: string }[] };
    assert.deepEqual(list.data.map((m) => m.id).sort(), ["mock", "tiny-llama"]);
  });

  test("distributed - two frontends share one fleet and do not pile onto one worker", async () => {
    // Two slow workers of their own model; both frontends use least-loaded routing. Each
    // frontend sees the other's requests through the shared router decisions only: the
    // workers' own load metrics come too rarely (every 60 s) to tell it.
    const workers = await Promise.all(
      [0, 1].map(() => startWorker(fx.cluster, ["--engine", "mocker", "--model-name", "shared", "--speedup", "1", "--load-metrics-interval-ms", "60000"])),
    );
    for (const w of workers) fx.track(w);
    const [a, b] = await Promise.all([startFrontend(fx.cluster, ["--router", "least-loaded"]), startFrontend(fx.cluster, ["--router", "least-loaded"])]);
    fx.track(a!);
    fx.track(b!);
    for (const f of [a!, b!]) await until("both workers", () => health(f.id), (h) => h.find((m) => m.model === "shared")?.workers === 2);
    // Frontend a puts three long requests on the first worker (pinned: booked and shared like
    // any decision). Frontend b then routes two: only a's shared decisions tell it that the
    // first worker is busy; without them it would split its two 1-1 onto an idle-looking fleet.
    const busy = workers[0]!.id;
    const idle = workers[1]!.id;
    const long = { model: "shared", max_tokens: 300, ignore_eos: true };
    const pinned = [0, 1, 2].map((i) => complete(a!.id, { ...long, prompt: `pinned ${i}`, turbine: { worker_id: busy } }));
    // a's decisions reach b (NATS, milliseconds): b's router books them on the busy worker.
    await until("b sees a's bookings", () => bookedOn(b!.id, busy), (booked) => booked > 0);
    const routed: Completion[] = [];
    for (let i = 0; i < 2; i++) routed.push(await complete(b!.id, { ...long, max_tokens: 3, prompt: `routed ${i}` }));
    for (const p of await Promise.all(pinned)) assert.equal(p.worker, busy);
    assert.deepEqual(
      routed.map((r) => r.worker),
      [idle, idle],
      "b sent both requests to the worker a was not using",
    );
  });
});

/** What a frontend's router has booked on a worker (its decode blocks and prefill tokens), from /metrics. */
async function bookedOn(url: string, worker: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let total = 0;
  for (const line of text.split("\n")) {
    if (!/^turbine_worker_active_(decode_blocks|prefill_tokens)\{/.test(line) || !line.includes(`worker="${worker}"`)) continue;
    total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}
