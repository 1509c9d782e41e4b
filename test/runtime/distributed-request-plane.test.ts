// One suite over every RequestPlane: the in-process one, TCP and NATS (against a real
// nats-server). Remote planes serve and call through the same plane instance, over the wire.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  LocalRequestPlane,
  MemoryDiscovery,
  MemoryEventPlane,
  NatsRequestPlane,
  Runtime,
  TcpRequestPlane,
  connectNats,
} from "../../src/runtime/index.ts";
import type { HandlerContext, RequestPlane } from "../../src/runtime/index.ts";
import { TurbineError, asSequenceHash, asLocalBlockHash, asWorkerId } from "../../src/protocols/index.ts";
import type { KvCacheEvent } from "../../src/protocols/index.ts";
import { eventually, startNats } from "../support/services.ts";
import type { Service } from "../support/services.ts";

const WINDOW = 4;
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

interface PlaneKind {
  name: string;
  make: () => RequestPlane;
  /** How far a handler may run ahead of a slow consumer. */
  maxAhead: number;
}

const kinds: PlaneKind[] = [
  { name: "local", make: () => new LocalRequestPlane(), maxAhead: 1 },
  { name: "tcp", make: () => new TcpRequestPlane({ window: WINDOW }), maxAhead: WINDOW + 1 },
  { name: "nats", make: () => new NatsRequestPlane(nc, { window: WINDOW }), maxAhead: WINDOW + 1 },
];

const runtimeOf = (kind: PlaneKind): Runtime =>
  new Runtime({ discovery: new MemoryDiscovery(), requests: kind.make(), events: new MemoryEventPlane() });

const isCode = (code: string) => (e: unknown) => e instanceof TurbineError && e.code === code;

for (const kind of kinds) {
  describe(`request plane (${kind.name})`, () => {
    test(`runtime - ${kind.name} request plane streams with backpressure`, async () => {
      const rt = runtimeOf(kind);
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
      let maxAhead = 0;
      for await (const v of client.call(served.instanceId, { n: 20 })) {
        got.push(v);
        await sleep(2);
        maxAhead = Math.max(maxAhead, produced - got.length);
      }
      assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => i));
      assert.ok(maxAhead <= kind.maxAhead, `handler ran ${maxAhead} items ahead (limit ${kind.maxAhead})`);
      client.close();
      await rt.close();
    });

    test(`runtime - ${kind.name} request plane carries bigint hashes exactly`, async () => {
      const rt = runtimeOf(kind);
      const ep = rt.namespace("ns").component("c").endpoint("echo");
      const served = await ep.serve<KvCacheEvent, KvCacheEvent>(async function* (req) {
        yield req;
      });
      const event: KvCacheEvent = {
        workerId: asWorkerId("w1"),
        eventId: 7,
        tier: "device",
        data: {
          type: "stored",
          parentHash: asSequenceHash(0xffff_ffff_ffff_ffffn),
          blocks: [{ hash: asSequenceHash(1n << 63n), tokensHash: asLocalBlockHash(12345678901234567890n) }],
        },
      };
      const client = await ep.client<KvCacheEvent, KvCacheEvent>();
      assert.deepEqual(await client.collect(served.instanceId, event), [event]);
      client.close();
      await rt.close();
    });

    test(`runtime - ${kind.name} consumer that breaks aborts the handler`, async () => {
      const rt = runtimeOf(kind);
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
      await eventually(() => handlerSignal?.aborted === true && cleanedUp && served.numInFlight === 0, 2000, "handler cleanup");
      client.close();
      await rt.close();
    });

    test(`runtime - ${kind.name} caller abort cancels a handler parked on work`, async () => {
      const rt = runtimeOf(kind);
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
        isCode("RUNTIME_CANCELLED"),
      );
      assert.deepEqual(got, ["first"]);
      await eventually(() => handlerSignal?.aborted === true && served.numInFlight === 0, 2000, "handler abort");
      client.close();
      await rt.close();
    });

    test(`runtime - ${kind.name} handler errors reach the caller with code, message and param`, async () => {
      const rt = runtimeOf(kind);
      const ep = rt.namespace("ns").component("c").endpoint("fail");
      const served = await ep.serve(async function* () {
        yield 1;
        throw new TurbineError("REQUEST_INVALID", "bad temperature", { param: "temperature" });
      });
      const client = await ep.client();
      const got: unknown[] = [];
      await assert.rejects(
        (async () => {
          for await (const v of client.call(served.instanceId, {})) got.push(v);
        })(),
        (e: unknown) =>
          e instanceof TurbineError && e.code === "REQUEST_INVALID" && e.message === "bad temperature" && e.param === "temperature",
      );
      assert.deepEqual(got, [1]);
      // An instance the plane does not serve (same transport, unknown id).
      const ghost = { ...served.instance, instanceId: "ghost" };
      await assert.rejects(rt.requests.call(ghost, {})[Symbol.asyncIterator]().next(), isCode("RUNTIME_NO_INSTANCE"));
      client.close();
      await rt.close();
    });

    test(`runtime - ${kind.name} stop with drain waits for requests in flight and refuses new ones`, async () => {
      const rt = runtimeOf(kind);
      const ep = rt.namespace("ns").component("c").endpoint("drain");
      const served = await ep.serve(async function* () {
        await sleep(40);
        yield "done";
      });
      const client = await ep.client();
      const inflight = client.collect(served.instanceId, {});
      await eventually(() => served.numInFlight === 1, 2000, "request in flight");
      const stopped = served.stop({ drain: true });
      assert.deepEqual(await inflight, ["done"]);
      await stopped;
      assert.equal(client.instances().length, 0);
      await assert.rejects(rt.requests.call(served.instance, {})[Symbol.asyncIterator]().next(), isCode("RUNTIME_NO_INSTANCE"));
      client.close();
      await rt.close();
    });

    test(`runtime - ${kind.name} many concurrent streams stay separate`, async () => {
      const rt = runtimeOf(kind);
      const ep = rt.namespace("ns").component("c").endpoint("many");
      const served = await ep.serve<{ id: number }, string>(async function* (req) {
        for (let i = 0; i < 10; i++) yield `${req.id}:${i}`;
      });
      const client = await ep.client<{ id: number }, string>();
      const results = await Promise.all(Array.from({ length: 20 }, (_, id) => client.collect(served.instanceId, { id })));
      results.forEach((r, id) => assert.deepEqual(r, Array.from({ length: 10 }, (_, i) => `${id}:${i}`)));
      client.close();
      await rt.close();
    });
  });
}

