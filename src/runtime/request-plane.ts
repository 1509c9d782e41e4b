// Request plane: carries a request to one instance's endpoint and its response stream back.
// Backpressure: the caller pulls (async iteration); a slow caller slows the handler.
// Cancellation both ways: the caller's signal (or a `break`) aborts the handler's signal;
// a handler that throws ends the caller's stream with that error.
// Embedded form: a direct function call. NATS and TCP forms (a later issue) keep this interface.
import { TurbineError } from "../protocols/index.ts";
import type { EndpointAddress } from "./address.ts";
import type { InstanceInfo, TransportInfo } from "./discovery.ts";
import type { TraceCarrier } from "./trace-context.ts";

export interface HandlerContext {
  /** Aborted when the caller goes away or the instance stops. */
  signal: AbortSignal;
  instanceId: string;
  /** The caller's W3C trace context, when it sent one (tracing on). */
  trace?: TraceCarrier;
  /**
   * The caller is in this process (the embedded plane): items reach it without a network
   * hop, and it reads ahead itself, so the handler need not batch them.
   */
  local?: boolean;
}

export type StreamHandler<Req = unknown, Res = unknown> = (request: Req, ctx: HandlerContext) => AsyncIterable<Res>;

export interface ServedHandler {
  transport: TransportInfo;
  /** Stops taking requests; `drain` waits for requests in flight first. */
  stop(options?: { drain?: boolean }): Promise<void>;
  /** Requests in flight. */
  readonly numInFlight: number;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** W3C trace context to send with the request (an optional envelope field). */
  trace?: TraceCarrier;
}

/** The handler, told the caller's trace context (when the envelope carried one). */
export function withTrace(handler: StreamHandler, trace: TraceCarrier | undefined): StreamHandler {
  return trace ? (request, ctx) => handler(request, { ...ctx, trace }) : handler;
}

export interface RequestPlane {
  serve(instanceId: string, address: EndpointAddress, handler: StreamHandler): Promise<ServedHandler>;
  call(target: InstanceInfo, request: unknown, options?: CallOptions): AsyncIterable<unknown>;
  /**
   * Keeps a connection to the instance's process open, so that its death is noticed at once
   * (planes with connections: TCP). Absent or a no-op where there is nothing to watch.
   */
  watch?(target: InstanceInfo): void;
  /** Reports a peer process whose connection dropped without being closed by us. Returns the unsubscribe function. */
  onPeerLost?(listener: (transport: TransportInfo) => void): () => void;
  close(): Promise<void>;
}

const cancelled = (): TurbineError => new TurbineError("RUNTIME_CANCELLED", "request cancelled by the caller");

/**
 * Runs a handler for one call and relays its stream with cancellation both ways.
 * Shared by every request plane: the server side of the NATS and TCP planes runs it too.
 */
export function relayHandler(
  handler: StreamHandler,
  request: unknown,
  instanceId: string,
  signal: AbortSignal | undefined,
  local?: LocalRelay,
): AsyncIterableIterator<unknown> & { return(): Promise<IteratorResult<unknown>> } {
  return new RelayStream(handler, request, instanceId, signal, local);
}

const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true };

/**
 * The relay as a hand-written iterator rather than an async generator: it is on the token path,
 * and a generator costs a promise and a tick of its own per item on top of the handler's.
 * Semantics of the generator it replaces: the handler starts on the first `next`; the caller's
 * abort rejects a pending `next` at once, even while the handler is parked (one settle
 * callback per item, not a race against a shared promise, which would pile up reactions over
 * a long stream), and every later `next` too; an early `return`, an abort or a handler error
 * aborts the handler's signal and returns its iterator without waiting for it.
 */
class RelayStream implements AsyncIterableIterator<unknown> {
  private readonly ctrl = new AbortController();
  private it: AsyncIterator<unknown> | null = null;
  private state: "new" | "open" | "closed" = "new";
  private failPending: ((e: Error) => void) | null = null;
  private readonly onAbort = (): void => {
    this.ctrl.abort(this.signal?.reason);
    const fail = this.failPending;
    this.failPending = null;
    this.close(false);
    fail?.(cancelled());
  };

