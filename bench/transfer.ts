// Transfer benchmark: throughput of TransferAgent reads of 1 to 256 MiB over shared memory and
// over TCP loopback, each against the machine's own limit measured in the same run: a plain
// Buffer.copy of the same size (shm) and a raw socket stream of the same bytes (TCP). The
// regions' owner is a child process; this process reads. Prints a markdown table.
// Run: npm run bench:transfer   (the child: node --import tsx bench/transfer.ts --owner)
import { spawn } from "node:child_process";
import net from "node:net";
import { createInterface } from "node:readline";
import { TransferAgent } from "../src/transfer/index.ts";
import type { AgentMetadata } from "../src/transfer/index.ts";
import { fmt, machineLine, markdownTable } from "./support.ts";

const MiB = 1 << 20;
const SIZES_MIB = [1, 4, 16, 64, 256];
const repsFor = (mib: number): number => (mib <= 4 ? 15 : mib <= 16 ? 8 : mib <= 64 ? 4 : 3);
const RAW_CHUNK = 4 * MiB;

interface OwnerHello {
  shm: AgentMetadata;
  tcp: AgentMetadata;
  rawPort: number;
}

// --- the owner (child process) ---

async function owner(): Promise<void> {
  const shmAgent = await TransferAgent.create();
  // Another host id and no shm: the reader must take TCP.
  const tcpAgent = await TransferAgent.create({ hostId: "bench-remote-host", shm: false });
  const rawBuf = Buffer.alloc(RAW_CHUNK, 0x5a);
  // Raw limit: on each 8-byte request (a size), stream that many bytes, with backpressure.
  const raw = net.createServer((socket) => {
    socket.setNoDelay(true);
    let pending = Buffer.alloc(0);
    socket.on("data", async (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 8) {
        let left = Number(pending.readBigUInt64BE(0));
        pending = pending.subarray(8);
        socket.pause();
        while (left > 0) {
          const n = Math.min(RAW_CHUNK, left);
          left -= n;
          if (!socket.write(n === RAW_CHUNK ? rawBuf : rawBuf.subarray(0, n))) await new Promise((r) => socket.once("drain", r));
        }
        socket.resume();
      }
    });
    socket.on("error", () => undefined);
  });
  const rawPort = await new Promise<number>((resolve) => raw.listen(0, "127.0.0.1", () => resolve((raw.address() as net.AddressInfo).port)));
  const say = (o: object): void => void process.stdout.write(JSON.stringify(o) + "\n");
  say({ shm: shmAgent.metadata, tcp: tcpAgent.metadata, rawPort } satisfies OwnerHello);
  for await (const line of createInterface({ input: process.stdin })) {
    const { size } = JSON.parse(line) as { size: number };
    for (const a of [shmAgent, tcpAgent]) {
      a.deregister("src");
      a.register({ regionId: "src", data: Buffer.alloc(size, 0xa5) });
    }
    say({ ok: true });
  }
  raw.close();
  await Promise.all([shmAgent.close(), tcpAgent.close()]);
}

// --- the reader (this process) ---

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const WARMUP = 3;

async function timeIt(reps: number, fn: () => Promise<void> | void): Promise<number> {
  // Warm-up: page faults of fresh buffers, staging buffers settling in the pool, connections.
  for (let i = 0; i < WARMUP; i++) await fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

/** The TCP limit: the same bytes over loopback, received into one reused 1 MiB buffer. */
class RawClient {
  private waiting: { left: number; resolve: () => void } | null = null;
  private constructor(private readonly socket: net.Socket) {}

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      let client: RawClient | null = null;
      const s = net.connect({
        host: "127.0.0.1",
        port,
        onread: {
          buffer: Buffer.allocUnsafe(MiB),
          callback: (n: number) => {
            const w = client!.waiting!;
            w.left -= n;
            if (w.left <= 0) {
              client!.waiting = null;
              w.resolve();
            }
            return true;
          },
        },
      });
      client = new RawClient(s);
      s.once("connect", () => resolve(client!));
      s.setNoDelay(true);
      s.once("error", reject);
    });
  }

  fetch(size: number): Promise<void> {
    return new Promise((resolve) => {
      this.waiting = { left: size, resolve };
      const req = Buffer.alloc(8);
      req.writeBigUInt64BE(BigInt(size));
      this.socket.write(req);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

async function main(): Promise<void> {
  const child = spawn(process.execPath, ["--import", "tsx", new URL(import.meta.url).pathname, "--owner"], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const r = await lines.next();
    if (r.done) throw new Error("owner process exited");
    return JSON.parse(r.value) as Record<string, unknown>;
  };
  const hello = (await next()) as unknown as OwnerHello;
  const reader = await TransferAgent.create({ shm: false }); // destinations: heap regions
  const viaShm = await reader.connect(hello.shm);
  const viaTcp = await reader.connect(hello.tcp);
  if (viaShm.path !== "shm" || viaTcp.path !== "tcp") throw new Error(`unexpected paths ${viaShm.path}/${viaTcp.path}`);
  const raw = await RawClient.connect(hello.rawPort);
  const gbps = (bytes: number, ms: number): number => bytes / (ms / 1000) / 1e9;

  const rows: (string | number)[][] = [];
  const started = performance.now();
  for (const mib of SIZES_MIB) {
    const size = mib * MiB;
    const reps = repsFor(mib);
    child.stdin!.write(JSON.stringify({ size }) + "\n");
    await next();
    const dst = reader.register({ regionId: "dst", length: size });
    const a = Buffer.alloc(size, 1);
    const b = Buffer.alloc(size, 2);
    const copyMs = await timeIt(reps, () => void a.copy(b));
    const shmMs = await timeIt(reps, () => reader.read({ agentId: hello.shm.agentId, regionId: "src", offset: 0, length: size }, dst.descriptor()).done);
    const rawMs = await timeIt(reps, () => raw.fetch(size));
    const tcpMs = await timeIt(reps, () => reader.read({ agentId: hello.tcp.agentId, regionId: "src", offset: 0, length: size }, dst.descriptor()).done);
    if (dst.read(size - 16, 16).some((x) => x !== 0xa5)) throw new Error("transferred bytes are wrong");
    reader.deregister(dst);
    rows.push([
      `${mib} MiB`,
      fmt(gbps(size, copyMs)),
      fmt(gbps(size, shmMs)),
      fmt(copyMs / shmMs),
      fmt(gbps(size, rawMs)),
      fmt(gbps(size, tcpMs)),
      fmt(rawMs / tcpMs),
    ]);
  }
  const totalS = (performance.now() - started) / 1000;
  raw.close();
  await reader.close();
  child.stdin!.end();
  await new Promise((r) => child.once("exit", r));

  console.log(`Machine: ${machineLine()}`);
  console.log(`Reader and region owner in separate processes; median of ${SIZES_MIB.map((m) => `${repsFor(m)}`).join("/")} runs after ${WARMUP} warm-up runs; GB/s = 1e9 bytes/s; measured in ${totalS.toFixed(1)} s.\n`);
  console.log(
    markdownTable(["size", "memcpy GB/s", "shm read GB/s", "shm / memcpy", "raw TCP GB/s", "TCP read GB/s", "TCP / raw"], rows),
  );
}

if (process.argv.includes("--owner")) await owner();
else await main();
