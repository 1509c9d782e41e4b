import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { BYTE_BOS_TOKEN_ID, BYTE_EOS_TOKEN_ID, BYTE_SPECIAL_TOKENS, ByteTokenizer } from "../../src/model/index.ts";

const tokenizer = new ByteTokenizer();

test("byte tokenizer - ids are the UTF-8 bytes and decode gives the text back", () => {
  assert.deepEqual(tokenizer.encode("hé😀"), [0x68, 0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80]);
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 50 }), (text) => {
      const ids = tokenizer.encode(text);
      assert.deepEqual(ids, [...Buffer.from(text, "utf8")]);
      assert.equal(tokenizer.decode(ids), text);
      assert.deepEqual([...tokenizer.decodeBytes(ids)], ids);
    }),
    { numRuns: 200 },
  );
});

test("byte tokenizer - special tokens follow the bytes; vocabulary and ids", () => {
  assert.equal(tokenizer.vocabSize, 256 + BYTE_SPECIAL_TOKENS.length);
  assert.equal(tokenizer.bosTokenId, 256);
  assert.deepEqual(tokenizer.eosTokenIds, [257]);
  assert.equal(tokenizer.tokenToId("<|bos|>"), BYTE_BOS_TOKEN_ID);
  assert.equal(tokenizer.tokenToId("<|eos|>"), BYTE_EOS_TOKEN_ID);
  assert.equal(tokenizer.tokenToId("<|assistant|>"), 260);
  assert.equal(tokenizer.tokenToId("a"), 97);
  assert.equal(tokenizer.tokenToId("ab"), undefined);
  assert.equal(tokenizer.isSpecialToken(257), true);
  assert.equal(tokenizer.isSpecialToken(255), false);
});

test("byte tokenizer - special-token strings are plain text unless parsing is asked for", () => {
  const text = "<|user|>hi<|eos|><|nope|>";
  const plain = tokenizer.encode(text);
  assert.equal(plain.length, Buffer.byteLength(text));
  assert.ok(plain.every((id) => id < 256));
  const parsed = tokenizer.encode(text, { parseSpecialTokens: true });
  assert.deepEqual(parsed, [259, 104, 105, 257, ...Buffer.from("<|nope|>")]);
  assert.equal(tokenizer.decode(parsed), text);
  assert.equal(tokenizer.decode(parsed, { skipSpecialTokens: true }), "hi<|nope|>");
});

test("byte tokenizer - addSpecialTokens prepends BOS; out-of-vocabulary ids decode to nothing", () => {
  assert.deepEqual(tokenizer.encode("a", { addSpecialTokens: true }), [BYTE_BOS_TOKEN_ID, 97]);
  assert.deepEqual(tokenizer.encode(""), []);
  assert.equal(tokenizer.decode([97, 9999, -1, 98]), "ab");
  assert.deepEqual([...tokenizer.decodeBytes([97, 257, 98])], [97, 98]);
});
