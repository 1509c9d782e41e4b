import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { Runtime, formatAddress, parseAddress, instancePrefix } from "../../src/runtime/index.ts";
import type { DiscoveryEvent, HandlerContext } from "../../src/runtime/index.ts";
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

test("runtime - request plane streams with backpressure", async () => {
  const rt = Runtime.embedded();
  const ep = rt.namespace("ns").component("c").endpoint("count");
  let produced = 0;
  const served = await ep.serve<{ n: number }, number>(async function* (req) {
    for (let i = 0; i < req.n; i++) {
      produced++;
      yield i;
    }
  });
  const client = await ep.client<{ n: number }, number>();
  const got: number[] = [];
  for await (const v of client.call(served.instanceId, { n: 5 })) {
    got.push(v);
    await sleep(1);
    // The handler never runs more than one item ahead of the consumer.
    assert.ok(produced <= got.length + 1, `produced ${produced} for ${got.length} consumed`);
  }
  assert.deepEqual(got, [0, 1, 2, 3, 4]);
  client.close();
  await rt.close();
});

test("runtime - a consumer that breaks aborts the handler", async () => {
  const rt = Runtime.embedded();
  const ep = rt.namespace("ns").component("c").endpoint("gen");
  let handlerSignal: AbortSignal | undefined;
  let cleanedUp = false;
  const served = await ep.serve(async function* (_req: unknown, ctx: HandlerContext) {
    handlerSignal = ctx.signal;
    try {
      for (let i = 0; ; i++) {
        yield i;
        await sleep(1);
      }
    } finally {
      cleanedUp = true;
    }
  });
  const client = await ep.client();
  for await (const v of client.call(served.instanceId, {})) if (v === 2) break;
  assert.equal(handlerSignal?.aborted, true);
  await sleep(5);
  assert.equal(cleanedUp, true);
  assert.equal(served.numInFlight, 0);
  client.close();
  await rt.close();
});

test("runtime - the caller's abort signal cancels a handler parked on work", async () => {
  const rt = Runtime.embedded();
  const ep = rt.namespace("ns").component("c").endpoint("slow");
  let handlerSignal: AbortSignal | undefined;
  const served = await ep.serve(async function* (_req: unknown, ctx: HandlerContext) {
    handlerSignal = ctx.signal;
    yield "first";
    await new Promise((r) => ctx.signal.addEventListener("abort", r)); // parked until cancelled
  });
  const client = await ep.client();
  const ctrl = new AbortController();
  const got: unknown[] = [];
  await assert.rejects(
    (async () => {
      for await (const v of client.call(served.instanceId, {}, { signal: ctrl.signal })) {
        got.push(v);
        setTimeout(() => ctrl.abort(), 5);
      }
    })(),
    (e: unknown) => e instanceof TurbineError && e.code === "RUNTIME_CANCELLED",
  );
  assert.deepEqual(got, ["first"]);
  assert.equal(handlerSignal?.aborted, true);
  client.close();
  await rt.close();
});

test("runtime - a handler error reaches the caller", async () => {
  const rt = Runtime.embedded();
  const ep = rt.namespace("ns").component("c").endpoint("fail");
  const served = await ep.serve(async function* () {
    yield 1;
    throw new TurbineError("ENGINE_FAILED", "boom");
  });
  const client = await ep.client();
  const got: unknown[] = [];
  await assert.rejects(
    (async () => {
      for await (const v of client.call(served.instanceId, {})) got.push(v);
    })(),
    (e: unknown) => e instanceof TurbineError && e.code === "ENGINE_FAILED",
  );
  assert.deepEqual(got, [1]);
  await assert.rejects(client.collect("nope", {}), (e: unknown) => e instanceof TurbineError && e.code === "RUNTIME_NO_INSTANCE");
  client.close();
  await rt.close();
});

test("runtime - stop with drain waits for requests in flight and refuses new ones", async () => {
  const rt = Runtime.embedded();
  const ep = rt.namespace("ns").component("c").endpoint("drain");
  const served = await ep.serve(async function* () {
    await sleep(20);
    yield "done";
  });
  const client = await ep.client();
  const inflight = client.collect(served.instanceId, {});
  await sleep(2);
  const stopped = served.stop({ drain: true });
  assert.deepEqual(await inflight, ["done"]);
  await stopped;
  assert.equal(client.instances().length, 0);
  await assert.rejects(
    rt.requests.call(served.instance, {})[Symbol.asyncIterator]().next(),
    (e: unknown) => e instanceof TurbineError && e.code === "RUNTIME_NO_INSTANCE",
  );
  client.close();
  await rt.close();
});

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
