// The NATS connection the distributed planes share: reconnects forever, quickly, so a NATS
// restart is survived; nats.js re-subscribes everything on reconnect.
import { connect, credsAuthenticator, nkeyAuthenticator } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";

export interface NatsConnectOptions {
  /** Client name shown by the server's monitoring. */
  name?: string;
  /** Delay between reconnect attempts (default 250 ms). */
  reconnectTimeWaitMs?: number;
  /** User and password (also taken from `nats://user:pass@host` URLs). */
  user?: string;
  pass?: string;
  /** Contents of a NATS credentials file (JWT and nkey seed), or of an nkey seed file. */
  creds?: Uint8Array;
  nkeySeed?: Uint8Array;
  /** TLS: the CA to trust, and a client certificate for mutual TLS (PEM contents). */
  tls?: { ca?: string; cert?: string; key?: string };
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
    ...(options.user !== undefined ? { user: options.user, pass: options.pass } : {}),
    ...(options.creds ? { authenticator: credsAuthenticator(options.creds) } : options.nkeySeed ? { authenticator: nkeyAuthenticator(options.nkeySeed) } : {}),
    ...(options.tls ? { tls: options.tls } : {}),
  });
}
