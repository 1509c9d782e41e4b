// The serving half of an agent's TCP channel: one listening socket per agent. Streams the
// bytes of its regions to readers (1 MiB frames, pausing on socket backpressure), stages
// incoming writes and commits them whole, and commits writes that same-host peers staged in
// a shm file. A closed connection drops every uncommitted write on it.
import { open, unlink } from "node:fs/promises";
import net from "node:net";
import type { ClusterAuth } from "../runtime/index.ts";
import type { MemoryRegion, RegionUser } from "./memory-region.ts";
import type { StagingPool } from "./staging-pool.ts";
import { DATA_CHUNK, DrainWaiter, Frame, FrameParser, controlFrame, frameHeader } from "./transfer-frames.ts";
import { TransferError, toTransferError } from "./transfer-error.ts";

interface RangeRequest {
  regionId: string;
  offset: number;
  length: number;
}

interface ServerOp {
  kind: "read" | "write" | "commit";
  region: MemoryRegion;
  offset: number;
  cancelled: boolean;
  staging: Buffer | null;
  received: number;
  user: RegionUser;
}

export class TransferServer {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly agentId: string,
    private readonly lookup: (regionId: string) => MemoryRegion | undefined,
    private readonly pool: StagingPool,
    /** Where same-host peers stage writes for this agent (its shm dir), or null. */
    private readonly incomingDir: string | null,
    /** Cluster-secret handshake before anything else on a connection (null: none). */
    private readonly auth: ClusterAuth | null = null,
  ) {}

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const serve = (socket: net.Socket, rest: Buffer): void => {
        if (!socket.destroyed) new ServerConnection(socket, this.agentId, this.lookup, this.pool, this.incomingDir, this.sockets, rest);
      };
      // No region byte moves, not even the hello, before the peer proved the cluster secret.
      const server = net.createServer((socket) => {
        if (!this.auth) return serve(socket, Buffer.alloc(0));
        this.sockets.add(socket);
        this.auth.accept(socket).then((rest) => (this.sockets.delete(socket), serve(socket, rest)), () => this.sockets.delete(socket));
      });
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve((server.address() as net.AddressInfo).port);
      });
      this.server = server;
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

class ServerConnection {
  private readonly ops = new Map<number, ServerOp>();
  private readonly drain: DrainWaiter;
  // Send chunks, reused once the socket has handed them to the kernel (fresh 1 MiB
  // allocations cost page faults on every chunk).
  private readonly sendFree: Buffer[] = [];

  constructor(
    private readonly socket: net.Socket,
    agentId: string,
    private readonly lookup: (regionId: string) => MemoryRegion | undefined,
    private readonly pool: StagingPool,
    private readonly incomingDir: string | null,
    sockets: Set<net.Socket>,
    received: Buffer,
  ) {
    sockets.add(socket);
    socket.setNoDelay(true);
    this.drain = new DrainWaiter(socket);
    const parser = new FrameParser({
      onControl: (type, id, body) => this.onControl(type, id, body),
      onData: (id, piece) => this.onData(id, piece),
      onProtocolError: () => socket.destroy(),
    });
    socket.on("data", (chunk: Buffer) => parser.push(chunk));
    if (received.length > 0) parser.push(received);
    socket.resume();
    socket.on("error", () => undefined); // "close" follows
    socket.on("close", () => {
      sockets.delete(socket);
      for (const id of [...this.ops.keys()]) this.drop(id);
    });
    this.send(controlFrame(Frame.hello, 0, { agentId }));
  }

  private onControl(type: number, id: number, body: unknown): void {
    switch (type) {
      case Frame.read:
      case Frame.write:
      case Frame.commit: {
        const kind = type === Frame.read ? "read" : type === Frame.write ? "write" : "commit";
        const op = this.begin(id, kind, body as RangeRequest);
        if (!op) return;
        if (type === Frame.read) void this.sendRead(id, op, body as RangeRequest);
        else if (type === Frame.write) op.staging = this.pool.take((body as RangeRequest).length);
        else void this.commitFile(id, op, body as RangeRequest & { path: string });
        return;
      }
      case Frame.end: {
        const op = this.ops.get(id);
        if (!op) return;
        const staged = op.staging;
        if (!staged || op.received !== staged.length) return this.fail(id, new TransferError("failed", "write ended short"));
        this.commit(id, op, staged);
        return;
      }
      case Frame.cancel: {
        const op = this.ops.get(id);
        if (!op) return; // already done: its reply is on the way
        // A shm commit in progress decides and replies itself; anything else just stops.
        if (op.kind === "commit") op.cancelled = true;
        else this.drop(id);
        return;
      }
    }
  }

