// The transfer library's semantics with agents in one process (both paths still go through
// the kernel: shm files and loopback sockets): locality, concurrency, deregistration,
// all-or-nothing writes, snapshot reads, misuse.
import { test } from "node:test";
import assert from "node:assert/strict";
import { TRANSFER_METADATA_KEY, TransferAgent, isTransferError, parseAgentMetadata } from "../../src/transfer/index.ts";
import { MiB, pattern, rejectsWith, sha } from "../support/transfer.ts";
import { MemoryDiscovery, parseAddress } from "../../src/runtime/index.ts";




test("transfer - locality: same host and visible shm dir -> shm, otherwise tcp", async () => {
  const a = await TransferAgent.create({ hostId: "h1" });
  const same = await TransferAgent.create({ hostId: "h1" });
  const other = await TransferAgent.create({ hostId: "h2" });
  const noShm = await TransferAgent.create({ hostId: "h1", shm: false });
  try {
    assert.equal((await same.connect(a.metadata)).path, "shm");
    assert.equal((await other.connect(a.metadata)).path, "tcp");
    assert.equal((await a.connect(noShm.metadata)).path, "tcp"); // peer shares no memory
    // Same hostId but a shm dir not visible here (another container): TCP.
    const fake = { ...a.metadata, shm: { dir: "/dev/shm/turbine-transfer-does-not-exist" } };
    assert.equal((await other.connect({ ...fake, hostId: "h2" })).path, "tcp");
    // Metadata travels through discovery as a plain object.
    const discovery = new MemoryDiscovery();
    await discovery.register({
      instanceId: "w1",
      address: parseAddress("turbine://ns.prefill.generate"),
      transport: { kind: "local" },
      metadata: { [TRANSFER_METADATA_KEY]: a.metadata },
    });
    const [info] = await discovery.list("");
    const meta = parseAgentMetadata(JSON.parse(JSON.stringify(info!.metadata[TRANSFER_METADATA_KEY])));
    assert.deepEqual(meta, a.metadata);
    await assert.rejects(same.connect({ agentId: "x" }), (e) => isTransferError(e) && e.reason === "invalid");
  } finally {
    await Promise.all([a.close(), same.close(), other.close(), noShm.close()]);
  }
});

test("transfer - many transfers at once over both paths land exactly", async () => {
  const owner = await TransferAgent.create({ hostId: "h1" });
  const viaShm = await TransferAgent.create({ hostId: "h1" });
  const viaTcp = await TransferAgent.create({ hostId: "h2", shm: false });
  try {
    const len = 8 * MiB;
    const src = owner.register({ regionId: "kv", data: pattern(len, 3) });
    const expected = src.read();
    for (const agent of [viaShm, viaTcp]) {
      await agent.connect(owner.metadata);
      const dst = agent.register({ length: len });
      const n = 64;
      const block = len / n;
      // Reads in shuffled order, all in flight together.
      const order = Array.from({ length: n }, (_, i) => (i * 37) % n);
      await Promise.all(order.map((i) => agent.read(src.descriptor(i * block, block), dst.descriptor(i * block, block)).done));
      assert.equal(sha(dst.read()), sha(expected), agent.peer(owner.agentId)!.path);
      // Concurrent writes into distinct blocks of a second remote region.
      const back = owner.register({ length: len });
      await Promise.all(order.map((i) => agent.write(dst.descriptor(i * block, block), back.descriptor(i * block, block)).done));
      assert.equal(sha(back.read()), sha(expected));
      owner.deregister(back);
    }
  } finally {
    await Promise.all([owner.close(), viaShm.close(), viaTcp.close()]);
  }
});

test("transfer - deregistration fails transfers that use the region, at either end", async () => {
  const owner = await TransferAgent.create({ hostId: "h1" });
  const viaShm = await TransferAgent.create({ hostId: "h1" });
  const viaTcp = await TransferAgent.create({ hostId: "h2", shm: false });
  try {
    const len = 16 * MiB;
    for (const agent of [viaShm, viaTcp]) {
      await agent.connect(owner.metadata);
      const dst = agent.register({ data: Buffer.alloc(len, 0x11) });
      // Deregistered before: the read fails at once.
      const gone = owner.register({ length: MiB });
      const desc = gone.descriptor();
      owner.deregister(gone);
      await rejectsWith(agent.read(desc, dst.descriptor(0, MiB)), "region-not-found");
      // Remote region deregistered mid-transfer.
      const src = owner.register({ data: pattern(len, 2) });
      let t = agent.read(src.descriptor(), dst.descriptor(), { onProgress: () => owner.deregister(src) });
      await rejectsWith(t, "deregistered");
      assert.ok(dst.read().every((b) => b === 0x11), "destination was touched");
      // Local destination deregistered mid-transfer.
      const src2 = owner.register({ data: pattern(len, 4) });
      t = agent.read(src2.descriptor(), dst.descriptor(), { onProgress: () => agent.deregister(dst) });
      await rejectsWith(t, "deregistered");
      await rejectsWith(agent.read(src2.descriptor(), dst.descriptor()), "region-not-found");
      owner.deregister(src2);
    }
  } finally {
    await Promise.all([owner.close(), viaShm.close(), viaTcp.close()]);
  }
});

