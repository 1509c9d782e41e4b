// Failure behaviour with real processes: workers killed or drained, NATS and etcd restarted,
// no worker left. Each promise of ARCHITECTURE.md is asserted, not assumed.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { complete, health, startFrontend, startWorker, until, useCluster } from "../support/fleet.ts";
import type { TurbineProcess } from "../support/fleet.ts";

/** Streams a completion, calling `onTokens(n)` as text arrives; returns the whole text and the events. */
async function stream(url: string, body: Record<string, unknown>, onTokens: (n: number, worker: string) => void): Promise<{ text: string; errors: unknown[]; done: boolean; worker: string }> {
  const r = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...body, stream: true }),
  });
  assert.equal(r.status, 200);
  const worker = r.headers.get("x-turbine-worker") ?? "";
  const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let text = "";
  const errors: unknown[] = [];
  let done = false;
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    buf += value;
    let i: number;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (ev === "data: [DONE]") done = true;
      else if (ev.startsWith("data: ")) {
        const j = JSON.parse(ev.slice(6)) as { choices?: { text: string }[]; error?: unknown };
        if (j.error) errors.push(j.error);
        text += j.choices?.[0]?.text ?? "";
        onTokens(text.length, worker);
      }
    }
  }
  return { text, errors, done, worker };
}

