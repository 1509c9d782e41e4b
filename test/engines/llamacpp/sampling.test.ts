// The llama.cpp engine's guided decoding, penalties, logit bias and logprobs, on the random
// tiny model (its unconstrained output is noise, so any structure comes from the grammar).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Ajv } from "ajv";
import { LlamaCppEngine } from "../../../src/engines/index.ts";
import { asRequestId } from "../../../src/protocols/index.ts";
import type { EngineOutput, PreprocessedRequest } from "../../../src/protocols/index.ts";
import type { GgufTokenizer} from "../../../src/model/index.ts";
import { loadGgufModel } from "../../../src/model/index.ts";
import { randomGguf } from "../../support/gguf.ts";

let nextId = 0;
async function run(engine: LlamaCppEngine, extra: Partial<PreprocessedRequest>, maxTokens = 40): Promise<{ tokens: number[]; outs: EngineOutput[] }> {
  const request: PreprocessedRequest = {
    requestId: asRequestId(`s${nextId++}`),
    model: "m",
    tokenIds: [1, 300, 301, 302, 303],
    sampling: { temperature: 0 },
    stop: { maxTokens, stopTokenIds: [2] },
    ...extra,
  };
  const outs: EngineOutput[] = [];
  const tokens: number[] = [];
  for await (const o of engine.generate(request, { signal: new AbortController().signal })) {
    outs.push(o);
    tokens.push(...o.tokenIds);
  }
  return { tokens, outs };
}

