// Request plane over NATS. A served instance listens on its own subject and advertises
// { kind: "nats", subject }. A call subscribes a fresh inbox, sends the request with a NATS
// request (so "no responders" fails at once), and the handler's items stream back on the
// inbox with sequence numbers. The caller sends credit, cancel and heartbeats to the
// instance's control subject. NATS has no connection to the peer, so both sides send
// heartbeats on quiet streams and give up on a peer silent for three heartbeat intervals:
// a dead server fails its callers' streams with RUNTIME_CONNECTION_LOST within seconds, and
// a dead caller's handler is aborted.
import type { Msg, NatsConnection, Subscription as NatsSubscription } from "@nats-io/transport-node";
import { createInbox } from "@nats-io/transport-node";
import { TurbineError } from "../protocols/index.ts";
import type { EndpointAddress } from "./address.ts";
import { CallerStream } from "./caller-stream.ts";
import type { InstanceInfo } from "./discovery.ts";
import { withTrace } from "./request-plane.ts";
import type { CallOptions, RequestPlane, ServedHandler, StreamHandler } from "./request-plane.ts";
import { asTraceCarrier } from "./trace-context.ts";
import type { TraceCarrier } from "./trace-context.ts";
import { ServedRegistry, servedKey } from "./served-registry.ts";
import { ServerStream } from "./server-stream.ts";
import { decodeWireBytes, encodeWireBytes, errorFromWire, errorToWire } from "./wire-codec.ts";
import type { WireError } from "./wire-codec.ts";

export interface NatsRequestPlaneOptions {
  /** Subject prefix of served instances (default "turbine.rpc"). */
  prefix?: string;
  /** Items a handler may run ahead of its caller (default 32). */
  window?: number;
  /** Heartbeat interval on quiet streams (default 1000 ms); a peer silent 3× this is gone. */
  heartbeatMs?: number;
  /** How long the request that starts a call waits for the instance (default 5000 ms). */
  startTimeoutMs?: number;
}

interface StartPayload {
  key: string;
  inbox: string;
  window: number;
  request: unknown;
  /** The caller's W3C trace context (absent when tracing is off). */
  trace?: TraceCarrier;
}

// Server → caller, on the call's inbox.
type Reply = ["d", number, unknown] | ["end", number] | ["err", number, WireError] | ["hb", number];
// Caller → server, on the instance's control subject.
type Control = ["c", string, number] | ["x", string] | ["hb", string];

interface ServerSide {
  stream: ServerStream;
  inbox: string;
  seq: number;
  lastSent: number;
  lastHeard: number;
}

interface CallerSide {
  stream: CallerStream;
  inbox: string;
  control: string;
  seq: number;
  lastSent: number;
  lastHeard: number;
  sub: NatsSubscription;
}