describe("request plane (tcp) liveness", () => {
  test("runtime - tcp a peer that accepts but never answers is lost after the heartbeat deadline; its streams fail over", async () => {
    // A frozen process: its kernel accepts the connection and the bytes, nothing comes back.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => {
      sockets.push(s);
      s.on("data", () => undefined);
    });
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    const port = (silent.address() as net.AddressInfo).port;
    const plane = new TcpRequestPlane({ heartbeatIntervalMs: 100, heartbeatTimeoutMs: 400 });
    const lost: unknown[] = [];
    plane.onPeerLost((t) => lost.push(t));
    try {
      const target = { instanceId: "frozen", address: { namespace: "ns", component: "c", endpoint: "e" }, transport: { kind: "tcp" as const, host: "127.0.0.1", port }, metadata: {} };
      await assert.rejects(plane.call(target, {})[Symbol.asyncIterator]().next(), isCode("RUNTIME_CONNECTION_LOST"));
      assert.deepEqual(lost, [{ kind: "tcp", host: "127.0.0.1", port }], "the peer was reported lost");
    } finally {
      await plane.close();
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  test("runtime - tcp a live peer answers heartbeats: a stream quiet for longer than the deadline is not cut", async () => {
    const serving = new TcpRequestPlane({ heartbeatIntervalMs: 50, heartbeatTimeoutMs: 200 });
    const calling = new TcpRequestPlane({ heartbeatIntervalMs: 50, heartbeatTimeoutMs: 200 });
    const lost: unknown[] = [];
    calling.onPeerLost((t) => lost.push(t));
    try {
      const address = { namespace: "ns", component: "c", endpoint: "quiet" };
      const served = await serving.serve("q", address, async function* () {
        await sleep(800); // four deadlines without a data frame
        yield "late";
      });
      const out: unknown[] = [];
      for await (const item of calling.call({ instanceId: "q", address, transport: served.transport, metadata: {} }, {})) out.push(item);
      assert.deepEqual(out, ["late"]);
      assert.deepEqual(lost, []);
    } finally {
      await calling.close();
      await serving.close();
    }
  });
});
