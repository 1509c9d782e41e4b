// The NATS connection the distributed planes share: reconnects forever, quickly, so a NATS
// restart is survived; nats.js re-subscribes everything on reconnect.
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";

export interface NatsConnectOptions {
  /** Client name shown by the server's monitoring. */
  name?: string;
  /** Delay between reconnect attempts (default 250 ms). */
  reconnectTimeWaitMs?: number;
}

export function connectNats(url: string | string[], options: NatsConnectOptions = {}): Promise<NatsConnection> {
  return connect({
    servers: url,
    name: options.name ?? "turbine",
    maxReconnectAttempts: -1,
    reconnectTimeWait: options.reconnectTimeWaitMs ?? 250,
    reconnectJitter: 50,
    pingInterval: 10_000,
    waitOnFirstConnect: false,
  });
}
