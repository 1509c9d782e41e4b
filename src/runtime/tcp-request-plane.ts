// Request plane over direct TCP between processes. The serving process listens on one port
// for all its endpoints and advertises { kind: "tcp", host, port }; callers multiplex
// streams over a small pool of connections per target. Backpressure is a credit window per
// stream; a dropped connection fails every stream on it at once (caller side:
// RUNTIME_CONNECTION_LOST) and aborts every handler on it (serving side). A peer that stops
// answering without closing (a frozen process: SIGSTOP, a partition) is found by heartbeats:
// the caller pings a quiet connection and, with nothing heard for heartbeatTimeoutMs, drops it
// as lost, so its streams fail over and its worker leaves routing within about two seconds
// instead of when its discovery lease expires.
import net from "node:net";
import { TurbineError } from "../protocols/index.ts";
import type { EndpointAddress } from "./address.ts";
import { CallerStream } from "./caller-stream.ts";
import type { ClusterAuth } from "./cluster-auth.ts";
import type { InstanceInfo, TransportInfo } from "./discovery.ts";
import { withTrace } from "./request-plane.ts";
import type { CallOptions, RequestPlane, ServedHandler, StreamHandler } from "./request-plane.ts";
import { asTraceCarrier } from "./trace-context.ts";
import type { TraceCarrier } from "./trace-context.ts";
import { ServedRegistry, servedKey } from "./served-registry.ts";
import { ServerStream } from "./server-stream.ts";
import { FrameReader, FrameType, encodeCreditFrame, encodeFrame } from "./tcp-frames.ts";
import { decodeWire, encodeWire, errorFromWire, errorToWire } from "./wire-codec.ts";
import type { WireError } from "./wire-codec.ts";

export interface TcpRequestPlaneOptions {
  /** Address to listen on and to advertise (default 127.0.0.1). */
  host?: string;
  /** Port to listen on (default 0: a free one). */
  port?: number;
  /** Items a handler may run ahead of its caller (default 32). */
  window?: number;
  /** Connections a caller opens to one target, streams spread over them (default 1). */
  connectionsPerTarget?: number;
  /** A caller pings a connection it heard nothing on for this long (ms, default 500). */
  heartbeatIntervalMs?: number;
  /** A connection silent this long (no frame, no pong) is lost (ms, default 2000). */
  heartbeatTimeoutMs?: number;
  /** Cluster-secret handshake on every connection, both ways (absent: none). */
  auth?: ClusterAuth | null;
}

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 500;
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 2000;

interface RequestPayload {
  key: string;
  window: number;
  request: unknown;
  /** The caller's W3C trace context (absent when tracing is off). */
  trace?: TraceCarrier;
}

export class TcpRequestPlane implements RequestPlane {
  private readonly host: string;
  private readonly port: number;
  readonly window: number;
  private readonly connectionsPerTarget: number;
  private readonly heartbeat: { intervalMs: number; timeoutMs: number };
  private readonly auth: ClusterAuth | null;
  private readonly registry = new ServedRegistry();
  private server: net.Server | null = null;
  private listening: Promise<number> | null = null;
  private readonly serverSockets = new Set<net.Socket>();
  private readonly pools = new Map<string, TcpClientConnection[]>();
  private nextConn = 0;
  private closed = false;
  private readonly peerLostListeners = new Set<(transport: TransportInfo) => void>();

  constructor(options: TcpRequestPlaneOptions = {}) {
    this.host = options.host ?? "127.0.0.1";
    this.port = options.port ?? 0;
    this.window = Math.max(1, options.window ?? 32);
    this.connectionsPerTarget = Math.max(1, options.connectionsPerTarget ?? 1);
    const intervalMs = Math.max(10, options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS);
    this.auth = options.auth ?? null;
    this.heartbeat = { intervalMs, timeoutMs: Math.max(2 * intervalMs, options.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS) };
  }

  async serve(instanceId: string, address: EndpointAddress, handler: StreamHandler): Promise<ServedHandler> {
    const port = await this.listen();
    return this.registry.add(instanceId, address, handler, { kind: "tcp", host: this.host, port }).served;
  }

  watch(target: InstanceInfo): void {
    const t = target.transport;
    if (t.kind !== "tcp") return;
    this.connection(`${t.host}:${t.port}`, t.host, t.port).catch(() => undefined);
  }

  onPeerLost(listener: (transport: TransportInfo) => void): () => void {
    this.peerLostListeners.add(listener);
    return () => this.peerLostListeners.delete(listener);
  }