describe("distributed - failures", () => {
  const fx = useCluster({ leaseTtl: 2, stopGraceMs: 1000 });

  const workers = async (model: string, n: number, speedup = 20): Promise<TurbineProcess[]> => {
    const ws = await Promise.all(Array.from({ length: n }, () => startWorker(fx.cluster, ["--engine", "mocker", "--model-name", model, "--speedup", String(speedup)])));
    for (const w of ws) fx.track(w);
    return ws;
  };
  const frontend = async (model: string, n: number, args: string[] = []): Promise<TurbineProcess> => {
    const f = await startFrontend(fx.cluster, args);
    fx.track(f);
    await until(`${n} workers of ${model}`, () => health(f.id), (h) => h.find((m) => m.model === model)?.workers === n);
    return f;
  };

  test("distributed - a worker killed with SIGKILL mid-stream: the request migrates, the client sees one stream", async () => {
    const ws = await workers("m1", 2);
    const f = await frontend("m1", 2);
    const body = { model: "m1", prompt: "keep going no matter what", max_tokens: 150, seed: 4, ignore_eos: true };
    const reference = await complete(f.id, body);
    assert.equal(reference.text.length, 150);
    let killed = "";
    const r = await stream(f.id, body, (n, worker) => {
      if (!killed && n >= 20) {
        killed = worker;
        ws.find((w) => w.id === worker)!.kill("SIGKILL");
      }
    });
    assert.ok(killed, "a worker was killed mid-stream");
    assert.deepEqual(r.errors, [], "no error reached the client");
    assert.ok(r.done);
    assert.equal(r.text, reference.text, "no token repeated or lost");
    // The dead worker leaves routing at once (its connection dropped), and discovery once its lease expires.
    const h = await until("the killed worker to leave", () => health(f.id), (h) => h.find((m) => m.model === "m1")?.workers === 1);
    assert.ok(!h.find((m) => m.model === "m1")!.routableWorkers.includes(killed));
    const after = await complete(f.id, { ...body, prompt: "after the kill", max_tokens: 5 });
    assert.equal(after.status, 200);
    assert.notEqual(after.worker, killed);
  });

  test("distributed - a killed idle worker leaves routing when its lease expires, and its blocks leave every router's index", async () => {
    const ws = await workers("m2", 2);
    const [f1, f2] = [await frontend("m2", 2), await frontend("m2", 2)];
    const victim = ws[0]!;
    // Only the victim caches anything: its blocks show in both routers' indexes.
    const prompt = "x".repeat(400);
    assert.equal((await complete(f1.id, { model: "m2", prompt, max_tokens: 2, turbine: { worker_id: victim.id } })).worker, victim.id);
    for (const f of [f1, f2]) await until("the victim's blocks in the index", () => health(f.id), (h) => (h.find((m) => m.model === "m2")?.indexedBlocks ?? 0) >= 25);
    // A router that starts late builds its index from the workers' block sets (no new event comes).
    const late = await frontend("m2", 2);
    await until("the late router's index", () => health(late.id), (h) => (h.find((m) => m.model === "m2")?.indexedBlocks ?? 0) >= 25, 5000);
    await late.stop();
    victim.kill("SIGKILL");
    // Its connection to each frontend drops at once: it leaves routing while discovery (its
    // lease not yet expired) still lists it.
    for (const f of [f1, f2]) {
      const h = await until("the victim out of routing", () => health(f.id), (h) => !h.find((m) => m.model === "m2")!.routableWorkers.includes(victim.id), 5000);
      assert.equal(h.find((m) => m.model === "m2")!.workers, 2, "out of routing before its lease expired");
    }
    for (const f of [f1, f2]) {
      await until(
        "the victim and its blocks to leave",
        () => health(f.id),
        (h) => {
          const m = h.find((x) => x.model === "m2");
          return m?.workers === 1 && m.indexedBlocks === 0;
        },
        10_000,
      );
    }
  });

  test("distributed - SIGTERM drains a worker: in-flight requests finish, new ones go elsewhere, it exits 0", async () => {
    const ws = await workers("m3", 2);
    const f = await frontend("m3", 2);
    let terminated: TurbineProcess | undefined;
    const r = await stream(f.id, { model: "m3", prompt: "drain me", max_tokens: 100, ignore_eos: true }, (n, worker) => {
      if (!terminated && n >= 10) {
        terminated = ws.find((w) => w.id === worker)!;
        terminated.kill("SIGTERM");
      }
    });
    assert.ok(terminated);
    assert.deepEqual(r.errors, []);
    assert.equal(r.text.length, 100, "the in-flight request finished");
    assert.equal(r.worker, terminated.id);
    assert.equal(await terminated.exited, 0, "the worker exited cleanly");
    const metrics = await (await fetch(`${f.id}/metrics`)).text();
    assert.match(metrics, /turbine_request_migrations_total\{model="m3"\} 0|^(?![\s\S]*turbine_request_migrations_total\{model="m3"\})/, "finished where it was, not migrated");
    await until("the drained worker to deregister", () => health(f.id), (h) => h.find((m) => m.model === "m3")?.workers === 1, 3000);
    const next = await complete(f.id, { model: "m3", prompt: "next", max_tokens: 3 });
    assert.equal(next.status, 200);
    assert.notEqual(next.worker, terminated.id);
  });

  test("distributed - when no worker is left for a model, requests get a clear 503, not a hang", async () => {
    const ws = await workers("m4", 1);
    const f = await frontend("m4", 1);
    await ws[0]!.stop();
    await until("no worker left", () => health(f.id), (h) => h.find((m) => m.model === "m4")?.workers === 0, 5000);
    const t0 = Date.now();
    const r = await complete(f.id, { model: "m4", prompt: "anyone?", max_tokens: 3 });
    assert.equal(r.status, 503);
    assert.equal(r.error?.code, "router_no_workers");
    assert.ok(Date.now() - t0 < 5000, "answered, not left waiting (a generous guard against a hang)");
  });

  test("distributed - NATS restarted: clients reconnect and new requests succeed", async () => {
    await workers("m5", 1);
    const f = await frontend("m5", 1);
    assert.equal((await complete(f.id, { model: "m5", prompt: "before", max_tokens: 3 })).status, 200);
    await fx.nats.restart({ downMs: 500 });
    const r = await until("a request after the NATS restart", () => complete(f.id, { model: "m5", prompt: "after", max_tokens: 3 }), (x) => x.status === 200, 15_000);
    assert.equal(r.text.length, 3);
    // Events flow again: a new prompt's blocks reach the router's index.
    const before = (await health(f.id)).find((m) => m.model === "m5")!.indexedBlocks;
    await complete(f.id, { model: "m5", prompt: "y".repeat(320), max_tokens: 2 });
    await until("KV events after the restart", () => health(f.id), (h) => (h.find((m) => m.model === "m5")?.indexedBlocks ?? 0) > before, 10_000);
  });

  test("distributed - etcd restarted with its data lost: no request fails, the worker re-registers, new workers are seen", async () => {
    const [w] = await workers("m6", 1);
    const f = await frontend("m6", 1);
    const leaseOf = (keys: EtcdKey[]) => keys.find((k) => k.key.includes(w!.id))?.lease;
    const leaseBefore = leaseOf(await etcdKeys(fx.etcd.url));
    assert.ok(leaseBefore, "registered before");
    // Requests and health checks run throughout the restart (bounded: at most 2,000 rounds).
    const statuses: number[] = [];
    const healthStatuses: number[] = [];
    let running = true;
    const load = (async () => {
      for (let i = 0; running && i < 2000; i++) {
        statuses.push((await complete(f.id, { model: "m6", prompt: `during ${i}`, max_tokens: 2 })).status);
        healthStatuses.push((await fetch(`${f.id}/health`)).status);
      }
    })();
    try {
      await fx.etcd.restart({ wipe: true, downMs: 500 });
      // The worker may re-register within milliseconds, so "lost its data" is read off the lease:
      // a kept key would keep its old lease. The frontend kept the worker meanwhile.
      assert.notEqual(leaseOf(await etcdKeys(fx.etcd.url)), leaseBefore, "etcd lost its data");
      await until("the worker to re-register under a new lease", () => etcdKeys(fx.etcd.url), (keys) => leaseOf(keys) !== undefined, 15_000);
      const n = statuses.length;
      await until("requests after the re-registration", async () => statuses.length, (len) => len >= n + 5, 10_000);
    } finally {
      running = false;
      await load;
    }
    assert.deepEqual([...new Set(statuses)], [200], "no request failed during the restart");
    assert.deepEqual([...new Set(healthStatuses)], [200], "/health stayed 200");
    await workers("m6", 1);
    await until("a worker started after the restart", () => health(f.id), (h) => h.find((m) => m.model === "m6")?.workers === 2, 15_000);
  });
});

