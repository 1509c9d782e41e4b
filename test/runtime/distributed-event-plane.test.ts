// Event plane and request plane on a real nats-server, across a NATS restart.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/transport-node";
import { MemoryDiscovery, NatsEventPlane, NatsRequestPlane, Runtime, connectNats } from "../../src/runtime/index.ts";
import { asSequenceHash } from "../../src/protocols/index.ts";
import { eventually, startNats } from "../support/services.ts";
import type { Service } from "../support/services.ts";

let nats: Service;
let nc: NatsConnection;
before(async () => {
  nats = await startNats();
  nc = await connectNats(nats.url);
});
after(async () => {
  await nc?.close();
  await nats?.stop();
});

const drainInto = <T>(sub: AsyncIterable<T>, out: T[]): void => {
  void (async () => {
    for await (const v of sub) out.push(v);
  })();
};

test("runtime - nats event plane delivers by subject with wildcards and a prefix", async () => {
  const publisherNc = await connectNats(nats.url);
  const publisher = new NatsEventPlane(publisherNc, { prefix: "t1" });
  const events = new NatsEventPlane(nc, { prefix: "t1" });
  const other = new NatsEventPlane(nc, { prefix: "t1other" });
  const all: unknown[] = [];
  const one: unknown[] = [];
  const foreign: unknown[] = [];
  drainInto(events.subscribe("kv.>"), all);
  drainInto(events.subscribe("kv.a"), one);
  drainInto(other.subscribe(">"), foreign);
  await events.flush();
  publisher.publish("kv.a", { hash: asSequenceHash(2n ** 63n) });
  publisher.publish("kv.b", 2);
  publisher.publish("metrics.a", 3);
  await publisher.flush();
  await eventually(() => all.length === 2 && one.length === 1, 2000, "deliveries");
  assert.deepEqual(all, [{ hash: 2n ** 63n }, 2]);
  assert.deepEqual(one, [{ hash: 2n ** 63n }]);
  assert.deepEqual(foreign, []);
  await events.close();
  await other.close();
  await publisher.close();
  await publisherNc.close();
});

test("runtime - nats restarted: subscriptions keep delivering and new requests succeed", async () => {
  const rt = new Runtime({
    discovery: new MemoryDiscovery(),
    requests: new NatsRequestPlane(nc),
    events: new NatsEventPlane(nc, { prefix: "t2" }),
  });
  const publisherNc = await connectNats(nats.url);
  const publisher = new NatsEventPlane(publisherNc, { prefix: "t2" });
  const got: number[] = [];
  drainInto(rt.events.subscribe<number>("metrics.>"), got);
  const ep = rt.namespace("ns").component("c").endpoint("echo");
  const served = await ep.serve<number, number>(async function* (n) {
    yield n + 1;
  });
  const client = await ep.client<number, number>();
  await (rt.events as NatsEventPlane).flush();
  publisher.publish("metrics.w1", 1);
  await eventually(() => got.length === 1, 2000, "the first event");
  assert.deepEqual(await client.collect(served.instanceId, 1), [2]);

  await nats.restart({ downMs: 300 });
  // Both connections come back on their own; then events and requests flow again.
  await eventually(async () => {
    publisher.publish("metrics.w1", 2);
    await publisherNc.flush().catch(() => undefined);
    return got.includes(2);
  }, 8000, "an event after the restart");
  assert.deepEqual(await client.collect(served.instanceId, 41), [42]);
  client.close();
  await rt.close();
  await publisherNc.close();
});