  call(target: InstanceInfo, request: unknown, options: CallOptions = {}): AsyncIterable<unknown> {
    const transport = target.transport;
    if (transport.kind !== "tcp") {
      return failing(new TurbineError("RUNTIME_NO_INSTANCE", `instance ${target.instanceId} is not reachable over TCP`));
    }
    const key = servedKey(target.address, target.instanceId);
    const payload: RequestPayload = { key, window: this.window, request, ...(options.trace ? { trace: options.trace } : {}) };
    const targetKey = `${transport.host}:${transport.port}`;
    const connect = (): Promise<TcpClientConnection> => this.connection(targetKey, transport.host, transport.port);
    const window = this.window;
    return (async function* () {
      const conn = await connect();
      yield* conn.call(payload, window, options.signal);
    })();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const pool of this.pools.values()) for (const c of pool) c.destroy();
    this.pools.clear();
    for (const s of this.serverSockets) s.destroy();
    this.registry.clear();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // --- caller side ---

  private async connection(targetKey: string, host: string, port: number): Promise<TcpClientConnection> {
    if (this.closed) throw new TurbineError("RUNTIME_NO_INSTANCE", "request plane closed");
    let pool = this.pools.get(targetKey);
    if (!pool) this.pools.set(targetKey, (pool = []));
    if (pool.length >= this.connectionsPerTarget) {
      const conn = pool[this.nextConn++ % pool.length]!;
      await conn.ready;
      return conn;
    }
    const conn = new TcpClientConnection(host, port, this.heartbeat, this.auth, (unexpected) => {
      const p = this.pools.get(targetKey);
      const i = p?.indexOf(conn) ?? -1;
      if (i >= 0) p!.splice(i, 1);
      if (unexpected && !this.closed) for (const l of this.peerLostListeners) l({ kind: "tcp", host, port });
    });
    pool.push(conn);
    await conn.ready;
    return conn;
  }

  // --- serving side ---

  private listen(): Promise<number> {
    if (!this.listening) {
      this.listening = new Promise((resolve, reject) => {
        const server = net.createServer((socket) => this.accept(socket));
        server.once("error", reject);
        server.listen(this.port, this.host, () => {
          server.off("error", reject);
          resolve((server.address() as net.AddressInfo).port);
        });
        this.server = server;
      });
    }
    return this.listening;
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 1000);
    this.serverSockets.add(socket);
    // Nothing of a request is read before the peer proved the cluster secret.
    if (!this.auth) return this.serveSocket(socket, Buffer.alloc(0));
    this.auth.accept(socket).then(
      (rest) => this.serveSocket(socket, rest),
      () => this.serverSockets.delete(socket),
    );
  }

  private serveSocket(socket: net.Socket, received: Buffer): void {
    const streams = new Map<number, ServerStream>();
    const send = (frame: Buffer): void => {
      if (!socket.destroyed) socket.write(frame);
    };
    const reader = new FrameReader((type, id, payload) => {
      switch (type) {
        case FrameType.request:
          this.startStream(id, decodeWire(payload.toString("utf8")) as RequestPayload, streams, send);
          break;
        case FrameType.credit:
          streams.get(id)?.grant(payload.readUInt32BE(0));
          break;
        case FrameType.cancel:
          streams.get(id)?.cancel();
          break;
        case FrameType.ping:
          send(encodeFrame(FrameType.pong, 0));
          break;
      }
    });
    socket.on("data", (chunk: Buffer) => reader.push(chunk));
    socket.on("error", () => undefined); // "close" follows
    socket.on("close", () => {
      this.serverSockets.delete(socket);
      for (const s of streams.values()) s.cancel();
      streams.clear();
    });
    if (socket.destroyed) this.serverSockets.delete(socket);
    if (received.length > 0) reader.push(received);
    socket.resume();
  }

  private startStream(id: number, p: RequestPayload, streams: Map<number, ServerStream>, send: (f: Buffer) => void): void {
    const entry = this.registry.begin(p.key);
    if (entry instanceof TurbineError) {
      send(encodeFrame(FrameType.error, id, encodeWire(errorToWire(entry))));
      return;
    }
    const stream = new ServerStream(p.window);
    streams.set(id, stream);
    void stream
      .run(withTrace(entry.handler, asTraceCarrier(p.trace)), p.request, entry.instanceId, {
        data: (item) => send(encodeFrame(FrameType.data, id, encodeWire(item))),
        end: () => send(encodeFrame(FrameType.end, id)),
        error: (e) => send(encodeFrame(FrameType.error, id, encodeWire(errorToWire(e)))),
      })
      .finally(() => {
        streams.delete(id);
        this.registry.finish(entry);
      });
  }
}