interface EtcdKey {
  key: string;
  lease: string | undefined;
}

/** The keys under turbine/ in etcd, with their leases (its JSON gateway). */
async function etcdKeys(url: string): Promise<EtcdKey[]> {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const r = await fetch(`${url}/v3/kv/range`, { method: "POST", body: JSON.stringify({ key: b64("turbine/"), range_end: b64("turbine0"), keys_only: true }) });
  const j = (await r.json()) as { kvs?: { key: string; lease?: string }[] };
  return (j.kvs ?? []).map((kv) => ({ key: Buffer.from(kv.key, "base64").toString("utf8"), lease: kv.lease }));
}

describe("distributed - a frozen worker", () => {
  // A lease longer than the test: only the request plane's heartbeat can find the frozen worker.
  const fx = useCluster({ leaseTtl: 10, stopGraceMs: 1000 });

  test("distributed - a SIGSTOPped worker leaves routing before its lease expires; its stream migrates and no new request goes to it", async () => {
    const ws = await Promise.all([0, 1].map(() => startWorker(fx.cluster, ["--engine", "mocker", "--model-name", "f1", "--speedup", "20"]).then((w) => fx.track(w))));
    const f = fx.track(await startFrontend(fx.cluster));
    await until("2 workers of f1", () => health(f.id), (h) => h.find((m) => m.model === "f1")?.workers === 2);
    const body = { model: "f1", prompt: "freeze, then carry on", max_tokens: 150, seed: 9, ignore_eos: true };
    const reference = await complete(f.id, body);
    let frozen = "";
    try {
      const r = await stream(f.id, body, (n, worker) => {
        if (!frozen && n >= 20) {
          frozen = worker;
          ws.find((w) => w.id === worker)!.kill("SIGSTOP");
        }
      });
      assert.ok(frozen, "a worker was frozen mid-stream");
      assert.deepEqual(r.errors, [], "no error reached the client");
      assert.ok(r.done);
      assert.equal(r.text, reference.text, "the stream finished on the other worker, no token repeated or lost");
      // Still registered (its 10 s lease holds), but not routable: the heartbeat took it out.
      const h = (await health(f.id)).find((m) => m.model === "f1")!;
      assert.equal(h.workers, 2, "the frozen worker is still in discovery");
      assert.ok(!h.routableWorkers.includes(frozen), "but out of routing");
      for (let i = 0; i < 8; i++) {
        const x = await complete(f.id, { ...body, prompt: `while frozen ${i}`, max_tokens: 3 });
        assert.equal(x.status, 200);
        assert.notEqual(x.worker, frozen, "no new request goes to the frozen worker");
      }
    } finally {
      for (const w of ws) w.kill("SIGCONT");
    }
  });

  test("distributed - --request-plane-timeout-ms: a frontend told to wait longer keeps a worker frozen for 3 s in routing, and its stream resumes there", async () => {
    const ws = await Promise.all([0, 1].map(() => startWorker(fx.cluster, ["--engine", "mocker", "--model-name", "f2", "--speedup", "20"]).then((w) => fx.track(w))));
    const f = fx.track(await startFrontend(fx.cluster, ["--request-plane-timeout-ms", "8000"]));
    await until("2 workers of f2", () => health(f.id), (h) => h.find((m) => m.model === "f2")?.workers === 2);
    const body = { model: "f2", prompt: "a long pause", max_tokens: 150, seed: 4, ignore_eos: true };
    const reference = await complete(f.id, body);
    let frozen = "";
    let routableWhileFrozen: string[] | undefined;
    let thawed: Promise<void> | undefined;
    try {
      const r = await stream(f.id, body, (n, worker) => {
        if (frozen || n < 20) return;
        frozen = worker;
        ws.find((w) => w.id === worker)!.kill("SIGSTOP");
        // Past the default 2 s deadline, within this frontend's 8 s: still routable. Then thawed.
        thawed = new Promise<void>((resolve) =>
          setTimeout(() => {
            void health(f.id)
              .then((h) => (routableWhileFrozen = h.find((m) => m.model === "f2")?.routableWorkers))
              .finally(() => {
                ws.find((w) => w.id === frozen)!.kill("SIGCONT");
                resolve();
              });
          }, 3000),
        );
      });
      await thawed;
      assert.ok(frozen, "a worker was frozen mid-stream");
      assert.ok(routableWhileFrozen?.includes(frozen), `the frozen worker stayed in routing for 3 s: ${JSON.stringify(routableWhileFrozen)}`);
      assert.deepEqual(r.errors, []);
      assert.equal(r.text, reference.text, "the stream finished, nothing lost or repeated");
      const metrics = await (await fetch(`${f.id}/metrics`)).text();
      assert.doesNotMatch(metrics, /^turbine_request_migrations_total\{model="f2"\} [1-9]/m, "it resumed on its worker: no migration");
    } finally {
      for (const w of ws) w.kill("SIGCONT");
    }
  });
});
