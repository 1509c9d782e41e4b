// The section-wise encoding of Hugging Face tokenizers (src/model/special-token-segments.ts) on a
// small hand-written tokenizer that has every hard case the six real ones lack: added tokens
// that strip their neighbours (lstrip/rstrip), a whitespace added token that such a strip
// empties, an added token that begins another, a normalized added token behind a lowercasing normalizer, and Metaspace's
// prepend_scheme "first" (only the text's first section gets "▁").
import { test } from "node:test";
import assert from "node:assert/strict";
import { HfTokenizer } from "../../src/model/index.ts";
import type { PromptSegmentation } from "../../src/model/index.ts";
import { Prng } from "../../src/bench/index.ts";

interface AddedTokenJson {
  content: string;
  special: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  normalized?: boolean;
}

function syntheticTokenizer(added: readonly AddedTokenJson[]): HfTokenizer {
  const pieces = ["<unk>", "▁", ..."abcdefghijklmnopqrstuvwxyz0123456789.,!?'\n\t<>[]/|é".split(""), "▁t", "he", "▁the", "▁a", "in", "▁in", "st"];
  const vocab: Record<string, number> = {};
  for (const p of pieces) vocab[p] ??= Object.keys(vocab).length;
  const size = Object.keys(vocab).length;
  return new HfTokenizer(
    {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: added.map((t, i) => ({ id: size + i, single_word: false, lstrip: false, rstrip: false, normalized: !t.special, ...t })),
      normalizer: { type: "Lowercase" },
      pre_tokenizer: { type: "Metaspace", replacement: "▁", prepend_scheme: "first", split: false },
      post_processor: { type: "TemplateProcessing", single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }], pair: [], special_tokens: {} },
      decoder: { type: "Metaspace", replacement: "▁", prepend_scheme: "first", split: false },
      model: { type: "BPE", dropout: null, unk_token: "<unk>", continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: ["▁ t", "h e", "▁t he", "▁ a", "i n", "▁ in", "s t"] },
    },
    { bos_token: "<s>", eos_token: "</s>" },
  );
}

const HARD_TOKENS: AddedTokenJson[] = [
  { content: "<s>", special: true },
  { content: "</s>", special: true },
  { content: "[INST]", special: true, lstrip: true, rstrip: true },
  { content: "<eot>", special: true, lstrip: true },
  { content: "<tool>", special: true, rstrip: true },
  { content: "\n\n", special: false, normalized: false },
  { content: "\n\n\n", special: false, normalized: false }, // longer than one that starts it: the longest is cut
  { content: "<Norm>", special: false, normalized: true },
];

const FRAGMENTS = ["the", " the ", "  ", " ", "\n", "\n\n", "\t", "in st", "a", "héllo", "x", "THE", "<NORM>", "<norm>", "!?", " 12 ", "[inst]", "\n \n", ""];

/** A seeded PRNG (the workload generators'), so that a failure can be replayed. */
function random(seed: number): () => number {
  const prng = new Prng(seed);
  return () => prng.next();
}

function joined(segmentation: PromptSegmentation, text: string): number[] {
  const { parts, first } = segmentation.split(text);
  const ids: number[] = [];
  parts.forEach((part, i) => {
    if (typeof part === "number") ids.push(part);
    else ids.push(...segmentation.encodeSection(part, i === 0 && first)!);
  });
  return ids;
}

test("model - sections between added tokens encode to the whole text's ids, with lstrip/rstrip, a normalized token and Metaspace 'first'", () => {
  const tokenizer = syntheticTokenizer(HARD_TOKENS);
  const segmentation = tokenizer.segmentation;
  assert.ok(segmentation !== undefined, "the split is offered for this tokenizer");
  const next = random(17);
  const tokens = HARD_TOKENS.map((t) => t.content);
  let cases = 0;
  for (let n = 0; n < 400; n++) {
    let text = "";
    const pieces = 1 + Math.floor(next() * 8);
    for (let k = 0; k < pieces; k++) text += next() < 0.45 ? tokens[Math.floor(next() * tokens.length)]! : FRAGMENTS[Math.floor(next() * FRAGMENTS.length)]!;
    const whole = tokenizer.encode(text);
    assert.deepEqual(joined(segmentation, text), whole, `text ${JSON.stringify(text)}`);
    cases++;
  }
  assert.equal(cases, 400);
});

test("model - a later section gets no Metaspace prefix, the first one does, and an emptied first section does not make the next one first", () => {
  const tokenizer = syntheticTokenizer(HARD_TOKENS);
  const segmentation = tokenizer.segmentation!;
  const lead = tokenizer.tokenToId("▁")!;
  const { parts, first } = segmentation.split("the</s>the");
  assert.deepEqual(parts, ["the", tokenizer.tokenToId("</s>"), "the"]);
  assert.equal(first, true);
  assert.notDeepEqual(segmentation.encodeSection("the", true), segmentation.encodeSection("the", false));
  // " " before [INST] (lstrip) is emptied: "x" is section 2, not the first.
  const stripped = segmentation.split(" [INST] x");
  assert.deepEqual(stripped.parts, [tokenizer.tokenToId("[INST]"), "x"]);
  assert.equal(stripped.first, false);
  assert.deepEqual(joined(segmentation, " [INST] x"), tokenizer.encode(" [INST] x"));
  assert.ok(!tokenizer.encode(" [INST] x").includes(lead), "the library prepends nothing to a later section");
});

test("model - no split is offered when a later section could not be encoded alone (Metaspace 'first' and no anchor token)", () => {
  // Every added token strips its right neighbour: none can stand before a later section.
  const tokenizer = syntheticTokenizer([
    { content: "<s>", special: true, rstrip: true },
    { content: "[INST]", special: true, lstrip: true, rstrip: true },
  ]);
  assert.equal(tokenizer.segmentation, undefined);
});
