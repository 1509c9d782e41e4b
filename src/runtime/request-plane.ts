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
export async function* relayHandler(
  handler: StreamHandler,
  request: unknown,
  instanceId: string,
  signal: AbortSignal | undefined,
  local?: LocalRelay,
): AsyncGenerator<unknown> {
  const ctrl = new AbortController();
  // The caller's abort rejects the pending `next` at once, even while the handler is parked.
  // (One settle callback per item, not a race against a shared promise, which would pile up
  // reactions over a long stream.)
  let failPending: ((e: Error) => void) | null = null;
  const onAbort = (): void => {
    ctrl.abort(signal?.reason);
    failPending?.(cancelled());
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  let it: AsyncIterator<unknown> | undefined;
  let done = false;
  local?.start();
  try {
    if (signal?.aborted) throw cancelled();
    const ctx: HandlerContext = local ? { signal: ctrl.signal, instanceId, local: true, ...(local.trace ? { trace: local.trace } : {}) } : { signal: ctrl.signal, instanceId };
    it = handler(request, ctx)[Symbol.asyncIterator]();
    for (;;) {
      const pending = it.next();
      const r = signal
        ? await new Promise<IteratorResult<unknown>>((resolve, reject) => {
            failPending = reject;
            pending.then(resolve, reject);
          })
        : await pending;
      failPending = null;
      if (r.done) {
        done = true;
        return;
      }
      yield r.value;
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    if (!done) {
      ctrl.abort(cancelled());
      // Don't wait for the handler's own return: it may be parked on its engine.
      it?.return?.().catch(() => undefined);
    }
    local?.end();
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
