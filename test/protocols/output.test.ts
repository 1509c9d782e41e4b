// Merging coalesced engine outputs: ids always, text only when every output carries it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mergeEngineOutputs } from "../../src/protocols/index.ts";

test("protocols - merged outputs concatenate ids, and text only when every output has text", () => {
  const usage = { promptTokens: 3, completionTokens: 3, cachedTokens: 0 };
  assert.deepEqual(mergeEngineOutputs([{ tokenIds: [1], text: " a" }, { tokenIds: [2, 3], text: "bc" }, { tokenIds: [], text: "", finishReason: "stop", usage }]), {
    tokenIds: [1, 2, 3],
    text: " abc",
    finishReason: "stop",
    usage,
  });
  // An output without text (an engine that only has ids): the frontend decodes the ids.
  const mixed = mergeEngineOutputs([{ tokenIds: [1], text: "a" }, { tokenIds: [2] }]);
  assert.deepEqual(mixed, { tokenIds: [1, 2] });
  const one = { tokenIds: [7], text: "x" };
  assert.equal(mergeEngineOutputs([one]), one);
});