describe("llamacpp - sampling features", () => {
  let engine: LlamaCppEngine;
  let tokenizer: GgufTokenizer;
  const text = (ids: number[]): string => tokenizer.decode(ids.filter((t) => t !== 2), { skipSpecialTokens: true });

  before(async () => {
    const path = await randomGguf();
    engine = await LlamaCppEngine.create({ modelPath: path, numSequences: 2, contextSize: 512, prefixCache: false });
    tokenizer = (await loadGgufModel(path)).tokenizer as GgufTokenizer;
  });
  after(() => engine.close());

  test("llamacpp - the card declares the features it honours", () => {
    assert.deepEqual(engine.card.features, ["guided_decoding", "logprobs", "penalties", "logit_bias", "embeddings"]);
  });

  test("llamacpp - a JSON schema grammar makes the random model write schema-valid JSON", async () => {
    const schema = {
      type: "object",
      properties: {
        city: { type: "string", maxLength: 8 },
        days: { type: "integer" },
        unit: { enum: ["c", "f"] },
        ok: { type: "boolean" },
      },
      required: ["city", "days", "unit", "ok"],
      additionalProperties: false,
    };
    const before = engine.counters.numGuidedRequests;
    const { tokens, outs } = await run(engine, { guided: { kind: "json_schema", schema, strict: true } }, 120);
    assert.equal(outs.at(-1)!.finishReason, "stop", "the grammar ends the output, then EOS");
    const value = JSON.parse(text(tokens)) as unknown;
    assert.ok(new Ajv().validate(schema, value), JSON.stringify(value));
    assert.equal(engine.counters.numGuidedRequests, before + 1);
    // json_object: any JSON object.
    const obj = await run(engine, { guided: { kind: "json_object" } }, 120);
    if (obj.outs.at(-1)!.finishReason === "stop") assert.equal(typeof JSON.parse(text(obj.tokens)), "object");
    else assert.match(text(obj.tokens), /^\s*[{[]/);
  });

  test("llamacpp - a strict schema with keywords the grammar cannot enforce is refused; a non-strict one runs without them", async () => {
    const bad = { type: "object", properties: { a: { type: "string", pattern: "^[a-z]+$" }, n: { type: "integer", minimum: 3 } }, required: ["a", "n"] };
    const strict = await run(engine, { guided: { kind: "json_schema", schema: bad, strict: true } });
    assert.equal(strict.outs.at(-1)!.finishReason, "error");
    assert.equal(strict.outs.at(-1)!.error!.code, "REQUEST_UNSUPPORTED");
    assert.match(strict.outs.at(-1)!.error!.message, /minimum, pattern/);
    const fallbacks = engine.counters.numGuidedFallbacks;
    const loose = await run(engine, { guided: { kind: "json_schema", schema: bad } }, 8);
    assert.notEqual(loose.outs.at(-1)!.finishReason, "error");
    assert.equal(engine.counters.numGuidedFallbacks, fallbacks + 1);
  });

  test("llamacpp - logit bias forbids and forces tokens; penalties change greedy output", async () => {
    const plain = await run(engine, {}, 12);
    const banned = plain.tokens[0]!;
    const biased = await run(engine, { sampling: { temperature: 0, logitBias: { [String(banned)]: -100 } } }, 12);
    assert.ok(!biased.tokens.includes(banned));
    const forced = await run(engine, { sampling: { temperature: 0, logitBias: { "400": 100 } } }, 5);
    assert.deepEqual(forced.tokens, [400, 400, 400, 400, 400]);
    // vLLM's multiplicative repetition penalty, on a token a bias makes repeat.
    const count400 = (t: number[]): number => t.filter((x) => x === 400).length;
    const repeating = await run(engine, { sampling: { temperature: 0, logitBias: { "400": 10 } } }, 12);
    const repeated = await run(engine, { sampling: { temperature: 0, logitBias: { "400": 10 }, repetitionPenalty: 3 } }, 12);
    assert.ok(count400(repeating.tokens) >= 3, String(repeating.tokens));
    assert.ok(count400(repeated.tokens) < count400(repeating.tokens), String(repeated.tokens));
    // OpenAI's additive penalties, on the same.
    for (const sampling of [{ frequencyPenalty: 2 }, { presencePenalty: 2 }]) {
      const penalised = await run(engine, { sampling: { temperature: 0, logitBias: { "400": 10 }, ...sampling } }, 12);
      assert.notDeepEqual(penalised.tokens, repeating.tokens, JSON.stringify(sampling));
      assert.ok(count400(penalised.tokens) <= count400(repeating.tokens), `${JSON.stringify(sampling)}: ${String(penalised.tokens)}`);
    }
  });

  test("llamacpp - logprobs: one per token, the chosen token's and the top alternatives, sorted", async () => {
    const { tokens, outs } = await run(engine, { logprobs: { topLogprobs: 3 } }, 6);
    const lps = outs.flatMap((o) => o.logprobs ?? []);
    assert.equal(lps.length, tokens.length);
    for (let i = 0; i < lps.length; i++) {
      const lp = lps[i]!;
      assert.equal(lp.tokenId, tokens[i]);
      assert.ok(lp.logprob <= 0);
      assert.equal(lp.top.length, 3);
      assert.ok(lp.top[0]!.logprob >= lp.top[1]!.logprob && lp.top[1]!.logprob >= lp.top[2]!.logprob);
      // Greedy: the chosen token is the most likely one.
      assert.equal(lp.top[0]!.tokenId, lp.tokenId);
    }
    const none = await run(engine, {}, 3);
    assert.ok(none.outs.every((o) => o.logprobs === undefined));
  });

  test("llamacpp - an embed request answers the prompt's embedding from an embedding context", async () => {
    const before = engine.counters.numEmbeddings;
    const a = await run(engine, { task: "embed", tokenIds: [1, 300, 301] });
    const b = await run(engine, { task: "embed", tokenIds: [1, 300, 302] });
    const again = await run(engine, { task: "embed", tokenIds: [1, 300, 301] });
    const ea = a.outs.at(-1)!.embedding!;
    assert.equal(a.outs.length, 1);
    assert.deepEqual(a.tokens, []);
    assert.equal(a.outs[0]!.finishReason, "stop");
    assert.equal(a.outs[0]!.usage!.promptTokens, 3);
    assert.equal(ea.length, b.outs[0]!.embedding!.length);
    assert.ok(ea.length >= 16);
    assert.notDeepEqual(ea, b.outs[0]!.embedding);
    assert.deepEqual(ea, again.outs[0]!.embedding, "deterministic");
    assert.equal(engine.counters.numEmbeddings, before + 3);
  });
});
