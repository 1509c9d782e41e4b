// The KVBM's stores under faults: a G3 writer killed mid-write leaves no readable bad data; a
// corrupt or torn file is a miss; a killed Redis degrades to misses (counted, one warning) and
// recovers when it comes back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DiskStore, KvBlockManager, RedisStore } from "../../src/kvbm/index.ts";
import type { TierEntry } from "../../src/kvbm/index.ts";
import { asLocalBlockHash, asSequenceHash } from "../../src/protocols/index.ts";
import { startRedis } from "../support/redis.ts";

const entryOf = (k: number, n = 1, bytes = 0): TierEntry => {
  const hashes = Array.from({ length: n }, (_, i) => asSequenceHash(BigInt(k * 100 + i)));
  return { key: hashes[n - 1]!, bytes, parentHash: null, hashes, tokensHashes: hashes.map((h) => asLocalBlockHash(h)), numUses: 0 };
};
const payloadOf = (k: number, size: number): Uint8Array => {
  const p = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) p[i] = (k + i) & 255;
  return p;
};

test("kvbm stores - a writer killed mid-write leaves a miss, never bad data", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "kvbm-crash-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const size = 64 << 20;
  const child = spawn(process.execPath, ["--import", "tsx", new URL("./disk-writer-child.ts", import.meta.url).pathname, dir, String(size)], { stdio: ["ignore", "pipe", "inherit"] });
  t.after(() => child.kill("SIGKILL"));
  let out = "";
  const inFlight = await new Promise<number>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      // Kill while the third entry is being written: as soon as its temp file has data.
      const m = /begin (\d+)\n$/.exec(out);
      if (m !== null && Number(m[1]) >= 3) {
        const poll = (): void => {
          const tmp = readdirSync(dir).find((n) => n.startsWith(".tmp-"));
          if (tmp !== undefined && statSync(join(dir, tmp), { throwIfNoEntry: false })?.size) {
            child.kill("SIGKILL");
            resolve(Number(m[1]));
          } else if (child.exitCode === null) setImmediate(poll);
        };
        poll();
      }
    });
    child.once("exit", (code) => reject(new Error(`writer exited early (${code})`)));
    setTimeout(() => reject(new Error("writer too slow")), 60_000).unref();
  });
  await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once("exit", r)));
  const done = new Set([...out.matchAll(/done (\d+)/g)].map((m) => Number(m[1])));
  const hadTemp = readdirSync(dir).some((n) => n.startsWith(".tmp-"));
  const store = new DiskStore(dir); // a restart: temp files of the dead writer go
  assert.ok(!readdirSync(dir).some((n) => n.startsWith(".tmp-")), "temp files removed at open");
  for (let k = 1; k <= inFlight; k++) {
    const got = await store.get(asSequenceHash(BigInt(k)));
    if (done.has(k)) {
      assert.ok(got !== null, `entry ${k} was written whole`);
      assert.deepEqual(Buffer.from(got.payload), Buffer.from(payloadOf(k, size)));
    } else if (got !== null) {
      assert.deepEqual(Buffer.from(got.payload), Buffer.from(payloadOf(k, size)), `entry ${k} is whole or absent`);
    }
  }
  assert.equal(store.numCorrupt, 0);
  assert.ok(hadTemp, "the writer died mid-write (a torn temp file was left)");
  assert.ok(!done.has(inFlight));
  assert.equal(await store.get(asSequenceHash(BigInt(inFlight))), null, "the torn entry is a miss");
});

test("kvbm stores - a torn or corrupt file is a miss and is deleted", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "kvbm-corrupt-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new DiskStore(dir);
  for (const k of [1, 2, 3]) assert.equal(await store.put(entryOf(k, 3), payloadOf(k, 100_000)), "ok");
  const file = (k: number): string => join(dir, `${entryOf(k, 3).key.toString(16).padStart(16, "0")}.kvb`);
  truncateSync(file(1), 5000); // torn
  const b = readFileSync(file(2));
  b[b.length >> 1]! ^= 0xff; // one flipped bit pattern mid-payload
  writeFileSync(file(2), b);
  assert.equal(await store.get(entryOf(1, 3).key), null);
  assert.equal(await store.get(entryOf(2, 3).key), null);
  const ok = await store.get(entryOf(3, 3).key);
  assert.ok(ok !== null);
  assert.deepEqual(ok.entry.hashes, entryOf(3, 3).hashes);
  assert.equal(store.numCorrupt, 2);
  assert.equal(readdirSync(dir).length, 1, "bad files deleted");
});

