import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeWire, encodeWire, errorFromWire, errorToWire } from "../../src/runtime/index.ts";
import { TurbineError, asLocalBlockHash, asRequestId, asSequenceHash, asWorkerId } from "../../src/protocols/index.ts";
import type { EngineOutput, KvBlockSetDump, KvCacheEvent, PreprocessedRequest } from "../../src/protocols/index.ts";

const roundTrip = <T>(v: T): T => decodeWire(encodeWire(v)) as T;

test("runtime - wire codec round-trips KV events, dumps, requests and outputs exactly", () => {
  const stored: KvCacheEvent = {
    workerId: asWorkerId("w"),
    eventId: 1,
    tier: "host",
    data: { type: "stored", parentHash: null, blocks: [{ hash: asSequenceHash(2n ** 64n - 1n), tokensHash: asLocalBlockHash(0n) }] },
  };
  const removed: KvCacheEvent = { workerId: asWorkerId("w"), eventId: 2, tier: "device", data: { type: "removed", hashes: [asSequenceHash(42n)] } };
  const dump: KvBlockSetDump = { workerId: asWorkerId("w"), lastEventId: 2, events: [{ tier: "device", data: stored.data as never }] };
  const req: PreprocessedRequest = {
    requestId: asRequestId("r1"),
    model: "m",
    tokenIds: [1, 2, 3],
    sampling: { temperature: 0, seed: 3 },
    stop: { maxTokens: 8, stopTokenIds: [2] },
    numPrefilledOutputTokens: 1,
  };
  const out: EngineOutput = { tokenIds: [5], finishReason: "stop", usage: { promptTokens: 3, completionTokens: 1, cachedTokens: 0 } };
  for (const v of [stored, removed, dump, req, out]) assert.deepEqual(roundTrip(v), v);
});

test("runtime - wire codec round-trips any JSON value with bigints and NUL-led strings", () => {
  const value = fc.letrec((tie) => ({
    leaf: fc.oneof(fc.bigInt(), fc.string(), fc.constant("\u0000n12"), fc.constant("\u0000"), fc.integer(), fc.boolean(), fc.constant(null)),
    node: fc.oneof({ depthSize: "small" }, tie("leaf"), fc.array(tie("node"), { maxLength: 4 }), fc.dictionary(fc.string().filter((k) => k !== "__proto__"), tie("node"), { maxKeys: 4, noNullPrototype: true })),
  })).node;
  fc.assert(fc.property(value, (v) => assert.deepEqual(roundTrip(v), v)), { numRuns: 300 });
});

test("runtime - wire codec carries TurbineError code, message, param and retry hint", () => {
  const e = errorFromWire(decodeWire(encodeWire(errorToWire(new TurbineError("ROUTER_ALL_BUSY", "busy", { param: "model", retryAfterSeconds: 2 })))) as never);
  assert.ok(e instanceof TurbineError);
  assert.equal(e.code, "ROUTER_ALL_BUSY");
  assert.equal(e.message, "busy");
  assert.equal(e.param, "model");
  assert.equal(e.retryAfterSeconds, 2);
  const plain = errorFromWire(errorToWire(new RangeError("oops")));
  assert.ok(!(plain instanceof TurbineError));
  assert.equal(plain.name, "RangeError");
  assert.equal(plain.message, "oops");
});
