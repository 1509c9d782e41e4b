// The flags every distributed process role shares: where etcd and NATS are, and which
// request plane carries requests.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { Option } from "commander";
import type { Logger } from "pino";
import { ClusterAuth, Runtime } from "../runtime/index.ts";
import type { EtcdDiscoveryOptions, NatsConnectOptions } from "../runtime/index.ts";
import { TurbineError } from "../protocols/index.ts";
import { nonNegativeInt, positiveInt } from "./options.ts";

export interface DistributedFlags {
  etcd: string;
  nats: string;
  requestPlane: "tcp" | "nats";
  advertiseHost: string;
  leaseTtl: number;
  requestPlanePort: number;
  requestPlaneTimeoutMs: number;
  clusterSecret?: string;
  clusterSecretFile?: string;
  insecureInternal?: boolean;
  natsCreds?: string;
  natsNkey?: string;
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
  etcdUser?: string;
  etcdPassword?: string;
  etcdTlsCa?: string;
  etcdTlsCert?: string;
  etcdTlsKey?: string;
}

export function addDistributedOptions(cmd: Command): Command {
  return cmd
    .option("--etcd <url>", "etcd endpoint for discovery", process.env["TURBINE_ETCD"] ?? "http://127.0.0.1:2379")
    .option("--nats <url>", "NATS server for events (and requests with --request-plane nats)", process.env["TURBINE_NATS"] ?? "nats://127.0.0.1:4222")
    .addOption(new Option("--request-plane <kind>", "how requests reach workers").choices(["tcp", "nats"]).default("tcp"))
    .option("--advertise-host <addr>", "address other processes use to reach this one (TCP request plane)", "127.0.0.1")
    .option("--request-plane-port <n>", "TCP request plane: port this process serves requests on (0: any free port)", nonNegativeInt, 0)
    .option("--request-plane-timeout-ms <n>", "TCP request plane: a worker silent this long (no token, no answer to a ping) is taken as frozen: out of routing, its streams migrate", positiveInt, 2000)
    .option("--lease-ttl <seconds>", "etcd lease TTL: how long a process that died stays registered", positiveInt, 10)
    .option("--cluster-secret <secret>", "secret every internal connection proves (request plane, KV transfer); default $TURBINE_CLUSTER_SECRET", process.env["TURBINE_CLUSTER_SECRET"])
    .option("--cluster-secret-file <path>", "file holding the cluster secret")
    .option("--insecure-internal", "let internal planes listen beyond loopback without a cluster secret")
    .option("--nats-creds <path>", "NATS credentials file (JWT + nkey seed); user:pass also works in the --nats URL")
    .option("--nats-nkey <path>", "NATS nkey seed file")
    .option("--nats-tls-ca <path>", "CA certificate to trust for NATS TLS")
    .option("--nats-tls-cert <path>", "client certificate for NATS mutual TLS")
    .option("--nats-tls-key <path>", "client key for NATS mutual TLS")
    .option("--etcd-user <name>", "etcd user (password auth)")
    .option("--etcd-password <password>", "etcd password; default $TURBINE_ETCD_PASSWORD", process.env["TURBINE_ETCD_PASSWORD"])
    .option("--etcd-tls-ca <path>", "CA certificate to trust for etcd TLS (https:// URLs)")
    .option("--etcd-tls-cert <path>", "client certificate for etcd mutual TLS")
    .option("--etcd-tls-key <path>", "client key for etcd mutual TLS");
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** Is this an address only this host can reach? */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.test(host.replace(/^\[|\]$/g, ""));
}

/**
 * The cluster secret, and the rule for going without one: internal planes listen on loopback
 * only, unless --insecure-internal says otherwise (then a warning). `listenHosts`: where this
 * process's internal servers listen.
 */
