// A worker-like child process for failure tests: serves turbine://ns.worker.generate over
// the given request plane, registered in etcd with a short lease, streaming an item every
// 20 ms forever. Prints "READY <instanceId>" once registered. Usage:
//   node --import tsx serve-endpoint-child.ts <etcdUrl> <natsUrl> <tcp|nats> <ttlSeconds>
import { setTimeout as sleep } from "node:timers/promises";
import { Runtime } from "../../src/runtime/index.ts";
import type { HandlerContext } from "../../src/runtime/index.ts";

const [etcdUrl, natsUrl, plane, ttl] = process.argv.slice(2);
const rt = await Runtime.distributed({
  etcdUrl: etcdUrl!,
  natsUrl: natsUrl!,
  requestPlane: plane === "nats" ? "nats" : "tcp",
  leaseTtlSeconds: Number(ttl ?? 2),
});
const served = await rt.endpoint({ namespace: "ns", component: "worker", endpoint: "generate" }).serve(async function* (
  _req: unknown,
  ctx: HandlerContext,
) {
  for (let i = 0; !ctx.signal.aborted; i++) {
    yield i;
    await sleep(20);
  }
});
process.stdout.write(`READY ${served.instanceId}\n`);