test("kvbm stores - Redis killed mid-run: calls degrade to misses with one warning, and recover", async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const warnings: string[] = [];
  const store = new RedisStore({ url: redis.url, namespace: "m:16:f16", timeoutMs: 300, warn: (m) => warnings.push(m) });
  t.after(() => store.close());
  for (let i = 0; i < 100 && !store.isReady; i++) await sleep(20);
  assert.ok(await store.put(entryOf(1, 2), payloadOf(1, 1000)));
  assert.deepEqual(await store.has([entryOf(1, 2).key, entryOf(2, 2).key]), [true, false]);
  const got = await store.get(entryOf(1, 2).key);
  assert.deepEqual(Buffer.from(got!.payload), Buffer.from(payloadOf(1, 1000)));
  await redis.kill();
  // Every call during the outage answers at once-ish, as a miss, and never throws.
  for (let i = 0; i < 5; i++) {
    assert.equal(await store.get(entryOf(1, 2).key), null);
    assert.equal(await store.put(entryOf(3, 2), payloadOf(3, 10)), false);
  }
  assert.ok(store.numUnavailable >= 10);
  assert.equal(warnings.length, 1, "one warning per outage");
  await redis.restart();
  for (let i = 0; i < 150 && !store.isReady; i++) await sleep(20);
  assert.ok(await store.put(entryOf(4, 2), payloadOf(4, 10)), "writes resume after the restart");
});

test("kvbm stores - the block manager offloads to disk and Redis and onboards the longest state; an unreachable Redis is a counted miss", async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const dir = mkdtempSync(join(tmpdir(), "kvbm-mgr-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const events: string[] = [];
  const mk = (): KvBlockManager =>
    new KvBlockManager({ namespace: "m:16:f16", diskDir: dir, redisUrl: redis.url, offloadAll: true, redisTimeoutMs: 300, warn: () => undefined, emit: (tier, d) => events.push(`${tier}:${d.type}`), emitShared: (d) => events.push(`remote:${d.type}`) });
  const a = mk();
  t.after(() => a.close());
  for (let i = 0; i < 100 && !a.redis!.isReady; i++) await sleep(20);
  const e = entryOf(7, 4, 0);
  await a.offload({ ...e, bytes: 4000 }, payloadOf(7, 4000));
  assert.deepEqual(events, ["disk:stored", "remote:stored"]);
  const local = await a.onboard(e.hashes, 0);
  assert.equal(local?.tier, "disk");
  // Another manager (another worker, its own empty disk view) finds it in the shared store.
  const b = new KvBlockManager({ namespace: "m:16:f16", redisUrl: redis.url, warn: () => undefined, redisTimeoutMs: 300 });
  t.after(() => b.close());
  for (let i = 0; i < 100 && !b.redis!.isReady; i++) await sleep(20);
  const remote = await b.onboard([...e.hashes, asSequenceHash(99999n)], 0);
  assert.equal(remote?.tier, "remote");
  assert.deepEqual(Buffer.from(remote!.payload), Buffer.from(payloadOf(7, 4000)));
  // Another layout never sees it.
  const c = new KvBlockManager({ namespace: "m:16:q8", redisUrl: redis.url, warn: () => undefined });
  t.after(() => c.close());
  for (let i = 0; i < 100 && !c.redis!.isReady; i++) await sleep(20);
  assert.equal(await c.onboard(e.hashes, 0), null);
  await redis.kill();
  assert.equal(await b.onboard(e.hashes, 0), null);
  assert.ok(b.stats().remoteUnavailable >= 1);
});

test("kvbm stores - a full disk pauses offloads to G3 instead of failing anything", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "kvbm-full-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const m = new KvBlockManager({ namespace: "m:16:f16", diskDir: dir, offloadAll: true, pauseMs: 60_000 });
  t.after(() => m.close());
  let puts = 0;
  // The store's answer to ENOSPC / EDQUOT (a real full filesystem cannot be made without root).
  m.disk!.put = async () => {
    puts++;
    return "full";
  };
  await m.offload({ ...entryOf(1, 2), bytes: 100 }, payloadOf(1, 100));
  assert.equal(m.stats().diskFull, 1);
  assert.ok(m.policy.isPaused("disk"));
  assert.equal(m.policy.disk!.numEntries, 0, "the entry that did not fit is forgotten");
  await m.offload({ ...entryOf(2, 2), bytes: 100 }, payloadOf(2, 100));
  assert.equal(puts, 1, "no more writes while paused");
  assert.equal(await m.onboard(entryOf(1, 2).hashes, 0), null);
});
