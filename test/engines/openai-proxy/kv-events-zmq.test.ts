// Engine KV events over ZMQ, in vLLM's exact wire format, drive the router's index.
//
// Wire format, from vLLM's source, vllm/distributed/kv_events.py:
//   - commit b4e69e0af33f4698e157a262cc787fe61983cd3d: msgspec structs with array_like=True,
//     tag=True (tag = class name, first): KVEventBatch = [ts, [events]];
//     BlockStored = ["BlockStored", block_hashes, parent_block_hash, token_ids, block_size, lora_id];
//     BlockRemoved = ["BlockRemoved", block_hashes]; AllBlocksCleared = ["AllBlocksCleared"].
//     ZmqEventPublisher sends multipart (topic, seq.to_bytes(8, "big"), payload); its ROUTER
//     replay socket takes (identity, b"", start_seq 8 bytes big-endian) and answers
//     (identity, b"", seq, payload) per buffered batch with seq >= start, then (identity, b"",
//     (-1).to_bytes(8, "big", signed=True), b"").
//   - commit 0181ea3173e53eea8cf04a86891488e3dc89bb34: array_like dropped: maps with the tag in
//     "type"; BlockStored gains medium, lora_name (and defaulted extra_keys, group_idx, ...),
//     block hashes may be bytes; EventBatch gains data_parallel_rank.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Encoder } from "@msgpack/msgpack";
import { Publisher, Router } from "zeromq";
import { startServer, waitFor } from "../../support/http.ts";
import { builtinByteModel } from "../../../src/model/index.ts";
import { computeSequenceHashes } from "../../../src/kv/index.ts";
import { asWorkerId } from "../../../src/protocols/index.ts";
import type { EngineKvEvent, OpenAIProxyEngine } from "../../../src/engines/index.ts";
import { KvEventTranslator, decodeKvEventBatch } from "../../../src/engines/kv-events-zmq/index.ts";
import { startProxyFleet } from "./fixtures.ts";

const encoder = new Encoder({ useBigInt64: true });
const END_SEQ = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const BS = 16;

function seqFrame(seq: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(seq));
  return b;
}

/** vLLM's ZmqEventPublisher, in array_like format (commit b4e69e0), with its replay ROUTER. */
class VllmPublisher {
  private readonly pub = new Publisher({ linger: 0 });
  private readonly replay: Router | null;
  private readonly buffer: [number, Uint8Array][] = [];
  private seq = 0;
  endpoint = "";
  replayEndpoint: string | undefined;

  private constructor(withReplay: boolean) {
    this.replay = withReplay ? new Router({ linger: 0 }) : null;
  }

  static async start(withReplay: boolean): Promise<VllmPublisher> {
    const p = new VllmPublisher(withReplay);
    await p.pub.bind("tcp://127.0.0.1:*");
    p.endpoint = p.pub.lastEndpoint!;
    if (p.replay) {
      await p.replay.bind("tcp://127.0.0.1:*");
      p.replayEndpoint = p.replay.lastEndpoint!;
      void p.serveReplay(p.replay);
    }
    return p;
  }

  private async serveReplay(router: Router): Promise<void> {
    try {
      for await (const [id, , start] of router) {
        const from = Number(start!.readBigUInt64BE());
        for (const [seq, payload] of this.buffer) if (seq >= from) await router.send([id!, "", seqFrame(seq), payload]);
        await router.send([id!, "", END_SEQ, ""]);
      }
    } catch {
      // closed
    }
  }

  /** Publishes one KVEventBatch; `lose` keeps it for replay but never sends it (lost under HWM). */
  async send(events: unknown[], lose = false): Promise<number> {
    const seq = this.seq++;
    const payload = encoder.encode([Date.now() / 1000 + 0.5, events]);
    this.buffer.push([seq, payload]);
    if (!lose) await this.pub.send(["", seqFrame(seq), payload]);
    return seq;
  }

  close(): void {
    this.pub.close();
    this.replay?.close();
  }
}

