// Mutual challenge-response on every new internal connection (request plane, KV transfer),
// keyed by the cluster secret, before a single request byte is read:
//
//   client → server  "TBH1" ‖ nc            (nc: 32 random bytes)
//   server → client  "TBH1" ‖ ns ‖ HMAC(k, "turbine-server" ‖ nc ‖ ns)
//   client → server  HMAC(k, "turbine-client" ‖ nc ‖ ns)
//   server → client  0x01                   (accepted; the connection's own protocol follows)
//
// Both sides prove the secret; the server's fresh nonce makes a captured exchange useless on
// another connection (replay), and the distinct labels stop a reflected proof. Anything
// else (wrong magic, wrong proof, a peer that does not finish in time) closes the socket.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type net from "node:net";
import { TurbineError } from "../protocols/index.ts";

const MAGIC = Buffer.from("TBH1");
const NONCE = 32;
const MAC = 32;
const HELLO = MAGIC.length + NONCE;
const CHALLENGE = MAGIC.length + NONCE + MAC;
const ACCEPTED = 0x01;

export interface ClusterAuthOptions {
  /** A peer must finish its part in this long (ms, default 5000). */
  timeoutMs?: number;
}

/** One side of one handshake, fed the bytes it receives; `send` is what to write back. */
export interface HandshakeSide {
  /** The first bytes to write (the client's hello), or null (the server waits). */
  readonly first: Buffer | null;
  /** Feeds received bytes; throws TurbineError RUNTIME_AUTH_FAILED when the peer fails. */
  receive(chunk: Buffer): { send: Buffer | null; done: boolean; leftover: Buffer };
}

export class ClusterAuth {
  private readonly key: Buffer;
  private readonly timeoutMs: number;
  /** Handshakes this process accepted and refused as a server (tests and metrics read these). */
  readonly stats = { accepted: 0, refused: 0 };

  constructor(secret: string | Uint8Array, options: ClusterAuthOptions = {}) {
    this.key = Buffer.from(secret);
    if (this.key.length < 16) throw new TurbineError("REQUEST_INVALID", "the cluster secret must be at least 16 bytes");
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  /** From `--cluster-secret` or `--cluster-secret-file` (the file's content, trimmed); null when neither is given. */
  static fromOptions(options: { secret?: string; secretFile?: string }, auth: ClusterAuthOptions = {}): ClusterAuth | null {
    if (options.secret !== undefined && options.secretFile !== undefined) {
      throw new TurbineError("REQUEST_INVALID", "give the cluster secret once: --cluster-secret or --cluster-secret-file");
    }
    const secret = options.secretFile !== undefined ? readFileSync(options.secretFile, "utf8").trim() : options.secret;
    return secret === undefined ? null : new ClusterAuth(secret, auth);
  }

  serverSide(): HandshakeSide {
    const ns = randomBytes(NONCE);
    let buf = Buffer.alloc(0);
    let nc: Buffer | null = null;
    return {
      first: null,
      receive: (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        if (!nc) {
          if (buf.length < HELLO) return { send: null, done: false, leftover: EMPTY };
          if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) throw refused("the peer did not start the cluster handshake");
          nc = Buffer.from(buf.subarray(MAGIC.length, HELLO));
          buf = buf.subarray(HELLO);
          const send = Buffer.concat([MAGIC, ns, this.mac("turbine-server", nc, ns)]);
          if (buf.length < MAC) return { send, done: false, leftover: EMPTY };
          return { ...this.finishServer(buf, nc, ns), send: Buffer.concat([send, Buffer.of(ACCEPTED)]) };
        }
        if (buf.length < MAC) return { send: null, done: false, leftover: EMPTY };
        return { ...this.finishServer(buf, nc, ns), send: Buffer.of(ACCEPTED) };
      },
    };
  }

  clientSide(): HandshakeSide {
    const nc = randomBytes(NONCE);
    let buf = Buffer.alloc(0);
    let challenged = false;
    return {
      first: Buffer.concat([MAGIC, nc]),
      receive: (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        let send: Buffer | null = null;
        if (!challenged) {
          if (buf.length < CHALLENGE) return { send: null, done: false, leftover: EMPTY };
          if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) throw refused("the peer does not speak the cluster handshake");
          const ns = buf.subarray(MAGIC.length, HELLO);
          const proof = buf.subarray(HELLO, CHALLENGE);
          if (!timingSafeEqual(proof, this.mac("turbine-server", nc, ns))) throw refused("the peer does not know the cluster secret");
          send = this.mac("turbine-client", nc, ns);
          challenged = true;
          buf = buf.subarray(CHALLENGE);
        }
        if (buf.length < 1) return { send, done: false, leftover: EMPTY };
        if (buf[0] !== ACCEPTED) throw refused("the peer refused the cluster handshake");
        return { send, done: true, leftover: Buffer.from(buf.subarray(1)) };
      },
    };
  }

  /** Server half on a socket just accepted: resolves with any bytes after the handshake, the socket paused; closes it and rejects when the peer fails. */
  accept(socket: net.Socket): Promise<Buffer> {
    return this.run(socket, this.serverSide(), true);
  }

  /** Client half on a socket just connected (same contract as `accept`). */
  connect(socket: net.Socket): Promise<Buffer> {
    return this.run(socket, this.clientSide(), false);
  }

  private finishServer(buf: Buffer, nc: Buffer, ns: Buffer): { done: boolean; leftover: Buffer } {
    if (!timingSafeEqual(buf.subarray(0, MAC), this.mac("turbine-client", nc, ns))) throw refused("the peer does not know the cluster secret");
    return { done: true, leftover: Buffer.from(buf.subarray(MAC)) };
  }

  private mac(label: string, nc: Buffer, ns: Buffer): Buffer {
    return createHmac("sha256", this.key).update(label).update(nc).update(ns).digest();
  }

  private run(socket: net.Socket, side: HandshakeSide, server: boolean): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (err: TurbineError | null, leftover?: Buffer): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.off("data", onData);
        socket.off("close", onClose);
        if (err) {
          if (server) this.stats.refused++;
          socket.destroy();
          reject(err);
        } else {
          if (server) this.stats.accepted++;
          socket.pause();
          resolve(leftover!);
        }
      };
      const onData = (chunk: Buffer): void => {
        try {
          const step = side.receive(chunk);
          if (step.send && !socket.destroyed) socket.write(step.send);
          if (step.done) settle(null, step.leftover);
        } catch (e) {
          settle(e as TurbineError);
        }
      };
      const onClose = (): void => settle(refused("the connection closed during the cluster handshake"));
      const timer = setTimeout(() => settle(refused(`the cluster handshake did not finish in ${this.timeoutMs} ms`)), this.timeoutMs);
      socket.on("data", onData);
      socket.once("close", onClose);
      if (side.first) socket.write(side.first);
    });
  }
}

const EMPTY = Buffer.alloc(0);

function refused(message: string): TurbineError {
  return new TurbineError("RUNTIME_AUTH_FAILED", message);
}
