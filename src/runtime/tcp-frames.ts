// Frames of the TCP request plane: u32 length (of what follows), u8 type, u32 stream id,
// then the payload (wire-codec JSON, or a u32 for credit). Many streams share a connection.
// ping/pong carry stream id 0 and no payload: the caller's liveness check of the connection.
export const FrameType = {
  request: 1,
  data: 2,
  end: 3,
  error: 4,
  cancel: 5,
  credit: 6,
  ping: 7,
  pong: 8,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const HEADER = 9;
const utf8 = new TextEncoder();

export function encodeFrame(type: FrameType, streamId: number, payload?: string): Buffer {
  const body = payload === undefined ? undefined : utf8.encode(payload);
  const buf = Buffer.allocUnsafe(HEADER + (body?.length ?? 0));
  buf.writeUInt32BE(5 + (body?.length ?? 0), 0);
  buf.writeUInt8(type, 4);
  buf.writeUInt32BE(streamId, 5);
  if (body) buf.set(body, HEADER);
  return buf;
}

export function encodeCreditFrame(streamId: number, n: number): Buffer {
  const buf = Buffer.allocUnsafe(HEADER + 4);
  buf.writeUInt32BE(9, 0);
  buf.writeUInt8(FrameType.credit, 4);
  buf.writeUInt32BE(streamId, 5);
  buf.writeUInt32BE(n, HEADER);
  return buf;
}

/** Reassembles frames from socket chunks. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (type: number, streamId: number, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let off = 0;
    while (this.buf.length - off >= 4) {
      const len = this.buf.readUInt32BE(off);
      if (this.buf.length - off - 4 < len) break;
      const type = this.buf.readUInt8(off + 4);
      const streamId = this.buf.readUInt32BE(off + 5);
      this.onFrame(type, streamId, this.buf.subarray(off + HEADER, off + 4 + len));
      off += 4 + len;
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
  }
}
