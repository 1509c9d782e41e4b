import { test } from "node:test";
import assert from "node:assert/strict";
import { Runtime, formatAddress, parseAddress, instancePrefix } from "../../src/runtime/index.ts";
import type { DiscoveryEvent } from "../../src/runtime/index.ts";
import { TurbineError } from "../../src/protocols/index.ts";

test("runtime - addresses format and parse", () => {
  const a = { namespace: "prod", component: "backend", endpoint: "generate" };
  assert.equal(formatAddress(a), "turbine://prod.backend.generate");
  assert.deepEqual(parseAddress("turbine://prod.backend.generate"), a);
  assert.throws(() => parseAddress("http://x"), TurbineError);
  assert.throws(() => parseAddress("turbine://a.b c.d"), TurbineError);
});

test("runtime - discovery watch sees instances come and go", async () => {
  const rt = Runtime.embedded();
  const ep = rt.namespace("ns").component("backend").endpoint("generate");
  const first = await ep.serve(async function* () {}, { metadata: { n: 1 } });
  const watch = rt.discovery.watch(instancePrefix(ep.address));
  const seen: DiscoveryEvent[] = [];
  const done = (async () => {
    for await (const e of watch) {
      seen.push(e);
      if (seen.length === 3) break;
    }
  })();
  const second = await ep.serve(async function* () {});
  await first.stop();
  await done;
  assert.deepEqual(
    seen.map((e) => [e.type, e.instance.instanceId]),
    [
      ["put", first.instanceId],
      ["put", second.instanceId],
      ["delete", first.instanceId],
    ],
  );
  assert.equal(await watch.closed, undefined);
  const client = await ep.client();
  assert.deepEqual(
    client.instances().map((i) => i.instanceId),
    [second.instanceId],
  );
  client.close();
  await rt.close();
});

// The request plane's behaviours (streaming, backpressure, cancellation both ways, errors,
// drain) are one shared suite over every implementation: distributed-request-plane.test.ts.

test("runtime - event plane delivers by subject with wildcards", async () => {
  const rt = Runtime.embedded();
  const all = rt.events.subscribe<number>("kv.>");
  const one = rt.events.subscribe<number>("kv.a");
  rt.events.publish("kv.a", 1);
  rt.events.publish("kv.b", 2);
  rt.events.publish("metrics.a", 3);
  await rt.close();
  const collect = async (s: AsyncIterable<number>) => {
    const out: number[] = [];
    for await (const v of s) out.push(v);
    return out;
  };
  assert.deepEqual(await collect(all), [1, 2]);
  assert.deepEqual(await collect(one), [1]);
});
