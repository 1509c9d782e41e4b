// The transfer library between processes: round trips over shm and TCP with a peer agent in
// a child process, a large read cancelled mid-transfer, a peer killed mid-transfer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { MiB, pattern, rejectsWith, sha } from "../support/transfer.ts";
import { TransferAgent } from "../../src/transfer/index.ts";
import type { AgentMetadata, MemoryRegion, Transfer } from "../../src/transfer/index.ts";

const FRONT_DOOR = new URL("../../src/transfer/index.ts", import.meta.url).pathname;


// --- a peer agent in a child process, driven by JSON lines on stdin/stdout ---

const CHILD = `
import { TransferAgent } from ${JSON.stringify(FRONT_DOOR)};
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
const agent = await TransferAgent.create(JSON.parse(process.env.TRANSFER_CHILD_OPTIONS));
const say = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
say({ metadata: agent.metadata });
for await (const line of createInterface({ input: process.stdin })) {
  const c = JSON.parse(line);
  if (c.op === "register") {
    const unit = Buffer.allocUnsafe(4093);
    for (let i = 0; i < unit.length; i++) unit[i] = (i * 31 + c.seed * 7 + 1) & 255;
    agent.register({ regionId: c.regionId, data: Buffer.alloc(c.length, unit) });
    say({ ok: true });
  } else if (c.op === "hash") {
    say({ hash: createHash("sha256").update(agent.region(c.regionId).read()).digest("hex") });
  }
}
await agent.close();
`;

class ChildAgent {
  private readonly lines: AsyncIterator<string>;
  private constructor(
    readonly proc: ChildProcess,
    readonly metadata: AgentMetadata,
    lines: AsyncIterator<string>,
  ) {
    this.lines = lines;
  }

  static async start(options: object): Promise<ChildAgent> {
    const proc = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", CHILD], {
      env: { ...process.env, TRANSFER_CHILD_OPTIONS: JSON.stringify(options) },
      stdio: ["pipe", "pipe", "inherit"],
    });
    const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
    const first = await lines.next();
    assert.ok(!first.done, "child agent exited before announcing itself");
    return new ChildAgent(proc, (JSON.parse(first.value) as { metadata: AgentMetadata }).metadata, lines);
  }

  async ask(command: object): Promise<Record<string, unknown>> {
    this.proc.stdin!.write(JSON.stringify(command) + "\n");
    const r = await this.lines.next();
    assert.ok(!r.done, "child agent exited");
    return JSON.parse(r.value) as Record<string, unknown>;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once("exit", r));
    this.proc.stdin!.end();
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
  }
}

async function roundTripWithChild(childOptions: object, expectedPath: "shm" | "tcp"): Promise<void> {
  const child = await ChildAgent.start(childOptions);
  const agent = await TransferAgent.create();
  try {
    const peer = await agent.connect(child.metadata);
    assert.equal(peer.path, expectedPath);
    const len = 3 * MiB + 123;
    await child.ask({ op: "register", regionId: "kv", length: len, seed: 5 });
    const remote = { agentId: child.metadata.agentId, regionId: "kv", offset: 0, length: len };
    const local = agent.register({ length: len + 10 });

    const read = agent.read(remote, local.descriptor(10, len));
    assert.equal(read.path, expectedPath);
    await read;
    assert.equal(read.bytesTransferred, len);
    assert.equal(sha(local.read(10, len)), sha(pattern(len, 5)));

    // Write a slice back into the middle of the child's region; the rest stays.
    const slice = pattern(MiB, 9);
    local.write(slice, 0);
    await agent.write(local.descriptor(0, MiB), { ...remote, offset: 1000, length: MiB });
    const expected = pattern(len, 5);
    slice.copy(expected, 1000);
    assert.equal((await child.ask({ op: "hash", regionId: "kv" })).hash, sha(expected));

    // A missing region on the peer is reported, not hung.
    await rejectsWith(agent.read({ ...remote, regionId: "nope" }, local.descriptor(0, len)), "region-not-found");
  } finally {
    await agent.close();
    await child.stop();
  }
}