test("transfer - a write cancelled mid-stream leaves the remote region untouched; a finished one applies whole", async () => {
  const owner = await TransferAgent.create({ hostId: "h1" });
  const viaShm = await TransferAgent.create({ hostId: "h1" });
  const viaTcp = await TransferAgent.create({ hostId: "h2", shm: false });
  try {
    const len = 24 * MiB;
    for (const agent of [viaTcp, viaShm]) {
      await agent.connect(owner.metadata);
      const remote = owner.register({ data: Buffer.alloc(len, 0x22) });
      const local = agent.register({ data: pattern(len, 6) });
      const ac = new AbortController();
      const t = agent.write(local.descriptor(), remote.descriptor(), { signal: ac.signal, onProgress: () => ac.abort() });
      await rejectsWith(t, "cancelled");
      // Let any frames in flight reach the owner before looking.
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(remote.read().every((b) => b === 0x22), "remote was half-applied");
      await agent.write(local.descriptor(), remote.descriptor());
      assert.equal(sha(remote.read()), sha(local.read()));
      owner.deregister(remote);
    }
  } finally {
    await Promise.all([owner.close(), viaShm.close(), viaTcp.close()]);
  }
});

test("transfer - a shm read overlapped by a commit returns a whole snapshot, never a mix", async () => {
  const owner = await TransferAgent.create({ hostId: "h1" });
  const reader = await TransferAgent.create({ hostId: "h1", shm: false });
  try {
    await reader.connect(owner.metadata);
    const len = 16 * MiB;
    const oldData = pattern(len, 7);
    const newData = pattern(len, 8);
    const src = owner.register({ data: oldData });
    const dst = reader.register({ length: len });
    let once = false;
    // The owner commits new contents while the reader is between chunks.
    await reader.read(src.descriptor(), dst.descriptor(), {
      onProgress: () => {
        if (!once) src.write(newData);
        once = true;
      },
    });
    assert.equal(sha(dst.read()), sha(newData));
    // Misuse is reported as a rejected transfer, not a throw.
    await rejectsWith(reader.read(src.descriptor(0, 10), dst.descriptor(0, 11)), "out-of-range");
    await rejectsWith(reader.read({ ...src.descriptor(), agentId: "stranger" }, dst.descriptor()), "not-connected");
    const ac = new AbortController();
    ac.abort();
    await rejectsWith(reader.read(src.descriptor(), dst.descriptor(), { signal: ac.signal }), "cancelled");
  } finally {
    await Promise.all([owner.close(), reader.close()]);
  }
});

test("transfer - fetch reads a remote range into a new buffer; whole-region reads commit by swap", async () => {
  const owner = await TransferAgent.create({ hostId: "h1" });
  const viaShm = await TransferAgent.create({ hostId: "h1", shm: false });
  const viaTcp = await TransferAgent.create({ hostId: "h2", shm: false });
  try {
    const len = 2 * MiB;
    const src = owner.register({ data: pattern(len, 11) });
    for (const agent of [viaShm, viaTcp]) {
      await agent.connect(owner.metadata);
      const bytes = await agent.fetch(src.descriptor(100, len - 100));
      assert.equal(sha(bytes), sha(pattern(len, 11).subarray(100)));
      await assert.rejects(agent.fetch({ ...src.descriptor(), regionId: "missing" }), (e) => isTransferError(e) && e.reason === "region-not-found");
      // A heap region read whole, twice, then written locally: each read replaces it entirely.
      const dst = agent.register({ length: len });
      for (let round = 0; round < 2; round++) {
        src.write(pattern(len, 20 + round));
        await agent.read(src.descriptor(), dst.descriptor());
        assert.equal(sha(dst.read()), sha(pattern(len, 20 + round)));
      }
      dst.write(Buffer.alloc(10, 1), 5);
      assert.deepEqual([...dst.read(4, 12)], [pattern(len, 21)[4], ...Array(10).fill(1), pattern(len, 21)[15]]);
      src.write(pattern(len, 11));
    }
  } finally {
    await Promise.all([owner.close(), viaShm.close(), viaTcp.close()]);
  }
});