const stored = (hashes: bigint[], parent: bigint | null, tokens: number[]): unknown[] => ["BlockStored", hashes, parent, tokens, BS, null];
const removed = (hashes: bigint[]): unknown[] => ["BlockRemoved", hashes];

test("kv-events-zmq - both of vLLM's encodings decode to the same events", () => {
  const tokens = Array.from({ length: 32 }, (_, i) => i + 3);
  const big = 0xfedcba9876543210n;
  const arrayLike = decodeKvEventBatch(encoder.encode([1.5, [["BlockStored", [big, 7n], null, tokens, 16, null], ["BlockRemoved", [7n]], ["AllBlocksCleared"]]]));
  const hashBytes = new Uint8Array([1, 2, 3, 255]);
  const map = decodeKvEventBatch(
    encoder.encode({
      ts: 1.5,
      events: [
        { type: "BlockStored", block_hashes: [hashBytes], parent_block_hash: null, token_ids: tokens.slice(0, 16), block_size: 16, lora_id: null, medium: "CPU", lora_name: null },
        { type: "BlockRemoved", block_hashes: [hashBytes], medium: "CPU" },
        { type: "AllBlocksCleared" },
      ],
      data_parallel_rank: 0,
    }),
  );
  assert.deepEqual(arrayLike.events[0], { type: "stored", blockHashes: [big.toString(), "7"], parent: null, tokenIds: tokens, blockSize: 16, medium: null });
  assert.deepEqual(arrayLike.events.slice(1), [{ type: "removed", blockHashes: ["7"], medium: null }, { type: "cleared" }]);
  assert.equal(arrayLike.dataParallelRank, null);
  assert.deepEqual(map.events[0], { type: "stored", blockHashes: ["x010203ff"], parent: null, tokenIds: tokens.slice(0, 16), blockSize: 16, medium: "CPU" });
  assert.deepEqual(map.events[1], { type: "removed", blockHashes: ["x010203ff"], medium: "CPU" });
  assert.equal(map.dataParallelRank, 0);
});

test("kv-events-zmq - stored blocks get Turbine's sequence hashes, chained through the engine's parents", () => {
  const out: EngineKvEvent[] = [];
  const t = new KvEventTranslator(BS, (e) => out.push(e));
  const tokens = Array.from({ length: 64 }, (_, i) => (i * 7) % 256);
  const want = computeSequenceHashes(tokens, BS);
  t.apply({ type: "stored", blockHashes: ["a", "b"], parent: null, tokenIds: tokens.slice(0, 32), blockSize: BS, medium: null });
  t.apply({ type: "stored", blockHashes: ["c", "d"], parent: "b", tokenIds: tokens.slice(32), blockSize: BS, medium: "GPU" });
  t.apply({ type: "stored", blockHashes: ["z"], parent: "unknown", tokenIds: tokens.slice(0, 16), blockSize: BS, medium: null });
  t.apply({ type: "removed", blockHashes: ["d", "nope"], medium: null });
  assert.equal(out.length, 3);
  assert.deepEqual(out[0]!.data.type === "stored" && out[0]!.data.blocks.map((b) => b.hash), want.slice(0, 2));
  assert.deepEqual(out[1]!.data.type === "stored" && [out[1]!.data.parentHash, ...out[1]!.data.blocks.map((b) => b.hash)], [want[1], want[2], want[3]]);
  assert.deepEqual(out[2], { tier: "device", data: { type: "removed", hashes: [want[3]] } });
  assert.equal(t.stats().numOrphanEvents, 1);
  assert.equal(t.stats().numBlocks, 3);
});

