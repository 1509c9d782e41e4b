// readAhead: batches of one for a consumer that keeps up, everything that arrived for one that
// falls behind, the bound, errors after the items before them, and an early return.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setImmediate as tick } from "node:timers/promises";
import { readAhead } from "../../src/runtime/index.ts";

async function* numbers(n: number, fail?: Error): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) {
    await tick();
    yield i;
  }
  if (fail) throw fail;
}

test("runtime - readAhead hands a consumer that keeps up batches of one", async () => {
  const batches: number[][] = [];
  for await (const b of readAhead(numbers(5), 8)) batches.push(b);
  assert.deepEqual(batches, [[0], [1], [2], [3], [4]]);
});

test("runtime - readAhead gives a slow consumer what arrived, as one batch, within the bound", async () => {
  let pulled = 0;
  async function* counted(): AsyncGenerator<number> {
    for (let i = 0; i < 20; i++) {
      pulled++;
      yield i;
    }
  }
  const it = readAhead(counted(), 4)[Symbol.asyncIterator]();
  for (let i = 0; i < 5; i++) await tick();
  assert.ok(pulled <= 5, `the pump stops at the bound (pulled ${pulled})`);
  const first = await it.next();
  assert.deepEqual(first.value, [0, 1, 2, 3]);
  const seen = [...(first.value as number[])];
  for (let r = await it.next(); !r.done; r = await it.next()) seen.push(...r.value);
  assert.deepEqual(seen, Array.from({ length: 20 }, (_, i) => i));
});

test("runtime - readAhead delivers the items before a failure, then the failure", async () => {
  const boom = new Error("boom");
  const it = readAhead(numbers(3, boom), 8)[Symbol.asyncIterator]();
  for (let i = 0; i < 10; i++) await tick();
  assert.deepEqual((await it.next()).value, [0, 1, 2]);
  await assert.rejects(it.next(), boom);
});

test("runtime - readAhead's return stops pulling the source and runs its cleanup", async () => {
  let cleaned = false;
  let pulled = 0;
  async function* endless(): AsyncGenerator<number> {
    try {
      for (let i = 0; ; i++) {
        pulled++;
        await tick();
        yield i;
      }
    } finally {
      cleaned = true;
    }
  }
  const it = readAhead(endless(), 2)[Symbol.asyncIterator]();
  assert.deepEqual((await it.next()).value, [0]);
  assert.deepEqual(await it.return!(), { value: undefined, done: true });
  for (let i = 0; i < 10; i++) await tick();
  const after = pulled;
  for (let i = 0; i < 10; i++) await tick();
  assert.equal(pulled, after, "no pulls after return");
  assert.ok(cleaned, "the source's finally ran");
});