  constructor(
    private readonly handler: StreamHandler,
    private readonly request: unknown,
    private readonly instanceId: string,
    private readonly signal: AbortSignal | undefined,
    private readonly local: LocalRelay | undefined,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<unknown>> {
    if (this.state === "closed") return this.signal?.aborted ? Promise.reject(cancelled()) : Promise.resolve(DONE);
    if (this.state === "new") {
      try {
        this.open();
      } catch (err) {
        this.close(false); // undoes what open did (nothing, if `start` refused)
        return Promise.reject(err);
      }
    }
    const pending = this.it!.next();
    if (!this.signal)
      return pending.then(
        (r) => this.settled(r),
        (e: unknown) => {
          throw this.failed(e);
        },
      );
    return new Promise<IteratorResult<unknown>>((resolve, reject) => {
      this.failPending = reject;
      pending.then(
        (r) => {
          if (this.failPending !== reject) return; // the caller aborted: already rejected
          this.failPending = null;
          resolve(this.settled(r));
        },
        (e: unknown) => {
          if (this.failPending !== reject) return;
          this.failPending = null;
          reject(this.failed(e));
        },
      );
    });
  }

  return(): Promise<IteratorResult<unknown>> {
    if (this.state === "open") this.close(false);
    else this.state = "closed";
    return Promise.resolve(DONE);
  }

  private open(): void {
    this.local?.start(); // may throw (the instance is stopping): nothing to undo yet
    this.state = "open";
    this.signal?.addEventListener("abort", this.onAbort, { once: true });
    if (this.signal?.aborted) throw cancelled();
    const { local, ctrl, instanceId } = this;
    const ctx: HandlerContext = local ? { signal: ctrl.signal, instanceId, local: true, ...(local.trace ? { trace: local.trace } : {}) } : { signal: ctrl.signal, instanceId };
    this.it = this.handler(this.request, ctx)[Symbol.asyncIterator]();
  }

  private settled(r: IteratorResult<unknown>): IteratorResult<unknown> {
    if (r.done) {
      this.close(true);
      return DONE;
    }
    return r;
  }

  private failed(e: unknown): unknown {
    this.close(false);
    return e;
  }

  /** Ends the relay once: `finished` when the handler ended by itself; otherwise it is aborted. */
  private close(finished: boolean): void {
    if (this.state === "closed") return;
    const wasOpen = this.state === "open";
    this.state = "closed";
    if (!wasOpen) return;
    this.signal?.removeEventListener("abort", this.onAbort);
    if (!finished) {
      this.ctrl.abort(cancelled());
      // Don't wait for the handler's own return: it may be parked on its engine.
      this.it?.return?.().catch(() => undefined);
    }
    this.local?.end();
  }
}

/** The embedded plane's part in a relay: the call's trace context, and its in-flight count. */
interface LocalRelay {
  trace?: TraceCarrier;
  start(): void;
  end(): void;
}

interface LocalEntry {
  handler: StreamHandler;
  stopping: boolean;
  inFlight: number;
  onIdle: (() => void) | null;
}

export class LocalRequestPlane implements RequestPlane {
  private readonly handlers = new Map<string, LocalEntry>();

  async serve(instanceId: string, address: EndpointAddress, handler: StreamHandler): Promise<ServedHandler> {
    const key = localKey(address, instanceId);
    const entry: LocalEntry = { handler, stopping: false, inFlight: 0, onIdle: null };
    this.handlers.set(key, entry);
    return {
      transport: { kind: "local" },
      get numInFlight() {
        return entry.inFlight;
      },
      stop: async (options = {}) => {
        entry.stopping = true;
        if (options.drain && entry.inFlight > 0) await new Promise<void>((r) => (entry.onIdle = r));
        if (this.handlers.get(key) === entry) this.handlers.delete(key);
      },
    };
  }

  call(target: InstanceInfo, request: unknown, options: CallOptions = {}): AsyncIterable<unknown> {
    const key = localKey(target.address, target.instanceId);
    const entry = this.handlers.get(key);
    const gone = (): TurbineError => new TurbineError("RUNTIME_NO_INSTANCE", `instance ${target.instanceId} of ${key} is gone`);
    if (!entry) {
      const err = gone();
      return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(err) }) };
    }
    // The relay itself is the caller's stream: no generator around it (one less async layer per item).
    return relayHandler(entry.handler, request, target.instanceId, options.signal, {
      ...(options.trace ? { trace: options.trace } : {}),
      start: () => {
        if (entry.stopping) throw gone();
        entry.inFlight++;
      },
      end: () => {
        if (--entry.inFlight === 0) entry.onIdle?.();
      },
    });
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }
}

function localKey(a: EndpointAddress, instanceId: string): string {
  return `${a.namespace}.${a.component}.${a.endpoint}/${instanceId}`;
}
