// Discovery on a real etcd: watches, lease expiry, re-registration after an etcd restart.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { EtcdDiscovery, instanceKey, instancePrefix } from "../../src/runtime/index.ts";
import type { DiscoveryEvent, InstanceInfo } from "../../src/runtime/index.ts";
import { eventually, startEtcd } from "../support/services.ts";
import type { Service } from "../support/services.ts";

let etcd: Service;
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd?.stop();
});

const address = { namespace: "ns", component: "backend", endpoint: "generate" };
const instance = (id: string, n = 0): InstanceInfo => ({
  instanceId: id,
  address,
  transport: { kind: "tcp", host: "127.0.0.1", port: 1234 },
  metadata: { n, hash: 2n ** 64n - 1n },
});

/** Follows a watch into a map of live instances, recording every event. */
function follow(d: EtcdDiscovery, prefix: string) {
  const watch = d.watch(prefix);
  const live = new Map<string, InstanceInfo>();
  const events: DiscoveryEvent[] = [];
  void (async () => {
    for await (const e of watch) {
      events.push(e);
      if (e.type === "put") live.set(e.instance.instanceId, e.instance);
      else live.delete(e.instance.instanceId);
    }
  })();
  return { watch, live, events };
}

test("runtime - etcd discovery watch sees instances come and go", async () => {
  const owner = new EtcdDiscovery({ url: etcd.url, root: "t1/" });
  const observer = new EtcdDiscovery({ url: etcd.url, root: "t1/" });
  const first = await owner.register(instance("a", 1));
  const w = follow(observer, instancePrefix(address));
  const second = await owner.register(instance("b"));
  await eventually(() => w.live.size === 2, 3000, "two instances");
  await first.unregister();
  await eventually(() => w.events.length === 3, 3000, "the delete");
  assert.deepEqual(
    w.events.map((e) => [e.type, e.instance.instanceId]),
    [
      ["put", "a"],
      ["put", "b"],
      ["delete", "a"],
    ],
  );
  assert.equal(w.events[0]!.key, instanceKey(address, "a"));
  assert.deepEqual(w.events[0]!.instance, instance("a", 1)); // metadata with a bigint intact
  assert.deepEqual((await observer.list(instancePrefix(address))).map((i) => i.instanceId), ["b"]);
  assert.deepEqual(await observer.list("instances/other/"), []);
  // Closing the owner revokes its lease: its instances vanish at once, not after the TTL.
  await owner.close();
  await eventually(() => w.live.size === 0, 3000, "instances of a closed owner to vanish");
  w.watch.unsubscribe();
  assert.equal(await w.watch.closed, undefined);
  await observer.close();
  void second;
});

test("runtime - etcd discovery instances vanish when their lease expires", async () => {
  const owner = new EtcdDiscovery({ url: etcd.url, root: "t2/", ttlSeconds: 1 });
  const observer = new EtcdDiscovery({ url: etcd.url, root: "t2/" });
  await owner.register(instance("x"));
  const w = follow(observer, instancePrefix(address));
  await eventually(() => w.live.has("x"), 3000, "the instance");
  // The owner stops keeping its lease alive without revoking it, as a frozen process would.
  const started = Date.now();
  (owner as unknown as { lease: { release(): void } }).lease.release();
  await eventually(() => !w.live.has("x"), 5000, "the lease to expire");
  const took = Date.now() - started;
  assert.ok(took >= 500, `vanished after ${took} ms, before the 1 s TTL`);
  assert.equal(w.events.at(-1)?.type, "delete");
  w.watch.unsubscribe();
  (owner as unknown as { closing: boolean }).closing = true; // its lease is gone: nothing to recover
  owner.client.close();
  await observer.close();
});

test("runtime - etcd restarted without its data: instances re-register and watches resync", async () => {
  const owner = new EtcdDiscovery({ url: etcd.url, root: "t3/", ttlSeconds: 2 });
  const observer = new EtcdDiscovery({ url: etcd.url, root: "t3/" });
  await owner.register(instance("p"));
  const gone = await owner.register(instance("q"));
  const w = follow(observer, instancePrefix(address));
  await eventually(() => w.live.size === 2, 3000, "both instances");

  await etcd.restart({ wipe: true });
  await eventually(async () => (await observer.list(instancePrefix(address)).catch(() => [])).length === 2, 8000, "re-registration");
  // The second put lands before recover() counts itself: wait for the count, not only the keys.
  await eventually(() => owner.numLeaseRecoveries >= 1, 3000, "the lease recovery to be counted");
  await eventually(() => w.live.size === 2, 5000, "the watch to see both again");

  // The resynced watch still follows changes: a delete and a new put.
  await gone.unregister();
  await owner.register(instance("r"));
  await eventually(() => w.live.has("r") && !w.live.has("q"), 5000, "changes after the restart");
  assert.deepEqual([...w.live.keys()].sort(), ["p", "r"]);
  w.watch.unsubscribe();
  await owner.close();
  await observer.close();
});

test("runtime - etcd restarted without its data: a watch keeps known instances until they re-register or the grace ends", async () => {
  const alive = new EtcdDiscovery({ url: etcd.url, root: "t4/", ttlSeconds: 2 });
  const dead = new EtcdDiscovery({ url: etcd.url, root: "t4/", ttlSeconds: 2 });
  const observer = new EtcdDiscovery({ url: etcd.url, root: "t4/", relistGraceMs: 3000 });
  await alive.register(instance("s"));
  await dead.register(instance("z"));
  const w = follow(observer, instancePrefix(address));
  await eventually(() => w.live.size === 2, 3000, "both instances");
  // "z"'s process is gone for good: it will not re-register.
  (dead as unknown as { closing: boolean }).closing = true;
  dead.client.close();

  await etcd.restart({ wipe: true });
  await eventually(() => observer.numKeptThroughRelist >= 1, 8000, "a re-list that missed the instances");
  await eventually(async () => (await observer.list(instancePrefix(address)).catch(() => [])).length === 1, 8000, "re-registration of s");
  // The live one was never reported gone; the dead one leaves when its grace ends.
  await eventually(() => !w.live.has("z"), 8000, "z to leave after the grace");
  assert.deepEqual(
    w.events.filter((e) => e.type === "delete").map((e) => e.instance.instanceId),
    ["z"],
    "only the instance that did not come back was deleted",
  );
  assert.ok(w.live.has("s"));
  w.watch.unsubscribe();
  await alive.close();
  await observer.close();
});
