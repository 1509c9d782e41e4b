import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { MockerCore, DEFAULT_TOKEN_RANGE, tokenAt, tokenKey } from "../../../src/engines/mocker/index.ts";
import { makeRequest, range } from "./helpers.ts";

function generate(core: MockerCore, req: ReturnType<typeof makeRequest>) {
  assert.equal(core.addRequest(req, 0), null);
  const tokens: number[] = [];
  let last;
  for (let now = 0; core.hasWork(); ) {
    const r = core.step(now);
    now += r.durationMs;
    for (const o of r.outputs) {
      tokens.push(...o.tokenIds);
      if (o.finishReason) last = o;
    }
  }
  return { tokens, last: last! };
}

test("mocker tokens - the same seed and prompt give the same tokens, printable by default", () => {
  const prompt = range(1000, 37);
  const a = generate(new MockerCore({ seed: 7 }), makeRequest("a", prompt, { maxTokens: 64 })).tokens;
  const b = generate(new MockerCore({ seed: 7, numKvBlocks: 100, blockSize: 4 }), makeRequest("b", prompt, { maxTokens: 64 })).tokens;
  assert.deepEqual(a, b, "independent of block size, pool and request id");
  assert.ok(a.every((t) => t >= 32 && t <= 126));
  assert.ok(new Set(a).size > 20, "tokens vary");
  const otherSeed = generate(new MockerCore({ seed: 8 }), makeRequest("c", prompt, { maxTokens: 64 })).tokens;
  assert.notDeepEqual(a, otherSeed);
  const requestSeed = generate(new MockerCore({ seed: 8 }), makeRequest("d", prompt, { maxTokens: 64, seed: 7 })).tokens;
  assert.deepEqual(requestSeed, a, "sampling.seed overrides the engine seed");
  const otherPrompt = generate(new MockerCore({ seed: 7 }), makeRequest("e", range(1001, 37), { maxTokens: 64 })).tokens;
  assert.notDeepEqual(a, otherPrompt);
});

test("mocker tokens - a custom range bounds the tokens", () => {
  const { tokens } = generate(new MockerCore({ tokenRange: { min: 5, max: 6 } }), makeRequest("a", range(1, 3), { maxTokens: 50 }));
  assert.ok(tokens.every((t) => t === 5 || t === 6));
  assert.ok(tokens.includes(5) && tokens.includes(6));
});

test("mocker tokens - a migrated request continues with the uninterrupted output", () => {
  const prompt = range(400, 21);
  const full = generate(new MockerCore({ seed: 3 }), makeRequest("full", prompt, { maxTokens: 12 }));
  assert.equal(full.tokens.length, 12);
  for (const k of [1, 5, 11]) {
    const migrated = makeRequest("m", [...prompt, ...full.tokens.slice(0, k)], { maxTokens: 12, numPrefilledOutputTokens: k });
    const rest = generate(new MockerCore({ seed: 3 }), migrated);
    assert.deepEqual(rest.tokens, full.tokens.slice(k), `continuation after ${k}`);
    assert.deepEqual(rest.last.usage, { promptTokens: 21, completionTokens: 12, cachedTokens: 0 });
  }
  // All tokens already generated: ends at once with "length".
  const done = new MockerCore({ seed: 3 }).addRequest(
    makeRequest("done", [...prompt, ...full.tokens], { maxTokens: 12, numPrefilledOutputTokens: 12 }),
    0,
  );
  assert.deepEqual(done, { requestId: "done", tokenIds: [], finishReason: "length", usage: { promptTokens: 21, completionTokens: 12, cachedTokens: 0 } });
});

test("mocker tokens - the token function is pure and stays in range (property)", () => {
  fc.assert(
    fc.property(fc.integer(), fc.array(fc.nat(100000), { minLength: 1, maxLength: 40 }), fc.nat(1 << 30), (seed, prompt, i) => {
      const key = tokenKey(seed, prompt, prompt.length);
      const t = tokenAt(key, i, DEFAULT_TOKEN_RANGE);
      assert.equal(t, tokenAt(tokenKey(seed, prompt.slice(), prompt.length), i, DEFAULT_TOKEN_RANGE));
      assert.ok(Number.isInteger(t) && t >= 32 && t <= 126);
    }),
  );
});
