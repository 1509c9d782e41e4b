// The mocker refuses what simulated tokens cannot honour (guided decoding, logprobs, penalties,
// logit bias, embeddings) with REQUEST_UNSUPPORTED naming the field, even when a request
// reaches it past the frontend's check (another frontend, a replay).
import { test } from "node:test";
import assert from "node:assert/strict";
import { MockerEngine } from "../../../src/engines/index.ts";
import { asRequestId } from "../../../src/protocols/index.ts";
import type { EngineOutput, PreprocessedRequest } from "../../../src/protocols/index.ts";

test("mocker - refuses guided decoding, logprobs, penalties, logit bias and embeddings, naming the field", async () => {
  const engine = new MockerEngine({ speedup: 1000 });
  try {
    assert.equal(engine.card.features, undefined);
    const base: PreprocessedRequest = { requestId: asRequestId("m0"), model: "mocker", tokenIds: [1, 2, 3], sampling: {}, stop: { maxTokens: 2, stopTokenIds: [] } };
    const cases: [Partial<PreprocessedRequest>, string][] = [
      [{ guided: { kind: "json_object" } }, "response_format"],
      [{ logprobs: { topLogprobs: 1 } }, "logprobs"],
      [{ sampling: { presencePenalty: 1 } }, "presence_penalty"],
      [{ sampling: { frequencyPenalty: 1 } }, "frequency_penalty"],
      [{ sampling: { repetitionPenalty: 1.2 } }, "repetition_penalty"],
      [{ sampling: { logitBias: { "5": 1 } } }, "logit_bias"],
      [{ task: "embed" }, "input"],
    ];
    for (const [i, [extra, field]] of cases.entries()) {
      const outs: EngineOutput[] = [];
      for await (const o of engine.generate({ ...base, ...extra, requestId: asRequestId(`m${i}`) }, { signal: new AbortController().signal })) outs.push(o);
      assert.equal(outs.length, 1);
      assert.equal(outs[0]!.finishReason, "error");
      assert.deepEqual([outs[0]!.error!.code, outs[0]!.error!.param], ["REQUEST_UNSUPPORTED", field]);
    }
    // Inert values ask for nothing and run.
    const outs: EngineOutput[] = [];
    for await (const o of engine.generate({ ...base, requestId: asRequestId("ok"), sampling: { presencePenalty: 0, repetitionPenalty: 1, logitBias: {} } }, { signal: new AbortController().signal })) outs.push(o);
    assert.equal(outs.at(-1)!.finishReason, "length");
  } finally {
    await engine.close();
  }
});