  private onData(id: number, piece: Buffer): void {
    const op = this.ops.get(id);
    if (!op?.staging) return; // cancelled or failed: ignore the rest
    if (op.received + piece.length > op.staging.length) {
      this.fail(id, new TransferError("failed", "write sent more bytes than announced"));
      return;
    }
    piece.copy(op.staging, op.received);
    op.received += piece.length;
  }

  private begin(id: number, kind: ServerOp["kind"], req: RangeRequest): ServerOp | null {
    const region = typeof req?.regionId === "string" ? this.lookup(req.regionId) : undefined;
    if (!region || !region.registered) {
      this.sendError(id, new TransferError("region-not-found", `no region ${String(req?.regionId)}`));
      return null;
    }
    try {
      region.checkRange(req.offset, req.length);
    } catch (e) {
      this.sendError(id, toTransferError(e));
      return null;
    }
    const op: ServerOp = { kind, region, offset: req.offset, cancelled: false, staging: null, received: 0, user: (e) => this.fail(id, e) };
    region.users.add(op.user);
    this.ops.set(id, op);
    return op;
  }

  private async sendRead(id: number, op: ServerOp, req: RangeRequest): Promise<void> {
    const { region } = op;
    const gen = region.generation;
    try {
      for (let pos = 0; pos < req.length; ) {
        if (this.ops.get(id) !== op || this.socket.destroyed) return; // cancelled or failed meanwhile
        const n = Math.min(DATA_CHUNK, req.length - pos);
        // A copy, not a view: the socket may hold the chunk after a later commit.
        const whole = this.sendFree.pop() ?? Buffer.allocUnsafeSlow(DATA_CHUNK);
        const chunk = whole.subarray(0, n);
        region.readInto(chunk, 0, req.offset + pos, n);
        pos += n;
        this.socket.cork();
        this.socket.write(frameHeader(Frame.data, id, n));
        const ok = this.socket.write(chunk, () => {
          if (this.sendFree.length < 4) this.sendFree.push(whole);
        });
        this.socket.uncork();
        if (!ok) await this.drain.wait();
      }
      if (this.ops.get(id) !== op) return;
      if (region.generation !== gen) return this.fail(id, new TransferError("busy", `region ${region.regionId} changed during the read`));
      this.finish(id, op);
    } catch (e) {
      this.fail(id, toTransferError(e));
    }
  }

  private async commitFile(id: number, op: ServerOp, req: RangeRequest & { path: string }): Promise<void> {
    const staging = this.pool.take(req.length);
    try {
      // Only files the peer staged in this agent's own directory, by name.
      const path = req.path;
      const prefix = `${this.incomingDir}/incoming-`;
      if (!this.incomingDir || typeof path !== "string" || !path.startsWith(prefix) || path.slice(prefix.length).includes("/")) {
        throw new TransferError("invalid", "staging file outside the agent's shm directory");
      }
      const fh = await open(path, "r");
      try {
        for (let pos = 0; pos < req.length; ) {
          const { bytesRead } = await fh.read(staging, pos, req.length - pos, pos);
          if (bytesRead <= 0) throw new TransferError("failed", "staging file is short");
          pos += bytesRead;
        }
      } finally {
        await fh.close();
        await unlink(path).catch(() => undefined);
      }
      if (this.ops.get(id) !== op) return this.pool.give(staging);
      if (op.cancelled) {
        this.pool.give(staging);
        return this.fail(id, new TransferError("cancelled", "write cancelled before its commit"));
      }
      this.commit(id, op, staging);
    } catch (e) {
      this.pool.give(staging);
      this.fail(id, toTransferError(e));
    }
  }

  private commit(id: number, op: ServerOp, data: Buffer): void {
    try {
      const reusable = op.region.commitStaging(data, op.offset);
      if (op.staging === data) op.staging = reusable; // released (pooled) by finish
      else this.pool.give(reusable);
    } catch (e) {
      return this.fail(id, toTransferError(e));
    }
    this.finish(id, op);
  }

  private finish(id: number, op: ServerOp): void {
    this.release(id, op);
    this.send(controlFrame(Frame.done, id));
  }

  private fail(id: number, error: TransferError): void {
    const op = this.ops.get(id);
    if (!op) return;
    this.release(id, op);
    this.sendError(id, error);
  }

  private drop(id: number): void {
    const op = this.ops.get(id);
    if (op) this.release(id, op);
  }

  private release(id: number, op: ServerOp): void {
    this.ops.delete(id);
    op.region.users.delete(op.user);
    if (op.staging) this.pool.give(op.staging);
    op.staging = null;
  }

  private sendError(id: number, error: TransferError): void {
    this.send(controlFrame(Frame.error, id, { reason: error.reason, message: error.message }));
  }

  private send(frame: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(frame);
  }
}
