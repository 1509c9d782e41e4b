// The internal planes only the cluster can use: a worker's TCP request plane and its KV
// transfer server refuse, before reading any request, a peer without the cluster secret,
// with a wrong one, or replaying a handshake captured from a legitimate connection.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { TurbineError } from "../../src/protocols/index.ts";
import { ClusterAuth, MemoryDiscovery, MemoryEventPlane, Runtime, TcpRequestPlane } from "../../src/runtime/index.ts";
import { TransferAgent, isTransferError } from "../../src/transfer/index.ts";
import { pattern, sha } from "../support/transfer.ts";

const SECRET = "correct horse battery staple 42";

/** A TCP request-plane frame (u32 length, u8 type, u32 stream id, payload), as a caller without the secret would send it. */
function requestFrame(payload: string): Buffer {
  const body = Buffer.from(payload);
  const buf = Buffer.alloc(9 + body.length);
  buf.writeUInt32BE(5 + body.length, 0);
  buf.writeUInt8(1, 4);
  buf.writeUInt32BE(1, 5);
  body.copy(buf, 9);
  return buf;
}

async function servedEcho(auth: ClusterAuth | null): Promise<{ rt: Runtime; instanceId: string; calls: () => number; port: number }> {
  const rt = new Runtime({ discovery: new MemoryDiscovery(), requests: new TcpRequestPlane({ auth }), events: new MemoryEventPlane() });
  let calls = 0;
  const served = await rt.namespace("ns").component("c").endpoint("echo").serve<string, string>(async function* (req) {
    calls++;
    yield req;
  });
  const info = (await rt.discovery.list("")).find((i) => i.instanceId === served.instanceId)!;
  const t = info.transport as { kind: "tcp"; port: number };
  return { rt, instanceId: served.instanceId, calls: () => calls, port: t.port };
}

function callerRuntime(auth: ClusterAuth | null, discovery: MemoryDiscovery): Runtime {
  return new Runtime({ discovery, requests: new TcpRequestPlane({ auth }), events: new MemoryEventPlane() });
}

/** Opens a raw socket, writes `bytes`, and resolves with what came back once the server closed it. */
function rawExchange(port: number, bytes: Buffer, timeoutMs = 8000): Promise<{ closed: boolean; received: Buffer }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = net.connect({ host: "127.0.0.1", port }, () => s.write(bytes));
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ closed: false, received: Buffer.concat(chunks) });
    }, timeoutMs);
    s.on("data", (d: Buffer) => chunks.push(d));
    s.on("error", () => undefined);
    s.on("close", () => {
      clearTimeout(timer);
      resolve({ closed: true, received: Buffer.concat(chunks) });
    });
  });
}

test("cluster auth - the TCP request plane serves peers that know the secret, and refuses every other before reading a request", async () => {
  const serverAuth = new ClusterAuth(SECRET, { timeoutMs: 1000 });
  const worker = await servedEcho(serverAuth);
  const discovery = worker.rt.discovery as MemoryDiscovery;
  const good = callerRuntime(new ClusterAuth(SECRET), discovery);
  const none = callerRuntime(null, discovery);
  const wrong = callerRuntime(new ClusterAuth("not the cluster secret at all"), discovery);
  try {
    const ep = (rt: Runtime) => rt.namespace("ns").component("c").endpoint("echo");
    const okClient = await ep(good).client<string, string>();
    assert.deepEqual(await okClient.collect(worker.instanceId, "hi"), ["hi"]);
    assert.equal(serverAuth.stats.accepted, 1);

    // Wrong secret: the caller sees the server's proof fail and never sends its request.
    const wrongClient = await ep(wrong).client<string, string>();
    await assert.rejects(wrongClient.collect(worker.instanceId, "steal"), (e) => e instanceof TurbineError && e.code === "RUNTIME_AUTH_FAILED");
    // No secret: the server sees a request frame where the handshake should be and hangs up.
    const noneClient = await ep(none).client<string, string>();
    await assert.rejects(noneClient.collect(worker.instanceId, "steal"), (e) => e instanceof TurbineError);
    // A raw request frame straight away: closed, nothing answered.
    const frame = requestFrame(JSON.stringify({ key: "x", window: 4, request: "steal" }));
    const raw = await rawExchange(worker.port, frame);
    assert.ok(raw.closed);
    assert.equal(raw.received.length, 0);
    okClient.close();
    wrongClient.close();
    noneClient.close();
    await sleep(50);
    assert.equal(worker.calls(), 1, "only the authenticated request reached the handler");
    assert.ok(serverAuth.stats.refused >= 3, `refused ${serverAuth.stats.refused}`);
  } finally {
    await Promise.all([good.close(), none.close(), wrong.close()]);
    await worker.rt.close();
  }
});