export function clusterAuthFromFlags(flags: DistributedFlags, listenHosts: string[], log: Logger): ClusterAuth | null {
  const auth = ClusterAuth.fromOptions({ secret: flags.clusterSecret, secretFile: flags.clusterSecretFile });
  if (auth) return auth;
  const exposed = listenHosts.filter((h) => !isLoopbackHost(h));
  if (exposed.length === 0) return null;
  if (!flags.insecureInternal) {
    throw new TurbineError(
      "REQUEST_INVALID",
      `internal planes would listen on ${exposed.join(", ")} without authentication: set --cluster-secret (or --cluster-secret-file), or pass --insecure-internal`,
    );
  }
  log.warn({ hosts: exposed }, "internal planes listen beyond loopback WITHOUT authentication (--insecure-internal): anyone who reaches these ports can run requests and read KV");
  return null;
}

function readOptional(path: string | undefined): Buffer | undefined {
  return path === undefined ? undefined : readFileSync(path);
}

/** NATS credentials and TLS from the flags. */
export function natsOptionsFromFlags(flags: DistributedFlags): NatsConnectOptions {
  const out: NatsConnectOptions = {};
  const creds = readOptional(flags.natsCreds);
  const nkey = readOptional(flags.natsNkey);
  if (creds) out.creds = creds;
  if (nkey) out.nkeySeed = new TextEncoder().encode(nkey.toString("utf8").trim());
  if (flags.natsTlsCa || flags.natsTlsCert) {
    out.tls = {};
    if (flags.natsTlsCa) out.tls.ca = readFileSync(flags.natsTlsCa, "utf8");
    if (flags.natsTlsCert) out.tls.cert = readFileSync(flags.natsTlsCert, "utf8");
    if (flags.natsTlsKey) out.tls.key = readFileSync(flags.natsTlsKey, "utf8");
  }
  return out;
}

/** etcd credentials and TLS from the flags. */
export function etcdOptionsFromFlags(flags: DistributedFlags): Omit<EtcdDiscoveryOptions, "url" | "ttlSeconds"> {
  const out: Omit<EtcdDiscoveryOptions, "url" | "ttlSeconds"> = {};
  if (flags.etcdUser !== undefined) out.auth = { username: flags.etcdUser, password: flags.etcdPassword ?? "" };
  if (flags.etcdTlsCa) out.tls = { ca: readFileSync(flags.etcdTlsCa), cert: readOptional(flags.etcdTlsCert), key: readOptional(flags.etcdTlsKey) };
  return out;
}

/** `listenHosts`: where this process's internal servers listen besides the request plane (a worker's KV transfer agent). */
export async function connectRuntime(flags: DistributedFlags, log: Logger, listenHosts: string[] = []): Promise<Runtime> {
  const clusterAuth = clusterAuthFromFlags(flags, flags.requestPlane === "tcp" ? [flags.advertiseHost, ...listenHosts] : listenHosts, log);
  let runtime: Runtime;
  try {
    runtime = await Runtime.distributed({
      etcdUrl: flags.etcd,
      natsUrl: flags.nats,
      requestPlane: flags.requestPlane,
      host: flags.advertiseHost,
      port: flags.requestPlanePort,
      requestPlaneTimeoutMs: flags.requestPlaneTimeoutMs,
      leaseTtlSeconds: flags.leaseTtl,
      name: process.argv[2],
      clusterAuth,
      nats: natsOptionsFromFlags(flags),
      etcd: etcdOptionsFromFlags(flags),
    });
  } catch (err) {
    throw new TurbineError(
      "RUNTIME_CONNECTION_LOST",
      `cannot connect the runtime (NATS ${redactUrl(flags.nats)}, etcd ${flags.etcd}): ${(err as Error).message}; start NATS and etcd first`,
      { cause: err },
    );
  }
  log.info({ etcd: flags.etcd, nats: redactUrl(flags.nats), requestPlane: flags.requestPlane, clusterAuth: clusterAuth !== null }, "connected");
  return runtime;
}

/** A URL with its user:password part hidden, for logs. */
function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/g, "//***@");
}
