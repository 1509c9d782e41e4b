import { test } from "node:test";
import assert from "node:assert/strict";
import { MockerEngine, PolynomialTimingModel } from "../../../src/engines/mocker/index.ts";
import type { EngineOutput } from "../../../src/protocols/index.ts";
import { EventRecorder, makeRequest, range } from "./helpers.ts";

const signal = () => new AbortController().signal;

async function collect(stream: AsyncIterable<EngineOutput>): Promise<EngineOutput[]> {
  const out: EngineOutput[] = [];
  for await (const o of stream) out.push(o);
  return out;
}

test("mocker engine - streams deterministic tokens, then finish reason and usage", async () => {
  const engine = new MockerEngine({ speedup: 1000, card: { name: "m", kvBlockSize: 4, numKvBlocks: 64 } });
  assert.equal(engine.card.name, "m");
  assert.equal(engine.card.kvBlockSize, 4);
  assert.equal(engine.card.numKvBlocks, 64);
  assert.equal(engine.card.role, "aggregated");
  const [a, b] = await Promise.all([
    collect(engine.generate(makeRequest("a", range(1, 9), { maxTokens: 6 }), { signal: signal() })),
    collect(engine.generate(makeRequest("b", range(1, 9), { maxTokens: 6 }), { signal: signal() })),
  ]);
  assert.equal(a.length, 6);
  assert.ok(a.slice(0, -1).every((o) => o.finishReason === undefined && o.tokenIds.length === 1));
  assert.equal(a.at(-1)!.finishReason, "length");
  assert.deepEqual(a.at(-1)!.usage, { promptTokens: 9, completionTokens: 6, cachedTokens: 0 });
  assert.deepEqual(a.flatMap((o) => o.tokenIds), b.flatMap((o) => o.tokenIds));
  assert.deepEqual(b.at(-1)!.usage, { promptTokens: 9, completionTokens: 6, cachedTokens: 8 }, "b, admitted with a, shares its blocks");
  assert.equal(engine.load().activeBlocks, 0);
  assert.equal(engine.counters.numPrefixHitTokens, 8);
  await engine.close();
});

test("mocker engine - aborting the signal cancels at once and frees the blocks", async () => {
  const engine = new MockerEngine({ speedup: 50, card: { kvBlockSize: 4, numKvBlocks: 32 } });
  const ac = new AbortController();
  const stream = engine.generate(makeRequest("a", range(1, 20), { maxTokens: 1000 }), { signal: ac.signal });
  const it = stream[Symbol.asyncIterator]();
  const first = await it.next();
  assert.equal(first.done, false);
  assert.ok(engine.load().activeBlocks >= 5);
  ac.abort();
  assert.equal(engine.load().activeBlocks, 0, "freed synchronously");
  assert.equal(engine.load().numRunningSeqs, 0);
  const rest: EngineOutput[] = [];
  for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value);
  assert.equal(rest.at(-1)!.finishReason, "cancelled");
  assert.equal(rest.at(-1)!.usage?.promptTokens, 20);
  // An already-aborted signal never reaches the core.
  const pre = await collect(engine.generate(makeRequest("b", range(1, 20)), { signal: AbortSignal.abort() }));
  assert.deepEqual(pre, [{ tokenIds: [], finishReason: "cancelled" }]);
  await engine.close();
});

test("mocker engine - breaking out of the iteration cancels and frees the blocks", async () => {
  const engine = new MockerEngine({ speedup: 50, card: { kvBlockSize: 4, numKvBlocks: 32 } });
  let n = 0;
  for await (const o of engine.generate(makeRequest("a", range(1, 20), { maxTokens: 1000 }), { signal: signal() })) {
    assert.equal(o.tokenIds.length, 1);
    if (++n === 3) break;
  }
  assert.equal(engine.load().activeBlocks, 0);
  assert.equal(engine.core.hasWork(), false);
  // The blocks stay cached: the same prompt hits them.
  const again = await collect(engine.generate(makeRequest("b", range(1, 20), { maxTokens: 2 }), { signal: signal() }));
  assert.equal(again.at(-1)!.usage?.cachedTokens, 16);
  await engine.close();
});

