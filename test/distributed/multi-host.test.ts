// Two hosts on one machine: a network namespace made by this test, joined to the test's own
// namespace by a veth pair. etcd, NATS and a frontend on host A (10.231.N.1), a worker on
// host B (10.231.N.2) advertising its own address. What loopback cannot show: a worker
// reached at an address other than 127.0.0.1, and a network partition, where nothing closes
// a connection and only the lease and the stalled stream tell the frontend the worker is gone.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { complete, health, remotePrefills, startFrontend, startWorker, until, useCluster } from "../support/fleet.ts";
import type { TurbineProcess } from "../support/fleet.ts";

// A worker listening beyond loopback needs the cluster secret (or --insecure-internal): every
// process this test starts inherits it, so the frontend-to-worker connection is authenticated.
process.env["TURBINE_CLUSTER_SECRET"] = `multi-host-test-secret-${process.pid}`;

const ns = `tbhost${process.pid}`;
const subnet = `10.231.${process.pid % 250}`;
const hostA = `${subnet}.1`;
const hostB = `${subnet}.2`;
const vethA = `tba${process.pid % 100000}`;
const vethB = `tbb${process.pid % 100000}`;
/** A counter or gauge from a worker's own /metrics (URL from its ready line), summed over the series matching `labels`. */
async function metric(worker: TurbineProcess, name: string, labels = ""): Promise<number> {
  const url = /metrics at (\S+)\/metrics/.exec(worker.readyLine)![1]!;
  const text = await (await fetch(`${url}/metrics`)).text();
  let n = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) && line.includes(labels)) n += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return n;
}

const ip = (...args: string[]): void => {
  execFileSync("ip", args, { stdio: "pipe" });
};

describe("distributed - two hosts (network namespaces)", () => {
  before(() => {
    ip("netns", "add", ns);
    ip("link", "add", vethA, "type", "veth", "peer", "name", vethB);
    ip("link", "set", vethB, "netns", ns);
    ip("addr", "add", `${hostA}/24`, "dev", vethA);
    ip("link", "set", vethA, "up");
    ip("netns", "exec", ns, "ip", "addr", "add", `${hostB}/24`, "dev", vethB);
    ip("netns", "exec", ns, "ip", "link", "set", vethB, "up");
    ip("netns", "exec", ns, "ip", "link", "set", "lo", "up");
  });
  const fx = useCluster({ host: () => hostA, stopGraceMs: 1000 });
  after(() => {
    for (const args of [["netns", "del", ns], ["link", "del", vethA]]) {
      try {
        ip(...args);
      } catch {
        // already gone (deleting one end of a veth pair deletes both)
      }
    }
  });

  let local: TurbineProcess;
  let remote: TurbineProcess;
  let frontend: TurbineProcess;
  const body = { model: "mh", prompt: "across the wire", max_tokens: 120, seed: 8, ignore_eos: true };

  test("distributed - a worker on another host serves requests and its KV events reach the router", async () => {
    const mock = ["--engine", "mocker", "--model-name", "mh", "--speedup", "10"];
    local = fx.track(await startWorker(fx.cluster, mock));
    remote = fx.track(await startWorker(fx.cluster, [...mock, "--advertise-host", hostB], { netns: ns }));
    frontend = fx.track(await startFrontend(fx.cluster, ["--router", "round-robin"]));
    await until("both workers", () => health(frontend.id), (h) => h.find((m) => m.model === "mh")?.workers === 2);
    const onRemote = await complete(frontend.id, { ...body, max_tokens: 8, prompt: "r".repeat(200), turbine: { worker_id: remote.id } });
    assert.equal(onRemote.status, 200);
    assert.equal(onRemote.worker, remote.id);
    assert.equal(onRemote.text.length, 8);
    await until("the remote worker's blocks in the index", () => health(frontend.id), (h) => (h.find((m) => m.model === "mh")?.indexedBlocks ?? 0) >= 12);
  });

  test("distributed - disaggregation across hosts: the decode worker pulls the KV from the prefill worker's host over TCP", async () => {
    const mock = ["--engine", "mocker", "--model-name", "mhd", "--speedup", "10", "--kv-bytes-per-token", "4096"];
    // Host B is a host of its own: its own host id, so the transfer cannot take shared memory.
    process.env["TURBINE_HOST_ID"] = `host-b-${process.pid}`;
    let prefill: TurbineProcess;
    try {
      prefill = fx.track(await startWorker(fx.cluster, [...mock, "--role", "prefill", "--advertise-host", hostB, "--metrics-host", hostB], { netns: ns }));
    } finally {
      delete process.env["TURBINE_HOST_ID"];
    }
    const decode = fx.track(await startWorker(fx.cluster, [...mock, "--role", "decode"]));
    await until("the split model", () => health(frontend.id), (h) => {
      const m = h.find((x) => x.model === "mhd") as { workers: number; prefillWorkers?: number } | undefined;
      return m?.workers === 1 && m.prefillWorkers === 1;
    });
    const prompts = [0, 1, 2].map((i) => `document ${i} from far away `.repeat(40)); // ~1,100 tokens each: remote by the default rule
    for (const prompt of prompts) {
      const r = await complete(frontend.id, { model: "mhd", prompt, max_tokens: 4, ignore_eos: true });
      assert.equal(r.status, 200);
      assert.equal(r.worker, decode.id);
      assert.equal(r.text.length, 4);
    }
    // The bytes crossed the hosts: host B's worker exported them, host A's imported them over TCP, no fallback.
    assert.equal(await metric(prefill, "turbine_kv_transfers_total", `direction="export"`), prompts.length);
    assert.equal(await metric(decode, "turbine_worker_kv_imports_total", 'path="tcp"'), prompts.length);
    assert.equal(await metric(decode, "turbine_worker_kv_imports_total", 'path="shm"'), 0);
    assert.equal(await metric(decode, "turbine_worker_kv_import_fallbacks_total"), 0);
    assert.equal(await remotePrefills(frontend.id, "mhd", "ok"), prompts.length);
  });

  test("distributed - a partitioned worker leaves the fleet and its stream migrates", async () => {
    const reference = await complete(frontend.id, { ...body, turbine: { worker_id: local.id } });
    assert.equal(reference.text.length, 120);
    const res = await fetch(`${frontend.id}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, stream: true, turbine: { worker_id: remote.id } }),
    });
    assert.equal(res.headers.get("x-turbine-worker"), remote.id);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let raw = "";
    let cut = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      raw += value;
      if (!cut && (raw.match(/"text":"[^"]/g) ?? []).length >= 10) {
        cut = true;
        ip("link", "set", vethA, "down"); // the network between the hosts fails
      }
    }
    assert.ok(cut);
    const events = raw.split("\n\n").filter((e) => e.startsWith("data: {")).map((e) => JSON.parse(e.slice(6)) as Record<string, unknown>);
    assert.deepEqual(events.filter((e) => "error" in e), [], "no error reached the client");
    assert.equal(events.map((e) => ((e["choices"] as { text: string }[])[0]?.text ?? "")).join(""), reference.text, "one stream, nothing repeated or lost");
    // The stream may have migrated on the connection's own failure, before the lease ran out: the
    // worker leaves the fleet within a lease TTL (2 s) of the partition either way.
    await until("the partitioned worker left the fleet (its lease expired)", () => health(frontend.id), (h) => h.find((m) => m.model === "mh")?.workers === 1, 10_000);
  });
});
