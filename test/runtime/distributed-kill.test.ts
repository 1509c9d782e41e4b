// A serving process killed with SIGKILL mid-stream: its callers fail at once (TCP: the
// connection drops; NATS: the heartbeat stops) and its instance leaves discovery when its
// etcd lease expires.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Runtime } from "../../src/runtime/index.ts";
import { TurbineError } from "../../src/protocols/index.ts";
import { eventually, startNatsAndEtcd } from "../support/services.ts";
import type { Service } from "../support/services.ts";

const CHILD = fileURLToPath(new URL("../support/serve-endpoint-child.ts", import.meta.url));
let nats: Service;
let etcd: Service;
before(async () => {
  ({ nats, etcd } = await startNatsAndEtcd());
});
after(async () => {
  await Promise.all([nats?.stop(), etcd?.stop()]);
});

function startChild(plane: "tcp" | "nats"): Promise<{ child: ChildProcess; instanceId: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, etcd.url, nats.url, plane, "1"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const m = /READY (\S+)/.exec(out);
      if (m) resolve({ child, instanceId: m[1]! });
    });
    child.once("exit", (code) => reject(new Error(`child exited with ${code}`)));
  });
}

for (const plane of ["tcp", "nats"] as const) {
  test(`runtime - ${plane} server killed mid-stream fails the caller fast and leaves discovery`, async () => {
    const { child, instanceId } = await startChild(plane);
    const rt = await Runtime.distributed({ etcdUrl: etcd.url, natsUrl: nats.url, requestPlane: plane });
    try {
      const client = await rt.endpoint({ namespace: "ns", component: "worker", endpoint: "generate" }).client<unknown, number>();
      await client.waitForInstances(1, { signal: AbortSignal.timeout(5000) });
      assert.ok(client.instance(instanceId));
      const got: number[] = [];
      let killedAt = 0;
      let listedAtFailure = false;
      await assert.rejects(
        (async () => {
          for await (const v of client.call(instanceId, {})) {
            got.push(v);
            if (got.length === 3) {
              killedAt = Date.now();
              child.kill("SIGKILL");
            }
          }
        })(),
        (e: unknown) => {
          listedAtFailure = client.instance(instanceId) !== undefined;
          return e instanceof TurbineError && e.code === "RUNTIME_CONNECTION_LOST";
        },
      );
      const detectMs = Date.now() - killedAt;
      // TCP sees the socket close at once: the stream failed while discovery (its lease not yet
      // expired) still listed the instance. NATS waits for three missed 1 s heartbeats.
      if (plane === "tcp") assert.ok(listedAtFailure, `the stream failed (${detectMs} ms after the kill) before the lease expired`);
      else assert.ok(detectMs < 4500, `the stream failed ${detectMs} ms after the kill`);
      assert.deepEqual(got.slice(0, 3), [0, 1, 2]);
      // The lease (TTL 1 s) expires: the instance leaves every watcher.
      await eventually(() => client.instances().length === 0, 5000, "the instance to leave discovery");
      client.close();
    } finally {
      child.kill("SIGKILL");
      await rt.close();
    }
  });
}