test("transfer - round trip over shared memory with a peer in another process", async () => {
  await roundTripWithChild({}, "shm");
});

test("transfer - round trip over TCP with a peer in another process (other hostId)", async () => {
  await roundTripWithChild({ hostId: "some-other-host", shm: false }, "tcp");
});

async function midTransfer(child: ChildAgent, agent: TransferAgent, len: number, onFirstBytes: (t: { abort(): void }) => void): Promise<{ transfer: Transfer; local: MemoryRegion; before: string }> {
  await agent.connect(child.metadata);
  await child.ask({ op: "register", regionId: "big", length: len, seed: 1 });
  const local = agent.register({ data: Buffer.alloc(len, 0xaa) });
  const before = sha(local.read());
  const ac = new AbortController();
  let fired = false;
  const transfer = agent.read({ agentId: child.metadata.agentId, regionId: "big", offset: 0, length: len }, local.descriptor(), {
    signal: ac.signal,
    onProgress: () => {
      if (fired) return;
      fired = true;
      onFirstBytes({ abort: () => ac.abort() });
    },
  });
  return { transfer, local, before };
}

test("transfer - cancelling a large TCP read mid-transfer rejects and leaves the destination untouched", async () => {
  const child = await ChildAgent.start({ hostId: "remote", shm: false });
  const agent = await TransferAgent.create();
  try {
    const len = 64 * MiB;
    const { transfer, local, before } = await midTransfer(child, agent, len, (c) => c.abort());
    const e = await rejectsWith(transfer, "cancelled");
    assert.equal((e as { code: string }).code, "RUNTIME_CANCELLED");
    assert.ok(transfer.bytesTransferred > 0 && transfer.bytesTransferred < len, `moved ${transfer.bytesTransferred}`);
    assert.equal(sha(local.read()), before, "destination was touched");
    // The channel survives a cancel: the next read completes.
    const small = agent.register({ length: MiB });
    await agent.read({ agentId: child.metadata.agentId, regionId: "big", offset: 0, length: MiB }, small.descriptor());
    assert.equal(sha(small.read()), sha(pattern(MiB, 1)));
  } finally {
    await agent.close();
    await child.stop();
  }
});

test("transfer - a peer killed mid-transfer fails the read, nothing half-applied", async () => {
  const child = await ChildAgent.start({ hostId: "remote", shm: false });
  const agent = await TransferAgent.create();
  try {
    const len = 64 * MiB;
    const { transfer, local, before } = await midTransfer(child, agent, len, () => child.proc.kill("SIGKILL"));
    const e = await rejectsWith(transfer, "connection-lost");
    assert.equal((e as { code: string }).code, "RUNTIME_CONNECTION_LOST");
    assert.equal(sha(local.read()), before, "destination was touched");
  } finally {
    await agent.close();
    await child.stop();
  }
});

test("transfer - a killed agent's shm files stay readable, and the next agent on the host sweeps them", async () => {
  const child = await ChildAgent.start({});
  const agent = await TransferAgent.create({ shm: false });
  try {
    await agent.connect(child.metadata);
    await child.ask({ op: "register", regionId: "kv", length: MiB, seed: 3 });
    const exited = new Promise((r) => child.proc.once("exit", r));
    child.proc.kill("SIGKILL");
    await exited;
    // The bytes were published whole before the owner died: a shm read still gets them all.
    const local = agent.register({ length: MiB });
    await agent.read({ agentId: child.metadata.agentId, regionId: "kv", offset: 0, length: MiB }, local.descriptor());
    assert.equal(sha(local.read()), sha(pattern(MiB, 3)));
    const dir = child.metadata.shm!.dir;
    assert.ok(existsSync(dir));
    const next = await TransferAgent.create();
    await next.close();
    assert.ok(!existsSync(dir), "dead agent's directory was not swept");
  } finally {
    await agent.close();
    await child.stop();
  }
});
