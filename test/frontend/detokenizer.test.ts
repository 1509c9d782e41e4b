import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { IncrementalDetokenizer } from "../../src/frontend/index.ts";
import { ByteTokenizer, loadHuggingFaceModel } from "../../src/model/index.ts";
import type { Tokenizer } from "../../src/model/index.ts";

const FIXTURE = new URL("../model/fixtures/tiny-bpe/", import.meta.url).pathname;
const bytes = new ByteTokenizer();
const EOS = bytes.eosTokenIds[0]!;

/** The byte tokenizer without `decodeBytes`: forces the prefix/read-offset window strategy. */
function windowOnly(inner: Tokenizer): Tokenizer {
  return {
    vocabSize: inner.vocabSize,
    bosTokenId: inner.bosTokenId,
    eosTokenIds: inner.eosTokenIds,
    encode: (text, options) => inner.encode(text, options),
    decode: (ids, options) => inner.decode(ids, options),
    tokenToId: (token) => inner.tokenToId(token),
    isSpecialToken: (id) => inner.isSpecialToken(id),
  };
}

/** Splits `ids` at the given cut points (any numbers; reduced modulo the length). */
function chunk(ids: readonly number[], cuts: readonly number[]): number[][] {
  const points = [...new Set(cuts.map((c) => c % (ids.length + 1)))].sort((a, b) => a - b);
  const out: number[][] = [];
  let start = 0;
  for (const p of points) {
    out.push(ids.slice(start, p));
    start = p;
  }
  out.push(ids.slice(start));
  return out;
}

/** Feeds the chunks; returns every emitted piece, the flush last. */
function run(detok: IncrementalDetokenizer, chunks: readonly number[][]): string[] {
  const pieces = chunks.map((c) => detok.push(c));
  pieces.push(detok.flush());
  return pieces;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function assertClean(pieces: readonly string[]): void {
  for (const piece of pieces) {
    assert.ok(!piece.includes("\uFFFD"), `piece ${JSON.stringify(piece)} contains U+FFFD`);
    assert.ok(!LONE_SURROGATE.test(piece), `piece ${JSON.stringify(piece)} contains a lone surrogate`);
  }
}

// Emoji, combining marks, CJK, astral code points, ASCII.
const unicodeText = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom("e\u0301", "👩‍👩‍👧‍👦", "🇫🇷", "日本語", "a\u0308\u0301b", "\uFEFFbom"),
);
const noReplacementChar = unicodeText.filter((s) => !s.includes("\uFFFD"));
const cuts = fc.array(fc.nat(), { maxLength: 20 });

test("detokenizer - byte tokenizer: any chunking gives back the text, never a broken character", () => {
  fc.assert(
    fc.property(noReplacementChar, cuts, (text, cutPoints) => {
      const ids = [...bytes.encode(text), EOS];
      const pieces = run(new IncrementalDetokenizer(bytes), chunk(ids, cutPoints));
      assert.equal(pieces.join(""), text);
      assertClean(pieces);
    }),
    { numRuns: 300 },
  );
});

test("detokenizer - byte tokenizer passes a real U+FFFD through as soon as it is complete", () => {
  const detok = new IncrementalDetokenizer(bytes);
  assert.equal(detok.push(bytes.encode("a\uFFFD")), "a\uFFFD");
  assert.equal(detok.flush(), "");
});

test("detokenizer - window strategy: any chunking gives back the text, never a broken character", () => {
  const tokenizer = windowOnly(bytes);
  fc.assert(
    fc.property(noReplacementChar, cuts, (text, cutPoints) => {
      const ids = [...bytes.encode(text), EOS];
      const pieces = run(new IncrementalDetokenizer(tokenizer), chunk(ids, cutPoints));
      assert.equal(pieces.join(""), text);
      assertClean(pieces);
    }),
    { numRuns: 300 },
  );
});

test("detokenizer - holds an incomplete character until its last byte arrives", () => {
  const emoji = bytes.encode("😀"); // 4 bytes
  // Byte strategy: the complete text before the partial character goes out at once.
  const detok = new IncrementalDetokenizer(bytes);
  assert.equal(detok.push([104, emoji[0]!]), "h");
  assert.equal(detok.push([emoji[1]!]), "");
  assert.equal(detok.push([emoji[2]!]), "");
  assert.equal(detok.push([emoji[3]!, 105]), "😀i");
  assert.equal(detok.flush(), "");
  // Window strategy: the whole window waits (a decoded window cannot be split by token).
  const window = new IncrementalDetokenizer(windowOnly(bytes));
  assert.equal(window.push([104]), "h");
  assert.equal(window.push([105, emoji[0]!]), "");
  assert.equal(window.push([emoji[1]!]), "");
  assert.equal(window.push([emoji[2]!]), "");
  assert.equal(window.push([emoji[3]!]), "i😀");
  assert.equal(window.flush(), "");
});

test("detokenizer - invalid bytes from the model become U+FFFD instead of being held forever", () => {
  for (const tokenizer of [bytes, windowOnly(bytes)]) {
    const detok = new IncrementalDetokenizer(tokenizer);
    let out = "";
    // A run of stray continuation bytes, then text.
    for (let i = 0; i < 10; i++) out += detok.push([0x80]);
    out += detok.push([104]);
    out += detok.flush();
    assert.ok(out.endsWith("h"), JSON.stringify(out));
    assert.ok(out.includes("\uFFFD"));
  }
  // A truncated character at the end of the stream is flushed as U+FFFD.
  const detok = new IncrementalDetokenizer(bytes);
  assert.equal(detok.push([104, 0xf0, 0x9f]), "h");
  assert.equal(detok.flush(), "\uFFFD");
});

test("detokenizer - special tokens are skipped by default and kept on request", () => {
  const ids = bytes.encode("<|assistant|>hi<|eos|>", { parseSpecialTokens: true });
  assert.equal(run(new IncrementalDetokenizer(bytes), [ids]).join(""), "hi");
  assert.equal(run(new IncrementalDetokenizer(bytes, { skipSpecialTokens: false }), [ids]).join(""), "<|assistant|>hi<|eos|>");
});

test("detokenizer - Hugging Face byte-level BPE: any chunking gives back the text", async () => {
  const { tokenizer } = await loadHuggingFaceModel(FIXTURE);
  const eos = tokenizer.eosTokenIds[0]!;
  // The fixture's "ðŁ" token holds the first two bytes of many emoji: a token ending mid-character.
  const emojiIds = tokenizer.encode("😀😀");
  assert.ok(emojiIds.length > 2 && emojiIds.length < 8);
  fc.assert(
    fc.property(noReplacementChar, cuts, (text, cutPoints) => {
      const ids = [...tokenizer.encode(text), eos];
      assert.equal(tokenizer.decode(ids, { skipSpecialTokens: true }), text);
      const pieces = run(new IncrementalDetokenizer(tokenizer), chunk(ids, cutPoints));
      assert.equal(pieces.join(""), text);
      assertClean(pieces);
    }),
    { numRuns: 150 },
  );
});

test("detokenizer - Hugging Face tokenizer, one token at a time, emits each word as it completes", async () => {
  const { tokenizer } = await loadHuggingFaceModel(FIXTURE);
  const ids = tokenizer.encode("hello world 😀!");
  const detok = new IncrementalDetokenizer(tokenizer);
  const pieces = ids.map((id) => detok.push([id]));
  pieces.push(detok.flush());
  assert.deepEqual(
    pieces.filter((p) => p !== ""),
    ["hello", " world", " ", "😀", "!"],
  );
});
