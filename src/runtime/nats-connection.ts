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

/**
 * Takes `user:pass@` (or a `token@`) out of NATS URLs: nats.js wants credentials as options,
 * and the URLs end up in logs.
 */
export function splitNatsCredentials(url: string | string[]): { servers: string[]; user?: string; pass?: string; token?: string } {
  const out: { servers: string[]; user?: string; pass?: string; token?: string } = { servers: [] };
  for (const u of Array.isArray(url) ? url : url.split(",")) {
    const m = /^([a-z]+:\/\/)([^@/]*)@(.*)$/i.exec(u.trim());
    if (!m) {
      out.servers.push(u.trim());
      continue;
    }
    const [user, pass] = m[2]!.split(":", 2).map((x) => decodeURIComponent(x));
    if (pass === undefined) out.token = user;
    else {
      out.user = user;
      out.pass = pass;
    }
    out.servers.push(m[1]! + m[3]!);
  }
  return out;
}

export function connectNats(url: string | string[], options: NatsConnectOptions = {}): Promise<NatsConnection> {
  const { servers, user, pass, token } = splitNatsCredentials(url);
  return connect({
    servers,
    ...(user !== undefined ? { user, pass } : {}),
    ...(token !== undefined ? { token } : {}),
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
