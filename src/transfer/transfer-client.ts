// The calling half of an agent's TCP channel: one connection to one peer, many transfers
// multiplexed on it by id. Reads land in a staging buffer and are committed by the caller's
// `commit` only when every byte arrived; writes stream from the local region and the peer
// commits them whole. A closed socket fails every transfer on it (reason "connection-lost").
import net from "node:net";
import type { ClusterAuth } from "../runtime/index.ts";
import type { MemoryRegion } from "./memory-region.ts";
import type { Transfer } from "./transfer.ts";
import { DATA_CHUNK, DrainWaiter, Frame, FrameParser, controlFrame, frameHeader } from "./transfer-frames.ts";
import { TransferError, asTransferFailure, toTransferError } from "./transfer-error.ts";

interface ClientOp {
  onData(piece: Buffer): void;
  target?(remaining: number): Buffer | null;
  onDirect?(n: number): void;
  onDone(): void;
  onError(error: TransferError): void;
}

export class TransferClient {
  private readonly ops = new Map<number, ClientOp>();
  private readonly drain: DrainWaiter;
  // Send chunks of writes, reused once the socket has handed them to the kernel.
  private readonly sendFree: Buffer[] = [];
  private nextId = 1;
  private lost: TransferError | null = null;

  private constructor(
    private readonly socket: net.Socket,
    private readonly peerAgentId: string,
  ) {
    this.drain = new DrainWaiter(socket);
  }

  /** Connects and checks that the agent listening there is the expected one. */
  static connect(host: string, port: number, peerAgentId: string, onGone: () => void, auth: ClusterAuth | null = null): Promise<TransferClient> {
    return new Promise((resolve, reject) => {
      let hello = false;
      let client: TransferClient | null = null;
      const parser = new FrameParser({
        onControl: (type, id, body) => {
          if (hello) return client!.onControl(type, id, body);
          const agentId = (body as { agentId?: unknown } | undefined)?.agentId;
          if (type !== Frame.hello || agentId !== peerAgentId) {
            socket.destroy();
            return reject(new TransferError("unreachable", `${host}:${port} is not agent ${peerAgentId}`));
          }
          hello = true;
          resolve(client!);
        },
        onData: (id, piece) => client!.ops.get(id)?.onData(piece),
        dataTarget: (id, remaining) => client!.ops.get(id)?.target?.(remaining) ?? null,
        onDirectData: (id, n) => client!.ops.get(id)?.onDirect?.(n),
        onProtocolError: (message) => socket.destroy(new Error(message)),
      });
      // The cluster handshake (when a secret is set) sees the first bytes; the frames follow it.
      let handshake = auth?.clientSide() ?? null;
      const handshakeBytes = (chunk: Buffer): void => {
        try {
          const step = handshake!.receive(chunk);
          if (step.send) socket.write(step.send);
          if (!step.done) return;
          handshake = null;
          if (step.leftover.length > 0) parser.push(step.leftover);
        } catch (e) {
          socket.destroy();
          reject(new TransferError("unreachable", `agent ${peerAgentId} at ${host}:${port}: ${(e as Error).message}`, { cause: e }));
        }
      };
      // Reads go through `onread`: payload bytes are read by the kernel into staging buffers.
      const socket = net.connect({
        host,
        port,
        onread: {
          buffer: () => parser.readBuffer(),
          callback: (n: number, buf: Uint8Array) => {
            if (handshake) handshakeBytes(Buffer.from(buf.subarray(0, n)));
            else parser.received(n, buf as Buffer);
            return true;
          },
        },
      });
      socket.setNoDelay(true);
      if (handshake) socket.once("connect", () => socket.write(handshake!.first!));
      client = new TransferClient(socket, peerAgentId);
      socket.on("error", (e) => {
        if (!hello) reject(new TransferError("unreachable", `cannot connect to agent ${peerAgentId} at ${host}:${port}: ${e.message}`, { cause: e }));
      });
      socket.on("close", () => {
        if (!hello) reject(new TransferError("unreachable", `agent ${peerAgentId} at ${host}:${port} closed the connection`));
        client!.lost = new TransferError("connection-lost", `connection to agent ${peerAgentId} lost`);
        onGone();
        const c = client!;
        const ops = [...c.ops.values()];
        c.ops.clear();
        for (const op of ops) op.onError(c.lost!);
      });
    });
  }

  get connected(): boolean {
    return this.lost === null;
  }

