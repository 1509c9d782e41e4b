// Event plane on NATS subjects. A Turbine subject "kv.w1" travels as "<prefix>.kv.w1"; ">"
// wildcards keep their NATS meaning, as in MemoryEventPlane. Messages are wire-codec JSON
// (bigint hashes survive). The connection reconnects forever and nats.js re-subscribes on
// reconnect, so subscriptions outlive a NATS restart; what is published while the server is
// away is buffered by the client and sent on reconnect (at most once, as documented).
import type { NatsConnection, Subscription as NatsSubscription } from "@nats-io/transport-node";
import { AsyncQueue } from "./async-queue.ts";
import type { Subscription } from "./async-queue.ts";
import type { EventPlane } from "./event-plane.ts";
import { decodeWireBytes, encodeWireBytes } from "./wire-codec.ts";

export interface NatsEventPlaneOptions {
  /** Prepended to every subject (default "turbine.events"; "" for none). */
  prefix?: string;
}

export class NatsEventPlane implements EventPlane {
  private readonly prefix: string;
  private readonly subs = new Map<AsyncQueue<unknown>, NatsSubscription>();

  constructor(
    private readonly nc: NatsConnection,
    options: NatsEventPlaneOptions = {},
  ) {
    const prefix = options.prefix ?? "turbine.events";
    this.prefix = prefix === "" ? "" : `${prefix}.`;
  }

  publish(subject: string, data: unknown): void {
    if (this.nc.isClosed()) return;
    this.nc.publish(this.prefix + subject, encodeWireBytes(data));
  }

  subscribe<T>(subject: string, options: { maxPending?: number } = {}): Subscription<T> {
    const queue: AsyncQueue<unknown> = new AsyncQueue<unknown>({
      maxPending: options.maxPending ?? 0,
      onReturn: () => {
        this.subs.get(queue)?.unsubscribe();
        this.subs.delete(queue);
      },
    });
    const sub = this.nc.subscribe(this.prefix + subject, {
      callback: (err, msg) => {
        if (err) return;
        let value: unknown;
        try {
          value = decodeWireBytes(msg.data);
        } catch {
          return; // not ours: a foreign publisher on our subject
        }
        queue.push(value);
      },
    });
    this.subs.set(queue, sub);
    return queue as AsyncQueue<T>;
  }

  /** Resolves once the server has seen every subscription and publish so far. */
  flush(): Promise<void> {
    return this.nc.flush();
  }

  async close(): Promise<void> {
    for (const [queue, sub] of this.subs) {
      sub.unsubscribe();
      queue.end();
    }
    this.subs.clear();
  }
}