test("cluster auth - a handshake captured from a legitimate connection cannot be replayed", async () => {
  const serverAuth = new ClusterAuth(SECRET, { timeoutMs: 1000 });
  const worker = await servedEcho(serverAuth);
  // A recording proxy between a legitimate caller and the worker.
  const captured: Buffer[] = [];
  const proxy = net.createServer((inbound) => {
    const outbound = net.connect({ host: "127.0.0.1", port: worker.port });
    inbound.on("data", (d: Buffer) => {
      captured.push(d);
      outbound.write(d);
    });
    outbound.on("data", (d: Buffer) => inbound.write(d));
    inbound.on("close", () => outbound.destroy());
    outbound.on("close", () => inbound.destroy());
    inbound.on("error", () => undefined);
    outbound.on("error", () => undefined);
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", () => r()));
  const proxyPort = (proxy.address() as net.AddressInfo).port;
  const discovery = new MemoryDiscovery();
  const info = (await worker.rt.discovery.list("")).find((i) => i.instanceId === worker.instanceId)!;
  await discovery.register({ ...info, transport: { kind: "tcp", host: "127.0.0.1", port: proxyPort } });
  const caller = callerRuntime(new ClusterAuth(SECRET), discovery);
  try {
    const client = await caller.namespace("ns").component("c").endpoint("echo").client<string, string>();
    assert.deepEqual(await client.collect(worker.instanceId, "legit"), ["legit"]);
    client.close();
    assert.equal(worker.calls(), 1);
    // Everything the caller sent (hello, proof, request), replayed on a fresh connection.
    const replay = await rawExchange(worker.port, Buffer.concat(captured));
    assert.ok(replay.closed, "the replayed connection was closed");
    // At most the server's challenge to the replayed hello (68 bytes) came back: no acceptance, no frame.
    assert.ok(replay.received.length <= 68, `received ${replay.received.length} bytes`);
    await sleep(50);
    assert.equal(worker.calls(), 1, "the replayed request never reached the handler");
    assert.equal(serverAuth.stats.accepted, 1);
    assert.ok(serverAuth.stats.refused >= 1);
  } finally {
    await caller.close();
    await new Promise<void>((r) => proxy.close(() => r()));
    await worker.rt.close();
  }
});

test("cluster auth - the KV transfer server lets only agents with the secret read a region", async () => {
  const auth = new ClusterAuth(SECRET, { timeoutMs: 1000 });
  const owner = await TransferAgent.create({ hostId: "h1", shm: false, auth });
  const friend = await TransferAgent.create({ hostId: "h2", shm: false, auth: new ClusterAuth(SECRET) });
  const stranger = await TransferAgent.create({ hostId: "h3", shm: false });
  const impostor = await TransferAgent.create({ hostId: "h4", shm: false, auth: new ClusterAuth("a different secret, 32 bytes...") });
  try {
    const data = pattern(256 * 1024, 5);
    const src = owner.register({ regionId: "kv", data });
    const dst = friend.register({ length: data.length });
    await friend.connect(owner.metadata);
    await friend.read(src.descriptor(), dst.descriptor()).done;
    assert.equal(sha(dst.read()), sha(data));
    assert.equal(auth.stats.accepted, 1);
    for (const agent of [stranger, impostor]) {
      // The TCP channel is opened at connect: the refusal shows there, before any read is sent.
      await assert.rejects(agent.connect(owner.metadata), (e) => isTransferError(e) && e.reason === "unreachable");
      assert.equal(agent.peer(owner.agentId), undefined);
    }
    // A raw read request: the server sends nothing at all (not even its hello) and hangs up.
    const raw = await rawExchange(owner.metadata.tcp.port, Buffer.from('{"regionId":"kv","offset":0,"length":16}'));
    assert.ok(raw.closed);
    assert.equal(raw.received.length, 0);
    assert.ok(auth.stats.refused >= 3, `refused ${auth.stats.refused}`);
    assert.equal(auth.stats.accepted, 1);
  } finally {
    await Promise.all([owner.close(), friend.close(), stranger.close(), impostor.close()]);
  }
});

test("cluster auth - the secret comes from a flag or a file, once, and must be long enough", () => {
  assert.equal(ClusterAuth.fromOptions({}), null);
  assert.ok(ClusterAuth.fromOptions({ secret: SECRET }) instanceof ClusterAuth);
  assert.throws(() => ClusterAuth.fromOptions({ secret: SECRET, secretFile: "/x" }), (e) => e instanceof TurbineError && e.code === "REQUEST_INVALID");
  assert.throws(() => new ClusterAuth("short"), (e) => e instanceof TurbineError);
});

test("cluster auth - without a secret, internal planes may listen beyond loopback only with --insecure-internal, which warns", async () => {
  const { clusterAuthFromFlags, isLoopbackHost } = await import("../../src/cli/index.ts");
  const warnings: unknown[] = [];
  const log = { warn: (...args: unknown[]) => warnings.push(args) } as unknown as Parameters<typeof clusterAuthFromFlags>[2];
  const flags = { etcd: "", nats: "", requestPlane: "tcp" as const, advertiseHost: "10.0.0.5", leaseTtl: 10, requestPlanePort: 0, requestPlaneTimeoutMs: 2000 };
  assert.ok(isLoopbackHost("127.0.0.1") && isLoopbackHost("::1") && isLoopbackHost("[::1]") && !isLoopbackHost("0.0.0.0") && !isLoopbackHost("10.0.0.5"));
  assert.equal(clusterAuthFromFlags({ ...flags, advertiseHost: "127.0.0.1" }, ["127.0.0.1"], log), null);
  assert.throws(() => clusterAuthFromFlags(flags, ["10.0.0.5"], log), (e) => e instanceof TurbineError && /--cluster-secret/.test(e.message));
  assert.equal(warnings.length, 0);
  assert.equal(clusterAuthFromFlags({ ...flags, insecureInternal: true }, ["10.0.0.5"], log), null);
  assert.equal(warnings.length, 1);
  assert.match(JSON.stringify(warnings[0]), /WITHOUT authentication/);
  assert.ok(clusterAuthFromFlags({ ...flags, clusterSecret: SECRET }, ["10.0.0.5"], log) instanceof ClusterAuth);
});