/** Sends harmless batches until the subscriber has one (ZMQ's slow joiner). */
async function connect(p: VllmPublisher, engine: OpenAIProxyEngine): Promise<void> {
  for (let i = 0; i < 200 && engine.kvEventStats()!.lastSeq === null; i++) {
    await p.send([["AllBlocksCleared"]]);
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.notEqual(engine.kvEventStats()!.lastSeq, null, "the subscriber connected");
}

test("kv-events-zmq - vLLM's events steer the kv router; removals and gaps are honoured", async () => {
  const upstream = await startServer({ numWorkers: 1 });
  const pubs = [await VllmPublisher.start(false), await VllmPublisher.start(false), await VllmPublisher.start(true)];
  const fleet = await startProxyFleet(pubs.map((p) => ({ upstream: upstream.url, kvEvents: { endpoint: p.endpoint, ...(p.replayEndpoint ? { replayEndpoint: p.replayEndpoint } : {}) } })));
  try {
    const [a, b, c] = fleet.engines;
    assert.equal(a!.card.publishesKvEvents, true);
    for (let i = 0; i < pubs.length; i++) await connect(pubs[i]!, fleet.engines[i]!);
    const pipeline = fleet.frontend.models.get("turbine-byte")!;
    const tokenizer = builtinByteModel().tokenizer;
    const prompt = "A shared system prompt that many requests start with, long enough for four blocks.";
    const ids = tokenizer.encode(prompt, { addSpecialTokens: true });
    const hashes = computeSequenceHashes(ids, BS);
    const matchOf = (i: number): number => pipeline.router.indexer.findMatches(hashes).get(asWorkerId(fleet.workers[i]!.workerId))?.numBlocks ?? 0;
    const route = async (): Promise<string> => {
      // A load report taken while the previous request was in flight counts it for one
      // metrics period after it ends; let a fresh report arrive so that only the prefix decides.
      await new Promise((r) => setTimeout(r, 300));
      const res = await fetch(`${fleet.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "turbine-byte", prompt, max_tokens: 2 }) });
      await res.text();
      return res.headers.get("x-turbine-worker")!;
    };

    // Worker B's engine stores the prompt's first 4 blocks, in two events (parent chained).
    await pubs[1]!.send([stored([101n, 102n], null, ids.slice(0, 32))]);
    await pubs[1]!.send([stored([103n, 104n], 102n, ids.slice(32, 64))]);
    await waitFor(() => matchOf(1) === 4, 3000, "the index to hold B's blocks");
    for (let i = 0; i < 3; i++) assert.equal(await route(), fleet.workers[1]!.workerId, "the request goes where its prefix is");

    // BlockRemoved of the first block: B no longer holds the prefix.
    await pubs[1]!.send([removed([101n])]);
    await waitFor(() => matchOf(1) === 0, 3000, "the removal");

    // A gap without a replay socket: A's blocks from before the gap are dropped (cleared),
    // and what follows is learned again.
    await pubs[0]!.send([stored([201n, 202n], null, ids.slice(0, 32))]);
    await waitFor(() => matchOf(0) === 2, 3000, "A's blocks");
    await pubs[0]!.send([stored([203n], 202n, ids.slice(32, 48))], true);
    await pubs[0]!.send([stored([301n], null, ids.slice(0, 16))]);
    await waitFor(() => a!.kvEventStats()!.numResets === 1, 3000, "A's reset");
    assert.equal(a!.kvEventStats()!.numGaps, 1);
    await waitFor(() => matchOf(0) === 1, 3000, "A's index rebuilt from the events after the gap");

    // A gap with vLLM's replay socket: the lost batch is fetched and applied, in order.
    await pubs[2]!.send([stored([401n, 402n], null, ids.slice(0, 32))]);
    await pubs[2]!.send([stored([403n], 402n, ids.slice(32, 48))], true);
    await pubs[2]!.send([stored([404n], 403n, ids.slice(48, 64))]);
    await waitFor(() => matchOf(2) === 4, 3000, "C's blocks, the lost batch replayed");
    const cs = c!.kvEventStats()!;
    assert.deepEqual([cs.numGaps, cs.numReplays, cs.numResets], [1, 1, 0]);
    assert.equal(b!.kvEventStats()!.numGaps, 0);
    assert.equal(await route(), fleet.workers[2]!.workerId);
  } finally {
    await fleet.close();
    for (const p of pubs) p.close();
    await upstream.close();
  }
});
