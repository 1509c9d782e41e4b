// The test fixtures themselves: a fixture that fails half-way throws with the failing server's
// output, stops what it already started, and lets the test process end.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import net from "node:net";
import { startEtcd, startNats } from "./services.ts";

const here = (f: string) => new URL(f, import.meta.url).pathname;

function run(args: string[], timeoutMs = 60_000): Promise<{ code: number | string; stdout: string; stderr: string }> {
  // Without the runner's NODE_TEST_CONTEXT, a child `node --test` reports as a run of its own.
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${args.join(" ")} did not end on its own in ${timeoutMs} ms (a started server kept it alive)\n${stderr}`));
    }, timeoutMs);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal ?? "unknown", stdout, stderr });
    });
  });
}

test("support - etcd failing after NATS started throws with etcd's output and leaves nothing running", async () => {
  const r = await run(["--import", "tsx", here("half-started-services-child.ts")]);
  assert.equal(r.code, 0, r.stderr);
  const seen = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { started: boolean; code?: string; output?: string; live?: number };
  assert.equal(seen.started, false);
  assert.equal(seen.code, "SERVICE_START_FAILED");
  assert.match(seen.output ?? "", /no-such-flag/, "etcd's own complaint is in the error");
  assert.match(r.stderr, /no-such-flag/, "and printed");
  assert.equal(seen.live, 0, "the NATS server it had started was stopped");
});

test("support - a suite whose cluster fixture fails half-way fails and ends on its own", async () => {
  const r = await run(["--import", "tsx", "--test", "--test-reporter=tap", here("half-started-cluster-suite.ts")]);
  assert.equal(r.code, 1, "the run fails");
  assert.match(r.stdout + r.stderr, /no-such-flag/, "with etcd's output");
});

test("support - a port taken between the probe and the bind is retried on another one", async (t) => {
  const squatter = net.createServer((socket) => socket.destroy());
  await new Promise<void>((r) => squatter.listen(0, "127.0.0.1", () => r()));
  t.after(() => new Promise((r) => squatter.close(r)));
  const taken = (squatter.address() as net.AddressInfo).port;
  for (const start of [startNats, startEtcd]) {
    const service = await start({ port: taken });
    t.after(() => service.stop());
    assert.ok(!service.url.endsWith(`:${taken}`), `${service.url} is not on the taken port`);
    const port = Number(new URL(service.url).port);
    const reachable = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      socket.once("connect", () => (socket.destroy(), resolve(true)));
      socket.once("error", () => resolve(false));
    });
    assert.ok(reachable, `${service.url} serves`);
  }
});
