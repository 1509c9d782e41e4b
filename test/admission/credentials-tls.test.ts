// NATS and etcd with credentials and TLS, on real servers this test configures: the
// runtime's connections pass user/password, nkeys, etcd password auth and (mutual) TLS
// through, and a distributed runtime built on them serves a request end to end.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { nkeys } from "@nats-io/transport-node";
import { Etcd3 } from "etcd3";
import { ClusterAuth, EtcdDiscovery, Runtime, connectNats } from "../../src/runtime/index.ts";
import { freePort } from "../support/services.ts";
import { makeCerts } from "./certs.ts";
import type { TestCerts } from "./certs.ts";

let certs: TestCerts;
const children: ChildProcess[] = [];
let natsUrl = "";
let etcdUrl = "";
const nkeyUser = nkeys.createUser();
const nkeySeed = nkeyUser.getSeed();

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what} not ready`);
    await sleep(100);
  }
}

before(async () => {
  certs = makeCerts();
  // NATS: TLS with client certificates required, a password user and an nkey user.
  const natsPort = await freePort();
  const conf = join(certs.dir, "nats.conf");
  writeFileSync(
    conf,
    `listen: 127.0.0.1:${natsPort}
tls { cert_file: "${certs.serverCert}", key_file: "${certs.serverKey}", ca_file: "${certs.caFile}", verify: true }
authorization { users: [ { user: "turbine", password: "s3cret-pass" }, { nkey: "${nkeyUser.getPublicKey()}" } ] }
`,
  );
  children.push(spawn("/usr/sbin/nats-server", ["-c", conf, "-l", join(certs.dir, "nats.log")], { stdio: "ignore" }));
  natsUrl = `tls://127.0.0.1:${natsPort}`;
  // etcd: HTTPS with client certificates required, then password auth enabled.
  const clientPort = await freePort();
  const peerPort = await freePort();
  etcdUrl = `https://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  children.push(
    spawn(
      "/usr/bin/etcd",
      [
        "--name", "tls-test", "--data-dir", join(certs.dir, "etcd"),
        "--listen-client-urls", etcdUrl, "--advertise-client-urls", etcdUrl,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", `tls-test=${peer}`,
        "--cert-file", certs.serverCert, "--key-file", certs.serverKey, "--trusted-ca-file", certs.caFile, "--client-cert-auth",
        "--log-level", "error", "--logger", "zap",
      ],
      { stdio: "ignore" },
    ),
  );
  const credentials = { rootCertificate: certs.read(certs.caFile), certChain: certs.read(certs.clientCert), privateKey: certs.read(certs.clientKey) };
  const admin = new Etcd3({ hosts: etcdUrl, credentials });
  try {
    await waitFor(async () => admin.get("probe").then(() => true, () => false), "etcd");
    await admin.role("root").create();
    await admin.user("root").create("root-pass");
    await admin.user("root").addRole("root");
    await admin.auth.authEnable();
  } finally {
    admin.close();
  }
});

after(async () => {
  for (const c of children) c.kill("SIGKILL");
  await sleep(100);
  certs?.remove();
});

const tls = () => ({ ca: certs.read(certs.caFile).toString(), cert: certs.read(certs.clientCert).toString(), key: certs.read(certs.clientKey).toString() });

test("credentials - NATS over mutual TLS with a password in the URL, or an nkey; a wrong password is refused", async () => {
  const withUrl = await connectNats(natsUrl.replace("tls://", "tls://turbine:s3cret-pass@"), { tls: tls() });
  const withNkey = await connectNats(natsUrl, { tls: tls(), nkeySeed });
  try {
    const sub = withNkey.subscribe("t.hello", { max: 1 });
    await withNkey.flush();
    withUrl.publish("t.hello", "hi");
    for await (const m of sub) assert.equal(m.string(), "hi");
    await assert.rejects(
      Promise.race([connectNats(natsUrl, { tls: tls(), user: "turbine", pass: "wrong" }), sleep(5000).then(() => "still trying")]).then((r) => {
        if (r === "still trying") throw new Error("no answer");
        return (r as { close(): Promise<void> }).close().then(() => "connected");
      }),
      (e: Error) => /authorization|auth/i.test(String(e.message) + String((e as { code?: string }).code)),
    );
  } finally {
    await withUrl.close();
    await withNkey.close();
  }
});

test("credentials - etcd over mutual TLS with password auth registers and lists; without the password it cannot", async () => {
  const tlsBuffers = { ca: certs.read(certs.caFile), cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey) };
  const good = new EtcdDiscovery({ url: etcdUrl, ttlSeconds: 5, tls: tlsBuffers, auth: { username: "root", password: "root-pass" } });
  const anonymous = new EtcdDiscovery({ url: etcdUrl, ttlSeconds: 5, tls: tlsBuffers, callTimeoutMs: 2000 });
  try {
    const address = { namespace: "ns", component: "c", endpoint: "e" };
    await good.register({ instanceId: "i1", address, transport: { kind: "local" }, metadata: {} });
    assert.deepEqual((await good.list("")).map((i) => i.instanceId), ["i1"]);
    await assert.rejects(anonymous.list(""));
  } finally {
    await good.close();
    await anonymous.close();
  }
});

test("credentials - a distributed runtime on authenticated, encrypted NATS and etcd serves a request over the authenticated TCP plane", async () => {
  const options = {
    etcdUrl,
    natsUrl,
    nats: { tls: tls(), user: "turbine", pass: "s3cret-pass" },
    etcd: { tls: { ca: certs.read(certs.caFile), cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey) }, auth: { username: "root", password: "root-pass" } },
  };
  const auth = new ClusterAuth("a cluster secret of enough bytes");
  const worker = await Runtime.distributed({ ...options, clusterAuth: auth });
  const caller = await Runtime.distributed({ ...options, clusterAuth: new ClusterAuth("a cluster secret of enough bytes") });
  try {
    const served = await worker.namespace("ns").component("echo").endpoint("generate").serve<string, string>(async function* (req) {
      yield `echo ${req}`;
    });
    const client = await caller.namespace("ns").component("echo").endpoint("generate").client<string, string>();
    await client.waitForInstances(1, { signal: AbortSignal.timeout(10_000) });
    assert.deepEqual(await client.collect(served.instanceId, "hi"), ["echo hi"]);
    assert.equal(auth.stats.accepted, 1);
    client.close();
  } finally {
    await caller.close();
    await worker.close();
  }
});
