// The flags every distributed process role shares: where etcd and NATS are, and which
// request plane carries requests.
import type { Command } from "commander";
import { Option } from "commander";
import type { Logger } from "pino";
import { Runtime } from "../runtime/index.ts";
import { TurbineError } from "../protocols/index.ts";
import { nonNegativeInt, positiveInt } from "./options.ts";

export interface DistributedFlags {
  etcd: string;
  nats: string;
  requestPlane: "tcp" | "nats";
  advertiseHost: string;
  leaseTtl: number;
  requestPlanePort: number;
}

export function addDistributedOptions(cmd: Command): Command {
  return cmd
    .option("--etcd <url>", "etcd endpoint for discovery", process.env["TURBINE_ETCD"] ?? "http://127.0.0.1:2379")
    .option("--nats <url>", "NATS server for events (and requests with --request-plane nats)", process.env["TURBINE_NATS"] ?? "nats://127.0.0.1:4222")
    .addOption(new Option("--request-plane <kind>", "how requests reach workers").choices(["tcp", "nats"]).default("tcp"))
    .option("--advertise-host <addr>", "address other processes use to reach this one (TCP request plane)", "127.0.0.1")
    .option("--request-plane-port <n>", "TCP request plane: port this process serves requests on (0: any free port)", nonNegativeInt, 0)
    .option("--lease-ttl <seconds>", "etcd lease TTL: how long a process that died stays registered", positiveInt, 10);
}

export async function connectRuntime(flags: DistributedFlags, log: Logger): Promise<Runtime> {
  let runtime: Runtime;
  try {
    runtime = await Runtime.distributed({
      etcdUrl: flags.etcd,
      natsUrl: flags.nats,
      requestPlane: flags.requestPlane,
      host: flags.advertiseHost,
      port: flags.requestPlanePort,
      leaseTtlSeconds: flags.leaseTtl,
      name: process.argv[2],
    });
  } catch (err) {
    throw new TurbineError(
      "RUNTIME_CONNECTION_LOST",
      `cannot connect the runtime (NATS ${flags.nats}, etcd ${flags.etcd}): ${(err as Error).message}; start NATS and etcd first`,
      { cause: err },
    );
  }
  log.info({ etcd: flags.etcd, nats: flags.nats, requestPlane: flags.requestPlane }, "connected");
  return runtime;
}