  /** Reads [offset, +staging.length) of the peer's region into staging, then commit(). */
  read(t: Transfer, regionId: string, offset: number, staging: Buffer, commit: () => void): void {
    if (this.lost) return t.fail(this.lost);
    const id = this.allocId();
    const length = staging.length;
    let pos = 0;
    this.ops.set(id, {
      onData: (piece) => {
        if (pos + piece.length > length) {
          this.ops.delete(id);
          return t.fail(new TransferError("failed", `agent ${this.peerAgentId} sent more bytes than asked`));
        }
        piece.copy(staging, pos);
        pos += piece.length;
        t.progress(piece.length);
      },
      target: (remaining) => (pos + remaining <= length ? staging.subarray(pos, pos + Math.min(remaining, DATA_CHUNK)) : null),
      onDirect: (n) => {
        pos += n;
        t.progress(n);
      },
      onDone: () => {
        if (pos !== length) return t.fail(new TransferError("failed", `read ended after ${pos} of ${length} bytes`));
        try {
          commit();
        } catch (e) {
          return t.fail(toTransferError(e));
        }
        t.succeed();
      },
      onError: (e) => t.fail(e),
    });
    t.onSettle(() => {
      if (this.ops.delete(id)) this.send(controlFrame(Frame.cancel, id));
    });
    this.send(controlFrame(Frame.read, id, { regionId, offset, length }));
  }

  /** Streams [srcOffset, +length) of a local region into the peer's region; it commits on end. */
  async write(t: Transfer, source: MemoryRegion, srcOffset: number, regionId: string, offset: number, length: number): Promise<void> {
    if (this.lost) return t.fail(this.lost);
    const id = this.allocId();
    let ended = false;
    this.ops.set(id, this.replyOp(id, t));
    t.onSettle(() => {
      if (this.ops.delete(id) && !ended) this.send(controlFrame(Frame.cancel, id));
    });
    this.send(controlFrame(Frame.write, id, { regionId, offset, length }));
    const gen = source.generation;
    try {
      for (let pos = 0; pos < length; ) {
        if (t.settled || this.lost) return;
        const n = Math.min(DATA_CHUNK, length - pos);
        const whole = this.sendFree.pop() ?? Buffer.allocUnsafeSlow(DATA_CHUNK);
        const chunk = whole.subarray(0, n);
        source.readInto(chunk, 0, srcOffset + pos, n);
        pos += n;
        this.socket.cork();
        this.socket.write(frameHeader(Frame.data, id, n));
        const ok = this.socket.write(chunk, () => {
          if (this.sendFree.length < 4) this.sendFree.push(whole);
        });
        this.socket.uncork();
        t.progress(n);
        if (!ok) await this.drain.wait();
      }
      if (t.settled || this.lost) return;
      if (source.generation !== gen) return t.fail(new TransferError("busy", `source region ${source.regionId} changed during the write`));
      ended = true;
      this.deferCancel(id, t);
      this.send(controlFrame(Frame.end, id));
    } catch (e) {
      t.fail(toTransferError(e));
    }
  }

  /** Asks the peer to commit a write staged in a file of its shm directory. */
  commitStaged(t: Transfer, regionId: string, offset: number, length: number, path: string): void {
    if (this.lost) return t.fail(this.lost);
    const id = this.allocId();
    this.ops.set(id, this.replyOp(id, t));
    t.onSettle(() => this.ops.delete(id));
    this.deferCancel(id, t);
    this.send(controlFrame(Frame.commit, id, { regionId, offset, length, path }));
  }

  close(): void {
    this.socket.destroy();
  }

  private replyOp(id: number, t: Transfer): ClientOp {
    return {
      onData: () => {
        this.ops.delete(id);
        t.fail(new TransferError("failed", "unexpected data frame"));
      },
      onDone: () => t.succeed(),
      onError: (e) => t.fail(e),
    };
  }

  // Once the commit is requested the peer decides: a cancel asks it to drop the write, and
  // the transfer settles with its answer (rejected = not applied, resolved = applied).
  private deferCancel(id: number, t: Transfer): void {
    t.cancelHook = () => {
      if (this.ops.has(id)) this.send(controlFrame(Frame.cancel, id));
      return true;
    };
  }

  private onControl(type: number, id: number, body: unknown): void {
    const op = this.ops.get(id);
    if (!op) return;
    if (type === Frame.done) {
      this.ops.delete(id);
      op.onDone();
    } else if (type === Frame.error) {
      this.ops.delete(id);
      const b = body as { reason?: unknown; message?: unknown } | undefined;
      op.onError(new TransferError(asTransferFailure(b?.reason), `agent ${this.peerAgentId}: ${String(b?.message ?? "failed")}`));
    }
  }

  private allocId(): number {
    const id = this.nextId;
    this.nextId = this.nextId >= 0xfffffffe ? 1 : this.nextId + 1;
    return id;
  }

  private send(frame: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(frame);
  }
}
