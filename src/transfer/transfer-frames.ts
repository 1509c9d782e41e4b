// Frames of an agent's TCP channel, shaped like the request plane's (tcp-frames.ts in
// runtime): u32 length of what follows, u8 type, u32 transfer id, payload. Control payloads
// are small JSON; data payloads are raw region bytes that the parser hands over piece by
// piece as they arrive, so a 1 MiB chunk is copied once, straight into its staging buffer.
import type { Socket } from "node:net";

export const Frame = {
  /** server → client on accept: { agentId } */
  hello: 0,
  /** client → server: { regionId, offset, length }; the server streams data then done */
  read: 1,
  /** client → server: { regionId, offset, length }; data follows, then end */
  write: 2,
  data: 3,
  /** client → server: the write's last byte was sent; commit it */
  end: 4,
  /** server → client: read fully sent / write committed */
  done: 5,
  /** server → client: { reason, message } */
  error: 6,
  /** client → server: stop; an uncommitted write is dropped */
  cancel: 7,
  /** client → server: { regionId, offset, length, path }: commit a staged shm file */
  commit: 8,
} as const;
export type Frame = (typeof Frame)[keyof typeof Frame];

export const FRAME_HEADER = 9;
/** Payload bytes per data frame. */
export const DATA_CHUNK = 4 << 20;
const MAX_CONTROL = 64 * 1024;

export function frameHeader(type: Frame, id: number, payloadLength: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER);
  h.writeUInt32BE(5 + payloadLength, 0);
  h.writeUInt8(type, 4);
  h.writeUInt32BE(id, 5);
  return h;
}

export function controlFrame(type: Frame, id: number, body?: object): Buffer {
  if (body === undefined) return frameHeader(type, id, 0);
  const json = Buffer.from(JSON.stringify(body), "utf8");
  return Buffer.concat([frameHeader(type, id, json.length), json]);
}

export interface FrameHandlers {
  onControl(type: number, id: number, body: unknown): void;
  onData(id: number, piece: Buffer): void;
  /** Where the next `remaining` payload bytes of a data frame may land directly, or null. */
  dataTarget?(id: number, remaining: number): Buffer | null;
  /** n payload bytes landed in the buffer dataTarget gave. */
  onDirectData?(id: number, n: number): void;
  /** Malformed stream: the connection should be dropped. */
  onProtocolError(message: string): void;
}

/**
 * Incremental parser: socket chunks in, frames out, without reassembling data payloads.
 * Fed either by push() ('data' events) or, on client sockets, through `onread`: readBuffer()
 * says where the kernel should put the next bytes (straight into a transfer's staging buffer
 * while inside a data frame: no copy in JS at all), received() takes them.
 */
export class FrameParser {
  private scratch: Buffer | null = null;
  private direct = false;
  private readonly header = Buffer.alloc(FRAME_HEADER);
  private headerFill = 0;
  private type = 0;
  private id = 0;
  private remaining = 0;
  private control: Buffer | null = null;
  private controlFill = 0;
  private broken = false;

  constructor(private readonly handlers: FrameHandlers) {}

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.broken) {
      if (this.headerFill < FRAME_HEADER) {
        const n = Math.min(FRAME_HEADER - this.headerFill, chunk.length - off);
        chunk.copy(this.header, this.headerFill, off, off + n);
        this.headerFill += n;
        off += n;
        if (this.headerFill < FRAME_HEADER) return;
        const len = this.header.readUInt32BE(0);
        this.type = this.header.readUInt8(4);
        this.id = this.header.readUInt32BE(5);
        if (len < 5) return this.fail(`frame length ${len}`);
        this.remaining = len - 5;
        if (this.type !== Frame.data) {
          if (this.remaining > MAX_CONTROL) return this.fail(`control frame of ${this.remaining} bytes`);
          this.control = this.remaining > 0 ? Buffer.allocUnsafe(this.remaining) : null;
          this.controlFill = 0;
        }
        if (this.remaining === 0) this.finishFrame();
        continue;
      }
      const n = Math.min(this.remaining, chunk.length - off);
      if (this.type === Frame.data) {
        this.handlers.onData(this.id, chunk.subarray(off, off + n));
      } else {
        chunk.copy(this.control!, this.controlFill, off, off + n);
        this.controlFill += n;
      }
      off += n;
      this.remaining -= n;
      if (this.remaining === 0) this.finishFrame();
    }
  }

  readBuffer(): Buffer {
    this.direct = false;
    this.scratch ??= Buffer.allocUnsafe(64 * 1024);
    if (this.headerFill < FRAME_HEADER) return this.scratch.subarray(0, FRAME_HEADER - this.headerFill);
    if (this.type === Frame.data) {
      const target = this.handlers.dataTarget?.(this.id, this.remaining) ?? null;
      if (target && target.length > 0 && target.length <= this.remaining) {
        this.direct = true;
        return target;
      }
    }
    return this.scratch.subarray(0, Math.min(this.remaining, this.scratch.length));
  }

  received(n: number, buf: Buffer): void {
    if (!this.direct) return this.push(buf.subarray(0, n));
    this.direct = false;
    this.remaining -= n;
    this.handlers.onDirectData?.(this.id, n);
    if (this.remaining === 0) this.finishFrame();
  }

  private finishFrame(): void {
    this.headerFill = 0;
    if (this.type === Frame.data) return;
    let body: unknown = undefined;
    if (this.control) {
      try {
        body = JSON.parse(this.control.toString("utf8"));
      } catch {
        return this.fail("control frame is not JSON");
      }
      this.control = null;
    }
    this.handlers.onControl(this.type, this.id, body);
  }

  private fail(message: string): void {
    this.broken = true;
    this.handlers.onProtocolError(message);
  }
}

/** Resolves when the socket can take more (or is gone): shared by every sender on it. */
export class DrainWaiter {
  private waiting: Promise<void> | null = null;

  constructor(private readonly socket: Socket) {}

  wait(): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    if (!this.waiting) {
      this.waiting = new Promise<void>((resolve) => {
        const done = (): void => {
          this.socket.off("drain", done);
          this.socket.off("close", done);
          this.waiting = null;
          resolve();
        };
        this.socket.on("drain", done);
        this.socket.on("close", done);
      });
    }
    return this.waiting;
  }
}