/** One caller-side connection: many streams, each with its own credit window. */
class TcpClientConnection {
  readonly ready: Promise<void>;
  private readonly socket: net.Socket;
  private readonly streams = new Map<number, CallerStream>();
  private nextId = 1;
  private lost: TurbineError | null = null;

  private destroyed = false;
  /** When the peer was last heard from (any bytes). */
  private lastHeard = Date.now();
  private silentTooLong = false;

  /** `onGone(unexpected)`: the connection ended; unexpected when it was up and we did not end it. */
  constructor(host: string, port: number, heartbeat: { intervalMs: number; timeoutMs: number }, auth: ClusterAuth | null, onGone: (unexpected: boolean) => void) {
    const socket = net.connect({ host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 1000);
    let connected = false;
    const reader = new FrameReader((type, id, payload) => this.onFrame(type, id, payload));
    const onData = (chunk: Buffer): void => {
      this.lastHeard = Date.now();
      reader.push(chunk);
    };
    this.ready = new Promise((resolve, reject) => {
      socket.once("connect", () => {
        // The cluster handshake (when a secret is set) comes first; frames only after it.
        const handshake = auth ? auth.connect(socket) : Promise.resolve(Buffer.alloc(0));
        handshake.then((rest) => {
          connected = true;
          this.lastHeard = Date.now();
          socket.on("data", onData);
          if (rest.length > 0) reader.push(rest);
          socket.resume();
          resolve();
        }, reject);
      });
      socket.once("error", (e) => {
        if (!connected) reject(new TurbineError("RUNTIME_NO_INSTANCE", `cannot connect to ${host}:${port}: ${e.message}`, { cause: e }));
      });
    });
    this.ready.catch(() => undefined);
    // Liveness: ping when quiet; silence past the deadline is a lost peer (it may be frozen,
    // its kernel still accepting bytes, so no error would ever come).
    const beat = setInterval(() => {
      if (!connected) return;
      const quiet = Date.now() - this.lastHeard;
      if (quiet >= heartbeat.timeoutMs) {
        this.silentTooLong = true;
        socket.destroy();
      } else if (quiet >= heartbeat.intervalMs) {
        this.send(encodeFrame(FrameType.ping, 0));
      }
    }, heartbeat.intervalMs / 2);
    beat.unref();
    socket.on("error", () => undefined); // "close" follows
    socket.on("close", () => {
      clearInterval(beat);
      const why = this.silentTooLong ? ` (silent for ${heartbeat.timeoutMs} ms)` : "";
      this.lost = new TurbineError("RUNTIME_CONNECTION_LOST", `connection to ${host}:${port} lost${why}`);
      onGone(connected && !this.destroyed);
      for (const s of this.streams.values()) s.end(this.lost);
      this.streams.clear();
    });
  }

  call(payload: RequestPayload, window: number, signal: AbortSignal | undefined): AsyncGenerator<unknown> {
    if (this.lost) throw this.lost;
    const id = this.nextId;
    this.nextId = this.nextId >= 0xfffffffe ? 1 : this.nextId + 1;
    const stream = new CallerStream(window);
    this.streams.set(id, stream);
    if (!signal?.aborted) this.send(encodeFrame(FrameType.request, id, encodeWire(payload)));
    return stream.iterate(
      {
        credit: (n) => this.send(encodeCreditFrame(id, n)),
        cancel: () => this.send(encodeFrame(FrameType.cancel, id)),
        release: () => this.streams.delete(id),
      },
      signal,
    );
  }

  destroy(): void {
    this.destroyed = true;
    this.socket.destroy();
  }

  private send(frame: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(frame);
  }

  private onFrame(type: number, id: number, payload: Buffer): void {
    const stream = this.streams.get(id);
    if (!stream) return;
    switch (type) {
      case FrameType.data:
        stream.push(decodeWire(payload.toString("utf8")));
        break;
      case FrameType.end:
        stream.end();
        break;
      case FrameType.error:
        stream.end(errorFromWire(decodeWire(payload.toString("utf8")) as WireError));
        break;
    }
  }
}

function failing(err: Error): AsyncIterable<unknown> {
  return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(err) }) };
}