export class NatsRequestPlane implements RequestPlane {
  private readonly prefix: string;
  readonly window: number;
  private readonly heartbeatMs: number;
  private readonly startTimeoutMs: number;
  private readonly registry = new ServedRegistry();
  private readonly serving = new Map<string, ServerSide>();
  private readonly calling = new Set<CallerSide>();
  private readonly subs = new Set<NatsSubscription>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly nc: NatsConnection,
    options: NatsRequestPlaneOptions = {},
  ) {
    this.prefix = options.prefix ?? "turbine.rpc";
    this.window = Math.max(1, options.window ?? 32);
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    this.startTimeoutMs = options.startTimeoutMs ?? 5000;
    this.timer = setInterval(() => this.tick(), Math.max(50, this.heartbeatMs >> 1));
    this.timer.unref();
  }

  async serve(instanceId: string, address: EndpointAddress, handler: StreamHandler): Promise<ServedHandler> {
    const subject = `${this.prefix}.${address.namespace}.${address.component}.${address.endpoint}.${instanceId}`;
    const requests = this.nc.subscribe(subject, { callback: (_e, msg) => this.onStart(msg) });
    const control = this.nc.subscribe(`${subject}.ctl`, { callback: (_e, msg) => this.onControl(msg) });
    this.subs.add(requests).add(control);
    await this.nc.flush(); // the subscriptions are live before the instance is advertised
    return this.registry.add(instanceId, address, handler, { kind: "nats", subject }, () => {
      for (const s of [requests, control]) {
        s.unsubscribe();
        this.subs.delete(s);
      }
    }).served;
  }

  call(target: InstanceInfo, request: unknown, options: CallOptions = {}): AsyncIterable<unknown> {
    const transport = target.transport;
    if (transport.kind !== "nats") {
      const err = new TurbineError("RUNTIME_NO_INSTANCE", `instance ${target.instanceId} is not reachable over NATS`);
      return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(err) }) };
    }
    const key = servedKey(target.address, target.instanceId);
    const start = (): AsyncGenerator<unknown> => this.start(transport.subject, key, request, options.signal, options.trace);
    return (async function* () {
      yield* start();
    })();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const s of this.serving.values()) s.stream.cancel();
    this.serving.clear();
    for (const c of this.calling) c.stream.end(new TurbineError("RUNTIME_CONNECTION_LOST", "request plane closed"));
    this.calling.clear();
    for (const s of this.subs) s.unsubscribe();
    this.subs.clear();
    this.registry.clear();
  }

  // --- caller side ---

  private start(subject: string, key: string, request: unknown, signal: AbortSignal | undefined, trace?: TraceCarrier): AsyncGenerator<unknown> {
    const inbox = createInbox();
    const stream = new CallerStream(this.window);
    const now = Date.now();
    const side: CallerSide = {
      stream,
      inbox,
      control: `${subject}.ctl`,
      seq: 0,
      lastSent: now,
      lastHeard: now,
      sub: this.nc.subscribe(inbox, { callback: (_e, msg) => this.onReply(side, msg) }),
    };
    this.calling.add(side);
    if (!signal?.aborted) {
      const payload: StartPayload = { key, inbox, window: this.window, request, ...(trace ? { trace } : {}) };
      this.nc.request(subject, encodeWireBytes(payload), { timeout: this.startTimeoutMs }).then(
        (msg) => {
          if (msg.data.length > 0) stream.end(errorFromWire(decodeWireBytes(msg.data) as WireError));
        },
        (e: unknown) => {
          const message = e instanceof Error ? e.message : String(e);
          stream.end(new TurbineError("RUNTIME_NO_INSTANCE", `instance ${key} did not answer: ${message}`, { cause: e }));
        },
      );
    }
    const send = (c: Control): void => {
      side.lastSent = Date.now();
      this.nc.publish(side.control, encodeWireBytes(c));
    };
    return stream.iterate(
      {
        credit: (n) => send(["c", inbox, n]),
        cancel: () => send(["x", inbox]),
        release: () => {
          this.calling.delete(side);
          side.sub.unsubscribe();
        },
      },
      signal,
    );
  }

  private onReply(side: CallerSide, msg: Msg): void {
    const r = decodeWireBytes(msg.data) as Reply;
    side.lastHeard = Date.now();
    if (r[0] === "hb") return;
    if (r[1] !== ++side.seq) {
      side.stream.end(new TurbineError("RUNTIME_CONNECTION_LOST", `stream messages lost (expected #${side.seq}, got #${r[1]})`));
      return;
    }
    if (r[0] === "d") side.stream.push(r[2]);
    else if (r[0] === "end") side.stream.end();
    else side.stream.end(errorFromWire(r[2]));
  }

  // --- serving side ---

  private onStart(msg: Msg): void {
    let p: StartPayload;
    try {
      p = decodeWireBytes(msg.data) as StartPayload;
    } catch {
      return;
    }
    const entry = this.registry.begin(p.key);
    if (entry instanceof TurbineError) {
      msg.respond(encodeWireBytes(errorToWire(entry)));
      return;
    }
    msg.respond();
    const now = Date.now();
    const side: ServerSide = { stream: new ServerStream(p.window), inbox: p.inbox, seq: 0, lastSent: now, lastHeard: now };
    this.serving.set(p.inbox, side);
    const send = (r: Reply): void => {
      side.lastSent = Date.now();
      this.nc.publish(side.inbox, encodeWireBytes(r));
    };
    void side.stream
      .run(withTrace(entry.handler, asTraceCarrier(p.trace)), p.request, entry.instanceId, {
        data: (item) => send(["d", ++side.seq, item]),
        end: () => send(["end", ++side.seq]),
        error: (e) => send(["err", ++side.seq, errorToWire(e)]),
      })
      .finally(() => {
        this.serving.delete(p.inbox);
        this.registry.finish(entry);
      });
  }

  private onControl(msg: Msg): void {
    let c: Control;
    try {
      c = decodeWireBytes(msg.data) as Control;
    } catch {
      return;
    }
    const side = this.serving.get(c[1]);
    if (!side) return;
    side.lastHeard = Date.now();
    if (c[0] === "c") side.stream.grant(c[2]);
    else if (c[0] === "x") side.stream.cancel();
  }

  /** Heartbeats on quiet streams; peers silent past the timeout are given up. */
  private tick(): void {
    const now = Date.now();
    const timeout = 3 * this.heartbeatMs;
    for (const side of this.serving.values()) {
      if (now - side.lastHeard > timeout) side.stream.cancel();
      else if (now - side.lastSent >= this.heartbeatMs) {
        side.lastSent = now;
        this.nc.publish(side.inbox, encodeWireBytes(["hb", side.seq]));
      }
    }
    for (const side of this.calling) {
      if (side.stream.isDone) continue;
      if (now - side.lastHeard > timeout) {
        side.stream.end(new TurbineError("RUNTIME_CONNECTION_LOST", `no word from the instance for ${timeout} ms`));
      } else if (now - side.lastSent >= this.heartbeatMs) {
        side.lastSent = now;
        this.nc.publish(side.control, encodeWireBytes(["hb", side.inbox]));
      }
    }
  }
}