test("mocker engine - close ends everything in flight with cancelled", async () => {
  const engine = new MockerEngine({ speedup: 10, card: { kvBlockSize: 4, numKvBlocks: 64 } });
  const streams = ["a", "b", "c"].map((id) => collect(engine.generate(makeRequest(id, range(1, 12), { maxTokens: 10_000 }), { signal: signal() })));
  await new Promise((r) => setTimeout(r, 20));
  await engine.close();
  for (const outs of await Promise.all(streams)) assert.equal(outs.at(-1)!.finishReason, "cancelled");
  assert.equal(engine.load().activeBlocks, 0);
  const after = await collect(engine.generate(makeRequest("d", range(1, 12)), { signal: signal() }));
  assert.equal(after[0]!.finishReason, "error");
});

test("mocker engine - rejections come back as an error output", async () => {
  const engine = new MockerEngine({ card: { kvBlockSize: 4, numKvBlocks: 2, contextLength: 100 } });
  const out = await collect(engine.generate(makeRequest("a", range(1, 9)), { signal: signal() }));
  assert.equal(out.length, 1);
  assert.equal(out[0]!.finishReason, "error");
  assert.equal(out[0]!.error?.code, "REQUEST_CONTEXT_LENGTH_EXCEEDED");
  await engine.close();
});

test("mocker engine - steps take their modelled time divided by the speedup", async () => {
  // Lower bounds only (a loaded machine makes anything slower, never faster): the slow engine
  // takes at least its modelled time, and the same work at 8x the speedup takes less.
  const timing = new PolynomialTimingModel({ prefill: [40, 0, 0], decode: [20, 0, 0] });
  const run = async (speedup: number): Promise<number> => {
    const engine = new MockerEngine({ timing, speedup, card: { kvBlockSize: 4, numKvBlocks: 64 } });
    const t0 = performance.now();
    await collect(engine.generate(makeRequest("a", range(1, 8), { maxTokens: 4 }), { signal: signal() }));
    const elapsed = performance.now() - t0;
    await engine.close();
    return elapsed;
  };
  const modelled = 40 + 3 * 20; // one prefill step, three decode steps
  const slow = await run(0.5);
  assert.ok(slow >= modelled / 0.5 - 2, `elapsed ${slow} ms >= ${modelled / 0.5} ms`);
  const fast = await run(4);
  assert.ok(fast >= modelled / 4 - 2, `elapsed ${fast} ms >= ${modelled / 4} ms`);
  assert.ok(fast < slow, `8x the speedup is faster: ${fast} ms < ${slow} ms`);
});

test("mocker engine - a huge speedup still yields to the event loop", async () => {
  const engine = new MockerEngine({ speedup: 1e6, card: { kvBlockSize: 16, numKvBlocks: 1024 } });
  // A macrotask queued before the work must run before the work ends: the engine yields.
  let done = false;
  let ranDuringWork = false;
  setImmediate(() => (ranDuringWork = !done));
  const out = await collect(engine.generate(makeRequest("a", range(1, 100), { maxTokens: 2000 }), { signal: signal() }));
  done = true;
  assert.equal(out.length, 2000);
  assert.ok(ranDuringWork, "a queued macrotask ran while the engine worked");
  assert.equal(engine.counters.numSteps, 2000);
  await engine.close();
});

test("mocker engine - KV events and load reach subscribers", async () => {
  const engine = new MockerEngine({ speedup: 1000, card: { kvBlockSize: 4, numKvBlocks: 16 } });
  const rec = new EventRecorder();
  const off = engine.onKvEvent(rec.listener);
  const stream = engine.generate(makeRequest("a", range(1, 10), { maxTokens: 200 }), { signal: signal() });
  const it = stream[Symbol.asyncIterator]();
  await it.next();
  const load = engine.load();
  assert.equal(load.totalBlocks, 16);
  assert.equal(load.numRunningSeqs, 1);
  assert.equal(load.activeBlocks, 3);
  assert.equal(load.kvUsage, 3 / 16);
  assert.deepEqual(rec.blocks.size, 2);
  off();
  await it.return!();
  assert.deepEqual(new Set(engine.core.pool.cachedHashes()).size >= 2, true);
  await engine.close();
});
